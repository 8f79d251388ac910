//! Nova's (and Cinder's) error body: `{"itemNotFound": {"code": 404, "message": "..."}}`,
//! the fault name chosen by status exactly as `nova.api.openstack.wsgi.Fault` does
//! (statuses without a name of their own, 406 and 500 among them, are `computeFault`).

use crate::ApiError;
use axum::http::StatusCode;

/// The fault name Nova uses for a status.
pub fn fault_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

pub(super) fn body(e: &ApiError) -> String {
    serde_json::json!({
        fault_name(e.status): {
            "code": e.status.as_u16(),
            "message": e.message,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_nova() {
        let e = ApiError::not_found("Flavor x could not be found.");
        let v: serde_json::Value = serde_json::from_str(&body(&e)).unwrap();
        assert_eq!(v["itemNotFound"]["code"], 404);
        assert_eq!(v["itemNotFound"]["message"], "Flavor x could not be found.");
        assert_eq!(fault_name(StatusCode::CONFLICT), "conflictingRequest");
        assert_eq!(fault_name(StatusCode::NOT_ACCEPTABLE), "computeFault");
        assert_eq!(fault_name(StatusCode::PAYLOAD_TOO_LARGE), "overLimit");
        assert_eq!(
            fault_name(StatusCode::INTERNAL_SERVER_ERROR),
            "computeFault"
        );
    }
}
