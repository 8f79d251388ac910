//! Error bodies in each upstream API's own format. A service router is wrapped in
//! its dialect's `map_response` function; every 4xx/5xx leaving it (from a handler, an extractor,
//! a missing route or a wrong method) is rendered in that format.

mod cinder;
mod glance;
mod keystone;
pub mod neutron;
pub mod nova;
mod status;

use crate::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

/// The error formats Nimbus speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"code","message","title"}}`
    Keystone,
    /// `{"<faultName>":{"code","message"}}` (Nova)
    Nova,
    /// webob's `text/html` error page (Glance)
    Glance,
    /// `{"NeutronError":{"type","message","detail"}}`
    Neutron,
    /// `{"<faultName>":{"code","message"}}` with Cinder's fault names
    Cinder,
    /// `{"message"}` (the SCS status page API)
    Status,
}

/// Members an error response adds beside the dialect's own error object (set as a
/// response extension): Keystone's MFA answer carries `receipt` and
/// `required_auth_methods` next to `error`.
#[derive(Clone, Debug)]
pub struct ErrorExtra(pub serde_json::Map<String, serde_json::Value>);

/// Renders the errors of a Keystone router:
/// `router.layer(axum::middleware::map_response(dialect::keystone))`.
pub async fn keystone(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Keystone, resp)
}

/// Renders the errors of a Nova router:
/// `router.layer(axum::middleware::map_response(dialect::nova))`.
pub async fn nova(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Nova, resp)
}

/// Renders the errors of a Cinder router:
/// `router.layer(axum::middleware::map_response(dialect::cinder))`.
pub async fn cinder(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Cinder, resp)
}

/// Renders the errors of a Glance router:
/// `router.layer(axum::middleware::map_response(dialect::glance))`.
pub async fn glance(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Glance, resp)
}

/// Renders the errors of a Neutron router:
/// `router.layer(axum::middleware::map_response(dialect::neutron))`.
pub async fn neutron(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Neutron, resp)
}

/// Renders the errors of the status page router:
/// `router.layer(axum::middleware::map_response(dialect::status))`.
pub async fn status(resp: Response<Body>) -> Response<Body> {
    render(Dialect::Status, resp)
}

fn render(dialect: Dialect, resp: Response<Body>) -> Response<Body> {
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let (mut parts, _body) = resp.into_parts();
    let error = parts
        .extensions
        .remove::<ApiError>()
        .unwrap_or_else(|| default_error(parts.status));
    let extra = parts.extensions.remove::<ErrorExtra>();
    let (body, content_type) = match dialect {
        Dialect::Keystone => (keystone::body(&error, extra), "application/json"),
        Dialect::Nova => (nova::body(&error), "application/json"),
        Dialect::Cinder => (cinder::body(&error), "application/json"),
        Dialect::Status => (status::body(&error), "application/json"),
        Dialect::Glance => (glance::body(&error), glance::CONTENT_TYPE),
        Dialect::Neutron => (
            neutron::body(
                &error,
                parts.extensions.get::<neutron::ErrorType>().copied(),
            ),
            "application/json",
        ),
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The message for errors that did not come from a handler (no route, wrong method).
fn default_error(status: StatusCode) -> ApiError {
    let message = match status {
        StatusCode::NOT_FOUND => "The resource could not be found.",
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for the requested URL.",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "The request media type is not supported.",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    ApiError::new(status, message)
}
