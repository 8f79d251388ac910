//! Keystone's error body: `{"error": {"code": 404, "message": "...", "title": "Not Found"}}`.

use super::ErrorExtra;
use crate::ApiError;

pub(super) fn body(e: &ApiError, extra: Option<ErrorExtra>) -> String {
    let mut doc = serde_json::json!({
        "error": {
            "code": e.status.as_u16(),
            "message": e.message,
            "title": e.status.canonical_reason().unwrap_or("Error"),
        }
    });
    if let (Some(ErrorExtra(members)), Some(obj)) = (extra, doc.as_object_mut()) {
        for (k, v) in members {
            obj.entry(k).or_insert(v);
        }
    }
    doc.to_string()
}
