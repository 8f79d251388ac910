//! The status page API's error body: `{"message": "..."}`, the shape the SCS
//! reference server (Go, echo) answers with; the spec itself defines no error body.

use crate::ApiError;

pub(super) fn body(e: &ApiError) -> String {
    serde_json::json!({ "message": e.message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_only() {
        let v: serde_json::Value =
            serde_json::from_str(&body(&ApiError::not_found("no such component"))).unwrap();
        assert_eq!(v, serde_json::json!({"message": "no such component"}));
    }
}
