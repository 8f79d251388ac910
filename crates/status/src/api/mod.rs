//! The SCS Status Page API routes, under `/status-api` (the spec's paths below
//! that prefix). Reads take no token; writes take a cloud admin's token
//! (`X-Auth-Token` or `Authorization: Bearer`). Every error, unknown paths and
//! wrong methods included, is a `{"message": "..."}` body.

pub mod common;
pub mod components;
pub mod impact_types;
pub mod incidents;
pub mod phases;
pub mod severities;
pub mod updates;
pub mod views;

use crate::StatusPage;
use axum::middleware::map_response;
use axum::routing::{any, get};
use axum::Router;
use nimbus_api::dialect;
use nimbus_api::ApiError;
use std::sync::Arc;

/// Where the API is served.
pub const PREFIX: &str = "/status-api";

fn routes() -> Router<Arc<StatusPage>> {
    Router::new()
        .route("/phases", get(phases::show).post(phases::create))
        .route(
            "/impacttypes",
            get(impact_types::list).post(impact_types::create),
        )
        .route(
            "/impacttypes/{impact_type_id}",
            get(impact_types::show)
                .patch(impact_types::update)
                .delete(impact_types::delete),
        )
        .route(
            "/severities",
            get(severities::list).post(severities::create),
        )
        .route(
            "/severities/{severity_name}",
            get(severities::show)
                .patch(severities::update)
                .delete(severities::delete),
        )
        .route(
            "/components",
            get(components::list).post(components::create),
        )
        .route(
            "/components/{component_id}",
            get(components::show)
                .patch(components::update)
                .delete(components::delete),
        )
        .route("/incidents", get(incidents::list).post(incidents::create))
        .route(
            "/incidents/{incident_id}",
            get(incidents::show)
                .patch(incidents::update)
                .delete(incidents::delete),
        )
        .route(
            "/incidents/{incident_id}/updates",
            get(updates::list).post(updates::create),
        )
        .route(
            "/incidents/{incident_id}/updates/{update_order}",
            get(updates::show)
                .patch(updates::update)
                .delete(updates::delete),
        )
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// Every status page route, rendering errors in the status dialect.
pub fn router(svc: Arc<StatusPage>) -> Router {
    Router::new()
        .nest(PREFIX, routes())
        .route(PREFIX, any(not_found))
        .route("/status-api/", any(not_found))
        .route("/status-api/{*rest}", any(not_found))
        .with_state(svc)
        .layer(map_response(dialect::status))
}
