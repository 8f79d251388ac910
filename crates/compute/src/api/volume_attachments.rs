//! `/servers/{id}/os-volume_attachments` (Nova's "Servers with volume
//! attachments"): list, show, attach (POST), update (PUT: 2.85
//! `delete_on_termination`; a different volume is a swap, which only Cinder's
//! volume migration may ask for, so it is refused as Nova refuses it then) and
//! detach (DELETE, 202).
//!
//! Attach and detach go through the attachment state machine
//! ([`nimbus_volume::attach`]) in one transaction with the instance action
//! (`attach_volume` / `detach_volume`) and the audit record; the agent of the
//! server's host plugs or unplugs the disk and finishes the transition. The
//! record is keyed by the volume, so Nova's `id` (the volume id) and Cinder's
//! attachment id both come from it.

use super::common::*;
use super::server_actions::{check_lock, check_state};
use super::server_input::is_uuid;
use super::server_volumes::{next_device, ROOT_DEVICE};
use super::servers::{load, not_found};
use crate::lifecycle::{record_action, request_id};
use crate::server::{Server, VmState};
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{allowed, authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{Store, Tx};
use nimbus_volume::attach::{self, NewAttachment};
use nimbus_volume::types::{AttachmentStatus, Volume, VolumeAttachment};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::sync::{Arc, LazyLock};

const POLICY: &str = "os_compute_api:os-volumes-attachments";

fn rule(action: &str) -> String {
    format!("{POLICY}:{action}")
}

/// Nova's schema pattern for a device name (`/dev/vdb`, `/dev/xvdc`, `/dev/sda1`).
static DEVICE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$").expect("device pattern")
});

/// The states attach and detach allow (Nova also allows PAUSED, SHELVED, ...,
/// which this cloud does not have).
const ATTACHABLE: &[VmState] = &[VmState::Active, VmState::Stopped];

/// Nova's 404 for a volume the server does not have.
fn not_attached(server: &str, volume: &str) -> ApiError {
    ApiError::not_found(format!(
        "Instance {server} is not attached to volume {volume}"
    ))
}

fn volume_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Volume {id} could not be found."))
}

/// One attachment as Nova shows it at `mv`: `id` (the volume id) until 2.89,
/// `tag` from 2.70, `delete_on_termination` from 2.79, `attachment_id` and
/// `bdm_uuid` from 2.89 (one record plays Nova's block device mapping and
/// Cinder's attachment here, so both carry its attachment id).
pub fn view(mv: Microversion, a: &VolumeAttachment) -> Value {
    let mut d = json!({
        "device": a.device,
        "serverId": a.server_id,
        "volumeId": a.id,
    });
    if !mv.at_least(2, 89) {
        d["id"] = json!(a.id);
    }
    if mv.at_least(2, 70) {
        d["tag"] = json!(a.tag);
    }
    if mv.at_least(2, 79) {
        d["delete_on_termination"] = json!(a.delete_on_termination);
    }
    if mv.at_least(2, 89) {
        d["attachment_id"] = json!(a.attachment_id);
        d["bdm_uuid"] = json!(a.attachment_id);
    }
    d
}

/// The attachments Nova has for a server, root first.
async fn of_server(store: &Store, server_id: &str) -> ApiResult<Vec<VolumeAttachment>> {
    Ok(attach::of_compute(store, server_id).await?)
}

/// The attachment of `volume` to `server`, if Nova made it.
async fn find(
    tx: &mut Tx<'_>,
    server: &str,
    volume: &str,
) -> ApiResult<Option<nimbus_store::Versioned<VolumeAttachment>>> {
    if !is_uuid(volume) {
        return Ok(None);
    }
    Ok(tx
        .get::<VolumeAttachment>(volume)
        .await?
        .filter(|a| a.value.compute && a.value.server_id.as_deref() == Some(server)))
}

/// `GET /servers/{id}/os-volume_attachments` (`limit`, `offset`)
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(server_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    check_query(mv, &q, &["limit", "offset"])?;
    let number = |k: &str| -> ApiResult<Option<usize>> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{k} param must be a non-negative integer"))
            }),
        }
    };
    // As Nova's `limited`: 0 (or none) is the longest page.
    let limit = match number("limit")? {
        None | Some(0) => MAX_LIMIT,
        Some(l) => l.min(MAX_LIMIT),
    };
    let offset = number("offset")?.unwrap_or(0);
    load(&c, &caller, &server_id, &rule("index")).await?;
    let list: Vec<Value> = of_server(&c.store, &server_id)
        .await?
        .iter()
        .skip(offset)
        .take(limit)
        .map(|a| view(mv, a))
        .collect();
    Ok(Json(json!({ "volumeAttachments": list })))
}

/// `GET /servers/{id}/os-volume_attachments/{volume_id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((server_id, volume_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    load(&c, &caller, &server_id, &rule("show")).await?;
    let a = of_server(&c.store, &server_id)
        .await?
        .into_iter()
        .find(|a| a.id == volume_id)
        .ok_or_else(|| not_attached(&server_id, &volume_id))?;
    Ok(Json(json!({"volumeAttachment": view(mv, &a)})))
}

/// What an attach request asked for.
struct AttachRequest {
    volume_id: String,
    tag: Option<String>,
    delete_on_termination: bool,
}

fn volume_id_field(obj: &Map<String, Value>) -> ApiResult<String> {
    match &obj["volumeId"] {
        Value::String(s) if is_uuid(s) => Ok(s.clone()),
        v => Err(invalid("volumeId", v, "Must be a UUID.")),
    }
}

fn device_field(obj: &Map<String, Value>) -> ApiResult<Option<String>> {
    match obj.get("device") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(d)) if DEVICE.is_match(d) => Ok(Some(d.clone())),
        Some(v) => Err(invalid(
            "device",
            v,
            "Must be a device name such as /dev/vdb.",
        )),
    }
}

fn tag_field(obj: &Map<String, Value>) -> ApiResult<Option<String>> {
    match obj.get("tag") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= 60 && !t.contains('/') => {
            Ok(Some(t.clone()))
        }
        Some(v) => Err(invalid("tag", v, "Must be 1 to 60 characters without '/'.")),
    }
}

fn parse_attach(mv: Microversion, body: &Value) -> ApiResult<AttachRequest> {
    let obj = wrapped(body, "volumeAttachment")?;
    let mut keys = vec!["volumeId", "device"];
    if mv.at_least(2, 49) {
        keys.push("tag");
    }
    if mv.at_least(2, 79) {
        keys.push("delete_on_termination");
    }
    check_keys(obj, &keys, &["volumeId"])?;
    // The device is only a hint: as Nova's libvirt driver, the next free name
    // is used whatever it says, but it must look like one.
    device_field(obj)?;
    Ok(AttachRequest {
        volume_id: volume_id_field(obj)?,
        tag: tag_field(obj)?,
        delete_on_termination: bool_field(obj, "delete_on_termination")?.unwrap_or(false),
    })
}

/// Nova's state checks for attach and detach: not locked, ACTIVE or SHUTOFF,
/// no task under way, not being deleted.
fn check_server(caller: &Principal, s: &Server, action: &str) -> ApiResult<()> {
    check_lock(caller, s)?;
    check_state(s, action, ATTACHABLE, &[None])
}

/// A volume the caller may attach: 404 as Nova's "Volume X could not be found."
/// for one that does not exist or that the caller may not see.
async fn visible_volume(c: &Compute, caller: &Principal, id: &str) -> ApiResult<Volume> {
    let found = match is_uuid(id) {
        true => c.store.get::<Volume>(id).await?,
        false => None,
    };
    let Some(v) = found else {
        return Err(volume_not_found(id));
    };
    let mut target = Target::new("volume", id).project(&v.value.project_id);
    target.hidden_outside_project = true;
    if !allowed(caller, "volume:get", &target) {
        return Err(volume_not_found(id));
    }
    Ok(v.value)
}

/// Writes the instance action and audit record of `action` on `s`, and commits.
async fn finish(
    mut tx: Tx<'_>,
    caller: &Principal,
    s: &Server,
    action: &str,
    volume_id: &str,
) -> ApiResult<()> {
    record_action(&mut tx, caller, s, action, &request_id()).await?;
    AuditRecord::new(
        Some(caller),
        &format!("compute.server.{action}"),
        "server",
        &s.id,
        true,
    )
    .with_detail(format!("volume {volume_id}"))
    .write(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /servers/{id}/os-volume_attachments` → 200 with the attachment
/// (`attaching` until the agent has plugged it).
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(server_id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let req = parse_attach(mv, &body)?;
    load(&c, &caller, &server_id, &rule("create")).await?;
    visible_volume(&c, &caller, &req.volume_id).await?;
    let mut tx = c.store.begin().await?;
    let s = tx
        .get::<Server>(&server_id)
        .await?
        .ok_or_else(|| not_found(&server_id))?
        .value;
    check_server(&caller, &s, "attach_volume")?;
    if let Some(a) = tx.get::<VolumeAttachment>(&req.volume_id).await? {
        if a.value.server_id.as_deref() == Some(server_id.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: volume {} already attached",
                req.volume_id
            )));
        }
    }
    let taken: Vec<String> = attach::of_server(&mut tx, &server_id)
        .await?
        .into_iter()
        .filter_map(|a| a.device)
        .chain([ROOT_DEVICE.to_string()])
        .collect();
    let device = next_device(taken.iter().map(String::as_str));
    let a = attach::attach(
        &mut tx,
        &req.volume_id,
        NewAttachment {
            project_id: s.project_id.clone(),
            server_id: Some(server_id.clone()),
            compute: true,
            device: Some(device),
            delete_on_termination: req.delete_on_termination,
            tag: req.tag,
            ..Default::default()
        },
    )
    .await?;
    finish(tx, &caller, &s, "attach_volume", &req.volume_id).await?;
    Ok(Json(json!({"volumeAttachment": view(mv, &a)})))
}

/// `DELETE /servers/{id}/os-volume_attachments/{volume_id}` → 202; the agent
/// unplugs the disk, then the volume is `available`.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((server_id, volume_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    load(&c, &caller, &server_id, &rule("delete")).await?;
    visible_volume(&c, &caller, &volume_id).await?;
    let mut tx = c.store.begin().await?;
    let s = tx
        .get::<Server>(&server_id)
        .await?
        .ok_or_else(|| not_found(&server_id))?
        .value;
    let a = find(&mut tx, &server_id, &volume_id)
        .await?
        .ok_or_else(|| not_attached(&server_id, &volume_id))?
        .value;
    if a.boot_index == Some(0) {
        return Err(ApiError::bad_request("Cannot detach a root device volume"));
    }
    check_server(&caller, &s, "detach_volume")?;
    if a.status != AttachmentStatus::Attached {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Unable to detach volume {volume_id}. Volume status must be \
             'in-use' and attach_status must be 'attached' to detach (it is {}).",
            a.status.as_str()
        )));
    }
    attach::begin_detach(&mut tx, &volume_id).await?;
    finish(tx, &caller, &s, "detach_volume", &volume_id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `PUT /servers/{id}/os-volume_attachments/{volume_id}` → 202. From 2.85 the
/// same volume with a new `delete_on_termination` (the other fields may only
/// repeat what is there); any other volume id, and every call before 2.85, is a
/// swap: admins only, and refused (409) as Nova refuses a swap of a volume that
/// Cinder is not migrating, which volumes here never are.
pub async fn update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((server_id, volume_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    let obj = wrapped(&body, "volumeAttachment")?;
    let mut keys = vec!["volumeId"];
    if mv.at_least(2, 85) {
        keys.extend(["device", "tag", "delete_on_termination", "serverId", "id"]);
    }
    check_keys(obj, &keys, &["volumeId"])?;
    let new_volume = volume_id_field(obj)?;
    let swap = !mv.at_least(2, 85) || new_volume != volume_id;
    let s = load(&c, &caller, &server_id, &rule("update")).await?.value;
    if swap {
        authorize(&caller, &rule("swap"), &Target::default())?;
        visible_volume(&c, &caller, &volume_id).await?;
        return Err(ApiError::conflict(format!(
            "volume {volume_id} is not migrating; this API should only be called by Cinder"
        )));
    }
    let device = device_field(obj)?;
    let tag = tag_field(obj)?;
    let delete_on_termination = bool_field(obj, "delete_on_termination")?;
    visible_volume(&c, &caller, &volume_id).await?;
    let mut tx = c.store.begin().await?;
    let found = find(&mut tx, &server_id, &volume_id)
        .await?
        .ok_or_else(|| not_attached(&server_id, &volume_id))?;
    let mut a = found.value;
    let same = |field: &str, given: Option<&str>, have: Option<&str>| match given {
        Some(g) if Some(g) != have => Err(ApiError::bad_request(format!(
            "The {field} field of a volume attachment cannot be changed."
        ))),
        _ => Ok(()),
    };
    same("device", device.as_deref(), a.device.as_deref())?;
    same("tag", tag.as_deref(), a.tag.as_deref())?;
    for (field, have) in [("serverId", server_id.as_str()), ("id", volume_id.as_str())] {
        if let Some(v) = obj.get(field) {
            if v.as_str() != Some(have) {
                return Err(invalid(field, v, "Cannot be changed."));
            }
        }
    }
    if let Some(d) = delete_on_termination {
        a.delete_on_termination = d;
        a.updated_at = Utc::now();
        tx.update(&a, Some(found.revision)).await?;
    }
    finish(tx, &caller, &s, "update_volume", &volume_id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_api::microversion::Version;

    #[test]
    fn fields_per_microversion() {
        let now = Utc::now();
        let a = VolumeAttachment {
            id: "v".into(),
            attachment_id: "a".into(),
            project_id: "p".into(),
            server_id: Some("s".into()),
            status: AttachmentStatus::Attached,
            compute: true,
            device: Some("/dev/vdb".into()),
            boot_index: None,
            delete_on_termination: true,
            tag: Some("t".into()),
            mode: "rw".into(),
            connector: None,
            slot: Some(1),
            attached_at: Some(now),
            created_at: now,
            updated_at: now,
        };
        let at = |minor| view(Microversion(Version::new(2, minor)), &a);
        assert_eq!(
            at(1),
            json!({"id": "v", "device": "/dev/vdb", "serverId": "s", "volumeId": "v"})
        );
        assert_eq!(at(70)["tag"], "t");
        assert!(at(78).get("delete_on_termination").is_none());
        assert_eq!(at(79)["delete_on_termination"], true);
        let new = at(89);
        assert!(new.get("id").is_none());
        assert_eq!(
            (&new["attachment_id"], &new["bdm_uuid"]),
            (&json!("a"), &json!("a"))
        );
        assert!(DEVICE.is_match("/dev/vdb") && DEVICE.is_match("/dev/xvdc1"));
        assert!(!DEVICE.is_match("vdb") && !DEVICE.is_match("/dev/"));
    }
}
