//! The legacy attach actions of `POST /volumes/{volume_id}/action`, as Cinder
//! keeps them for older Nova and other consumers: `os-reserve` (volume
//! `attaching`), `os-unreserve`, `os-attach` (`in-use`, with `instance_uuid` or
//! `host_name` and a `mountpoint`), `os-begin_detaching` (`detaching`),
//! `os-roll_detaching` (back to `in-use`), `os-detach` (`available`),
//! `os-initialize_connection` (the connection info; no state change) and
//! `os-terminate_connection` (ends a reservation). All are bookkeeping
//! (`compute: false`) through [`crate::attach`]; a volume Nova attached is
//! changed only through Nova (409).

use super::access;
use super::attachment_views::{self, Conn};
use super::attachments::{connector_field, connector_str, mode_value};
use super::common::{self, opt_string};
use crate::attach::{self, NewAttachment};
use crate::types::{AttachmentStatus, Volume, VolumeAttachment, VolumeStatus};
use crate::Volumes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Principal;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;
use serde_json::{json, Map, Value};

/// The actions this module serves.
pub const NAMES: &[&str] = &[
    "os-reserve",
    "os-unreserve",
    "os-attach",
    "os-detach",
    "os-begin_detaching",
    "os-roll_detaching",
    "os-initialize_connection",
    "os-terminate_connection",
];

/// Runs one of [`NAMES`] on volume `id`.
pub async fn run(
    svc: &Volumes,
    caller: &Principal,
    id: &str,
    name: &str,
    args: &Value,
) -> ApiResult<Response> {
    let policy = format!(
        "volume_extension:volume_actions:{}",
        name.trim_start_matches("os-")
    );
    // Bodies are checked for form before anything is looked up.
    let request = Request::parse(name, args)?;
    let found = access::volume(&svc.store, caller, &policy, id).await?;
    if let Request::InitializeConnection(connector) = request {
        return initialize_connection(svc, caller, &found.value, &connector).await;
    }
    let mut tx = svc.store.begin().await?;
    let volume = access::reload_volume(&mut tx, id).await?.value;
    let current = tx.get::<VolumeAttachment>(id).await?.map(|a| a.value);
    if let Some(a) = current.as_ref().filter(|a| a.compute) {
        return Err(attach::owned_by_compute(a));
    }
    match request {
        Request::Reserve => reserve(&mut tx, &volume).await?,
        Request::Unreserve | Request::TerminateConnection => {
            if current.as_ref().is_some_and(|a| {
                matches!(
                    a.status,
                    AttachmentStatus::Reserved | AttachmentStatus::Attaching
                )
            }) {
                attach::finish_detach(&mut tx, id).await?;
            }
        }
        Request::Attach(req) => os_attach(&mut tx, &volume, current.as_ref(), req).await?,
        Request::BeginDetaching => {
            let attached = current
                .as_ref()
                .is_some_and(|a| a.status == AttachmentStatus::Attached);
            if volume.status != VolumeStatus::InUse || !attached {
                return Err(ApiError::bad_request(
                    "Invalid volume: Unable to detach volume. Volume status must be 'in-use' \
                     and attach_status must be 'attached' to detach.",
                ));
            }
            attach::advance(&mut tx, id, AttachmentStatus::Detaching, |_| {}).await?;
        }
        Request::RollDetaching => {
            if current
                .as_ref()
                .is_some_and(|a| a.status == AttachmentStatus::Detaching)
            {
                attach::advance(&mut tx, id, AttachmentStatus::Attached, |_| {}).await?;
            }
        }
        Request::Detach(attachment_id) => {
            let Some(a) = &current else {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: volume {id} is not attached."
                )));
            };
            if attachment_id.is_some_and(|given| given != a.attachment_id) {
                return Err(ApiError::bad_request(
                    "Invalid input received: Mismatched volume and attachment",
                ));
            }
            attach::finish_detach(&mut tx, id).await?;
        }
        // Answered above, without a transaction.
        Request::InitializeConnection(_) => {}
    }
    let audit = format!("volume.volume.{}", name.trim_start_matches("os-"));
    commit_audited(tx, caller, &audit, "volume", id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-attach`'s arguments.
struct AttachRequest {
    server_id: Option<String>,
    host_name: Option<String>,
    mountpoint: String,
    mode: String,
}

/// A checked action body.
enum Request {
    Reserve,
    Unreserve,
    BeginDetaching,
    RollDetaching,
    Attach(AttachRequest),
    Detach(Option<String>),
    InitializeConnection(Map<String, Value>),
    TerminateConnection,
}

impl Request {
    fn parse(name: &str, args: &Value) -> ApiResult<Request> {
        Ok(match name {
            // Cinder's schemas take any value for these.
            "os-reserve" => Request::Reserve,
            "os-unreserve" => Request::Unreserve,
            "os-begin_detaching" => Request::BeginDetaching,
            "os-roll_detaching" => Request::RollDetaching,
            "os-attach" => Request::Attach(parse_attach(object(name, args)?)?),
            "os-detach" => {
                let attachment_id = match args {
                    Value::Null => None,
                    Value::Object(obj) => {
                        common::only_fields(obj, name, &["attachment_id"])?;
                        match obj.get("attachment_id") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => {
                                Some(s.clone())
                            }
                            Some(v) => {
                                return Err(common::invalid(
                                    "attachment_id",
                                    v,
                                    "It is not a 'uuid'.",
                                ))
                            }
                        }
                    }
                    other => return Err(common::invalid(name, other, "Must be an object.")),
                };
                Request::Detach(attachment_id)
            }
            "os-initialize_connection" => {
                let obj = object(name, args)?;
                common::only_fields(obj, name, &["connector"])?;
                let connector = connector_field(obj, "connector")?.ok_or_else(|| {
                    ApiError::bad_request(
                        "Invalid input for field/attribute os-initialize_connection. \
                         'connector' is a required property",
                    )
                })?;
                Request::InitializeConnection(connector)
            }
            "os-terminate_connection" => {
                let obj = object(name, args)?;
                common::only_fields(obj, name, &["connector"])?;
                if !obj.contains_key("connector") {
                    return Err(ApiError::bad_request(
                        "Invalid input for field/attribute os-terminate_connection. \
                         'connector' is a required property",
                    ));
                }
                Request::TerminateConnection
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "There is no such action: {other}"
                )))
            }
        })
    }
}

fn object<'a>(name: &str, args: &'a Value) -> ApiResult<&'a Map<String, Value>> {
    args.as_object()
        .ok_or_else(|| common::invalid(name, args, "Must be an object."))
}

fn parse_attach(obj: &Map<String, Value>) -> ApiResult<AttachRequest> {
    common::only_fields(
        obj,
        "os-attach",
        &["instance_uuid", "mountpoint", "host_name", "mode"],
    )?;
    let server_id = match obj.get("instance_uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Some(s.clone()),
        Some(v) => return Err(common::invalid("instance_uuid", v, "It is not a 'uuid'.")),
    };
    let host_name = opt_string(obj, "host_name")?;
    let mountpoint = opt_string(obj, "mountpoint")?
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute os-attach. 'mountpoint' is a required \
                 property (a non-empty string)",
            )
        })?;
    if server_id.is_none() && host_name.is_none() {
        return Err(ApiError::bad_request(
            "Invalid request to attach volume to an invalid target",
        ));
    }
    let mode = match obj.get("mode") {
        None | Some(Value::Null) => "rw".to_string(),
        Some(m) => mode_value("mode", m).map_err(|_| {
            ApiError::bad_request(
                "Invalid request to attach volume with an invalid mode. Attaching mode should \
                 be 'rw' or 'ro'",
            )
        })?,
    };
    Ok(AttachRequest {
        server_id,
        host_name,
        mountpoint,
        mode,
    })
}

/// `os-reserve`: an available volume turns `attaching` (a reservation without
/// a server yet).
async fn reserve(tx: &mut Tx<'_>, volume: &Volume) -> ApiResult<()> {
    if volume.status != VolumeStatus::Available {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume status must be available to reserve, but the status is {}.",
            volume.status.as_str()
        )));
    }
    attach::attach(
        tx,
        &volume.id,
        NewAttachment {
            project_id: volume.project_id.clone(),
            compute: false,
            status: Some(AttachmentStatus::Attaching),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// `os-attach`: completes a reservation, or attaches an available volume at
/// once; the same server again changes nothing.
async fn os_attach(
    tx: &mut Tx<'_>,
    volume: &Volume,
    current: Option<&VolumeAttachment>,
    req: AttachRequest,
) -> ApiResult<()> {
    // What the caller said about its host is all Cinder learns of it here.
    let connector = req.host_name.as_ref().map(|h| json!({"host": h}));
    match current {
        Some(a) if a.status == AttachmentStatus::Attached => {
            if a.server_id.is_some() && a.server_id == req.server_id {
                return Ok(());
            }
            Err(ApiError::bad_request(
                "Error attaching volume - InvalidVolume: volume is already attached and \
                 multiple attachments are not enabled",
            ))
        }
        Some(_) => {
            attach::advance(tx, &volume.id, AttachmentStatus::Attached, |a| {
                if req.server_id.is_some() {
                    a.server_id = req.server_id;
                }
                a.device = Some(req.mountpoint);
                a.mode = req.mode;
                if a.connector.is_none() {
                    a.connector = connector;
                }
            })
            .await?;
            Ok(())
        }
        None => {
            if volume.status != VolumeStatus::Available {
                return Err(ApiError::bad_request(format!(
                    "Error attaching volume - InvalidVolume: volume {} status must be \
                     available, but current status is: {}.",
                    volume.id,
                    volume.status.as_str()
                )));
            }
            attach::attach(
                tx,
                &volume.id,
                NewAttachment {
                    project_id: volume.project_id.clone(),
                    server_id: req.server_id,
                    compute: false,
                    status: Some(AttachmentStatus::Attached),
                    device: Some(req.mountpoint),
                    mode: Some(req.mode),
                    connector,
                    ..Default::default()
                },
            )
            .await?;
            Ok(())
        }
    }
}

/// `os-initialize_connection` → 200 `{"connection_info": {driver_volume_type,
/// data, enforce_multipath}}`; nothing changes.
async fn initialize_connection(
    svc: &Volumes,
    caller: &Principal,
    volume: &Volume,
    connector: &Map<String, Value>,
) -> ApiResult<Response> {
    let usable = volume.top.is_some()
        && !matches!(
            volume.status,
            VolumeStatus::Creating
                | VolumeStatus::Deleting
                | VolumeStatus::Error
                | VolumeStatus::ErrorDeleting
        );
    if !usable {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {} is {}; it cannot be connected.",
            volume.id,
            volume.status.as_str()
        )));
    }
    let encrypted = svc
        .store
        .get::<crate::types::VolumeType>(&volume.volume_type_id)
        .await?
        .is_some_and(|t| t.value.encryption.is_some());
    let attachment = svc.store.get::<VolumeAttachment>(&volume.id).await?;
    let mode = connector_str(Some(connector), "mode")
        .or_else(|| attachment.map(|a| a.value.mode))
        .unwrap_or_else(|| "rw".to_string());
    let conn = Conn {
        layout: &svc.layout,
        admin: caller.is_cloud_admin(),
    };
    let data = attachment_views::data(&conn, volume, &mode, encrypted);
    let connector = Value::Object(connector.clone());
    Ok(Json(json!({"connection_info": {
        "driver_volume_type": attachment_views::DRIVER_VOLUME_TYPE,
        "data": data,
        "enforce_multipath": attachment_views::enforce_multipath(Some(&connector)),
    }}))
    .into_response())
}
