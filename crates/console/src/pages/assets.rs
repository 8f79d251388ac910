//! The console's stylesheet and script, compiled into the binary (no CDN, no
//! external fonts), served with a cache lifetime.

use crate::Console;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route(
            "/assets/console.css",
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            "/assets/console.js",
            get(|| async { asset("text/javascript", JS) }),
        )
}

fn asset(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, kind),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
