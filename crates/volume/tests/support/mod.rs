//! Shared by the volume integration tests: the volume router inside the layers
//! `nimbus serve` uses, on a fresh store (SQLite, or PostgreSQL when
//! `NIMBUS_TEST_DATABASE_URL` is set) and a temporary data directory, with the
//! seeded volume types, called with the shared persona tokens
//! (`nimbus_api::testing::personas`: admin, alice and carol in project A, bob in
//! project B, a system reader). The storage controller is driven pass by pass
//! ([`App::settle`]) so tests see each step.

#![allow(dead_code)]

use nimbus_api::testing::{personas, Resp, TestClient};
use nimbus_image::types::{Image, Visibility};
use nimbus_image::{ImageConfig, Images};
use nimbus_store::testing::TestStore;
use nimbus_volume::Volumes;
use serde_json::{json, Value};
use std::sync::Arc;

#[allow(unused_imports)]
pub use personas::{ADMIN, ALICE, AUDITOR, BOB, CAROL, PROJECT_A, PROJECT_B};

/// Where the v3 API lives.
pub const V3: &str = "/volume/v3";

pub struct App {
    pub store: TestStore,
    pub images: Arc<Images>,
    pub volumes: Arc<Volumes>,
    pub client: TestClient,
    pub data_dir: tempfile::TempDir,
}

impl App {
    pub async fn new() -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        let data_dir = tempfile::tempdir().expect("tempdir");
        let images = Images::open(store.store.clone(), ImageConfig::new(data_dir.path()))
            .await
            .expect("image service");
        nimbus_volume::bootstrap::seed_types(&store.store)
            .await
            .expect("seed types");
        let volumes = Volumes::open(store.store.clone(), images.clone(), data_dir.path())
            .await
            .expect("volume service");
        let client = TestClient::new(
            nimbus_volume::api::router(volumes.clone()),
            personas::authenticator(),
        );
        App {
            store,
            images,
            volumes,
            client,
            data_dir,
        }
    }

    /// A JSON request (relative to `/volume/v3` unless it starts with `/volume`),
    /// at the highest microversion.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_mv(token, method, path, body, "latest").await
    }

    /// A JSON request at microversion `mv`.
    pub async fn call_mv(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        mv: &str,
    ) -> Resp {
        let url = if path.starts_with("/volume/") || path == "/volume" {
            path.to_string()
        } else {
            format!("{V3}{path}")
        };
        let version = format!("volume {mv}");
        let mut headers = vec![("openstack-api-version", version.as_str())];
        let text;
        if let Some(b) = &body {
            headers.push(("content-type", "application/json"));
            text = b.to_string();
        } else {
            text = String::new();
        }
        self.client
            .raw(method, &url, Some(token), &headers, text)
            .await
    }

    /// Runs controller passes until nothing is in a transitional status (at most 20).
    pub async fn settle(&self) {
        for _ in 0..20 {
            nimbus_volume::controller::pass(&self.volumes)
                .await
                .expect("controller pass");
            let busy = self
                .store
                .store
                .list::<nimbus_volume::types::Volume>(None)
                .await
                .unwrap()
                .iter()
                .any(|v| {
                    matches!(
                        v.value.status.as_str(),
                        "creating" | "deleting" | "extending"
                    )
                })
                || self
                    .store
                    .store
                    .list::<nimbus_volume::types::Snapshot>(None)
                    .await
                    .unwrap()
                    .iter()
                    .any(|s| matches!(s.value.status.as_str(), "creating" | "deleting"));
            if !busy {
                return;
            }
        }
        panic!("the controller did not settle");
    }

    /// Creates a volume as `token` (202 expected) and returns its id.
    pub async fn create_volume(&self, token: &str, body: Value) -> String {
        let r = self
            .call(token, "POST", "/volumes", Some(json!({"volume": body})))
            .await;
        assert_eq!(r.code(), 202, "{}", r.text());
        assert_eq!(r.json()["volume"]["status"], "creating");
        r.json()["volume"]["id"].as_str().expect("id").to_string()
    }

    /// A volume's full view as the admin sees it.
    pub async fn volume(&self, id: &str) -> Value {
        let r = self
            .call(ADMIN, "GET", &format!("/volumes/{id}"), None)
            .await;
        assert_eq!(r.code(), 200, "{}", r.text());
        r.json()["volume"].clone()
    }

    /// Registers an active qcow2 image of `project` (virtual size `gib` GiB).
    pub async fn image(&self, project: &str, gib: u64, public: bool) -> String {
        let src = self
            .data_dir
            .path()
            .join(format!("src-{}.qcow2", uuid::Uuid::new_v4()));
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&src)
            .arg(format!("{gib}G"))
            .status()
            .expect("qemu-img");
        assert!(out.success());
        let mut image = Image::new(uuid::Uuid::new_v4().to_string(), Some(project.into()));
        image.name = Some("test-image".into());
        image.disk_format = Some("qcow2".into());
        image.container_format = Some("bare".into());
        image.visibility = if public {
            Visibility::Public
        } else {
            Visibility::Private
        };
        image.properties.insert("os_distro".into(), "nimbus".into());
        let image = self
            .images
            .register_file(image, &src)
            .await
            .expect("register");
        std::fs::remove_file(&src).ok();
        image.id
    }

    /// `qemu-img info` of a volume's top layer.
    pub async fn top_info(&self, id: &str) -> Value {
        let v = self
            .store
            .store
            .get::<nimbus_volume::types::Volume>(id)
            .await
            .unwrap()
            .expect("volume")
            .value;
        let top = v.top.expect("top layer");
        nimbus_volume::storage::info(&self.volumes.layout.layer(&top))
            .await
            .expect("qemu-img info")
    }

    /// The qcow2 layer files present in the volumes directory.
    pub fn layer_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.volumes.layout.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".qcow2"))
            .collect();
        names.sort();
        names
    }
}
