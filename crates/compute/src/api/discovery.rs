//! Version discovery: `GET /compute` (the versions list) and `GET /compute/v2.1`
//! (the one version, with `version`/`min_version`: what clients cap their
//! microversions by). Neither needs a token.

use crate::{MAX_MICROVERSION, MIN_MICROVERSION};
use axum::Json;
use nimbus_api::links::PublicUrl;
use serde_json::{json, Value};

fn v21(url: &PublicUrl) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_MICROVERSION.to_string(),
        "min_version": MIN_MICROVERSION.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": url.join("/compute/v2.1/")}],
    })
}

/// `GET /compute`: 200 with every version (Nova answers its root with 200).
pub async fn versions(url: PublicUrl) -> Json<Value> {
    Json(json!({"versions": [v21(&url)]}))
}

/// `GET /compute/v2.1`
pub async fn version(url: PublicUrl) -> Json<Value> {
    let mut v = v21(&url);
    v["links"] = json!([
        {"rel": "self", "href": url.join("/compute/v2.1/")},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]);
    v["media-types"] = json!([{
        "base": "application/json",
        "type": "application/vnd.openstack.compute+json;version=2.1",
    }]);
    Json(json!({ "version": v }))
}
