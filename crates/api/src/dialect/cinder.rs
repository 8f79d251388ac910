//! Cinder's error body: `{"itemNotFound": {"code": 404, "message": "..."}}`. The
//! fault names are those of `cinder.api.openstack.wsgi.Fault` (the same table as
//! Nova's, which Cinder inherited); statuses without a name are `computeFault`.

use crate::ApiError;

pub(super) fn body(e: &ApiError) -> String {
    serde_json::json!({
        super::nova::fault_name(e.status): {
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
    fn bad_request_and_over_limit() {
        let v: serde_json::Value =
            serde_json::from_str(&body(&ApiError::bad_request("Invalid volume"))).unwrap();
        assert_eq!(v["badRequest"]["code"], 400);
        assert_eq!(v["badRequest"]["message"], "Invalid volume");
        let e = ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "quota");
        let v: serde_json::Value = serde_json::from_str(&body(&e)).unwrap();
        assert_eq!(v["overLimit"]["code"], 413);
    }
}
