//! What server tests need around the compute API: images and networks written
//! straight into the store, a hypervisor, the real scheduler, and a **fake agent**
//! (a test double, never shipped) that plays the node agent of one host: it flips
//! servers bound to it to ACTIVE/SHUTOFF, acknowledges reboots, and calls
//! `finish_delete` for servers being deleted.

use super::App;
use chrono::Utc;
use nimbus_compute::lifecycle::finish_delete;
use nimbus_compute::server::{Hypervisor, PowerIntent, PowerState, Server, TaskState, VmState};
use nimbus_image::types::{Image, Status, Visibility};
use nimbus_network::types::{AllocationPool, Network, Subnet};
use nimbus_network::Networking;
use nimbus_store::{Change, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Aborts the spawned loops when a test ends (also when it fails).
pub struct Running(Vec<JoinHandle<()>>);

impl Running {
    pub fn new(handles: Vec<JoinHandle<()>>) -> Running {
        Running(handles)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

impl App {
    /// An active public image (no data file is needed: nothing boots here).
    pub async fn image(&self, owner: &str, visibility: Visibility) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut image = Image::new(id.clone(), Some(owner.to_string()));
        image.name = Some("cirros".into());
        image.status = Status::Active;
        image.visibility = visibility;
        image.disk_format = Some("qcow2".into());
        image.container_format = Some("bare".into());
        image.size = Some(20 << 20);
        image.virtual_size = Some(1 << 30);
        image
            .properties
            .insert("hw_disk_bus".into(), "virtio".into());
        let mut tx = self.store.store.begin().await.unwrap();
        tx.create(&image).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// A network of `project` named `name` with one IPv4 subnet `10.<n>.0.0/24`.
    pub async fn network(&self, project: &str, name: &str, n: u8) -> String {
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().to_string();
        let net = Network {
            id: id.clone(),
            project_id: project.into(),
            name: name.into(),
            description: String::new(),
            admin_state_up: true,
            shared: false,
            external: false,
            mtu: 1450,
            port_security_enabled: true,
            tags: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let subnet = Subnet {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.into(),
            network_id: id.clone(),
            name: format!("{name}-subnet"),
            description: String::new(),
            ip_version: 4,
            cidr: format!("10.{n}.0.0/24"),
            gateway_ip: Some(format!("10.{n}.0.1")),
            allocation_pools: vec![AllocationPool {
                start: format!("10.{n}.0.2"),
                end: format!("10.{n}.0.254"),
            }],
            enable_dhcp: true,
            dns_nameservers: vec![],
            host_routes: vec![],
            tags: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.store.begin().await.unwrap();
        tx.create(&net).await.unwrap();
        tx.create(&subnet).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// Registers hypervisor `host` (up, heartbeating now).
    pub async fn hypervisor(&self, host: &str, vcpus: u64, memory_mb: u64) {
        let now = Utc::now();
        let h = Hypervisor {
            id: host.into(),
            serial: 1,
            vcpus,
            memory_mb,
            local_gb: 200,
            cpu_allocation_ratio: 1.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            accelerator: "tcg".into(),
            state: "up".into(),
            heartbeat_at: now,
            started_at: now,
        };
        let mut tx = self.store.store.begin().await.unwrap();
        tx.create(&h).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// Starts the real scheduler and a fake agent for `host`.
    pub fn run_cloud(&self, host: &str) -> Running {
        let store = self.store.store.clone();
        let scheduler = tokio::spawn(nimbus_compute::scheduler::run(store.clone()));
        let agent = tokio::spawn(fake_agent(
            store,
            self.compute.networking.clone(),
            host.to_string(),
        ));
        Running(vec![scheduler, agent])
    }

    /// Polls `GET /servers/{id}` (as `token`) until `status`; panics after 10 s.
    pub async fn wait_status(&self, token: &str, id: &str, status: &str) -> Value {
        for _ in 0..500 {
            let r = self
                .at(Some("2.79"), "GET", &format!("/servers/{id}"), token, None)
                .await;
            if r.code() == 200 && r.json()["server"]["status"] == status {
                return r.json()["server"].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = self
            .at(Some("2.79"), "GET", &format!("/servers/{id}"), token, None)
            .await;
        panic!("server {id} never reached {status}: {}", r.text());
    }

    /// Polls until `GET /servers/{id}` answers 404.
    pub async fn wait_gone(&self, token: &str, id: &str) {
        for _ in 0..500 {
            let r = self
                .at(None, "GET", &format!("/servers/{id}"), token, None)
                .await;
            if r.code() == 404 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server {id} was never deleted");
    }

    /// Number of server objects in the store.
    pub async fn server_count(&self) -> usize {
        self.store.store.list::<Server>(None).await.unwrap().len()
    }
}

/// The minimal create body OSC sends (with a BDM for the image).
pub fn create_body(name: &str, image: &str, net: &str) -> Value {
    json!({"server": {
        "name": name, "imageRef": image, "flavorRef": "SCS-1V-4", "min_count": 1, "max_count": 1,
        "networks": [{"uuid": net}],
        "block_device_mapping_v2": [{"uuid": image, "boot_index": 0, "source_type": "image",
            "destination_type": "local", "delete_on_termination": true}],
    }})
}

/// The fake agent: one pass every 10 ms over the servers bound to `host`.
async fn fake_agent(store: Store, networking: Arc<Networking>, host: String) {
    loop {
        let servers = store.list::<Server>(None).await.unwrap_or_default();
        for s in servers.into_iter().map(|v| v.value) {
            if s.host.as_deref() != Some(host.as_str()) {
                continue;
            }
            if s.deleting {
                let _ = finish_delete(&store, &networking, &s.id).await;
                continue;
            }
            let _ = store
                .modify::<Server, (), _>(&s.id, |s| Ok(realise(s)))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a real agent observes after doing what the server asks.
fn realise(s: &mut Server) -> Change<()> {
    let before = s.clone();
    if s.vm_state == VmState::Building {
        s.launched_at = Some(Utc::now());
    }
    if s.reboot.seq > s.observed_reboot {
        s.observed_reboot = s.reboot.seq;
    }
    if s.vm_state != VmState::Error || s.desired_power == PowerIntent::Stopped {
        match s.desired_power {
            PowerIntent::Running => {
                s.vm_state = VmState::Active;
                s.power_state = PowerState::Running;
            }
            PowerIntent::Stopped => {
                s.vm_state = VmState::Stopped;
                s.power_state = PowerState::Shutdown;
            }
        }
    }
    if s.task_state != Some(TaskState::ImageSnapshot) || s.snapshots.is_empty() {
        s.task_state = None;
    }
    if *s == before {
        Change::Keep(())
    } else {
        s.updated_at = Utc::now();
        Change::Write(())
    }
}
