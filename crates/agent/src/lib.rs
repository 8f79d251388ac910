//! The node agent (ADR 0004, ADR 0006): owns one host. It registers the host as a
//! `Hypervisor`, watches the servers bound to it (and their ports, networks and
//! subnets), makes the host match them (QEMU guests, disks, config drives, the
//! dataplane), and writes what it observes back into the store.
//!
//! Entry points:
//! - [`run`]`(config, store, images)`: the agent, until its task is dropped.
//!   Stopping it leaves guests and dnsmasq running; the next start adopts them.
//! - [`teardown_all`]`(data_dir)`: stops every guest and dnsmasq of a data dir and
//!   deletes its namespaces (tests, `nimbus teardown`).
//! - [`dataplane_netns`] / [`dhcp_netns`]: namespace names (`nimbus ssh` runs ssh
//!   inside the DHCP namespace of the server's network, where guests are reachable).
//!
//! Modules: [`host`] (accelerator probe, `Hypervisor`), [`reconcile`] (the watch
//! loop, one [`worker`] per server), [`qemu`] + [`qmp`] (guests), [`disks`],
//! [`configdrive`], [`dataplane`] (netns, bridges, taps, DHCP, routers, security
//! groups), [`metadata`] (the metadata service at 169.254.169.254 in each DHCP
//! namespace), [`volumes`] (volumes in guests: ADR 0010), [`actions`]
//! (instance action events). The last step of a delete is the compute crate's
//! `lifecycle::finish_delete`.

pub mod actions;
pub mod cmd;
pub mod configdrive;
pub mod dataplane;
pub mod disks;
pub mod host;
pub mod metadata;
pub mod proc;
pub mod qemu;
pub mod qmp;
pub mod reconcile;
pub mod tasks;
pub mod volumes;
pub mod worker;

pub use dataplane::{dataplane_netns, dhcp_netns};
pub use reconcile::run;

use nimbus_image::Images;
use nimbus_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the agent runs on this host.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// This host's name: `server.host` of the servers it runs, the `Hypervisor` id.
    pub host: String,
    /// `DATA_DIR`: instances, image cache, DHCP files live under it; the
    /// namespaces' tag is derived from its canonical path.
    pub data_dir: PathBuf,
    /// Overcommit ratios reported on the `Hypervisor` (the scheduler applies them).
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// MiB kept back for the host itself.
    pub reserved_ram_mb: u64,
    /// The QEMU binary (`qemu-system-x86_64`, looked up in PATH).
    pub qemu: String,
    /// A kernel for the KVM probe boot (the guest image's `vmlinux`); without it
    /// the probe runs SeaBIOS only.
    pub probe_kernel: Option<PathBuf>,
    /// A host interface attached to an external network (real deployments).
    pub uplink: Option<dataplane::uplink::Uplink>,
}

impl AgentConfig {
    /// Defaults: ratios 4.0 / 1.0 / 1.0, 512 MiB reserved, `qemu-system-x86_64`.
    pub fn new(host: impl Into<String>, data_dir: impl Into<PathBuf>) -> AgentConfig {
        AgentConfig {
            host: host.into(),
            data_dir: data_dir.into(),
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_ram_mb: 512,
            qemu: "qemu-system-x86_64".into(),
            probe_kernel: None,
            uplink: None,
        }
    }

    /// The dataplane tag (8 hex of the data dir's path hash) in every namespace name.
    pub fn dataplane_tag(&self) -> String {
        dataplane::names::tag(&self.data_dir)
    }
}

/// What the agent's tasks share.
pub struct Ctx {
    pub config: AgentConfig,
    pub store: Store,
    pub images: Arc<Images>,
    pub dataplane: Arc<dataplane::Dataplane>,
    /// Releases a deleted server's ports (`lifecycle::finish_delete`).
    pub networking: Arc<nimbus_network::Networking>,
    /// `kvm` or `tcg`.
    pub accel: String,
}

/// Stops every guest of `data_dir` (by pidfile), every dnsmasq, and deletes the
/// namespaces. Instance files stay. Safe to call when nothing runs.
pub async fn teardown_all(data_dir: &Path) {
    if let Ok(dir) = std::fs::read_dir(data_dir.join("instances")) {
        for e in dir.filter_map(|e| e.ok()) {
            if let Ok(id) = e.file_name().into_string() {
                qemu::kill(&e.path(), &id).await;
            }
        }
    }
    dataplane::teardown(data_dir).await;
}
