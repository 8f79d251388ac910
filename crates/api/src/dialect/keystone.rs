//! Keystone's error body: `{"error": {"code": 404, "message": "...", "title": "Not Found"}}`.

use crate::ApiError;

pub(super) fn body(e: &ApiError) -> String {
    serde_json::json!({
        "error": {
            "code": e.status.as_u16(),
            "message": e.message,
            "title": e.status.canonical_reason().unwrap_or("Error"),
        }
    })
    .to_string()
}
