//! The Glance v2 routes under `/image`. Each resource has its own file with the
//! same shape: handlers that authenticate (`Auth`), load the image and authorize
//! against the policy table (through [`crate::access`]), validate, write in one
//! transaction with an audit record, answer. Errors are Glance's HTML pages.

pub mod attrs;
pub mod common;
pub mod discovery;
pub mod file;
pub mod filters;
pub mod images;
pub mod list;
pub mod members;
pub mod patch;
pub mod tags;
pub mod views;

use crate::Images;
use axum::extract::DefaultBodyLimit;
use axum::middleware::map_response;
use axum::routing::{any, get, post, put};
use axum::Router;
use nimbus_api::dialect;
use nimbus_api::ApiError;
use std::sync::Arc;

/// Every image route, rendering errors in Glance's format.
pub fn router(images: Arc<Images>) -> Router {
    const V2: &str = "/image/v2";
    let r = |path: &str| format!("{V2}{path}");
    Router::new()
        .route("/image", get(discovery::versions))
        .route("/image/", get(discovery::versions))
        .route("/image/versions", get(discovery::versions))
        .route(V2, get(discovery::versions))
        .route(&r("/"), get(discovery::versions))
        .route(&r("/images"), get(list::list).post(images::create))
        .route(
            &r("/images/{image_id}"),
            get(images::show)
                .patch(patch::update)
                .delete(images::delete),
        )
        .route(
            &r("/images/{image_id}/file"),
            put(file::upload)
                .get(file::download)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            &r("/images/{image_id}/tags/{tag}"),
            put(tags::add).delete(tags::remove),
        )
        .route(
            &r("/images/{image_id}/actions/deactivate"),
            post(images::deactivate),
        )
        .route(
            &r("/images/{image_id}/actions/reactivate"),
            post(images::reactivate),
        )
        .route(
            &r("/images/{image_id}/members"),
            get(members::list).post(members::create),
        )
        .route(
            &r("/images/{image_id}/members/{member_id}"),
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route(&r("/schemas/image"), get(discovery::image_schema))
        .route(&r("/schemas/images"), get(discovery::images_schema))
        .route(&r("/schemas/member"), get(discovery::member_schema))
        .route(&r("/schemas/members"), get(discovery::members_schema))
        .route(
            "/image/{*rest}",
            any(|| async { ApiError::not_found("The resource could not be found.") }),
        )
        .with_state(images)
        .layer(map_response(dialect::glance))
}
