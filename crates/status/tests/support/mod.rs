//! Shared by the status page integration tests: the status router inside the
//! layers `nimbus serve` uses, on a fresh store (SQLite, or PostgreSQL when
//! `NIMBUS_TEST_DATABASE_URL` is set) with the bootstrap defaults, called
//! anonymously or with the shared persona tokens (`nimbus_api::testing::personas`).

#![allow(dead_code)]

use nimbus_api::testing::{personas, Resp, TestClient};
use nimbus_status::StatusPage;
use nimbus_store::testing::TestStore;
use serde_json::Value;
use std::sync::Arc;

#[allow(unused_imports)]
pub use personas::{ADMIN, ALICE, AUDITOR, BOB, CAROL};

/// Where the API lives.
pub const API: &str = "/status-api";

pub struct App {
    pub store: TestStore,
    pub status: Arc<StatusPage>,
    pub client: TestClient,
}

impl App {
    pub async fn new() -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        let status = StatusPage::open(store.store.clone())
            .await
            .expect("status page");
        let client = TestClient::new(
            nimbus_status::api::router(status.clone()),
            personas::authenticator(),
        );
        App {
            store,
            status,
            client,
        }
    }

    /// A request below `/status-api` (unless `path` starts with `/`+something else
    /// than a resource name, i.e. already carries the prefix).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let url = if path.starts_with(API) {
            path.to_string()
        } else {
            format!("{API}{path}")
        };
        self.client.call(method, &url, token, body.as_ref()).await
    }

    /// An anonymous GET answering 200; its `data`.
    pub async fn get(&self, path: &str) -> Value {
        let r = self.call(None, "GET", path, None).await;
        assert_eq!(r.code(), 200, "GET {path}: {}", r.text());
        r.json()["data"].clone()
    }

    /// An admin POST answering 201; its body.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let r = self.call(Some(ADMIN), "POST", path, Some(body)).await;
        assert_eq!(r.code(), 201, "POST {path}: {}", r.text());
        r.json()
    }

    /// The store's revision: unchanged after a refused request.
    pub fn revision(&self) -> i64 {
        self.store.store.revision()
    }

    /// The id of the seeded component named `name`.
    pub async fn component_id(&self, name: &str) -> String {
        let all = self.get("/components").await;
        all.as_array()
            .unwrap()
            .iter()
            .find(|c| c["displayName"] == name)
            .unwrap_or_else(|| panic!("no component {name}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The id of the first impact type.
    pub async fn impact_type_id(&self) -> String {
        self.get("/impacttypes").await[0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}
