//! `/v2/images/{id}/members`: sharing an image with other projects.
//!
//! The owner adds (only to `shared` images: 403 otherwise; 409 twice; 413 beyond the
//! member limit) and removes members and sees them all; a member project sees only
//! its own entry and answers for itself (`pending` → `accepted` or `rejected`); the
//! owner may not answer for it (403).

use super::common::load;
use super::views;
use crate::access::is_owner;
use crate::types::{Image, ImageMember, MemberStatus, Visibility};
use crate::Images;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Projects one image may be shared with.
pub const MAX_MEMBERS: usize = 128;

#[derive(Deserialize)]
pub struct NewMember {
    member: String,
}

#[derive(Deserialize)]
pub struct MemberUpdate {
    status: String,
}

/// Whether the caller manages the image's members (owner, or cloud admin).
fn manages(p: &Principal, image: &Image) -> bool {
    is_owner(p, image) || p.is_cloud_admin() || p.is_system_reader()
}

fn member_not_found(image_id: &str, member_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Member {member_id} not found for image {image_id}."
    ))
}

async fn find(svc: &Images, image_id: &str, member_id: &str) -> ApiResult<(ImageMember, i64)> {
    let m = svc
        .store
        .get::<ImageMember>(&ImageMember::key(image_id, member_id))
        .await?
        .ok_or_else(|| member_not_found(image_id, member_id))?;
    Ok((m.value, m.revision))
}

pub async fn list(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (image, _, _) = load(&svc, &caller, "image:get_members", &id).await?;
    let all = svc.store.list::<ImageMember>(Some(&id)).await?;
    let members: Vec<Value> = all
        .iter()
        .map(|m| &m.value)
        .filter(|m| manages(&caller, &image) || caller.project_id() == Some(&m.member_id))
        .map(views::member)
        .collect();
    Ok(Json(
        json!({"members": members, "schema": "/v2/schemas/members"}),
    ))
}

pub async fn show(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path((id, member_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (image, _, _) = load(&svc, &caller, "image:get_member", &id).await?;
    if !manages(&caller, &image) && caller.project_id() != Some(member_id.as_str()) {
        return Err(member_not_found(&id, &member_id));
    }
    let (m, _) = find(&svc, &id, &member_id).await?;
    Ok(Json(views::member(&m)))
}

pub async fn create(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewMember>,
) -> ApiResult<Json<Value>> {
    let (image, _, _) = load(&svc, &caller, "image:add_member", &id).await?;
    if image.visibility != Visibility::Shared {
        return Err(ApiError::forbidden("Only shared images have members."));
    }
    let member_id = body.member.trim();
    if member_id.is_empty() || member_id.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "Invalid member: a project id of 1 to 255 characters is required.",
        ));
    }
    let member = ImageMember::new(&id, member_id);
    let mut tx = svc.store.begin().await?;
    let existing = tx.list::<ImageMember>(Some(&id)).await?;
    if existing.iter().any(|m| m.value.member_id == member_id) {
        return Err(ApiError::conflict(format!(
            "Member {member_id} already associated with image {id}."
        )));
    }
    if existing.len() >= MAX_MEMBERS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Maximum number of image members exceeded ({MAX_MEMBERS})."),
        ));
    }
    tx.create(&member).await?;
    commit_audited(
        tx,
        &caller,
        "image.member.create",
        "image_member",
        &member.id,
    )
    .await?;
    Ok(Json(views::member(&member)))
}

pub async fn update(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path((id, member_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<MemberUpdate>,
) -> ApiResult<Json<Value>> {
    let (image, _, _) = load(&svc, &caller, "image:get_member", &id).await?;
    if !manages(&caller, &image) && caller.project_id() != Some(member_id.as_str()) {
        return Err(member_not_found(&id, &member_id));
    }
    authorize(
        &caller,
        "image:modify_member",
        &Target::new("image_member", &member_id).project(&member_id),
    )?;
    let status = MemberStatus::parse(&body.status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid status: {}: must be pending, accepted or rejected.",
            body.status
        ))
    })?;
    let (mut m, revision) = find(&svc, &id, &member_id).await?;
    m.status = status;
    m.updated_at = chrono::Utc::now();
    let mut tx = svc.store.begin().await?;
    tx.update(&m, Some(revision)).await?;
    commit_audited(tx, &caller, "image.member.update", "image_member", &m.id).await?;
    Ok(Json(views::member(&m)))
}

pub async fn delete(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path((id, member_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (image, _, _) = load(&svc, &caller, "image:get_member", &id).await?;
    if !manages(&caller, &image) && caller.project_id() != Some(member_id.as_str()) {
        return Err(member_not_found(&id, &member_id));
    }
    let (image, _, _) = load(&svc, &caller, "image:delete_member", &image.id).await?;
    let (m, revision) = find(&svc, &image.id, &member_id).await?;
    let mut tx = svc.store.begin().await?;
    tx.delete::<ImageMember>(&m.id, Some(revision)).await?;
    commit_audited(tx, &caller, "image.member.delete", "image_member", &m.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
