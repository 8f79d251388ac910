//! Version discovery: `GET /volume/` (300, the list of versions) and
//! `GET /volume/v3/` (200, the same list), with the microversion range.

use super::common::PREFIX;
use super::VOLUME;
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::links::PublicUrl;
use serde_json::{json, Value};

fn versions(url: &PublicUrl) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": VOLUME.max.to_string(),
        "min_version": VOLUME.min.to_string(),
        "updated": "2016-02-08T12:20:21Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": url.join(&format!("{PREFIX}/"))},
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3",
        }],
    }]})
}

/// `GET /volume` and `/volume/`: 300 Multiple Choices, as Cinder's root.
pub async fn root(url: PublicUrl) -> (StatusCode, Json<Value>) {
    (StatusCode::MULTIPLE_CHOICES, Json(versions(&url)))
}

/// `GET /volume/v3` and `/volume/v3/`.
pub async fn v3(url: PublicUrl) -> Json<Value> {
    Json(versions(&url))
}
