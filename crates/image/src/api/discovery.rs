//! Version discovery (`GET /image` → 300 with the `versions` list clients need:
//! `status` and a `self` link to `/image/v2/`) and the JSON schemas under
//! `/image/v2/schemas`: minimal, but valid JSON Schema documents.

use axum::http::StatusCode;
use axum::Json;
use nimbus_api::links::PublicUrl;
use serde_json::{json, Value};

/// The Glance API versions served; the newest is CURRENT.
const VERSIONS: &[&str] = &[
    "2.17", "2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6",
    "2.5", "2.4", "2.3", "2.2", "2.1", "2.0",
];

pub async fn versions(url: PublicUrl) -> (StatusCode, Json<Value>) {
    let href = url.join("/image/v2/");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            json!({
                "id": format!("v{v}"),
                "status": if i == 0 { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": href}],
            })
        })
        .collect();
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({ "versions": versions })),
    )
}

fn string_or_null(max: u64) -> Value {
    json!({"type": ["null", "string"], "maxLength": max})
}

/// The schema of one image.
pub fn image_schema_doc() -> Value {
    let formats = |list: &[&str]| {
        let mut v: Vec<Value> = list.iter().map(|s| json!(s)).collect();
        v.push(Value::Null);
        json!({"type": ["null", "string"], "enum": v})
    };
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": string_or_null(255),
            "status": {"type": "string", "readOnly": true, "enum": crate::types::STATUS_NAMES},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"},
            "os_hidden": {"type": "boolean"},
            "checksum": {"type": ["null", "string"], "readOnly": true, "maxLength": 32},
            "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "maxLength": 64},
            "os_hash_value": {"type": ["null", "string"], "readOnly": true, "maxLength": 128},
            "owner": string_or_null(255),
            "size": {"type": ["null", "integer"], "readOnly": true},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true},
            "container_format": formats(crate::types::CONTAINER_FORMATS),
            "disk_format": formats(crate::types::DISK_FORMATS),
            "min_ram": {"type": "integer", "minimum": 0},
            "min_disk": {"type": "integer", "minimum": 0},
            "created_at": {"type": "string", "readOnly": true, "format": "date-time"},
            "updated_at": {"type": "string", "readOnly": true, "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "self": {"type": "string", "readOnly": true},
            "file": {"type": "string", "readOnly": true},
            "schema": {"type": "string", "readOnly": true},
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

pub async fn image_schema() -> Json<Value> {
    Json(image_schema_doc())
}

pub async fn images_schema() -> Json<Value> {
    Json(json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema_doc()},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }))
}

fn member_schema_doc() -> Value {
    json!({
        "name": "member",
        "properties": {
            "image_id": {"type": "string"},
            "member_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "schema": {"type": "string", "readOnly": true},
        },
    })
}

pub async fn member_schema() -> Json<Value> {
    Json(member_schema_doc())
}

pub async fn members_schema() -> Json<Value> {
    Json(json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema_doc()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }))
}
