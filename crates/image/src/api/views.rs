//! How images and members look on the wire: Glance v2 objects, unwrapped, with
//! free-form properties at the top level and relative `self`/`file`/`schema` links.

use crate::types::{Image, ImageMember};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Glance's timestamp format: `2026-11-26T00:12:03Z`.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn image(i: &Image) -> Value {
    let mut v = json!({
        "id": i.id,
        "name": i.name,
        "status": i.status.as_str(),
        "visibility": i.visibility.as_str(),
        "protected": i.protected,
        "os_hidden": i.os_hidden,
        "owner": i.owner,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "size": i.size,
        "virtual_size": i.virtual_size,
        "checksum": i.checksum,
        "os_hash_algo": i.os_hash_algo,
        "os_hash_value": i.os_hash_value,
        "min_disk": i.min_disk,
        "min_ram": i.min_ram,
        "tags": i.tags,
        "created_at": time(&i.created_at),
        "updated_at": time(&i.updated_at),
        "self": format!("/v2/images/{}", i.id),
        "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(o) = &mut v {
        for (k, x) in &i.properties {
            o.insert(k.clone(), json!(x));
        }
    }
    v
}

pub fn member(m: &ImageMember) -> Value {
    json!({
        "image_id": m.image_id,
        "member_id": m.member_id,
        "status": m.status.as_str(),
        "created_at": time(&m.created_at),
        "updated_at": time(&m.updated_at),
        "schema": "/v2/schemas/member",
    })
}
