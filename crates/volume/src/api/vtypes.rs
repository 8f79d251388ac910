//! `/types`: volume types (storage classes). Everyone lists and shows public
//! types; cloud admins also see private ones (all by default; `is_public`
//! filters) and create, update and delete them and their `extra_specs`. A type's
//! encryption has its own routes ([`super::encryption`]).

use super::access::{self, all_types};
use super::common::{self, opt_bool, opt_string, param, wrapped, Params};
use super::views;
use crate::types::{Volume, VolumeType};
use crate::Volumes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::policy::Target;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::sync::Arc;

fn check(caller: &Principal, action: &str) -> ApiResult<()> {
    access::authorize(caller, action, &Target::new("volume_type", ""), || {
        ApiError::not_found("The resource could not be found.")
    })
}

/// `GET /types` (`is_public=None` or `false` lists private types too, for admins).
pub async fn list(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    q: Query,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:index")?;
    let admin = caller.is_cloud_admin() || caller.is_system_reader();
    let want_public = match q.get("is_public") {
        None => None,
        Some(v) => nimbus_api::query::parse_bool(v)
            .map_err(|_| ApiError::bad_request(format!("Invalid is_public filter [{v}]")))?,
    };
    let types: Vec<Value> = all_types(&svc.store)
        .await?
        .values()
        .filter(|t| t.is_public || admin)
        .filter(|t| !admin || want_public.is_none_or(|p| t.is_public == p))
        .map(|t| views::volume_type(t, admin))
        .collect();
    Ok(Json(json!({"volume_types": types})))
}

/// `GET /types/{type_id}` (an id, a name, or `default`).
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:show")?;
    let t = &access::requested_type(&svc.store, &caller, param(&p, "type_id")?).await?;
    Ok(Json(
        json!({"volume_type": views::volume_type(t, caller.is_cloud_admin())}),
    ))
}

/// `POST /types` (admins).
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:create")?;
    let obj = wrapped(&body, "volume_type")?;
    let name = opt_string(obj, "name")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Invalid input received: Volume type name can not be empty.")
        })?;
    let description = opt_string(obj, "description")?;
    let is_public = opt_bool(obj, "os-volume-type-access:is_public")?
        .or(opt_bool(obj, "is_public")?)
        .unwrap_or(true);
    let extra_specs = match obj.get("extra_specs") {
        None | Some(Value::Null) => Default::default(),
        Some(v) => common::metadata_value("extra_specs", v)?,
    };
    let t = VolumeType {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
        description,
        is_public,
        extra_specs,
        encryption: None,
        is_default: false,
        created_at: chrono::Utc::now(),
    };
    let mut tx = svc.store.begin().await?;
    tx.create(&t).await.map_err(|e| match e {
        nimbus_store::StoreError::Conflict { .. } => {
            ApiError::conflict(format!("Volume Type {name} already exists."))
        }
        other => other.into(),
    })?;
    commit_audited(tx, &caller, "volume.type.create", "volume_type", &t.id).await?;
    Ok(Json(json!({"volume_type": views::volume_type(&t, true)})))
}

/// `PUT /types/{type_id}` (admins): name, description, is_public.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:update")?;
    let obj = wrapped(&body, "volume_type")?;
    let name = opt_string(obj, "name")?;
    if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "Invalid input received: Volume type name can not be empty.",
        ));
    }
    let description = opt_string(obj, "description")?;
    let is_public = opt_bool(obj, "is_public")?;
    let id = param(&p, "type_id")?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<VolumeType>(id)
        .await?
        .ok_or_else(|| access::type_not_found(id))?;
    let mut t = found.value;
    if let Some(n) = name {
        t.name = n;
    }
    if obj.contains_key("description") {
        t.description = description;
    }
    if let Some(p) = is_public {
        t.is_public = p;
    }
    tx.update(&t, Some(found.revision))
        .await
        .map_err(|e| match e {
            nimbus_store::StoreError::Conflict { .. } => {
                ApiError::conflict(format!("Volume Type {} already exists.", t.name))
            }
            other => other.into(),
        })?;
    commit_audited(tx, &caller, "volume.type.update", "volume_type", id).await?;
    Ok(Json(json!({"volume_type": views::volume_type(&t, true)})))
}

/// `DELETE /types/{type_id}` (admins) → 202; not the default, not while in use.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    check(&caller, "volume:types:delete")?;
    let id = param(&p, "type_id")?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<VolumeType>(id)
        .await?
        .ok_or_else(|| access::type_not_found(id))?;
    if found.value.is_default {
        return Err(ApiError::bad_request(
            "Invalid volume type: The default volume type can not be deleted.",
        ));
    }
    let in_use = tx
        .list::<Volume>(None)
        .await?
        .iter()
        .any(|v| v.value.volume_type_id == id);
    if in_use {
        return Err(ApiError::bad_request(format!(
            "Target volume type is still in use. Volume Type {id} deletion is not allowed \
             with volumes present with the type."
        )));
    }
    let a_default = tx
        .list::<crate::types::DefaultType>(None)
        .await?
        .iter()
        .any(|d| d.value.volume_type_id == id);
    if a_default {
        return Err(ApiError::bad_request(format!(
            "Target volume type is still in use. Volume Type {id} is the default type of a \
             project."
        )));
    }
    tx.delete::<VolumeType>(id, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.type.delete", "volume_type", id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /types/{type_id}/extra_specs`
pub async fn extra_specs(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:extra_specs:index")?;
    let t = &access::requested_type(&svc.store, &caller, param(&p, "type_id")?).await?;
    Ok(Json(json!({"extra_specs": t.extra_specs})))
}

/// `POST /types/{type_id}/extra_specs` (admins): adds and overwrites keys.
pub async fn set_extra_specs(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:extra_specs:update")?;
    let specs = body.get("extra_specs").ok_or_else(|| {
        ApiError::bad_request("Malformed request body: 'extra_specs' is required.")
    })?;
    let specs = common::metadata_value("extra_specs", specs)?;
    let id = param(&p, "type_id")?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<VolumeType>(id)
        .await?
        .ok_or_else(|| access::type_not_found(id))?;
    let mut t = found.value;
    t.extra_specs.extend(specs.clone());
    tx.update(&t, Some(found.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "volume.type.update_extra_specs",
        "volume_type",
        id,
    )
    .await?;
    Ok(Json(json!({"extra_specs": specs})))
}

/// `DELETE /types/{type_id}/extra_specs/{key}` (admins) → 202.
pub async fn delete_extra_spec(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    check(&caller, "volume:types:extra_specs:update")?;
    let id = param(&p, "type_id")?;
    let key = param(&p, "key")?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<VolumeType>(id)
        .await?
        .ok_or_else(|| access::type_not_found(id))?;
    let mut t = found.value;
    if t.extra_specs.remove(key).is_none() {
        return Err(ApiError::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        )));
    }
    tx.update(&t, Some(found.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "volume.type.update_extra_specs",
        "volume_type",
        id,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}
