//! `/v2/images` and `/v2/images/{id}`: create (201, `queued`, visibility `shared`
//! unless asked otherwise), show, delete (204; the data file goes too; protected
//! images refuse with 403), and the deactivate/reactivate actions.

use super::attrs::{self, is_uuid, BASE};
use super::common::{load, save};
use super::views;
use crate::access::not_found;
use crate::types::{Image, ImageMember, Status, Visibility};
use crate::Images;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use serde_json::Value;
use std::sync::Arc;

/// The id a create asks for, or a new one.
fn requested_id(body: &serde_json::Map<String, Value>) -> ApiResult<String> {
    match body.get("id") {
        None | Some(Value::Null) => Ok(uuid::Uuid::new_v4().to_string()),
        Some(Value::String(s)) if is_uuid(s) => Ok(s.to_ascii_lowercase()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Provided object does not match schema 'image': {other} is not valid for 'id': \
             expected a UUID"
        ))),
    }
}

/// Policy checks for who may own an image and for its visibility.
pub fn authorize_ownership(
    caller: &Principal,
    image: &Image,
    old_owner: Option<&str>,
    old_visibility: Option<Visibility>,
) -> ApiResult<()> {
    let owner = image.owner.as_deref().unwrap_or("");
    let target = Target::new("image", &image.id).project(owner);
    if image.owner.as_deref() != old_owner {
        authorize(caller, "image:set_image_owner", &target)?;
    }
    if Some(image.visibility) != old_visibility {
        match image.visibility {
            Visibility::Public => authorize(caller, "image:publicize_image", &target)?,
            Visibility::Community => authorize(caller, "image:communitize_image", &target)?,
            _ => {}
        }
    }
    Ok(())
}

pub async fn create(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("The image must be a JSON object."));
    };
    let mut image = Image::new(
        requested_id(&body)?,
        caller.project_id().map(str::to_string),
    );
    for (key, value) in &body {
        if key == "id" {
            continue;
        }
        if value.is_null() && !BASE.contains(&key.as_str()) {
            // openstacksdk sends unset properties as null: nothing to store
            attrs::check_writable(key)?;
            continue;
        }
        attrs::set(&mut image, key, value)?;
    }
    attrs::check_limits(&image)?;
    authorize(
        &caller,
        "image:add_image",
        &Target::new("image", &image.id).project(caller.project_id().unwrap_or("")),
    )?;
    authorize_ownership(
        &caller,
        &image,
        caller.project_id(),
        Some(Visibility::Shared),
    )?;
    let mut tx = svc.store.begin().await?;
    if tx.get::<Image>(&image.id).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "Image with identifier {} already exists!",
            image.id
        )));
    }
    tx.create(&image).await?;
    commit_audited(tx, &caller, "image.image.create", "image", &image.id).await?;
    let location = url.join(&format!("/image/v2/images/{}", image.id));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(views::image(&image)),
    )
        .into_response())
}

pub async fn show(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (image, _, _) = load(&svc, &caller, "image:get_image", &id).await?;
    Ok(Json(views::image(&image)))
}

pub async fn delete(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (image, revision, _) = load(&svc, &caller, "image:delete_image", &id).await?;
    if image.protected {
        return Err(ApiError::forbidden(format!(
            "Image {id} is protected and cannot be deleted."
        )));
    }
    let mut tx = svc.store.begin().await?;
    tx.delete::<Image>(&image.id, Some(revision))
        .await
        .map_err(|e| match e {
            nimbus_store::StoreError::NotFound { .. } => not_found(&id),
            e => e.into(),
        })?;
    for m in tx.list::<ImageMember>(Some(&image.id)).await? {
        tx.delete::<ImageMember>(&m.value.id, None).await?;
    }
    commit_audited(tx, &caller, "image.image.delete", "image", &image.id).await?;
    crate::data::remove(&svc.file_path(&image.id)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../actions/deactivate`: data stays, but only admins may download it.
pub async fn deactivate(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    set_active(&svc, &caller, &id, false).await
}

/// `POST .../actions/reactivate`
pub async fn reactivate(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    set_active(&svc, &caller, &id, true).await
}

async fn set_active(
    svc: &Images,
    caller: &Principal,
    id: &str,
    active: bool,
) -> ApiResult<StatusCode> {
    let (action, from, to) = if active {
        ("reactivate", Status::Deactivated, Status::Active)
    } else {
        ("deactivate", Status::Active, Status::Deactivated)
    };
    let (mut image, revision, _) = load(svc, caller, &format!("image:{action}"), id).await?;
    if image.status == to {
        return Ok(StatusCode::NO_CONTENT);
    }
    if image.status != from {
        return Err(ApiError::forbidden(format!(
            "Not allowed to {action} image in status '{}'",
            image.status.as_str()
        )));
    }
    image.status = to;
    save(
        svc,
        caller,
        &format!("image.image.{action}"),
        &mut image,
        revision,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
