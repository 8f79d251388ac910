//! Pieces every Cinder route uses: path parameters by name, policy targets, links,
//! body field checks that turn bad input into Cinder's 400s, and pagination.

use nimbus_api::links::{encode, PublicUrl};
use nimbus_api::policy::Target;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Where the v3 API lives under the public URL.
pub const PREFIX: &str = "/volume/v3";
/// Cinder's `osapi_max_limit`: the longest page.
pub const MAX_LIMIT: usize = 1000;
/// Longest name, description, metadata key or value Cinder accepts.
pub const MAX_STRING: usize = 255;

/// Path parameters by name (`volume_id`, `snapshot_id`, ...).
pub type Params = HashMap<String, String>;

/// A path parameter the route guarantees.
pub fn param<'a>(p: &'a Params, name: &str) -> ApiResult<&'a str> {
    p.get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::not_found("The resource could not be found."))
}

/// The policy target of something a project owns (other projects get 404).
pub fn owned<'a>(kind: &'a str, id: &'a str, project: &'a str) -> Target<'a> {
    let mut t = Target::new(kind, id).project(project);
    t.hidden_outside_project = true;
    t
}

/// Cinder's `self` and `bookmark` links.
pub fn links(url: &PublicUrl, project: &str, collection: &str, id: &str) -> Value {
    let id = encode(id);
    json!([
        {"rel": "self", "href": url.join(&format!("{PREFIX}/{project}/{collection}/{id}"))},
        {"rel": "bookmark", "href": url.join(&format!("/volume/{project}/{collection}/{id}"))},
    ])
}

/// The object under `key` of a request body (`{"volume": {...}}`).
pub fn wrapped<'a>(body: &'a Value, key: &str) -> ApiResult<&'a Map<String, Value>> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        ApiError::bad_request(format!("Missing required element '{key}' in request body."))
    })
}

/// A 400 naming the field and the rule.
pub fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

/// An optional string field of at most [`MAX_STRING`] characters (`null` = absent).
pub fn opt_string(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= MAX_STRING => Ok(Some(s.clone())),
        Some(v @ Value::String(_)) => Err(invalid(field, v, "Must be at most 255 characters.")),
        Some(v) => Err(invalid(field, v, "Must be a string.")),
    }
}

/// An optional boolean (`true`/`false`, or their string spellings).
pub fn opt_bool(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => match nimbus_api::query::parse_bool(s) {
            Ok(Some(b)) => Ok(Some(b)),
            _ => Err(invalid(field, v, "Must be a boolean.")),
        },
        Some(v) => Err(invalid(field, v, "Must be a boolean.")),
    }
}

/// A size in GiB: a positive integer, or a string of digits (as Cinder allows).
pub fn size_value(field: &str, v: &Value) -> ApiResult<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    };
    n.filter(|n| (1..=i64::from(i32::MAX) as u64).contains(n))
        .ok_or_else(|| {
            invalid(
                field,
                v,
                "Must be an integer from 1 to 2147483647 (or a string of one).",
            )
        })
}

/// A metadata object: string keys (1–255 characters) to string values (≤ 255).
pub fn metadata_value(field: &str, v: &Value) -> ApiResult<BTreeMap<String, String>> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(field, v, "Must be an object."));
    };
    let mut out = BTreeMap::new();
    for (k, val) in obj {
        if k.is_empty() || k.chars().count() > MAX_STRING {
            return Err(invalid(field, v, "Keys must be 1 to 255 characters."));
        }
        let Some(s) = val.as_str() else {
            return Err(invalid(field, v, "Values must be strings."));
        };
        if s.chars().count() > MAX_STRING {
            return Err(invalid(field, v, "Values must be at most 255 characters."));
        }
        out.insert(k.clone(), s.to_string());
    }
    Ok(out)
}

/// Refuses body fields an endpoint does not know.
pub fn only_fields(obj: &Map<String, Value>, what: &str, allowed: &[&str]) -> ApiResult<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {what}. Additional properties are not \
             allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

/// `limit` (at most [`MAX_LIMIT`]) and `marker`, and whether a limit was asked for.
pub struct Paging {
    pub limit: usize,
    pub marker: Option<String>,
    pub requested: bool,
}

impl Paging {
    pub fn from_query(q: &Query) -> ApiResult<Paging> {
        let limit = match q.get("limit") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad_request(format!("Invalid input received: limit: {v}"))
            })?),
        };
        Ok(Paging {
            limit: match limit {
                None | Some(0) => MAX_LIMIT,
                Some(l) => usize::try_from(l).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
            },
            marker: q.get("marker").map(str::to_string),
            requested: limit.is_some(),
        })
    }
}

/// `<collection>_links` with the next page, when there is one.
pub fn next_links(
    url: &PublicUrl,
    path: &str,
    q: &Query,
    collection: &str,
    next_marker: Option<&str>,
    limit: usize,
) -> Option<(String, Value)> {
    let marker = next_marker?;
    let mut parts: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k != "marker" && k != "limit")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
    parts.push(format!("limit={limit}"));
    parts.push(format!("marker={}", encode(marker)));
    let href = format!("{}?{}", url.join(path), parts.join("&"));
    Some((
        format!("{collection}_links"),
        json!([{"rel": "next", "href": href}]),
    ))
}
