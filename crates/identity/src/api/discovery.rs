//! Version discovery: `GET /identity` (300, the list clients pick from) and
//! `GET /identity/v3` (the one version).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::links::PublicUrl;
use serde_json::{json, Value};

fn v3(url: &PublicUrl) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": url.join("/identity/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

pub async fn versions(url: PublicUrl) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [v3(&url)]}})),
    )
        .into_response()
}

pub async fn version(url: PublicUrl) -> Json<Value> {
    Json(json!({"version": v3(&url)}))
}
