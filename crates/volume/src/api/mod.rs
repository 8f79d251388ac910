//! The Cinder v3 routes under `/volume`. Every route is served twice, at
//! `/volume/v3/...` and at `/volume/v3/{project_id}/...` (the catalog's form and
//! the classic one), by the same handlers; path parameters are read by name.
//! Errors are Cinder's `{"badRequest": {"code", "message"}}` bodies; the
//! microversion is negotiated from `OpenStack-API-Version: volume 3.x`.

pub mod access;
pub mod actions;
pub mod attach_actions;
pub mod attachment_views;
pub mod attachments;
pub mod backups;
pub mod common;
pub mod default_types;
pub mod discovery;
pub mod encryption;
pub mod list;
pub mod metadata;
pub mod pools;
pub mod quotas;
pub mod snapshots;
pub mod upload;
pub mod views;
pub mod volume_create;
pub mod volumes;
pub mod vtypes;

use crate::types::{Snapshot, Volume};
use crate::Volumes;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::{from_fn, from_fn_with_state, map_response, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use nimbus_api::auth::Auth;
use nimbus_api::dialect;
use nimbus_api::microversion::{self, Service, Version};
use nimbus_api::ApiError;
use std::sync::Arc;

/// Cinder's microversion range here: 3.0 up to the highest whose behaviour the
/// implemented routes follow (views, filters and default types up to 3.67; 3.68
/// re-image is not implemented).
pub static VOLUME: Service = Service {
    name: "volume",
    legacy_header: None,
    min: Version::new(3, 0),
    max: Version::new(3, 67),
};

/// The routes below `/volume/v3`.
fn v3_routes() -> Router<Arc<Volumes>> {
    Router::new()
        .route("/volumes", get(volumes::list).post(volume_create::create))
        .route("/volumes/detail", get(volumes::detail))
        .route(
            "/volumes/{volume_id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route("/volumes/{volume_id}/action", post(actions::action))
        .route(
            "/volumes/{volume_id}/metadata",
            get(metadata::index::<Volume>)
                .post(metadata::merge::<Volume>)
                .put(metadata::replace::<Volume>),
        )
        .route(
            "/volumes/{volume_id}/metadata/{key}",
            get(metadata::show_key::<Volume>)
                .put(metadata::set_key::<Volume>)
                .delete(metadata::delete_key::<Volume>),
        )
        .route(
            "/snapshots/{snapshot_id}/metadata",
            get(metadata::index::<Snapshot>)
                .post(metadata::merge::<Snapshot>)
                .put(metadata::replace::<Snapshot>),
        )
        .route(
            "/snapshots/{snapshot_id}/metadata/{key}",
            get(metadata::show_key::<Snapshot>)
                .put(metadata::set_key::<Snapshot>)
                .delete(metadata::delete_key::<Snapshot>),
        )
        .route("/snapshots", get(snapshots::list).post(snapshots::create))
        .route("/snapshots/detail", get(snapshots::list))
        .route(
            "/snapshots/{snapshot_id}",
            get(snapshots::show)
                .put(snapshots::update)
                .delete(snapshots::delete),
        )
        .route("/backups", get(backups::list).post(backups::create))
        .route("/backups/detail", get(backups::list_detail))
        .route(
            "/backups/{backup_id}",
            get(backups::show)
                .put(backups::update)
                .delete(backups::delete),
        )
        .route("/backups/{backup_id}/restore", post(backups::restore))
        .route("/backups/{backup_id}/action", post(backups::action))
        .route("/types", get(vtypes::list).post(vtypes::create))
        .route(
            "/types/{type_id}",
            get(vtypes::show).put(vtypes::update).delete(vtypes::delete),
        )
        .route(
            "/types/{type_id}/extra_specs",
            get(vtypes::extra_specs).post(vtypes::set_extra_specs),
        )
        .route(
            "/types/{type_id}/extra_specs/{key}",
            axum::routing::delete(vtypes::delete_extra_spec),
        )
        .route(
            "/types/{type_id}/encryption",
            get(encryption::show).post(encryption::create),
        )
        .route(
            "/types/{type_id}/encryption/{encryption_id}",
            axum::routing::put(encryption::update).delete(encryption::delete),
        )
        .route(
            "/os-quota-sets/{quota_project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            "/os-quota-sets/{quota_project}/defaults",
            get(quotas::defaults),
        )
        .route(
            "/attachments",
            get(attachments::list).post(attachments::create),
        )
        .route("/attachments/detail", get(attachments::detail))
        .route(
            "/attachments/{attachment_id}",
            get(attachments::show)
                .put(attachments::update)
                .delete(attachments::delete),
        )
        .route(
            "/attachments/{attachment_id}/action",
            post(attachments::action),
        )
        .route("/limits", get(quotas::limits))
        .route("/scheduler-stats/get_pools", get(pools::get_pools))
        .route("/default-types", get(default_types::list))
        .route(
            "/default-types/{default_project}",
            get(default_types::show)
                .put(default_types::set)
                .delete(default_types::delete),
        )
}

/// The top-level names under `/volume/v3/`; any other first segment is a
/// project id (the classic URL form) and is taken out before routing.
const COLLECTIONS: &[&str] = &[
    "volumes",
    "snapshots",
    "backups",
    "types",
    "os-quota-sets",
    "limits",
    "scheduler-stats",
    "default-types",
    "attachments",
];

/// `/volume/v3/{project_id}/rest` → `/volume/v3/rest` (the project id is kept as a
/// [`UrlProject`] extension); other paths pass unchanged.
fn strip_project(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/volume/v3/") else {
        return req;
    };
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if first.is_empty() || COLLECTIONS.contains(&first) {
        return req;
    }
    let project = first.to_string();
    let new_path = if tail.is_empty() {
        "/volume/v3/".to_string()
    } else {
        format!("/volume/v3/{tail}")
    };
    let new_uri = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    if let Ok(uri) = new_uri.parse::<Uri>() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(UrlProject(project));
    }
    req
}

/// The project id a request named in its URL (`/volume/v3/{project_id}/...`).
#[derive(Clone, Debug)]
pub struct UrlProject(pub String);

/// A request that named a project in its URL must be scoped to that project
/// (Cinder answers 400 "Malformed request url" otherwise). Requests without a
/// valid token pass on to get the handler's 401.
async fn check_url_project(req: Request, next: Next) -> Response {
    let Some(UrlProject(project)) = req.extensions().get::<UrlProject>().cloned() else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    if let Ok(Auth(caller)) = Auth::from_request_parts(&mut parts, &()).await {
        if caller.project_id() != Some(project.as_str()) {
            return ApiError::bad_request("Malformed request url").into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Every volume route, rendering errors in Cinder's format.
pub fn router(volumes: Arc<Volumes>) -> Router {
    let api = Router::new()
        .nest("/volume/v3", v3_routes())
        .layer(from_fn(check_url_project))
        .layer(from_fn_with_state(&VOLUME, microversion::negotiate));
    let inner = Router::new()
        .route("/volume", get(discovery::root))
        .route("/volume/", get(discovery::root))
        .route("/volume/v3", get(discovery::v3))
        .route("/volume/v3/", get(discovery::v3))
        .merge(api)
        .route(
            "/volume/{*rest}",
            any(|| async { ApiError::not_found("The resource could not be found.") }),
        )
        .with_state(volumes)
        .layer(map_response(dialect::cinder));
    let service = tower::ServiceBuilder::new()
        .map_request(strip_project)
        .service(inner);
    Router::new()
        .route_service("/volume", service.clone())
        .route_service("/volume/", service.clone())
        .route_service("/volume/{*rest}", service)
}
