//! `POST /volumes/{volume_id}/action`: `os-extend` (an available volume, grown
//! by the controller; from 3.42 an in-use one, grown by the agent of its
//! server), `os-set_bootable`, `os-reset_status` for admins (`status`,
//! `attach_status`), `os-volume_upload_image` ([`super::upload`]) and the
//! legacy attach actions ([`super::attach_actions`]).

use super::access;
use super::common::{self, opt_bool, param, Params};
use crate::types::{AttachmentStatus, QuotaSet, Volume, VolumeAttachment, VolumeStatus};
use crate::{quota, Volumes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Dispatches on the one key of the body.
pub async fn action(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
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
        "os-extend" => extend(&svc, &caller, mv, id, args).await,
        "os-set_bootable" => set_bootable(&svc, &caller, id, args).await,
        "os-reset_status" => reset_status(&svc, &caller, id, args).await,
        "os-volume_upload_image" => {
            let doc = super::upload::upload(&svc, &caller, id, args).await?;
            return Ok((StatusCode::ACCEPTED, Json(doc)).into_response());
        }
        attach if super::attach_actions::NAMES.contains(&attach) => {
            return super::attach_actions::run(&svc, &caller, id, attach, args).await;
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

/// `os-extend {"new_size": N}` → 202; quota for the added gigabytes. An
/// available volume is grown by the storage controller; an `in-use` one (from
/// 3.42, policy `volume:extend_attached_volume`) by the agent of the server it
/// is plugged into, which resizes it under the running guest.
async fn extend(
    svc: &Volumes,
    caller: &Principal,
    mv: Microversion,
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
    let seen = access::volume(&svc.store, caller, "volume:extend", id).await?;
    let attached = mv.at_least(3, 42) && seen.value.status == VolumeStatus::InUse;
    if attached {
        access::volume(&svc.store, caller, "volume:extend_attached_volume", id).await?;
    }
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Volume>(id)
        .await?
        .ok_or_else(|| access::volume_not_found(id))?;
    let mut v = found.value;
    let expected = if attached {
        VolumeStatus::InUse
    } else {
        VolumeStatus::Available
    };
    if v.status != expected {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} status must be '{{'status': '{}'}}' to extend, \
             currently {}.",
            expected.as_str(),
            v.status.as_str()
        )));
    }
    if attached {
        extend_attached_check(&mut tx, id).await?;
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

/// Only a volume plugged into a guest is resized in use (by that host's
/// agent); a bookkeeping-only attachment has no one to resize it while it is
/// `in-use` (the storage controller grows available volumes only).
async fn extend_attached_check(tx: &mut nimbus_store::Tx<'_>, id: &str) -> ApiResult<()> {
    let plugged = tx
        .get::<VolumeAttachment>(id)
        .await?
        .is_some_and(|a| a.value.compute && a.value.status == AttachmentStatus::Attached);
    if plugged {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} is in-use through a Block Storage attachment only \
             (no server has it plugged); extend it once it is detached and available."
        )))
    }
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

/// `os-reset_status {"status": ..., "attach_status": ...}` (admins) → 202:
/// repairs a stuck volume's record. `attach_status: detached` drops its
/// attachment record (the record only, as Cinder: nothing is unplugged);
/// `attached` completes a bookkeeping one; `in-use` needs an attachment.
async fn reset_status(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    args: &Value,
) -> ApiResult<StatusCode> {
    let obj = args_object("os-reset_status", args)?;
    common::only_fields(obj, "os-reset_status", &["status", "attach_status"])?;
    let wanted = match obj.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match v.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("available") => VolumeStatus::Available,
            Some("error") => VolumeStatus::Error,
            Some("in-use") => VolumeStatus::InUse,
            _ => {
                return Err(ApiError::bad_request(
                    "Invalid input received: status must be 'available', 'error' or 'in-use'.",
                ))
            }
        }),
    };
    let attach_status = match obj.get("attach_status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match v.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("attached") => AttachmentStatus::Attached,
            Some("detached") => AttachmentStatus::Detaching,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Invalid attach status: {v}. It must be \
                     'attached' or 'detached'."
                )))
            }
        }),
    };
    if wanted.is_none() && attach_status.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input received: Must specify 'status' or 'attach_status' for update.",
        ));
    }
    access::volume(&svc.store, caller, "volume:reset_status", id).await?;
    let mut tx = svc.store.begin().await?;
    match attach_status {
        // "detached" (Detaching stands for it here): the record goes.
        Some(AttachmentStatus::Detaching) => crate::attach::finish_detach(&mut tx, id).await?,
        Some(_) => {
            crate::attach::advance(&mut tx, id, AttachmentStatus::Attached, |_| {}).await?;
        }
        None => {}
    }
    let Some(wanted) = wanted else {
        commit_audited(tx, caller, "volume.volume.reset_status", "volume", id).await?;
        return Ok(StatusCode::ACCEPTED);
    };
    let found = access::reload_volume(&mut tx, id).await?;
    let mut v = found.value;
    if wanted == VolumeStatus::Available && v.top.is_none() {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} has no data; it cannot be made available."
        )));
    }
    if wanted == VolumeStatus::InUse && tx.get::<VolumeAttachment>(id).await?.is_none() {
        return Err(ApiError::bad_request(
            "Cannot reset-state to in-use because volume does not have any attachments.",
        ));
    }
    v.status = wanted;
    v.target_size = None;
    v.updated_at = chrono::Utc::now();

    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, caller, "volume.volume.reset_status", "volume", id).await?;
    Ok(StatusCode::ACCEPTED)
}
