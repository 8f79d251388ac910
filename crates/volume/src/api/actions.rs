//! `POST /volumes/{volume_id}/action`: `os-extend` (grow an available volume; the
//! controller resizes it), `os-set_bootable`, `os-reset_status` for admins, and
//! `os-volume_upload_image` ([`super::upload`]). Attach, detach and in-use
//! extend come with the attachment work.

use super::access;
use super::common::{self, opt_bool, param, Params};
use crate::types::{QuotaSet, Volume, VolumeStatus};
use crate::{quota, Volumes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Dispatches on the one key of the body.
pub async fn action(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let id = param(&p, "volume_id")?;
    let Some(obj) = body.as_object().filter(|o| o.len() == 1) else {
        return Err(ApiError::bad_request(
            "Invalid input received: the body must name exactly one action.",
        ));
    };
    let (name, args) = obj.iter().next().expect("one entry");
    let status = match name.as_str() {
        "os-extend" => extend(&svc, &caller, id, args).await,
        "os-set_bootable" => set_bootable(&svc, &caller, id, args).await,
        "os-reset_status" => reset_status(&svc, &caller, id, args).await,
        "os-volume_upload_image" => {
            let doc = super::upload::upload(&svc, &caller, id, args).await?;
            return Ok((StatusCode::ACCEPTED, Json(doc)).into_response());
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }?;
    Ok(status.into_response())
}

fn args_object<'a>(name: &str, args: &'a Value) -> ApiResult<&'a Map<String, Value>> {
    args.as_object()
        .ok_or_else(|| common::invalid(name, args, "Must be an object."))
}

/// `os-extend {"new_size": N}` → 202; quota for the added gigabytes.
async fn extend(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    args: &Value,
) -> ApiResult<StatusCode> {
    let obj = args_object("os-extend", args)?;
    let new_size =
        match obj.get("new_size") {
            Some(v) => common::size_value("new_size", v)?,
            None => return Err(ApiError::bad_request(
                "Invalid input for field/attribute os-extend. 'new_size' is a required property",
            )),
        };
    access::volume(&svc.store, caller, "volume:extend", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Volume>(id)
        .await?
        .ok_or_else(|| access::volume_not_found(id))?;
    let mut v = found.value;
    if v.status != VolumeStatus::Available {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume status must be available to extend, but current status \
             is: {}.",
            v.status.as_str()
        )));
    }
    if new_size <= v.size {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: New size for extend must be greater than current size. \
             (current: {}, extended: {new_size}).",
            v.size
        )));
    }
    let set = tx.get::<QuotaSet>(&v.project_id).await?.map(|s| s.value);
    quota::check_per_volume(set.as_ref(), new_size)?;
    let types = tx.list::<crate::types::VolumeType>(None).await?;
    let type_names = types
        .iter()
        .map(|t| (t.value.id.clone(), t.value.name.clone()))
        .collect();
    let usage = quota::usage(&mut tx, &v.project_id, &type_names).await?;
    let added = i64::try_from(new_size - v.size).unwrap_or(i64::MAX);
    let mut wanted = vec![("gigabytes".to_string(), added)];
    if let Some(t) = type_names.get(&v.volume_type_id) {
        wanted.push((format!("gigabytes_{t}"), added));
    }
    quota::check(set.as_ref(), &usage, &wanted)?;
    v.status = VolumeStatus::Extending;
    v.target_size = Some(new_size);
    v.updated_at = chrono::Utc::now();
    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, caller, "volume.volume.extend", "volume", id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `os-set_bootable {"bootable": bool}` → 200.
async fn set_bootable(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    args: &Value,
) -> ApiResult<StatusCode> {
    let obj = args_object("os-set_bootable", args)?;
    let Some(bootable) = opt_bool(obj, "bootable")? else {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute os-set_bootable. 'bootable' is a required property",
        ));
    };
    access::volume(&svc.store, caller, "volume:update", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = access::reload_volume(&mut tx, id).await?;
    let mut v = found.value;
    v.bootable = bootable;
    v.updated_at = chrono::Utc::now();

    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, caller, "volume.volume.set_bootable", "volume", id).await?;
    Ok(StatusCode::OK)
}

/// `os-reset_status {"status": ...}` (admins) → 202: repairs a stuck volume's record.
async fn reset_status(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    args: &Value,
) -> ApiResult<StatusCode> {
    let obj = args_object("os-reset_status", args)?;
    let wanted = match obj.get("status").and_then(Value::as_str) {
        Some("available") => VolumeStatus::Available,
        Some("error") => VolumeStatus::Error,
        _ => {
            return Err(ApiError::bad_request(
                "Invalid input received: status must be 'available' or 'error'.",
            ))
        }
    };
    access::volume(&svc.store, caller, "volume:reset_status", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = access::reload_volume(&mut tx, id).await?;
    let mut v = found.value;
    if wanted == VolumeStatus::Available && v.top.is_none() {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} has no data; it cannot be made available."
        )));
    }
    v.status = wanted;
    v.target_size = None;
    v.updated_at = chrono::Utc::now();

    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, caller, "volume.volume.reset_status", "volume", id).await?;
    Ok(StatusCode::ACCEPTED)
}
