//! Shared by the image integration tests: the image router inside the layers
//! `nimbus serve` uses, on a fresh store (SQLite, or PostgreSQL when
//! `NIMBUS_TEST_DATABASE_URL` is set) and a temporary data directory, called with
//! tokens that stand for fixed personas (`nimbus_api::testing`).
//!
//! Personas: `admin` (cloud admin), `alice` (member of project `pa`), `rita`
//! (reader of `pa`), `bob` (member of `pb`), `carol` (member of `pc`).

#![allow(dead_code)]

use nimbus_api::testing::{cloud_admin, project_user, Resp, StaticAuthenticator, TestClient};
use nimbus_image::{ImageConfig, Images};
use nimbus_store::testing::TestStore;
use serde_json::{json, Value};
use std::sync::Arc;

/// Every image route starts with this.
pub const V2: &str = "/image/v2";
/// The JSON-patch media type.
pub const PATCH: &str = "application/openstack-images-v2.1-json-patch";

pub struct App {
    pub store: TestStore,
    pub images: Arc<Images>,
    pub client: TestClient,
    pub data_dir: tempfile::TempDir,
}

impl App {
    /// A fresh service with the default quota.
    pub async fn new() -> App {
        Self::with_quota(nimbus_image::DEFAULT_QUOTA_BYTES).await
    }

    /// A fresh service whose projects may store `quota` bytes each.
    pub async fn with_quota(quota: u64) -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut config = ImageConfig::new(data_dir.path());
        config.quota_bytes = quota;
        let images = Images::open(store.store.clone(), config)
            .await
            .expect("image service");
        let client = client(images.clone());
        App {
            store,
            images,
            client,
            data_dir,
        }
    }

    /// Sends a JSON request (relative to `/image/v2` unless it starts with `/image`).
    pub async fn call(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.client
            .call(method, &url(path), token(who), body.as_ref())
            .await
    }

    /// Sends raw bytes with headers.
    pub async fn raw(
        &self,
        who: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<axum::body::Body>,
    ) -> Resp {
        self.client
            .raw(method, &url(path), token(who), headers, body)
            .await
    }

    /// A JSON-patch request.
    pub async fn patch(&self, who: &str, id: &str, ops: Value) -> Resp {
        let ct = [("content-type", PATCH)];
        self.raw(who, "PATCH", &format!("/images/{id}"), &ct, ops.to_string())
            .await
    }

    /// Creates an image (201 required) and returns it.
    pub async fn create(&self, who: &str, body: Value) -> Value {
        let r = self.call(who, "POST", "/images", Some(body)).await;
        assert_eq!(r.code(), 201, "create: {}", r.text());
        r.json()
    }

    /// Creates a bare raw image and returns its id.
    pub async fn create_raw(&self, who: &str, name: &str, extra: Value) -> String {
        let mut body = json!({"name": name, "disk_format": "raw", "container_format": "bare"});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        self.create(who, body).await["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Uploads data (octet-stream).
    pub async fn upload(&self, who: &str, id: &str, data: Vec<u8>) -> Resp {
        let ct = [("content-type", "application/octet-stream")];
        self.raw(who, "PUT", &format!("/images/{id}/file"), &ct, data)
            .await
    }

    pub async fn show(&self, who: &str, id: &str) -> Resp {
        self.call(who, "GET", &format!("/images/{id}"), None).await
    }

    /// The ids a list answers, in order.
    pub async fn list_ids(&self, who: &str, query: &str) -> Vec<String> {
        let r = self
            .call(who, "GET", &format!("/images{query}"), None)
            .await;
        assert_eq!(r.code(), 200, "list {query}: {}", r.text());
        ids(&r.json()["images"])
    }
}

/// The router of `images` with the test personas.
pub fn client(images: Arc<Images>) -> TestClient {
    let mut auth = StaticAuthenticator::default();
    auth.add("admin", cloud_admin("admin-project"));
    auth.add("alice", project_user("alice", "pa", &["member", "reader"]));
    auth.add("rita", project_user("rita", "pa", &["reader"]));
    auth.add("bob", project_user("bob", "pb", &["member", "reader"]));
    auth.add("carol", project_user("carol", "pc", &["member", "reader"]));
    TestClient::new(nimbus_image::api::router(images), auth)
}

fn token(who: &str) -> Option<&str> {
    (who != "anon").then_some(who)
}

fn url(path: &str) -> String {
    if path == "/image" || path.starts_with("/image/") {
        path.to_string()
    } else {
        format!("{V2}{path}")
    }
}

/// The `id`s of a JSON list of objects.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

/// What is wrong with a Glance error answer, if anything: an HTML page naming the
/// status, served as text/html.
pub fn glance_error_problem(r: &Resp) -> Option<String> {
    let ct = r.header("content-type").unwrap_or_default();
    if !ct.starts_with("text/html") {
        return Some(format!("error content-type is {ct:?}"));
    }
    let title = format!(
        "<title>{} {}</title>",
        r.code(),
        r.status.canonical_reason().unwrap_or("")
    );
    let text = String::from_utf8_lossy(&r.body);
    if !text.starts_with("<html>") || !text.contains(&title) {
        return Some(format!("not a Glance error page: {text:?}"));
    }
    None
}
