//! Image attributes as clients write them (the create body, patch operations):
//! which are writable, their types and limits, tags, and free-form properties
//! (string values only, as Glance's schema says). Bad values are 400s; read-only and
//! reserved attributes 403s; too many properties or tags 413s.

use crate::types::{Image, Status, Visibility, CONTAINER_FORMATS, DISK_FORMATS};
use axum::http::StatusCode;
use nimbus_api::{ApiError, ApiResult};
use serde_json::Value;

/// Free-form properties an image may carry.
pub const MAX_PROPERTIES: usize = 128;
/// Tags an image may carry.
pub const MAX_TAGS: usize = 128;
const MAX_VALUE_CHARS: usize = 65535;

/// Attributes only the service sets.
const READ_ONLY: &[&str] = &[
    "status",
    "checksum",
    "size",
    "virtual_size",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "direct_url",
    "locations",
];

/// Names no client may use.
const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];

/// Attributes that are fields of the image, not free-form properties.
pub const BASE: &[&str] = &[
    "id",
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "tags",
];

/// 403 for attributes no client may write.
pub fn check_writable(key: &str) -> ApiResult<()> {
    if READ_ONLY.contains(&key) {
        return Err(ApiError::forbidden(format!(
            "Attribute '{key}' is read-only."
        )));
    }
    if RESERVED.contains(&key) || key.starts_with("os_glance") {
        return Err(ApiError::forbidden(format!(
            "Attribute '{key}' is reserved."
        )));
    }
    Ok(())
}

fn invalid(key: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Provided object does not match schema 'image': {value} is not valid for '{key}': {why}"
    ))
}

fn opt_string(key: &str, value: &Value, max: usize) -> ApiResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        _ => Err(invalid(
            key,
            value,
            &format!("expected a string of at most {max} characters or null"),
        )),
    }
}

fn boolean(key: &str, value: &Value) -> ApiResult<bool> {
    value
        .as_bool()
        .ok_or_else(|| invalid(key, value, "expected a boolean"))
}

fn format(key: &str, value: &Value, allowed: &[&str]) -> ApiResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        _ => Err(invalid(
            key,
            value,
            &format!("expected one of {}", allowed.join(", ")),
        )),
    }
}

/// Sets one attribute (a field, `tags`, or a free-form property) from JSON.
pub fn set(image: &mut Image, key: &str, value: &Value) -> ApiResult<()> {
    check_writable(key)?;
    match key {
        "id" => {
            return Err(ApiError::forbidden("Attribute 'id' is read-only."));
        }
        "name" => image.name = opt_string(key, value, 255)?,
        "owner" => image.owner = opt_string(key, value, 255)?,
        "visibility" => {
            image.visibility = value.as_str().and_then(Visibility::parse).ok_or_else(|| {
                invalid(key, value, "expected public, private, shared or community")
            })?
        }
        "protected" => image.protected = boolean(key, value)?,
        "os_hidden" => image.os_hidden = boolean(key, value)?,
        "min_disk" | "min_ram" => {
            let n = value
                .as_u64()
                .ok_or_else(|| invalid(key, value, "expected an integer of at least 0"))?;
            if key == "min_disk" {
                image.min_disk = n;
            } else {
                image.min_ram = n;
            }
        }
        "disk_format" | "container_format" => {
            let allowed = if key == "disk_format" {
                DISK_FORMATS
            } else {
                CONTAINER_FORMATS
            };
            let new = format(key, value, allowed)?;
            let field = if key == "disk_format" {
                &mut image.disk_format
            } else {
                &mut image.container_format
            };
            if *field != new && image.status != Status::Queued {
                return Err(ApiError::forbidden(format!(
                    "Attribute {key} can be only replaced for a queued image."
                )));
            }
            *field = new;
        }
        "tags" => {
            let list = value
                .as_array()
                .ok_or_else(|| invalid(key, value, "expected a list of strings"))?;
            image.tags.clear();
            for t in list {
                add_tag(image, t)?;
            }
        }
        _ => {
            check_property_name(key)?;
            match value {
                Value::String(s) if s.chars().count() <= MAX_VALUE_CHARS => {
                    image.properties.insert(key.to_string(), s.clone());
                }
                _ => return Err(invalid(key, value, "additional properties must be strings")),
            }
        }
    }
    Ok(())
}

fn check_property_name(key: &str) -> ApiResult<()> {
    if key.is_empty() || key.chars().count() > 255 {
        return Err(ApiError::bad_request(
            "Property names must be 1 to 255 characters.",
        ));
    }
    Ok(())
}

/// A valid tag from JSON.
pub fn tag(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(s) if !s.is_empty() && s.chars().count() <= 255 => Ok(s.clone()),
        _ => Err(invalid(
            "tags",
            value,
            "tags are strings of 1 to 255 characters",
        )),
    }
}

/// Adds a tag unless present.
pub fn add_tag(image: &mut Image, value: &Value) -> ApiResult<()> {
    let t = tag(value)?;
    if !image.tags.contains(&t) {
        image.tags.push(t);
    }
    Ok(())
}

/// 413 when the image carries more properties or tags than allowed.
pub fn check_limits(image: &Image) -> ApiResult<()> {
    if image.properties.len() > MAX_PROPERTIES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Maximum number of image properties exceeded ({MAX_PROPERTIES})."),
        ));
    }
    if image.tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Maximum number of image tags exceeded ({MAX_TAGS})."),
        ));
    }
    Ok(())
}

/// Whether `s` is a hyphenated UUID (Glance image ids).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_and_limits_are_checked() {
        let mut i = Image::new("x".into(), None);
        set(&mut i, "name", &json!("n")).unwrap();
        set(&mut i, "name", &json!(null)).unwrap();
        assert_eq!(set(&mut i, "name", &json!(1)).unwrap_err().status, 400);
        assert_eq!(set(&mut i, "min_ram", &json!(-1)).unwrap_err().status, 400);
        assert_eq!(set(&mut i, "size", &json!(1)).unwrap_err().status, 403);
        assert_eq!(set(&mut i, "deleted", &json!(1)).unwrap_err().status, 403);
        assert_eq!(set(&mut i, "os_distro", &json!(7)).unwrap_err().status, 400);
        set(&mut i, "tags", &json!(["a", "b", "a"])).unwrap();
        assert_eq!(i.tags, ["a", "b"]);
        set(&mut i, "disk_format", &json!("qcow2")).unwrap();
        i.status = Status::Active;
        assert_eq!(
            set(&mut i, "disk_format", &json!("raw"))
                .unwrap_err()
                .status,
            403
        );
        set(&mut i, "disk_format", &json!("qcow2")).unwrap();
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("1bea47ed-f6a9-463b-b423-14b9cca9ad27"));
        assert!(!is_uuid("1bea47ed-f6a9-463b-b423-14b9cca9ad2"));
        assert!(!is_uuid("../../../../etc/passwd-aaaaaaaaaaaaaaa"));
    }
}
