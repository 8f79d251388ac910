//! `/volumes/{volume_id}/metadata`: show all, merge (POST), replace (PUT), and one
//! key (`/metadata/{key}`: show, set, delete), as Cinder's volume metadata API.

use super::access;
use super::common::{metadata_value, param, Params, MAX_STRING};
use crate::types::Volume;
use crate::Volumes;
use axum::extract::{Path, State};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET .../metadata`
pub async fn index(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let v = access::volume(&svc.store, &caller, "volume:get_volume_metadata", id).await?;
    Ok(Json(json!({"metadata": v.value.metadata})))
}

/// `POST .../metadata`: adds and overwrites the given keys.
pub async fn merge(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let new = metadata_body(&body)?;
    let m = change(&svc, &caller, id, |m| m.extend(new.clone())).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `PUT .../metadata`: replaces all metadata.
pub async fn replace(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let new = metadata_body(&body)?;
    let m = change(&svc, &caller, id, |m| *m = new.clone()).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `GET .../metadata/{key}`
pub async fn show_key(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let key = param(&p, "key")?;
    let v = access::volume(&svc.store, &caller, "volume:get_volume_metadata", id).await?;
    match v.value.metadata.get(key) {
        Some(val) => Ok(Json(json!({"meta": {key: val}}))),
        None => Err(key_not_found(id, key)),
    }
}

/// `PUT .../metadata/{key}` with `{"meta": {key: value}}`.
pub async fn set_key(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let key = param(&p, "key")?.to_string();
    let meta = body
        .get("meta")
        .ok_or_else(|| ApiError::bad_request("Malformed request body: 'meta' is required."))?;
    let pairs = metadata_value("meta", meta)?;
    if pairs.len() != 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items.",
        ));
    }
    let (k, val) = pairs.into_iter().next().expect("one pair");
    if k != key || key.chars().count() > MAX_STRING {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    change(&svc, &caller, id, |m| {
        m.insert(k.clone(), val.clone());
    })
    .await?;
    Ok(Json(json!({"meta": {key: val}})))
}

/// `DELETE .../metadata/{key}` → 200.
pub async fn delete_key(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let key = param(&p, "key")?;
    let v = access::volume(&svc.store, &caller, "volume:delete_volume_metadata", id).await?;
    if !v.value.metadata.contains_key(key) {
        return Err(key_not_found(id, key));
    }
    change(&svc, &caller, id, |m| {
        m.remove(key);
    })
    .await?;
    Ok(Json(json!({})))
}

fn key_not_found(id: &str, key: &str) -> ApiError {
    ApiError::not_found(format!("Volume {id} has no metadata with key {key}."))
}

fn metadata_body(body: &Value) -> ApiResult<BTreeMap<String, String>> {
    let m = body
        .get("metadata")
        .ok_or_else(|| ApiError::bad_request("Malformed request body: 'metadata' is required."))?;
    metadata_value("metadata", m)
}

/// Applies `edit` to the volume's metadata in one audited write; returns the result.
async fn change(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    edit: impl Fn(&mut BTreeMap<String, String>),
) -> ApiResult<BTreeMap<String, String>> {
    access::volume(&svc.store, caller, "volume:update_volume_metadata", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Volume>(id)
        .await?
        .ok_or_else(|| access::volume_not_found(id))?;
    let mut v = found.value;
    edit(&mut v.metadata);
    v.updated_at = chrono::Utc::now();
    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, caller, "volume.volume.update_metadata", "volume", id).await?;
    Ok(v.metadata)
}
