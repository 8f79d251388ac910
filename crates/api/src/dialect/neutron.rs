//! Neutron's error body: `{"NeutronError": {"type": "NetworkNotFound", "message": "...",
//! "detail": ""}}`. The `type` is the name of the Neutron exception; a handler names
//! it by attaching [`ErrorType`] to its error response, otherwise it follows the
//! status the way Neutron's API layer names webob errors (`HTTPNotFound`, ...).

use crate::ApiError;

/// The Neutron exception name of an error response (a response extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorType(pub &'static str);

/// The type Neutron reports for a status when no exception name is known.
pub fn default_type(status: u16) -> &'static str {
    match status {
        400 => "HTTPBadRequest",
        401 => "HTTPUnauthorized",
        403 => "PolicyNotAuthorized",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        409 => "HTTPConflict",
        413 => "HTTPRequestEntityTooLarge",
        415 => "HTTPUnsupportedMediaType",
        503 => "ServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

pub(super) fn body(e: &ApiError, kind: Option<ErrorType>) -> String {
    let kind = kind.map_or_else(|| default_type(e.status.as_u16()), |k| k.0);
    serde_json::json!({
        "NeutronError": {
            "type": kind,
            "message": e.message,
            "detail": "",
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_type_message_and_detail() {
        let e = ApiError::not_found("Network x could not be found.");
        let v: serde_json::Value =
            serde_json::from_str(&body(&e, Some(ErrorType("NetworkNotFound")))).unwrap();
        assert_eq!(v["NeutronError"]["type"], "NetworkNotFound");
        assert_eq!(
            v["NeutronError"]["message"],
            "Network x could not be found."
        );
        assert_eq!(v["NeutronError"]["detail"], "");
        let v: serde_json::Value = serde_json::from_str(&body(&e, None)).unwrap();
        assert_eq!(v["NeutronError"]["type"], "HTTPNotFound");
    }
}
