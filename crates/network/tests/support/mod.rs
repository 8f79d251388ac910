//! Shared by the network integration tests: the network router on a fresh store,
//! driven in-process through `nimbus_api::testing` (the layers `nimbus serve`
//! applies, tokens that stand for fixed personas), on SQLite or on PostgreSQL
//! (`NIMBUS_TEST_DATABASE_URL`).

#![allow(dead_code)]

use nimbus_api::testing::{Resp, TestClient};
use nimbus_network::Networking;
use nimbus_store::testing::TestStore;
use serde_json::{json, Value};
use std::sync::Arc;

pub const V: &str = "/network/v2.0";
/// The shared personas and their tokens.
pub use nimbus_api::testing::personas::*;

pub struct App {
    pub store: TestStore,
    pub net: Arc<Networking>,
    pub client: TestClient,
}

impl App {
    pub async fn new() -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        let auth = authenticator();
        let net = Networking::new(store.store.clone());
        let client = TestClient::new(nimbus_network::api::router(net.clone()), auth);
        App { store, net, client }
    }

    /// `method /network/v2.0{path}` (paths starting with `/network` are taken as is).
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let full = if path == "/network" || path.starts_with("/network/") {
            path.to_string()
        } else {
            format!("{V}{path}")
        };
        self.client.call(method, &full, Some(token), body).await
    }

    /// Like [`App::call`], insisting on `status`; returns the JSON body.
    pub async fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Value {
        let r = self.call(method, path, token, body).await;
        assert_eq!(r.code(), status, "{method} {path}: {}", r.text());
        if r.code() >= 400 {
            assert_neutron_error(&r);
        }
        r.json()
    }

    /// The Neutron error type of a failed call.
    pub async fn error_type(
        &self,
        status: u16,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> String {
        let v = self.expect(status, method, path, token, body).await;
        v["NeutronError"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn network(&self, token: &str, name: &str) -> Value {
        self.expect(
            201,
            "POST",
            "/networks",
            token,
            Some(&json!({"network": {"name": name}})),
        )
        .await["network"]
            .clone()
    }

    pub async fn subnet(&self, token: &str, network_id: &str, cidr: &str) -> Value {
        let body = json!({"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": 4, "name": "s"}});
        self.expect(201, "POST", "/subnets", token, Some(&body))
            .await["subnet"]
            .clone()
    }

    pub async fn port(&self, token: &str, network_id: &str) -> Value {
        let body = json!({"port": {"network_id": network_id}});
        self.expect(201, "POST", "/ports", token, Some(&body)).await["port"].clone()
    }

    /// The ids of a list answer.
    pub async fn ids(&self, path: &str, token: &str, collection: &str) -> Vec<String> {
        let v = self.expect(200, "GET", path, token, None).await;
        v[collection]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {v}"))
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The body is Neutron's `{"NeutronError": {"type", "message", "detail"}}`.
pub fn assert_neutron_error(r: &Resp) {
    let v = r.json();
    let e = &v["NeutronError"];
    assert!(
        e["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{}",
        r.text()
    );
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );
    assert!(e["detail"].is_string(), "{}", r.text());
    assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{}", r.text());
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
