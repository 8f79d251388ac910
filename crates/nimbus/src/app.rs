//! The application: every service's router, merged, inside the shared layers of
//! `nimbus_api::app`, plus the health endpoint.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use nimbus_identity::Identity;
use std::sync::Arc;

/// Builds the application serving every API at `public_url`.
pub fn build(identity: Arc<Identity>, public_url: &str) -> Router {
    let services = Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .merge(nimbus_identity::api::router(identity.clone()));
    nimbus_api::app::wrap(services, identity, public_url)
}
