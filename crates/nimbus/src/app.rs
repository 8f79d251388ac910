//! The application: every service's router, merged, inside the shared layers of
//! `nimbus_api::app`, plus the health endpoint and the web console (which calls
//! back into the finished application, so it sees exactly what a client sees).

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use nimbus_compute::Compute;
use nimbus_console::Console;
use nimbus_identity::Identity;
use nimbus_image::Images;
use nimbus_network::Networking;
use nimbus_status::StatusPage;
use nimbus_volume::Volumes;
use std::sync::Arc;

/// The services `nimbus serve` runs (one field per service; add yours here).
pub struct Services {
    pub identity: Arc<Identity>,
    pub compute: Arc<Compute>,
    pub images: Arc<Images>,
    pub network: Arc<Networking>,
    pub volumes: Arc<Volumes>,
    pub status: Arc<StatusPage>,
    /// The web console (calls the other services through the built app).
    pub console: Arc<Console>,
}

/// Builds the application serving every API (and the console) at `public_url`.
pub fn build(services: &Services, public_url: &str) -> Router {
    let routers = Router::new()
        .merge(nimbus_console::router(services.console.clone()))
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .merge(nimbus_identity::api::router(services.identity.clone()))
        .merge(nimbus_compute::api::router(services.compute.clone()))
        .merge(nimbus_image::api::router(services.images.clone()))
        .merge(nimbus_network::api::router(services.network.clone()))
        .merge(nimbus_volume::api::router(services.volumes.clone()))
        .merge(nimbus_status::api::router(services.status.clone()));
    let app = nimbus_api::app::wrap(routers, services.identity.clone(), public_url);
    services.console.set_api(app.clone());
    app
}
