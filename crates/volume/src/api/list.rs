//! Cinder's list machinery for volumes and snapshots: the filters each resource
//! accepts (unknown ones are a 400 from 3.31 on, ignored before), `name~` "like"
//! filters from 3.34, `metadata` as a dict, `all_tenants` for admins, sorting
//! (`sort=key:dir,...` or `sort_key`/`sort_dir`; default `created_at:desc`),
//! `limit`/`marker` with `<collection>_links`; `with_count` from 3.45. Filters
//! added by a microversion are ignored below it, as Cinder drops them:
//! `glance_metadata` 3.4, `group_id` 3.10, `created_at`/`updated_at` with time
//! comparisons (`gt:2024-01-01T00:00:00,lte:...`) 3.60, `consumes_quota` 3.65.

use super::common::{next_links, Paging};
use chrono::NaiveDateTime;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::query::{parse_bool, Query};
use nimbus_api::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Parameters every list takes besides its filters.
const CONTROL: &[&str] = &[
    "limit",
    "marker",
    "sort",
    "sort_key",
    "sort_dir",
    "offset",
    "all_tenants",
    "project_id",
    "with_count",
];

/// Filters that exist from a microversion on.
const ADDED: &[(&str, u16)] = &[
    ("glance_metadata", 4),
    ("group_id", 10),
    ("created_at", 60),
    ("updated_at", 60),
    ("consumes_quota", 65),
];

/// Cinder's time comparison operators.
const TIME_OPS: &[&str] = &["gt", "gte", "eq", "neq", "lt", "lte"];

/// What a list request asks for.
pub struct ListRequest {
    pub all_tenants: bool,
    pub project: Option<String>,
    filters: Vec<(String, String)>,
    sort: Vec<(String, bool)>,
    paging: Paging,
    with_count: bool,
}

impl ListRequest {
    /// The project a list is limited to: the caller's own, or, when she asks for
    /// `all_tenants` and `all_tenants_action` allows it, the requested project
    /// (`project_id`) or every project (`None`).
    pub fn scope(
        &self,
        caller: &nimbus_api::auth::Principal,
        all_tenants_action: &str,
    ) -> Option<String> {
        let everyone = self.all_tenants
            && nimbus_api::policy::allowed(caller, all_tenants_action, &Default::default());
        if everyone {
            self.project.clone()
        } else {
            Some(caller.project_id().unwrap_or("").to_string())
        }
    }

    /// Parses the query; `filters` are the filter keys this resource knows.
    pub fn parse(
        q: &Query,
        mv: Microversion,
        filters: &[&str],
        sort_keys: &[&str],
    ) -> ApiResult<Self> {
        let mut wanted = Vec::new();
        for (k, v) in &q.0 {
            if CONTROL.contains(&k.as_str()) {
                continue;
            }
            let base = k.strip_suffix('~').filter(|_| mv.at_least(3, 34));
            let key = base.unwrap_or(k);
            if let Some((_, minor)) = ADDED.iter().find(|(f, _)| *f == key) {
                if filters.contains(&key) && !mv.at_least(3, *minor) {
                    continue;
                }
            }
            let known = filters.contains(&key);
            if !known {
                if mv.at_least(3, 31) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: Invalid filters {k} are found in query options."
                    )));
                }
                continue;
            }
            // Checked now, so a bad value is a 400 even when nothing is listed.
            match k.as_str() {
                "bootable" => {
                    parse_bool(v).map_err(|_| {
                        ApiError::bad_request(format!("Invalid input received: bootable={v}"))
                    })?;
                }
                "metadata" | "glance_metadata" => {
                    parse_metadata(v)?;
                }
                "created_at" | "updated_at" => {
                    parse_time_filter(k, v)?;
                }
                "consumes_quota" => {
                    parse_bool(v).map_err(|_| {
                        ApiError::bad_request(format!("Invalid input received: {k}={v}"))
                    })?;
                }
                _ => {}
            }
            wanted.push((k.clone(), v.clone()));
        }
        let mut sort = Vec::new();
        if let Some(s) = q.get("sort") {
            for part in s.split(',') {
                let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
                sort.push((key.trim().to_string(), parse_dir(dir)?));
            }
        } else if let Some(k) = q.get("sort_key") {
            sort.push((
                k.to_string(),
                parse_dir(q.get("sort_dir").unwrap_or("desc"))?,
            ));
        }
        for (k, _) in &sort {
            if !sort_keys.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Invalid sort key {k}."
                )));
            }
        }
        if sort.is_empty() {
            sort.push(("created_at".into(), false));
        }
        sort.push(("id".into(), sort.last().is_some_and(|(_, asc)| *asc)));
        let with_count = mv.at_least(3, 45) && q.bool("with_count")?.unwrap_or(false);
        Ok(ListRequest {
            all_tenants: q.flag("all_tenants")?,
            project: q.get("project_id").map(str::to_string),
            filters: wanted,
            sort,
            paging: Paging::from_query(q)?,
            with_count,
        })
    }

    /// Whether a full view passes every filter.
    pub fn matches(&self, view: &Value) -> ApiResult<bool> {
        for (k, want) in &self.filters {
            if let Some(field) = k.strip_suffix('~') {
                let have = view.get(field).and_then(Value::as_str).unwrap_or("");
                if !have.to_lowercase().contains(&want.to_lowercase()) {
                    return Ok(false);
                }
                continue;
            }
            let ok = match k.as_str() {
                "metadata" => metadata_matches(view.get("metadata"), want)?,
                "glance_metadata" => metadata_matches(view.get("volume_image_metadata"), want)?,
                "created_at" | "updated_at" => {
                    let have = view
                        .get(k.as_str())
                        .and_then(Value::as_str)
                        .and_then(parse_time);
                    let conds = parse_time_filter(k, want)?;
                    have.is_some_and(|t| conds.iter().all(|(op, at)| compare_time(op, t, *at)))
                }
                "bootable" => {
                    let want = parse_bool(want).map_err(|_| {
                        ApiError::bad_request(format!("Invalid input received: bootable={want}"))
                    })?;
                    want.is_none_or(|w| {
                        view.get("bootable").and_then(Value::as_str)
                            == Some(if w { "true" } else { "false" })
                    })
                }
                _ => match view.get(k) {
                    Some(Value::String(s)) => s == want,
                    Some(Value::Number(n)) => n.to_string() == *want,
                    Some(Value::Bool(b)) => parse_bool(want) == Ok(Some(*b)),
                    Some(Value::Null) | None => want.is_empty(),
                    Some(_) => false,
                },
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sorts full views, cuts the page and builds the answer: `{collection: [...],
    /// collection_links?, count?}`. `shape` turns a full view into the listed one.
    pub fn answer(
        &self,
        mut views: Vec<Value>,
        url: &PublicUrl,
        path: &str,
        q: &Query,
        collection: &str,
        shape: impl Fn(Value) -> Value,
    ) -> ApiResult<Value> {
        views.sort_by(|a, b| {
            for (key, asc) in &self.sort {
                let o = compare(a.get(key), b.get(key));
                if o != Ordering::Equal {
                    return if *asc { o } else { o.reverse() };
                }
            }
            Ordering::Equal
        });
        let count = views.len();
        let start = match &self.paging.marker {
            Some(m) => {
                let pos = views
                    .iter()
                    .position(|v| v.get("id").and_then(Value::as_str) == Some(m.as_str()))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid input received: marker [{m}] not found"
                        ))
                    })?;
                pos + 1
            }
            None => 0,
        };
        let mut page: Vec<Value> = views.into_iter().skip(start).collect();
        let more = page.len() > self.paging.limit;
        page.truncate(self.paging.limit);
        let next_marker = (more && self.paging.requested)
            .then(|| {
                page.last()
                    .and_then(|v| v.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .flatten();
        let mut doc = Map::new();
        doc.insert(
            collection.into(),
            Value::Array(page.into_iter().map(shape).collect()),
        );
        if let Some((k, v)) = next_links(
            url,
            path,
            q,
            collection,
            next_marker.as_deref(),
            self.paging.limit,
        ) {
            doc.insert(k, v);
        }
        if self.with_count {
            doc.insert("count".into(), Value::from(count));
        }
        Ok(Value::Object(doc))
    }
}

fn parse_dir(d: &str) -> ApiResult<bool> {
    match d.trim() {
        "asc" => Ok(true),
        "desc" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "Invalid input received: Unknown sort direction, must be 'desc' or 'asc': {other}"
        ))),
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Null) | None, Some(Value::Null) | None) => Ordering::Equal,
        (Some(Value::Null) | None, _) => Ordering::Less,
        (_, Some(Value::Null) | None) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// `metadata={"k": "v"}` (JSON, or the Python dict repr clients send): every pair
/// must be on the object.
fn metadata_matches(have: Option<&Value>, want: &str) -> ApiResult<bool> {
    let parsed = parse_metadata(want)?;
    Ok(parsed
        .iter()
        .all(|(k, v)| have.and_then(|m| m.get(k)).and_then(Value::as_str) == Some(v.as_str())))
}

fn parse_metadata(want: &str) -> ApiResult<BTreeMap<String, String>> {
    serde_json::from_str(want)
        .or_else(|_| serde_json::from_str(&want.replace('\'', "\"")))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input received: metadata={want} is not a dict"
            ))
        })
}

/// `op:time[,op:time]` of a time comparison filter.
fn parse_time_filter(key: &str, v: &str) -> ApiResult<Vec<(String, NaiveDateTime)>> {
    v.split(',')
        .map(|unit| {
            let (op, time) = unit
                .split_once(':')
                .ok_or_else(|| ApiError::bad_request(format!("Invalid {key} value")))?;
            if !TIME_OPS.contains(&op) {
                return Err(ApiError::bad_request(format!("Invalid {op} operator")));
            }
            let at = parse_time(time)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid {time} value")))?;
            Ok((op.to_string(), at))
        })
        .collect()
}

/// An ISO 8601 time, with or without zone (UTC then), as oslo's parse_isotime.
fn parse_time(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

fn compare_time(op: &str, have: NaiveDateTime, at: NaiveDateTime) -> bool {
    match op {
        "gt" => have > at,
        "gte" => have >= at,
        "eq" => have == at,
        "neq" => have != at,
        "lt" => have < at,
        _ => have <= at,
    }
}
