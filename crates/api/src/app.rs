//! The layers every Nimbus HTTP application shares, applied once around all service
//! routers: a 404 in Keystone's format for unknown paths, the authenticator and the
//! public URL as request extensions, the body limit (413 beyond it), a panic guard
//! that answers 500 instead of dropping the connection, and the request log line.

use crate::auth::{Authenticator, SharedAuthenticator};
use crate::links::PublicUrl;
use crate::{dialect, log, ApiError, MAX_BODY_BYTES};
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, map_response};
use axum::response::IntoResponse;
use axum::{Extension, Router};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

/// Wraps the merged service routers into the application `nimbus serve` runs.
pub fn wrap(services: Router, authenticator: Arc<dyn Authenticator>, public_url: &str) -> Router {
    let fallback = Router::new()
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(map_response(dialect::keystone));
    services
        .merge(fallback)
        .layer(Extension(SharedAuthenticator(authenticator)))
        .layer(Extension(PublicUrl::new(public_url)))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            internal_error()
        }))
        .layer(from_fn(log::requests))
}

fn internal_error() -> axum::response::Response {
    let body = serde_json::json!({"error": {"code": 500, "title": "Internal Server Error",
        "message": "An unexpected error prevented the server from fulfilling your request."}});
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
