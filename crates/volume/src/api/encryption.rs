//! `/types/{type_id}/encryption` (admins): show, create, update and delete a
//! type's encryption spec, as Cinder's volume type encryption API. Only what QEMU
//! realises is accepted: provider `luks` (or its long Nova class name), cipher
//! `aes-xts-plain64` with 256- or 512-bit keys, control location `front-end`; a
//! type whose volumes exist cannot change its encryption.

use super::access;
use super::common::{param, wrapped, Params};
use super::views;
use crate::types::{Encryption, Volume, VolumeType};
use crate::{storage, Volumes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::policy::Target;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn check(caller: &Principal, action: &str) -> ApiResult<()> {
    access::authorize(caller, action, &Target::new("volume_type", ""), || {
        ApiError::not_found("The resource could not be found.")
    })
}

/// `GET /types/{type_id}/encryption`: `{}` for a type without encryption.
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:encryption:get")?;
    let t = &access::requested_type(&svc.store, &caller, param(&p, "type_id")?).await?;
    Ok(Json(views::encryption(t)))
}

/// Applies the fields of an `{"encryption": {...}}` body to `e`.
fn apply(e: &mut Encryption, obj: &Map<String, Value>) -> ApiResult<()> {
    for (k, v) in obj {
        let bad = |why: &str| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {v}. {why}"
            ))
        };
        match k.as_str() {
            "provider" => match v.as_str() {
                Some("luks") | Some("nova.volume.encryptors.luks.LuksEncryptor") => {
                    e.provider = "luks".into()
                }
                _ => return Err(bad("Only the luks provider is supported.")),
            },
            "cipher" => {
                e.cipher = v
                    .as_str()
                    .ok_or_else(|| bad("Must be a string."))?
                    .to_string()
            }
            "key_size" => {
                e.key_size = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                }
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("Must be an integer."))?
            }
            "control_location" => match v.as_str() {
                Some("front-end") => e.control_location = "front-end".into(),
                _ => {
                    return Err(bad(
                        "Only front-end is supported (QEMU decrypts the volume).",
                    ))
                }
            },
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute encryption. Additional properties are \
                     not allowed ('{k}' was unexpected)"
                )))
            }
        }
    }
    if !storage::supported_cipher(&e.cipher, e.key_size) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: cipher {} with {}-bit keys is not supported \
             (aes-xts-plain64 with 256 or 512).",
            e.cipher, e.key_size
        )));
    }
    Ok(())
}

/// Loads a type for a change of its encryption, refusing types in use.
async fn load_unused(
    tx: &mut nimbus_store::Tx<'_>,
    id: &str,
    verb: &str,
) -> ApiResult<(VolumeType, i64)> {
    let found = tx
        .get::<VolumeType>(id)
        .await?
        .ok_or_else(|| access::type_not_found(id))?;
    let in_use = tx
        .list::<Volume>(None)
        .await?
        .iter()
        .any(|v| v.value.volume_type_id == id);
    if in_use {
        return Err(ApiError::bad_request(format!(
            "Cannot {verb} encryption specs. Volume type in use."
        )));
    }
    Ok((found.value, found.revision))
}

/// `POST /types/{type_id}/encryption` → 200 `{"encryption": {...}}`.
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:encryption:create")?;
    let obj = wrapped(&body, "encryption")?;
    let id = param(&p, "type_id")?;
    let mut e = crate::bootstrap::luks();
    for required in ["provider", "control_location"] {
        if !obj.contains_key(required) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute encryption. '{required}' is a required \
                 property"
            )));
        }
    }
    apply(&mut e, obj)?;
    let mut tx = svc.store.begin().await?;
    let (mut t, revision) = load_unused(&mut tx, id, "create").await?;
    if t.encryption.is_some() {
        return Err(ApiError::bad_request(format!(
            "Volume type encryption for type {id} already exists."
        )));
    }
    t.encryption = Some(e);
    tx.update(&t, Some(revision)).await?;
    commit_audited(
        tx,
        &caller,
        "volume.type.create_encryption",
        "volume_type",
        id,
    )
    .await?;
    Ok(Json(json!({"encryption": views::encryption(&t)})))
}

/// `PUT /types/{type_id}/encryption/{encryption_id}` → 200 with the fields sent.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    check(&caller, "volume:types:encryption:update")?;
    let obj = wrapped(&body, "encryption")?.clone();
    let id = param(&p, "type_id")?;
    let mut tx = svc.store.begin().await?;
    let (mut t, revision) = load_unused(&mut tx, id, "update").await?;
    let Some(e) = t.encryption.as_mut() else {
        return Err(ApiError::not_found(format!(
            "Volume type encryption for type {id} does not exist."
        )));
    };
    apply(e, &obj)?;
    tx.update(&t, Some(revision)).await?;
    commit_audited(
        tx,
        &caller,
        "volume.type.update_encryption",
        "volume_type",
        id,
    )
    .await?;
    Ok(Json(json!({"encryption": obj})))
}

/// `DELETE /types/{type_id}/encryption/{encryption_id}` → 202.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    check(&caller, "volume:types:encryption:delete")?;
    let id = param(&p, "type_id")?;
    let mut tx = svc.store.begin().await?;
    let (mut t, revision) = load_unused(&mut tx, id, "delete").await?;
    if t.encryption.take().is_none() {
        return Err(ApiError::not_found(format!(
            "Volume type encryption for type {id} does not exist."
        )));
    }
    tx.update(&t, Some(revision)).await?;
    commit_audited(
        tx,
        &caller,
        "volume.type.delete_encryption",
        "volume_type",
        id,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}
