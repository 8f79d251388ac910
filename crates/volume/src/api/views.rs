//! How volumes, snapshots and types look on the wire, per microversion (group_id
//! 3.13, provider_id 3.21, snapshot user_id 3.41, shared_targets and
//! service_uuid 3.48, cluster_name 3.61, volume_type_id 3.63, encryption_key_id
//! 3.64, consumes_quota 3.65) and per caller (admins see the host attributes).

use super::common::links;
use crate::types::{Snapshot, Source, Volume, VolumeAttachment, VolumeType};
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use serde_json::{json, Value};

/// The `host@backend#pool` of a volume type's pool (every type is a pool of the
/// one qcow2 backend): what volumes report to admins and `get_pools` lists.
pub fn pool_name(type_name: &str) -> String {
    format!("nimbus@qcow2#{type_name}")
}

/// What a volume view needs besides the volume.
pub struct Ctx<'a> {
    pub url: &'a PublicUrl,
    pub mv: Microversion,
    pub admin: bool,
}

/// `{id, name, links}`: the summary list view.
pub fn volume_summary(c: &Ctx, v: &Volume) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "links": links(c.url, &v.project_id, "volumes", &v.id),
    })
}

/// The full view of a volume that is not attached (a new one).
pub fn volume(c: &Ctx, v: &Volume, vtype: Option<&VolumeType>) -> Value {
    volume_with(c, v, vtype, None)
}

/// The full view; `vtype` is the volume's type (None if it was deleted
/// meanwhile), `attachment` its attachment record, if any.
pub fn volume_with(
    c: &Ctx,
    v: &Volume,
    vtype: Option<&VolumeType>,
    attachment: Option<&VolumeAttachment>,
) -> Value {
    let attachments: Vec<Value> = attachment
        .and_then(|a| super::attachment_views::in_volume(a, c.admin))
        .into_iter()
        .collect();
    let (snapshot_id, source_volid) = match &v.source {
        Source::Snapshot(s) => (Some(s.as_str()), None),
        Source::Volume(s) => (None, Some(s.as_str())),
        _ => (None, None),
    };
    let mut doc = json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "size": v.size,
        "status": v.status.as_str(),
        "availability_zone": v.availability_zone,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": vtype.is_some_and(|t| t.encryption.is_some()),
        "multiattach": false,
        "volume_type": vtype.map(|t| t.name.as_str()),
        "snapshot_id": snapshot_id,
        "source_volid": source_volid,
        "metadata": v.metadata,
        "attachments": attachments,
        "links": links(c.url, &v.project_id, "volumes", &v.id),
        "user_id": v.user_id,
        "created_at": timestamp(&v.created_at),
        "updated_at": timestamp(&v.updated_at),
        "replication_status": null,
        "consistencygroup_id": null,
        "migration_status": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    });
    let obj = doc.as_object_mut().expect("an object");
    if !v.image_metadata.is_empty() {
        obj.insert("volume_image_metadata".into(), json!(v.image_metadata));
    }
    if c.admin {
        let host = vtype.map(|t| pool_name(&t.name));
        obj.insert("os-vol-host-attr:host".into(), json!(host));
        obj.insert("os-vol-mig-status-attr:migstat".into(), Value::Null);
        obj.insert("os-vol-mig-status-attr:name_id".into(), Value::Null);
    }
    if c.mv.at_least(3, 13) {
        obj.insert("group_id".into(), Value::Null);
    }
    if c.mv.at_least(3, 21) && c.admin {
        obj.insert("provider_id".into(), Value::Null);
    }
    if c.mv.at_least(3, 48) {
        obj.insert("shared_targets".into(), json!(false));
        obj.insert("service_uuid".into(), json!(SERVICE_UUID));
    }
    if c.mv.at_least(3, 61) && c.admin {
        obj.insert("cluster_name".into(), Value::Null);
    }
    if c.mv.at_least(3, 63) {
        obj.insert("volume_type_id".into(), json!(vtype.map(|t| t.id.as_str())));
    }
    if c.mv.at_least(3, 64) {
        if let Some(k) = &v.encryption_key_id {
            obj.insert("encryption_key_id".into(), json!(k));
        }
    }
    if c.mv.at_least(3, 65) {
        obj.insert("consumes_quota".into(), json!(true));
    }
    doc
}

/// The one volume service's id (`service_uuid`).
pub const SERVICE_UUID: &str = "3f0c1d3e-6e2b-4c52-9a4f-6e6f6e696d62";

/// A snapshot.
pub fn snapshot(c: &Ctx, s: &Snapshot) -> Value {
    let mut doc = json!({
        "id": s.id,
        "volume_id": s.volume_id,
        "name": s.name,
        "description": s.description,
        "size": s.size,
        "status": s.status.as_str(),
        "metadata": s.metadata,
        "created_at": timestamp(&s.created_at),
        "updated_at": timestamp(&s.updated_at),
        "os-extended-snapshot-attributes:project_id": s.project_id,
        "os-extended-snapshot-attributes:progress":
            if s.layer.is_some() { "100%" } else { "0%" },
    });
    let obj = doc.as_object_mut().expect("an object");
    if c.mv.at_least(3, 14) {
        obj.insert("group_snapshot_id".into(), Value::Null);
    }
    if c.mv.at_least(3, 41) {
        obj.insert("user_id".into(), json!(s.user_id));
    }
    if c.mv.at_least(3, 65) {
        obj.insert("consumes_quota".into(), json!(true));
    }
    doc
}

/// A volume type; extra specs only for admins (as Cinder shows them).
pub fn volume_type(t: &VolumeType, admin: bool) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": if admin { json!(t.extra_specs) } else { json!({}) },
        "qos_specs_id": null,
    })
}

/// A type's encryption (`{}` when it has none, as Cinder answers).
pub fn encryption(t: &VolumeType) -> Value {
    match &t.encryption {
        None => json!({}),
        Some(e) => json!({
            "volume_type_id": t.id,
            "encryption_id": e.encryption_id,
            "provider": e.provider,
            "cipher": e.cipher,
            "key_size": e.key_size,
            "control_location": e.control_location,
            "created_at": timestamp(&e.created_at),
            "updated_at": null,
            "deleted": false,
            "deleted_at": null,
        }),
    }
}

/// Cinder's timestamps: ISO 8601 with microseconds, no zone.
pub fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}
