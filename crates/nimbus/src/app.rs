//! One HTTP application for every service: each service contributes its router
//! (rendering its own error dialect); the shared layers add the authenticator, the
//! public URL, the body limit, panic safety and the per-request log line.

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, map_response};
use axum::routing::get;
use axum::{Extension, Router};
use nimbus_api::auth::SharedAuthenticator;
use nimbus_api::links::PublicUrl;
use nimbus_api::{dialect, log, ApiError, MAX_BODY_BYTES};
use nimbus_identity::Identity;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;

/// Builds the application serving every API at `public_url`.
pub fn build(identity: Arc<Identity>, public_url: &str) -> Router {
    let fallback = Router::new()
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(map_response(dialect::keystone));
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .merge(nimbus_identity::api::router(identity.clone()))
        .merge(fallback)
        .layer(Extension(SharedAuthenticator(identity)))
        .layer(Extension(PublicUrl::new(public_url)))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            dialect_500()
        }))
        .layer(from_fn(log::requests))
}

fn dialect_500() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::json!({"error": {"code": 500, "title": "Internal Server Error",
        "message": "An unexpected error prevented the server from fulfilling your request."}});
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
