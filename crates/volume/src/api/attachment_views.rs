//! How attachments look on the wire: Cinder's attachments API views (summary
//! `{id, status, instance, volume_id}`; detail adds `attached_at`, `detached_at`,
//! `attach_mode`, `connection_info`), the `attachments` entry of a volume view,
//! and the connection info both APIs hand out.
//!
//! The connection info says what is true here: the volume is a chain of qcow2
//! files on the Nimbus host, opened only by the Nimbus agent of that host, so
//! `driver_volume_type` is [`DRIVER_VOLUME_TYPE`] (`file`), which no os-brick
//! connector claims to reach remotely. Only admins see the top layer's path
//! (host layout is infrastructure detail); the path changes when a snapshot
//! freezes the current top.

use super::views::timestamp;
use crate::storage::Layout;
use crate::types::{AttachmentStatus, Volume, VolumeAttachment};
use serde_json::{json, Map, Value};

/// `driver_volume_type` of every Nimbus volume.
pub const DRIVER_VOLUME_TYPE: &str = "file";

/// What rendering a connection needs besides the attachment.
pub struct Conn<'a> {
    pub layout: &'a Layout,
    /// Cloud admins see the file path.
    pub admin: bool,
}

/// The summary view (lists without `/detail`, and what a delete lists).
pub fn summary(a: &VolumeAttachment) -> Value {
    json!({
        "id": a.attachment_id,
        "status": a.status.as_str(),
        "instance": a.server_id,
        "volume_id": a.id,
    })
}

/// The detailed view; `volume` is the attached volume (None if it went away
/// meanwhile), `encrypted` whether its type encrypts.
pub fn detail(c: &Conn, a: &VolumeAttachment, volume: Option<&Volume>, encrypted: bool) -> Value {
    let mut doc = summary(a);
    let obj = doc.as_object_mut().expect("an object");
    // Cinder normalises missing times to "".
    obj.insert(
        "attached_at".into(),
        json!(a.attached_at.as_ref().map(timestamp).unwrap_or_default()),
    );
    obj.insert("detached_at".into(), json!(""));
    obj.insert("attach_mode".into(), json!(a.mode));
    let info = match volume {
        // Cinder has connection info once a connector was given; a compute
        // attachment is connected by the agent, so it has one too.
        Some(v) if a.connector.is_some() || a.compute => Value::Object(flat(c, v, a, encrypted)),
        _ => json!({}),
    };
    obj.insert("connection_info".into(), info);
    doc
}

/// The driver's data about a volume's connection.
pub fn data(c: &Conn, v: &Volume, mode: &str, encrypted: bool) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("volume_id".into(), json!(v.id));
    data.insert("format".into(), json!("qcow2"));
    data.insert("access_mode".into(), json!(mode));
    data.insert("encrypted".into(), json!(encrypted));
    data.insert("discard".into(), json!(false));
    data.insert("cacheable".into(), json!(false));
    data.insert("qos_specs".into(), Value::Null);
    if c.admin {
        if let Some(top) = &v.top {
            let path = c.layout.layer(top);
            data.insert("path".into(), json!(path.display().to_string()));
        }
    }
    data
}

/// The connection info of the attachments API: the driver's data flattened
/// with `driver_volume_type`, plus `attachment_id` and `enforce_multipath`.
fn flat(c: &Conn, v: &Volume, a: &VolumeAttachment, encrypted: bool) -> Map<String, Value> {
    let mut info = data(c, v, &a.mode, encrypted);
    info.insert("driver_volume_type".into(), json!(DRIVER_VOLUME_TYPE));
    info.insert("attachment_id".into(), json!(a.attachment_id));
    info.insert(
        "enforce_multipath".into(),
        json!(enforce_multipath(a.connector.as_ref())),
    );
    info
}

/// The connector's `enforce_multipath` (false when absent).
pub fn enforce_multipath(connector: Option<&Value>) -> bool {
    connector
        .and_then(|c| c.get("enforce_multipath"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The entry of a volume view's `attachments` (attached or being detached).
/// The attacher's host is shown to admins only, as Cinder does.
pub fn in_volume(a: &VolumeAttachment, admin: bool) -> Option<Value> {
    if !matches!(
        a.status,
        AttachmentStatus::Attached | AttachmentStatus::Detaching
    ) {
        return None;
    }
    let host = a
        .connector
        .as_ref()
        .filter(|_| admin)
        .and_then(|c| c.get("host"))
        .and_then(Value::as_str);
    Some(json!({
        "id": a.id,
        "attachment_id": a.attachment_id,
        "volume_id": a.id,
        "server_id": a.server_id,
        "host_name": host,
        "device": a.device,
        "attached_at": a.attached_at.as_ref().map(timestamp),
    }))
}
