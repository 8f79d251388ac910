//! `/volumes/{volume_id}/metadata` and `/snapshots/{snapshot_id}/metadata`: show
//! all, merge (POST), replace (PUT), and one key (`/metadata/{key}`: show, set,
//! delete), as Cinder's metadata APIs. One generic set of handlers; [`Owner`]
//! says what differs between volumes and snapshots.

use super::access;
use super::common::{metadata_value, owned, param, Params, MAX_STRING};
use crate::types::{Snapshot, Volume};
use crate::Volumes;
use axum::extract::{Path, State};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{Resource, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What carries metadata.
pub trait Owner: Resource + Clone + 'static {
    /// The path parameter naming it.
    const PARAM: &'static str;
    /// `volume` / `snapshot` (policy target kind and audit kind).
    const LABEL: &'static str;
    const READ: &'static str;
    const WRITE: &'static str;
    const DELETE: &'static str;
    fn project(&self) -> &str;
    fn metadata(&self) -> &BTreeMap<String, String>;
    fn metadata_mut(&mut self) -> &mut BTreeMap<String, String>;
    fn touch(&mut self);
    fn not_found(id: &str) -> ApiError;
}

impl Owner for Volume {
    const PARAM: &'static str = "volume_id";
    const LABEL: &'static str = "volume";
    const READ: &'static str = "volume:get_volume_metadata";
    const WRITE: &'static str = "volume:update_volume_metadata";
    const DELETE: &'static str = "volume:delete_volume_metadata";
    fn project(&self) -> &str {
        &self.project_id
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.metadata
    }
    fn touch(&mut self) {
        self.updated_at = chrono::Utc::now();
    }
    fn not_found(id: &str) -> ApiError {
        access::volume_not_found(id)
    }
}

impl Owner for Snapshot {
    const PARAM: &'static str = "snapshot_id";
    const LABEL: &'static str = "snapshot";
    const READ: &'static str = "volume:get_snapshot_metadata";
    const WRITE: &'static str = "volume:update_snapshot_metadata";
    const DELETE: &'static str = "volume:delete_snapshot_metadata";
    fn project(&self) -> &str {
        &self.project_id
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.metadata
    }
    fn touch(&mut self) {
        self.updated_at = chrono::Utc::now();
    }
    fn not_found(id: &str) -> ApiError {
        access::snapshot_not_found(id)
    }
}

/// Loads `id` and authorizes `action` on it.
async fn load<T: Owner>(store: &Store, caller: &Principal, action: &str, id: &str) -> ApiResult<T> {
    let found = store.get::<T>(id).await?.ok_or_else(|| T::not_found(id))?;
    access::authorize(
        caller,
        action,
        &owned(T::LABEL, id, found.value.project()),
        || T::not_found(id),
    )?;
    Ok(found.value)
}

/// `GET .../metadata`
pub async fn index<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
    let v = load::<T>(&svc.store, &caller, T::READ, id).await?;
    Ok(Json(json!({"metadata": v.metadata()})))
}

/// `POST .../metadata`: adds and overwrites the given keys.
pub async fn merge<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
    let new = metadata_body(&body)?;
    let m = change::<T>(&svc, &caller, id, |m| m.extend(new.clone())).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `PUT .../metadata`: replaces all metadata.
pub async fn replace<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
    let new = metadata_body(&body)?;
    let m = change::<T>(&svc, &caller, id, |m| *m = new.clone()).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `GET .../metadata/{key}`
pub async fn show_key<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
    let key = param(&p, "key")?;
    let v = load::<T>(&svc.store, &caller, T::READ, id).await?;
    match v.metadata().get(key) {
        Some(val) => Ok(Json(json!({"meta": {key: val}}))),
        None => Err(key_not_found::<T>(id, key)),
    }
}

/// `PUT .../metadata/{key}` with `{"meta": {key: value}}`.
pub async fn set_key<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
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
    change::<T>(&svc, &caller, id, |m| {
        m.insert(k.clone(), val.clone());
    })
    .await?;
    Ok(Json(json!({"meta": {key: val}})))
}

/// `DELETE .../metadata/{key}` → 200.
pub async fn delete_key<T: Owner>(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, T::PARAM)?;
    let key = param(&p, "key")?;
    let v = load::<T>(&svc.store, &caller, T::DELETE, id).await?;
    if !v.metadata().contains_key(key) {
        return Err(key_not_found::<T>(id, key));
    }
    change::<T>(&svc, &caller, id, |m| {
        m.remove(key);
    })
    .await?;
    Ok(Json(json!({})))
}

fn key_not_found<T: Owner>(id: &str, key: &str) -> ApiError {
    ApiError::not_found(format!(
        "{} {id} has no metadata with key {key}.",
        if T::LABEL == "volume" {
            "Volume"
        } else {
            "Snapshot"
        }
    ))
}

fn metadata_body(body: &Value) -> ApiResult<BTreeMap<String, String>> {
    let m = body
        .get("metadata")
        .ok_or_else(|| ApiError::bad_request("Malformed request body: 'metadata' is required."))?;
    metadata_value("metadata", m)
}

/// Applies `edit` to the metadata in one audited write (re-read inside the
/// transaction); returns the result.
async fn change<T: Owner>(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    edit: impl Fn(&mut BTreeMap<String, String>),
) -> ApiResult<BTreeMap<String, String>> {
    load::<T>(&svc.store, caller, T::WRITE, id).await?;
    let mut tx = svc.store.begin().await?;
    let found = tx.get::<T>(id).await?.ok_or_else(|| T::not_found(id))?;
    let mut v = found.value;
    edit(v.metadata_mut());
    v.touch();
    tx.update(&v, Some(found.revision)).await?;
    let action = format!("volume.{}.update_metadata", T::LABEL);
    commit_audited(tx, caller, &action, T::LABEL, id).await?;
    Ok(v.metadata().clone())
}
