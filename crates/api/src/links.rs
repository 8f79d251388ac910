//! The public base URL (what the catalog advertises and `links` point at) and the
//! Keystone-style collection links with `limit`/`marker` pagination.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;

/// The base URL clients reach this server at, e.g. `http://127.0.0.1:8080`.
#[derive(Clone, Debug)]
pub struct PublicUrl(pub Arc<str>);

impl PublicUrl {
    pub fn new(url: &str) -> Self {
        PublicUrl(Arc::from(url.trim_end_matches('/')))
    }
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

/// Percent-encodes what cannot stand in a URL path segment or query value (for
/// the `next` links and bookmarks services build from ids and query values).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl<S: Send + Sync> FromRequestParts<S> for PublicUrl {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<PublicUrl>()
            .cloned()
            .unwrap_or_else(|| PublicUrl::new("http://127.0.0.1")))
    }
}

/// One page of a list, cut by `limit` after the item whose id is `marker`.
pub struct Page<T> {
    pub items: Vec<T>,
    /// The marker for the next page, when there is one.
    pub next_marker: Option<String>,
}

/// Cuts `items` (sorted by id) into the page after `marker`, at most `limit` long.
pub fn paginate<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    marker: Option<&str>,
    limit: Option<usize>,
) -> Page<T> {
    let start = match marker {
        Some(m) => items.iter().position(|i| id(i) > m).unwrap_or(items.len()),
        None => 0,
    };
    let mut items: Vec<T> = items.into_iter().skip(start).collect();
    let next_marker = match limit {
        Some(l) if items.len() > l => {
            items.truncate(l);
            items.last().map(|i| id(i).to_string())
        }
        _ => None,
    };
    Page { items, next_marker }
}

/// Keystone collection links: `{"self": url, "previous": null, "next": url-or-null}`.
pub fn collection_links(self_url: &str, next_marker: Option<&str>, limit: Option<usize>) -> Value {
    let next = next_marker.map(|m| {
        let base = strip_param(&strip_param(self_url, "marker"), "limit");
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}limit={}&marker={m}", limit.unwrap_or(0))
    });
    json!({"self": self_url, "previous": null, "next": next})
}

fn strip_param(url: &str, key: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| kv.split('=').next() != Some(key))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_markers_to_the_end() {
        let ids: Vec<String> = (0..5).map(|i| format!("id{i}")).collect();
        let p = paginate(ids.clone(), |s| s, None, Some(2));
        assert_eq!(p.items, vec!["id0", "id1"]);
        let p = paginate(ids.clone(), |s| s, p.next_marker.as_deref(), Some(2));
        assert_eq!(p.items, vec!["id2", "id3"]);
        let p = paginate(ids, |s| s, p.next_marker.as_deref(), Some(2));
        assert_eq!((p.items, p.next_marker), (vec!["id4".to_string()], None));
    }

    #[test]
    fn next_link_replaces_old_marker() {
        let l = collection_links(
            "http://x/v3/users?name=a&marker=m1&limit=2",
            Some("m2"),
            Some(2),
        );
        assert_eq!(l["next"], "http://x/v3/users?name=a&limit=2&marker=m2");
    }
}
