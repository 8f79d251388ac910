//! The list machinery Neutron applies to every collection: attribute filters
//! (repeated values mean OR; keys that are no attribute are ignored), tag filters
//! (`tags`, `tags-any`, `not-tags`, `not-tags-any`), `fields`, sorting
//! (`sort_key`/`sort_dir`) and `limit`/`marker`/`page_reverse` with
//! `<collection>_links`. It works on the full JSON views of what the caller sees.

use super::common::PREFIX;
use crate::error::{Fault, NResult};
use nimbus_api::auth::Principal;
pub use nimbus_api::links::encode;
use nimbus_api::links::PublicUrl;
use nimbus_api::query::{parse_bool, Query};
use nimbus_store::{Resource, Store};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Query parameters that are not attribute filters.
const RESERVED: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

/// The values of a query key, comma lists split (tag filters).
fn split_values(q: &Query, key: &str) -> Vec<String> {
    q.0.iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether one attribute value matches one filter value.
fn matches_value(field: &Value, wanted: &str) -> NResult<bool> {
    Ok(match field {
        Value::String(s) => s == wanted,
        Value::Bool(b) => match parse_bool(wanted) {
            Ok(Some(w)) => *b == w,
            Ok(None) => true,
            Err(_) => {
                return Err(Fault::invalid(format!(
                    "'{wanted}' cannot be converted to boolean"
                )))
            }
        },
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None",
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(wanted)),
        Value::Object(_) => true,
    })
}

/// `fixed_ips=ip_address=X&fixed_ips=subnet_id=Y`: within one sub-key values are
/// alternatives, different sub-keys must all match.
fn matches_fixed_ips(field: &Value, wanted: &[&str]) -> bool {
    let Some(ips) = field.as_array() else {
        return false;
    };
    let mut by_key: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in wanted {
        let (k, v) = w.split_once('=').unwrap_or(("ip_address", w));
        match by_key.iter_mut().find(|(key, _)| *key == k) {
            Some((_, vs)) => vs.push(v),
            None => by_key.push((k, vec![v])),
        }
    }
    by_key.iter().all(|(k, vs)| {
        ips.iter().any(|ip| {
            ip.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|s| vs.contains(&s))
        })
    })
}

/// Whether an item passes the attribute and tag filters of the query. Keys that
/// are no attribute of the item are ignored, as Neutron ignores unknown filters.
pub fn passes(item: &Value, q: &Query) -> NResult<bool> {
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in &q.0 {
        if !RESERVED.contains(&k.as_str()) && !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    for key in keys {
        let Some(field) = item.get(key) else {
            continue;
        };
        let wanted: Vec<&str> =
            q.0.iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
        let ok = if key == "fixed_ips" {
            matches_fixed_ips(field, &wanted)
        } else {
            let mut any = false;
            for w in &wanted {
                any |= matches_value(field, w)?;
            }
            any
        };
        if !ok {
            return Ok(false);
        }
    }
    let has: BTreeSet<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let all = |tags: &[String]| tags.iter().all(|t| has.contains(t.as_str()));
    let any = |tags: &[String]| tags.iter().any(|t| has.contains(t.as_str()));
    let (tags, tags_any) = (split_values(q, "tags"), split_values(q, "tags-any"));
    let (not_tags, not_any) = (split_values(q, "not-tags"), split_values(q, "not-tags-any"));
    Ok((tags.is_empty() || all(&tags))
        && (tags_any.is_empty() || any(&tags_any))
        && (not_tags.is_empty() || !all(&not_tags))
        && (not_any.is_empty() || !any(&not_any)))
}

/// Keeps only the `fields=` keys of an item (all when none are asked for).
pub fn select_fields(item: Value, q: &Query) -> Value {
    let fields: Vec<&str> =
        q.0.iter()
            .filter(|(k, _)| k == "fields")
            .flat_map(|(_, v)| v.split(','))
            .filter(|s| !s.is_empty())
            .collect();
    if fields.is_empty() {
        return item;
    }
    match item {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The views of every `T` of a project the caller sees (its own; all for an
/// admin): what [`list`] then filters, sorts and pages.
pub async fn visible<T: Resource>(
    store: &Store,
    caller: &Principal,
    project: impl Fn(&T) -> &str,
    mut view: impl FnMut(&T, i64) -> Value,
) -> NResult<Vec<Value>> {
    Ok(store
        .list::<T>(None)
        .await?
        .into_iter()
        .filter(|o| crate::access::sees(caller, project(&o.value), false))
        .map(|o| view(&o.value, o.revision))
        .collect())
}

/// Filters, sorts, pages and projects the full views of what the caller sees,
/// answering `{collection: [...], collection_links: [...]}`.
pub fn list(collection: &str, items: Vec<Value>, q: &Query, url: &PublicUrl) -> NResult<Value> {
    let mut kept = Vec::new();
    for item in items {
        if passes(&item, q)? {
            kept.push(item);
        }
    }
    let sort_keys: Vec<&str> =
        q.0.iter()
            .filter(|(k, _)| k == "sort_key")
            .map(|(_, v)| v.as_str())
            .collect();
    let sort_dirs: Vec<&str> =
        q.0.iter()
            .filter(|(k, _)| k == "sort_dir")
            .map(|(_, v)| v.as_str())
            .collect();
    if sort_dirs.len() > sort_keys.len() && !(sort_keys.is_empty() && sort_dirs.len() == 1) {
        return Err(Fault::bad(
            "HTTPBadRequest",
            "The number of sort_keys and sort_dirs must be same",
        ));
    }
    let mut order: Vec<(String, bool)> = Vec::new();
    for (i, k) in sort_keys.iter().enumerate() {
        if let Some(first) = kept.first() {
            if first.get(*k).is_none() {
                return Err(Fault::bad(
                    "HTTPBadRequest",
                    format!("{k} is an invalid attribute for sort_key"),
                ));
            }
        }
        let dir = sort_dirs.get(i).copied().unwrap_or("asc");
        let asc = match dir {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(Fault::bad(
                    "HTTPBadRequest",
                    format!(
                    "{other} is an invalid value for sort_dir, valid values are 'asc' and 'desc'"
                ),
                ))
            }
        };
        order.push((k.to_string(), asc));
    }
    let id_asc = match (sort_keys.is_empty(), sort_dirs.first()) {
        (true, Some(&"desc")) => false,
        _ => order.first().is_none_or(|(_, asc)| *asc),
    };
    order.push(("id".into(), id_asc));
    kept.sort_by(|a, b| {
        order
            .iter()
            .map(|(k, asc)| {
                let o = compare(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                if *asc {
                    o
                } else {
                    o.reverse()
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
    let reverse = match q.get("page_reverse") {
        None => false,
        Some(v) => parse_bool(v)
            .map_err(|_| Fault::invalid(format!("'{v}' cannot be converted to boolean")))?
            .unwrap_or(false),
    };
    if reverse {
        kept.reverse();
    }
    let limit = match q.get("limit") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(Fault::invalid(format!(
                    "Limit must be an integer 0 or greater and not '{v}'"
                )))
            }
            Ok(0) => None,
            Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => {
                return Err(Fault::invalid(format!(
                    "Limit must be an integer 0 or greater and not '{v}'"
                )))
            }
        },
    };
    let marker = q.get("marker");
    let start = match marker {
        None => 0,
        Some(m) => match kept.iter().position(|i| i["id"].as_str() == Some(m)) {
            Some(p) => p + 1,
            None => {
                return Err(Fault::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "HTTPNotFound",
                    format!("Marker {m} could not be found."),
                ))
            }
        },
    };
    let rest: Vec<Value> = kept.into_iter().skip(start).collect();
    let more = limit.is_some_and(|l| rest.len() > l);
    let mut page: Vec<Value> = match limit {
        Some(l) => rest.into_iter().take(l).collect(),
        None => rest,
    };
    let mut links = Vec::new();
    if let Some(l) = limit {
        let last = page
            .last()
            .and_then(|i| i["id"].as_str())
            .map(str::to_string);
        let first = page
            .first()
            .and_then(|i| i["id"].as_str())
            .map(str::to_string);
        if let (true, Some(last)) = (more, last) {
            links.push(json!({"rel": "next", "href": link(url, collection, q, l, &last, reverse)}));
        }
        if let (Some(_), Some(first)) = (marker, first) {
            links.push(
                json!({"rel": "previous", "href": link(url, collection, q, l, &first, !reverse)}),
            );
        }
    }
    if reverse {
        page.reverse();
    }
    let page: Vec<Value> = page.into_iter().map(|i| select_fields(i, q)).collect();
    let mut doc = json!({ collection: page });
    if !links.is_empty() {
        doc[format!("{collection}_links")] = Value::Array(links);
    }
    Ok(doc)
}

fn link(
    url: &PublicUrl,
    collection: &str,
    q: &Query,
    limit: usize,
    marker: &str,
    reverse: bool,
) -> String {
    let mut params: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "marker" | "limit" | "page_reverse"))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
    params.push(format!("limit={limit}"));
    params.push(format!("marker={}", encode(marker)));
    if reverse {
        params.push("page_reverse=True".into());
    }
    url.join(&format!("{PREFIX}/{collection}?{}", params.join("&")))
}

/// The `fields=` projection for a single object (show).
pub fn one(key: &str, item: Value, q: &Query) -> Value {
    json!({ key: select_fields(item, q) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s).unwrap()
    }

    fn items() -> Vec<Value> {
        (0..5)
            .map(|i| {
                json!({"id": format!("id{i}"), "name": format!("n{}", i % 2), "shared": i == 3,
                       "tags": if i < 2 { vec!["a", "b"] } else { vec!["a"] },
                       "fixed_ips": [{"subnet_id": "s", "ip_address": format!("10.0.0.{i}")}]})
            })
            .collect()
    }

    fn ids(doc: &Value, c: &str) -> Vec<String> {
        doc[c]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn filters_fields_and_tags() {
        let url = PublicUrl::new("http://x");
        let d = list("things", items(), &q("name=n1&name=n0&shared=True"), &url).unwrap();
        assert_eq!(ids(&d, "things"), vec!["id3"]);
        let d = list("things", items(), &q("tags=a,b"), &url).unwrap();
        assert_eq!(ids(&d, "things"), vec!["id0", "id1"]);
        let d = list("things", items(), &q("not-tags=b&unknown=1"), &url).unwrap();
        assert_eq!(ids(&d, "things").len(), 3);
        let d = list(
            "things",
            items(),
            &q("fixed_ips=ip_address%3D10.0.0.2"),
            &url,
        )
        .unwrap();
        assert_eq!(ids(&d, "things"), vec!["id2"]);
        let d = list("things", items(), &q("fields=id&fields=name"), &url).unwrap();
        assert_eq!(d["things"][0], json!({"id": "id0", "name": "n0"}));
        assert!(list("things", items(), &q("shared=maybe"), &url).is_err());
    }

    #[test]
    fn sorts_and_pages_with_links() {
        let url = PublicUrl::new("http://x");
        let d = list("things", items(), &q("limit=2"), &url).unwrap();
        assert_eq!(ids(&d, "things"), vec!["id0", "id1"]);
        let next = d["things_links"][0]["href"].as_str().unwrap();
        assert_eq!(next, "http://x/network/v2.0/things?limit=2&marker=id1");
        let d = list("things", items(), &q("limit=2&marker=id3"), &url).unwrap();
        assert_eq!(ids(&d, "things"), vec!["id4"]);
        assert_eq!(d["things_links"][0]["rel"], "previous");
        let d = list(
            "things",
            items(),
            &q("sort_key=name&sort_dir=desc&sort_key=id&sort_dir=asc"),
            &url,
        )
        .unwrap();
        assert_eq!(ids(&d, "things"), vec!["id1", "id3", "id0", "id2", "id4"]);
        let d = list(
            "things",
            items(),
            &q("limit=2&marker=id3&page_reverse=True"),
            &url,
        )
        .unwrap();
        assert_eq!(ids(&d, "things"), vec!["id1", "id2"]);
        assert!(list("things", items(), &q("sort_key=nope"), &url).is_err());
        assert!(list("things", items(), &q("limit=-1"), &url).is_err());
        assert!(list("things", items(), &q("marker=gone"), &url).is_err());
    }
}
