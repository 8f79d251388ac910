//! Pieces every Neutron route uses: request bodies (`{"network": {...}}`, unknown
//! and read-only attributes refused as Neutron does), attribute conversions, tags
//! and owners; the list machinery is in [`super::list`] (re-exported here).

use crate::error::{Fault, NResult};
use chrono::{DateTime, Utc};
use nimbus_api::auth::Principal;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Where the v2.0 API lives under the public URL.
pub const PREFIX: &str = "/network/v2.0";
/// Longest name and description Neutron accepts.
pub const MAX_NAME: usize = 255;
/// Longest tag Neutron accepts.
pub const MAX_TAG: usize = 60;

/// Neutron's timestamp format.
pub fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The object under `key` (`{"network": {...}}`).
pub fn wrapped<'a>(body: &'a Value, key: &str) -> NResult<&'a Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| Fault::bad("HTTPBadRequest", "Resource body required"))?;
    match obj.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(Fault::bad(
            "HTTPBadRequest",
            format!("Invalid format: {key} must be an object"),
        )),
        None => Err(Fault::bad(
            "HTTPBadRequest",
            format!("Unable to find '{key}' in request body"),
        )),
    }
}

/// 400 for attributes outside `allowed`: unknown ones are "Unrecognized", known
/// read-only ones "not allowed in POST/PUT", as in Neutron.
pub fn check_attrs(
    obj: &Map<String, Value>,
    allowed: &[&str],
    read_only: &[&str],
    method: &str,
) -> NResult<()> {
    if let Some(k) = obj
        .keys()
        .find(|k| read_only.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
    {
        return Err(Fault::bad(
            "HTTPBadRequest",
            format!("Attribute '{k}' not allowed in {method}"),
        ));
    }
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k) && !read_only.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(Fault::bad(
            "HTTPBadRequest",
            format!("Unrecognized attribute(s) '{}'", unknown.join(", ")),
        ));
    }
    Ok(())
}

/// The 400 for an attribute whose value is wrong.
pub fn invalid_value(field: &str, v: &Value, why: &str) -> Fault {
    let shown = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Fault::invalid(format!("Invalid data for {field}: '{shown}' {why}"))
}

/// A string attribute of at most `max` characters (`null` refused).
pub fn string(obj: &Map<String, Value>, field: &str, max: usize) -> NResult<Option<String>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.contains('\0') => {
            Ok(Some(s.clone()))
        }
        Some(v @ Value::String(_)) => Err(invalid_value(
            field,
            v,
            &format!("exceeds maximum length of {max} or holds a NUL character"),
        )),
        Some(v) => Err(invalid_value(field, v, "is not a valid string")),
    }
}

/// A string attribute that may be `null`: `Some(None)` for an explicit null.
pub fn nullable_string(
    obj: &Map<String, Value>,
    field: &str,
    max: usize,
) -> NResult<Option<Option<String>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => string(obj, field, max).map(Some),
    }
}

/// A boolean as Neutron's `convert_to_boolean` takes it: true/false, 0/1, or the
/// strings "true"/"false" in any case.
pub fn boolean(obj: &Map<String, Value>, field: &str) -> NResult<Option<bool>> {
    let Some(v) = obj.get(field) else {
        return Ok(None);
    };
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Some(false),
        Value::Number(n) if n.as_u64() == Some(1) => Some(true),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    b.map(Some)
        .ok_or_else(|| Fault::invalid(format!("'{v}' cannot be converted to boolean")))
}

/// An integer, also as a string of digits (Neutron's `convert_to_int`).
pub fn integer(obj: &Map<String, Value>, field: &str) -> NResult<Option<Option<i64>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) if n.is_i64() => Ok(Some(n.as_i64())),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() < 12
                && s.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(s.parse::<i64>().ok()))
        }
        Some(v) => Err(Fault::invalid(format!("'{v}' is not an integer"))),
    }
}

/// A list of strings.
pub fn string_list(obj: &Map<String, Value>, field: &str) -> NResult<Option<Vec<String>>> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) if !s.contains('\0') && s.len() <= MAX_NAME => Ok(s.clone()),
                other => Err(Fault::invalid(format!(
                    "'{other}' is not a valid string in {field}"
                ))),
            })
            .collect::<NResult<Vec<_>>>()
            .map(Some),
        Some(v) => Err(Fault::invalid(format!("'{v}' is not a list"))),
    }
}

/// Tags given on create (`tags`): strings of at most [`MAX_TAG`] characters.
pub fn tags(obj: &Map<String, Value>) -> NResult<BTreeSet<String>> {
    let list = string_list(obj, "tags")?.unwrap_or_default();
    list.into_iter().map(check_tag).collect()
}

/// A tag as Neutron accepts it: 1 to 60 characters, no comma (filters split on it).
pub fn check_tag(t: String) -> NResult<String> {
    if t.is_empty() || t.chars().count() > MAX_TAG || t.contains(',') || t.contains('\0') {
        return Err(Fault::invalid(format!(
            "'{t}' is not a valid tag: 1 to {MAX_TAG} characters without commas."
        )));
    }
    Ok(t)
}

/// The project a new object belongs to: `project_id`/`tenant_id` from the body
/// (equal if both), else the caller's project. A caller without a project (a
/// system-scoped token) must name one: a cloud admin gets a 400 saying so, anyone
/// else the policy's 403.
pub fn owner(obj: &Map<String, Value>, caller: &Principal) -> NResult<String> {
    match given_project(obj)?.or_else(|| caller.project_id().map(str::to_string)) {
        Some(p) if !p.is_empty() => Ok(p),
        _ if caller.is_cloud_admin() => Err(Fault::invalid(
            "project_id is required: use a project-scoped token or give project_id",
        )),
        _ => Err(Fault::new(
            axum::http::StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            "A project-scoped token is required to create this resource.",
        )),
    }
}

/// `project_id`/`tenant_id` as given in a body (they must agree).
pub fn given_project(obj: &Map<String, Value>) -> NResult<Option<String>> {
    let p = string(obj, "project_id", MAX_NAME)?;
    let t = string(obj, "tenant_id", MAX_NAME)?;
    if let (Some(p), Some(t)) = (&p, &t) {
        if p != t {
            return Err(Fault::invalid("'project_id' and 'tenant_id' do not match"));
        }
    }
    Ok(p.or(t))
}

pub use super::list::{list, one, select_fields, visible};
