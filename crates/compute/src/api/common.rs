//! Pieces every Nova route uses: resource links, `limit`/`marker` pagination with
//! `<collection>_links`, the query-parameter rules per microversion, and the checks
//! that turn Nova's JSON-schema validation into 400s.

pub use nimbus_api::links::encode;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};

/// Where the v2.1 API lives under the public URL.
pub const PREFIX: &str = "/compute/v2.1";
/// Nova's `max_limit`: the longest page.
pub const MAX_LIMIT: usize = 1000;

/// Nova's `self` and `bookmark` links of one resource.
pub fn links(url: &PublicUrl, collection: &str, id: &str) -> Value {
    let id = encode(id);
    json!([
        {"rel": "self", "href": url.join(&format!("{PREFIX}/{collection}/{id}"))},
        {"rel": "bookmark", "href": url.join(&format!("/compute/{collection}/{id}"))},
    ])
}

/// From microversion 2.75 on, unknown query parameters are a 400; before, ignored.
pub fn check_query(mv: Microversion, q: &Query, allowed: &[&str]) -> ApiResult<()> {
    if mv.at_least(2, 75) {
        q.only(allowed)?;
    }
    Ok(())
}

/// The requested page: `limit` (at most [`MAX_LIMIT`]) and `marker`.
pub struct Paging {
    /// What the client sent, if anything: a next link is given only then.
    pub requested: Option<usize>,
    pub limit: usize,
    pub marker: Option<String>,
}

impl Paging {
    pub fn from_query(q: &Query) -> ApiResult<Paging> {
        let requested = match q.get("limit") {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("limit param must be an integer: {v}"))
            })?),
        };
        if requested.is_some_and(|l| l < 0) {
            return Err(ApiError::bad_request("limit param must be positive"));
        }
        let requested = requested.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let limit = match requested {
            None | Some(0) => MAX_LIMIT,
            Some(l) => l.min(MAX_LIMIT),
        };
        Ok(Paging {
            requested,
            limit,
            marker: q.get("marker").map(str::to_string),
        })
    }

    /// Cuts `items` (already in list order) after the item whose key is the marker
    /// (400 when there is none), to at most `limit` items.
    pub fn page<T>(&self, items: Vec<T>, key: impl Fn(&T) -> &str) -> ApiResult<Vec<T>> {
        let start = match &self.marker {
            None => 0,
            Some(m) => {
                items
                    .iter()
                    .position(|i| key(i) == m)
                    .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?
                    + 1
            }
        };
        Ok(items.into_iter().skip(start).take(self.limit).collect())
    }

    /// Nova's `<collection>_links`: a `next` link when the client asked for a
    /// limit and got a full page; the query is kept, the marker replaced.
    pub fn next_links(
        &self,
        url: &PublicUrl,
        collection: &str,
        q: &Query,
        shown: usize,
        last_key: Option<&str>,
    ) -> Option<Value> {
        let requested = self.requested?;
        let last = last_key?;
        if requested == 0 || requested != shown {
            return None;
        }
        let mut params: Vec<String> =
            q.0.iter()
                .filter(|(k, _)| k != "marker")
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
        params.push(format!("marker={}", encode(last)));
        let href = url.join(&format!("{PREFIX}/{collection}?{}", params.join("&")));
        Some(json!([{"rel": "next", "href": href}]))
    }
}

/// The one object under `key` in a request body (`{"flavor": {...}}`).
pub fn wrapped<'a>(body: &'a Value, key: &str) -> ApiResult<&'a Map<String, Value>> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::bad_request("Invalid input: the request body must be an object.")
    })?;
    if let Some(extra) = obj.keys().find(|k| *k != key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for request body: additional property '{extra}' is not allowed."
        )));
    }
    obj.get(key)
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input: '{key}' is a required property."))
        })?
        .as_object()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}: must be an object."
            ))
        })
}

/// 400 for keys of `obj` outside `allowed`, and for missing `required` ones.
pub fn check_keys(obj: &Map<String, Value>, allowed: &[&str], required: &[&str]) -> ApiResult<()> {
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for request body: additional property '{k}' is not allowed."
        )));
    }
    if let Some(k) = required.iter().find(|k| !obj.contains_key(**k)) {
        return Err(ApiError::bad_request(format!(
            "Invalid input: '{k}' is a required property."
        )));
    }
    Ok(())
}

/// The 400 Nova's schema validation gives for a field.
pub fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

/// An integer given as a JSON integer or a string of digits (Nova's
/// `flavor_param_positive`), within `[min, 2147483647]`.
pub fn int_field(obj: &Map<String, Value>, field: &str, min: u64) -> ApiResult<Option<u64>> {
    let Some(v) = obj.get(field) else {
        return Ok(None);
    };
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    };
    match n {
        Some(n) if (min..=i32::MAX as u64).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(
            field,
            v,
            &format!("Must be an integer from {min} to 2147483647."),
        )),
    }
}

/// A boolean in one of the spellings Nova's `parameter_types.boolean` accepts.
pub fn bool_field(obj: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    let Some(v) = obj.get(field) else {
        return Ok(None);
    };
    let b = match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" => {
                Some(true)
            }
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no" => {
                Some(false)
            }
            _ => None,
        },
        _ => None,
    };
    b.map(Some)
        .ok_or_else(|| invalid(field, v, "Must be a boolean."))
}

/// Nova's `name` format: 1 to 255 printable characters, no leading or trailing
/// whitespace.
pub fn check_name(field: &str, v: &Value) -> ApiResult<String> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(field, v, "Must be a string."))?;
    let printable = s.chars().all(|c| !c.is_control());
    let len = s.chars().count();
    if !printable || len == 0 || len > 255 || s.trim() != s {
        return Err(invalid(
            field,
            v,
            "Must be 1 to 255 printable characters without leading or trailing whitespace.",
        ));
    }
    Ok(s.to_string())
}

/// A free-text description: printable characters (as in Nova, no newlines), at
/// most `max` of them, or null.
pub fn description(v: &Value, max: usize) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max && s.chars().all(|c| !c.is_control()) => {
            Ok(Some(s.clone()))
        }
        _ => Err(invalid(
            "description",
            v,
            &format!("Must be null or at most {max} printable characters."),
        )),
    }
}
