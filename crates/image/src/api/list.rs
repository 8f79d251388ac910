//! `GET /v2/images`: the images the caller sees ([`crate::access::listed`]), filtered
//! ([`super::filters`]), sorted (`sort=name:asc,size` or `sort_key`/`sort_dir`;
//! default `created_at` descending, `id` breaking ties) and cut into pages by
//! `limit` (default 25, at most 1000) and `marker`. The answer is Glance's:
//! `{"images": [...], "first", "schema", "next"}`, `next` only when more follow.

use super::filters::Filters;
use super::views;
use crate::access;
use crate::types::{Image, ImageMember, MemberStatus};
use crate::Images;
use axum::extract::{OriginalUri, State};
use axum::Json;
use nimbus_api::auth::Auth;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// Page size without `limit`, and the largest page.
pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 1000;

const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "virtual_size",
    "id",
    "created_at",
    "updated_at",
    "visibility",
    "owner",
    "min_disk",
    "min_ram",
    "protected",
    "os_hidden",
];

/// A sort key's value: nulls first, then numbers, then text.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Null,
    Num(i128),
    Text(&'a str),
}

fn key<'a>(i: &'a Image, name: &str) -> Key<'a> {
    let text = |s: Option<&'a str>| s.map_or(Key::Null, Key::Text);
    let num = |n: Option<u64>| n.map_or(Key::Null, |n| Key::Num(n.into()));
    match name {
        "name" => text(i.name.as_deref()),
        "status" => Key::Text(i.status.as_str()),
        "container_format" => text(i.container_format.as_deref()),
        "disk_format" => text(i.disk_format.as_deref()),
        "size" => num(i.size),
        "virtual_size" => num(i.virtual_size),
        "id" => Key::Text(&i.id),
        "created_at" => Key::Num(i.created_at.timestamp_micros().into()),
        "updated_at" => Key::Num(i.updated_at.timestamp_micros().into()),
        "visibility" => Key::Text(i.visibility.as_str()),
        "owner" => text(i.owner.as_deref()),
        "min_disk" => num(Some(i.min_disk)),
        "min_ram" => num(Some(i.min_ram)),
        "protected" => Key::Num(i.protected.into()),
        _ => Key::Num(i.os_hidden.into()),
    }
}

fn sort_key(k: &str) -> ApiResult<String> {
    if SORT_KEYS.contains(&k) {
        return Ok(k.to_string());
    }
    Err(ApiError::bad_request(format!(
        "Invalid sort key: {k}. It must be one of the following: {}.",
        SORT_KEYS.join(", ")
    )))
}

fn sort_dir(d: &str) -> ApiResult<bool> {
    match d {
        "asc" => Ok(true),
        "desc" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid sort direction: {d}"
        ))),
    }
}

/// The sort order asked for: keys with "ascending?", `id` last.
pub fn sorting(q: &Query) -> ApiResult<Vec<(String, bool)>> {
    let all = |name: &str| -> Vec<&str> {
        q.0.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect()
    };
    let (keys, dirs) = (all("sort_key"), all("sort_dir"));
    let mut order = Vec::new();
    if let Some(sort) = q.get("sort") {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(ApiError::bad_request(
                "Old and new sorting syntax cannot be combined",
            ));
        }
        for part in sort.split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            order.push((sort_key(k.trim())?, sort_dir(d.trim())?));
        }
    } else {
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(ApiError::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        let dirs: Vec<bool> = dirs.into_iter().map(sort_dir).collect::<ApiResult<_>>()?;
        let keys = if keys.is_empty() {
            vec!["created_at"]
        } else {
            keys
        };
        for (n, k) in keys.into_iter().enumerate() {
            let asc = dirs.get(n).or(dirs.first()).copied().unwrap_or(false);
            order.push((sort_key(k)?, asc));
        }
    }
    if !order.iter().any(|(k, _)| k == "id") {
        let asc = order.last().is_some_and(|(_, asc)| *asc);
        order.push(("id".into(), asc));
    }
    Ok(order)
}

fn compare(a: &Image, b: &Image, order: &[(String, bool)]) -> Ordering {
    for (k, asc) in order {
        let o = key(a, k).cmp(&key(b, k));
        if o != Ordering::Equal {
            return if *asc { o } else { o.reverse() };
        }
    }
    Ordering::Equal
}

/// The query string without `marker` (to build `first` and `next`).
fn without_marker(raw: &str) -> String {
    raw.split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("marker"))
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn list(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "image:get_images", &Target::new("image", ""))?;
    let filters = Filters::parse(&q)?;
    let order = sorting(&q)?;
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("limit param must be a positive integer"))?
            .min(MAX_LIMIT),
    };
    let memberships: HashMap<String, MemberStatus> = match caller.project_id() {
        Some(project) => svc
            .store
            .list::<ImageMember>(None)
            .await?
            .into_iter()
            .filter(|m| m.value.member_id == project)
            .map(|m| (m.value.image_id, m.value.status))
            .collect(),
        None => HashMap::new(),
    };
    let mut images: Vec<Image> = svc
        .store
        .list::<Image>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|i| {
            let member = memberships.get(&i.id).copied();
            access::listed(
                &caller,
                i,
                member,
                filters.visibility,
                filters.member_status,
            ) && filters.matches(i)
        })
        .collect();
    images.sort_by(|a, b| compare(a, b, &order));
    let start =
        match q.get("marker") {
            None => 0,
            Some(m) => {
                images.iter().position(|i| i.id == m).ok_or_else(|| {
                    ApiError::bad_request(format!("Marker {m} could not be found."))
                })? + 1
            }
        };
    let rest = images.len().saturating_sub(start);
    let page: Vec<Value> = images
        .iter()
        .skip(start)
        .take(limit)
        .map(views::image)
        .collect();
    let params = without_marker(uri.query().unwrap_or(""));
    let first = if params.is_empty() {
        "/v2/images".to_string()
    } else {
        format!("/v2/images?{params}")
    };
    let mut body = json!({"images": page, "first": first, "schema": "/v2/schemas/images"});
    if rest > limit && limit > 0 {
        let last = &images[start + limit - 1].id;
        let sep = if params.is_empty() { "" } else { "&" };
        body["next"] = json!(format!("/v2/images?{params}{sep}marker={last}"));
    }
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(raw: &str) -> ApiResult<Vec<(String, bool)>> {
        sorting(&Query::parse(raw).unwrap())
    }

    #[test]
    fn sort_syntaxes() {
        let v = |pairs: &[(&str, bool)]| -> Vec<(String, bool)> {
            pairs.iter().map(|(k, a)| (k.to_string(), *a)).collect()
        };
        assert_eq!(
            order("").unwrap(),
            v(&[("created_at", false), ("id", false)])
        );
        assert_eq!(
            order("sort=name:asc,size").unwrap(),
            v(&[("name", true), ("size", false), ("id", false)])
        );
        assert_eq!(
            order("sort_key=name&sort_key=size&sort_dir=asc").unwrap(),
            v(&[("name", true), ("size", true), ("id", true)])
        );
        for bad in [
            "sort=name&sort_key=size",
            "sort=bogus",
            "sort=name:sideways",
            "sort_key=a&sort_key=name",
            "sort_key=name&sort_key=size&sort_dir=asc&sort_dir=asc&sort_dir=desc",
        ] {
            assert_eq!(order(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn marker_is_dropped_from_links() {
        assert_eq!(without_marker("limit=2&marker=x&name=a"), "limit=2&name=a");
        assert_eq!(without_marker(""), "");
    }
}
