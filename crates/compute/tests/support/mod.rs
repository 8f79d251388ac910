//! Shared by the compute integration tests: the compute router on a fresh store
//! with the standard flavors seeded, driven in-process through
//! `nimbus_api::testing` (the layers `nimbus serve` applies, tokens that stand for
//! fixed personas), on SQLite or on PostgreSQL (`NIMBUS_TEST_DATABASE_URL`).

#![allow(dead_code)]

pub mod cloud;
pub mod volumes;

use nimbus_api::testing::{Resp, TestClient};
use nimbus_compute::Compute;
use nimbus_store::testing::TestStore;
use serde_json::Value;
use std::sync::Arc;

pub const V: &str = "/compute/v2.1";
/// The shared personas and their tokens.
pub use nimbus_api::testing::personas::*;

pub struct App {
    pub store: TestStore,
    pub compute: Arc<Compute>,
    pub client: TestClient,
    /// The data directory (image files, instance directories).
    pub dir: tempfile::TempDir,
}

impl App {
    pub async fn new() -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        nimbus_compute::seed::seed_flavors(&store.store)
            .await
            .expect("seed");
        let mut tx = store.store.begin().await.expect("tx");
        // The personas' projects exist in the store (flavor access checks that).
        for id in [ADMIN_PROJECT, PROJECT_A, PROJECT_B] {
            tx.create(&nimbus_identity::types::Project {
                id: id.into(),
                name: id.into(),
                domain_id: "default".into(),
                parent_id: None,
                description: String::new(),
                enabled: true,
                tags: vec![],
                extra: Default::default(),
            })
            .await
            .expect("project");
        }
        tx.commit().await.expect("commit");
        let auth = authenticator();
        let dir = tempfile::tempdir().expect("tempdir");
        let images = nimbus_image::Images::open(
            store.store.clone(),
            nimbus_image::ImageConfig::new(dir.path()),
        )
        .await
        .expect("images");
        let networking = nimbus_network::Networking::new(store.store.clone());
        let compute = Compute::new(
            store.store.clone(),
            images,
            networking,
            dir.path().to_path_buf(),
        );
        let client = TestClient::new(nimbus_compute::api::router(compute.clone()), auth);
        App {
            store,
            compute,
            client,
            dir,
        }
    }

    /// `method /compute/v2.1{path}` at microversion `mv` (None: no header).
    pub async fn at(
        &self,
        mv: Option<&str>,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Resp {
        let header = mv.map(|v| format!("compute {v}"));
        let mut headers = vec![];
        if let Some(h) = &header {
            headers.push(("openstack-api-version", h.as_str()));
        }
        let body_text = body.map(|b| b.to_string());
        if body_text.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.client
            .raw(
                method,
                &format!("{V}{path}"),
                Some(token),
                &headers,
                body_text.unwrap_or_default(),
            )
            .await
    }

    /// Like [`App::at`], insisting on `status`; returns the JSON body.
    pub async fn expect(
        &self,
        status: u16,
        mv: Option<&str>,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Value {
        let r = self.at(mv, method, path, token, body).await;
        assert_eq!(r.code(), status, "{method} {path} at {mv:?}: {}", r.text());
        if r.code() >= 400 {
            assert_nova_error(&r);
        }
        r.json()
    }
}

/// The body is Nova's `{"<faultName>": {"code": <status>, "message": "..."}}`.
pub fn assert_nova_error(r: &Resp) {
    let v = r.json();
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", r.text()));
    assert_eq!(obj.len(), 1, "one fault: {}", r.text());
    let (name, fault) = obj.iter().next().unwrap();
    assert_eq!(
        name,
        nimbus_api::dialect::nova::fault_name(r.status),
        "{}",
        r.text()
    );
    assert_eq!(
        fault["code"].as_u64(),
        Some(u64::from(r.code())),
        "{}",
        r.text()
    );
    assert!(
        fault["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );
}
