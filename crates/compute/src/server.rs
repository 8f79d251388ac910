//! What is stored for servers: the [`Server`] itself, [`ServerGroup`]s,
//! [`Hypervisor`]s (hosts that agents registered) and [`InstanceAction`]s.
//!
//! A server is written by three parties (ADR 0004), each owning its fields:
//! - the **API** writes what the user asked for (the spec fields, `desired_power`,
//!   `reboot`, `deleting`, `snapshots`) and the `task_state` an action starts;
//! - the **scheduler** writes `host` (or `vm_state: error` with a "No valid host"
//!   fault);
//! - the **agent** of `host` writes what it observes: `vm_state`, `power_state`,
//!   `task_state` back to `None` when an action is done, `fault`, `launched_at`,
//!   `observed_reboot`, and finally deletes the server (with its ports) once its
//!   guest and files are gone.
//!
//! Everybody writes with [`nimbus_store::Store::modify`] (read, change, write with
//! the expected revision, retry on a concurrent change), so no write is lost.

use crate::types::Flavor;
use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Nova's `vm_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmState {
    Building,
    Active,
    Stopped,
    Error,
    Deleted,
}

/// Nova's `task_state` (only the ones this cloud goes through).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Scheduling,
    Spawning,
    PoweringOff,
    PoweringOn,
    Rebooting,
    RebootingHard,
    ImageSnapshot,
    Deleting,
}

/// Nova's `power_state` numbers (`OS-EXT-STS:power_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
}

/// What the user wants the guest to be doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerIntent {
    Running,
    Stopped,
}

/// A reboot request: the API bumps `seq`; the agent reboots while its
/// `observed_reboot` is below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRequest {
    pub seq: u64,
    pub hard: bool,
}

/// `fault` of a server in ERROR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub code: u16,
    pub message: String,
    #[serde(default)]
    pub details: String,
    pub created: DateTime<Utc>,
}

/// A `createImage` in progress: the agent writes the guest's disk into the
/// (queued) Glance image `image_id`, then removes the request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    pub image_id: String,
}

/// A server (an instance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Server {
    // ---- spec: written by the API ----
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The guest's hostname (from the name, made DNS-safe).
    pub hostname: String,
    /// The flavor as it was at create time (Nova embeds this copy).
    pub flavor: Flavor,
    /// The Glance image booted from ("" when booted from a volume).
    pub image_id: String,
    #[serde(default)]
    pub key_name: Option<String>,
    /// The public key of `key_name`, copied at create time.
    #[serde(default)]
    pub key_data: Option<String>,
    /// Base64, as the user gave it.
    #[serde(default)]
    pub user_data: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub config_drive: bool,
    /// Security group ids, as resolved at create time.
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub server_group: Option<String>,
    /// The server's ports, in NIC order (Neutron port ids, `device_id` = this id).
    #[serde(default)]
    pub port_ids: Vec<String>,
    /// The ports of `port_ids` the user passed in (`networks: [{port}]`): deleting
    /// the server only unbinds them; the others Nova created and deletes.
    #[serde(default)]
    pub user_ports: Vec<String>,
    /// `OS-DCF:diskConfig` as asked (`AUTO` or `MANUAL`).
    #[serde(default = "manual")]
    pub disk_config: String,
    #[serde(default = "default_zone")]
    pub availability_zone: String,
    #[serde(default)]
    pub locked: bool,
    /// Why it was locked (2.73).
    #[serde(default)]
    pub locked_reason: Option<String>,
    #[serde(default)]
    pub access_ipv4: String,
    #[serde(default)]
    pub access_ipv6: String,
    /// Index in a multi-create (`min_count`/`max_count`), from 1.
    #[serde(default)]
    pub launch_index: u32,
    #[serde(default)]
    pub reservation_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,

    // ---- intent: written by the API ----
    pub desired_power: PowerIntent,
    #[serde(default)]
    pub reboot: RebootRequest,
    /// Delete requested: the agent tears the guest down and removes the object.
    #[serde(default)]
    pub deleting: bool,
    #[serde(default)]
    pub snapshots: Vec<SnapshotRequest>,

    /// The host an admin asked for (2.74 `host`/`hypervisor_hostname`): the
    /// scheduler considers only it.
    #[serde(default)]
    pub requested_host: Option<String>,

    // ---- placement: written by the scheduler ----
    #[serde(default)]
    pub host: Option<String>,

    // ---- status: the agent of `host` (and the API/scheduler as said above) ----
    pub vm_state: VmState,
    #[serde(default)]
    pub task_state: Option<TaskState>,
    pub power_state: PowerState,
    #[serde(default)]
    pub fault: Option<Fault>,
    #[serde(default)]
    pub observed_reboot: u64,
    #[serde(default)]
    pub launched_at: Option<DateTime<Utc>>,
    /// Which accelerator the guest runs under (`kvm` or `tcg`), for the admin view.
    #[serde(default)]
    pub accelerator: Option<String>,
}

fn default_zone() -> String {
    "nova".to_string()
}

fn manual() -> String {
    "MANUAL".to_string()
}

impl Resource for Server {
    const KIND: &'static str = "server";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// A new server as the API creates it (building, to be scheduled, meant to run):
/// the create handler fills in the request over it, and code that builds one by
/// hand (tests) writes `Server { id, name, .., ..Default::default() }`, which
/// keeps compiling when fields are added.
impl Default for Server {
    fn default() -> Self {
        let now = chrono::Utc::now();
        Server {
            id: String::new(),
            name: String::new(),
            project_id: String::new(),
            user_id: String::new(),
            description: None,
            hostname: String::new(),
            flavor: Flavor::default(),
            image_id: String::new(),
            key_name: None,
            key_data: None,
            user_data: None,
            metadata: BTreeMap::new(),
            tags: BTreeSet::new(),
            config_drive: false,
            security_groups: Vec::new(),
            server_group: None,
            port_ids: Vec::new(),
            user_ports: Vec::new(),
            disk_config: manual(),
            availability_zone: default_zone(),
            locked: false,
            locked_reason: None,
            access_ipv4: String::new(),
            access_ipv6: String::new(),
            launch_index: 1,
            reservation_id: String::new(),
            created_at: now,
            updated_at: now,
            desired_power: PowerIntent::Running,
            reboot: RebootRequest::default(),
            deleting: false,
            snapshots: Vec::new(),
            requested_host: None,
            host: None,
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: PowerState::NoState,
            fault: None,
            observed_reboot: 0,
            launched_at: None,
            accelerator: None,
        }
    }
}

impl Server {
    /// Nova's user-visible `status`, from `vm_state` and `task_state`.
    pub fn status(&self) -> &'static str {
        match (self.vm_state, self.task_state) {
            (VmState::Deleted, _) => "DELETED",
            (VmState::Error, _) => "ERROR",
            (VmState::Building, _) => "BUILD",
            (_, Some(TaskState::Rebooting)) => "REBOOT",
            (_, Some(TaskState::RebootingHard)) => "HARD_REBOOT",
            (VmState::Active, _) => "ACTIVE",
            (VmState::Stopped, _) => "SHUTOFF",
        }
    }
}

/// Where a server's files live on its host: `DATA_DIR/instances/{id}/` holding
/// `disk.qcow2` (overlay), `disk.config` (config drive), `console.log` (serial),
/// `qmp.sock`, `qemu.pid`.
pub fn instance_dir(data_dir: &Path, server_id: &str) -> PathBuf {
    data_dir.join("instances").join(server_id)
}

/// The serial console log the console-output API reads.
pub fn console_log(data_dir: &Path, server_id: &str) -> PathBuf {
    instance_dir(data_dir, server_id).join("console.log")
}

/// A server group and its placement policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// `max_server_per_host` for anti-affinity (2.64 rules).
    #[serde(default)]
    pub rules: BTreeMap<String, u32>,
    /// Member server ids.
    #[serde(default)]
    pub members: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Resource for ServerGroup {
    const KIND: &'static str = "server_group";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// A host that runs guests, registered (and kept fresh) by its agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hypervisor {
    /// The host name (`server.host`).
    pub id: String,
    /// Nova's integer hypervisor id: the store revision it was registered at.
    #[serde(default)]
    pub serial: i64,
    pub vcpus: u64,
    pub memory_mb: u64,
    pub local_gb: u64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// `kvm` or `tcg`: what the agent's probe found.
    pub accelerator: String,
    /// `up` while the agent heartbeats.
    pub state: String,
    pub heartbeat_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

impl Resource for Hypervisor {
    const KIND: &'static str = "hypervisor";
    fn id(&self) -> &str {
        &self.id
    }
}

/// One `os-instance-actions` entry (create, stop, start, reboot, delete, ...),
/// with its events (the agent appends, e.g. `compute__do_build_and_run_instance`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceAction {
    /// `{server_id}/{request_id}` (the request the action was made under).
    pub id: String,
    pub request_id: String,
    pub server_id: String,
    pub project_id: String,
    pub user_id: String,
    pub action: String,
    pub start_time: DateTime<Utc>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub events: Vec<ActionEvent>,
}

/// An event of an [`InstanceAction`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionEvent {
    pub event: String,
    pub start_time: DateTime<Utc>,
    pub finish_time: Option<DateTime<Utc>>,
    /// `Success` or `Error`.
    pub result: Option<String>,
    #[serde(default)]
    pub traceback: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
}

impl Resource for InstanceAction {
    const KIND: &'static str = "instance_action";
    fn id(&self) -> &str {
        &self.id
    }
    /// Actions are listed per server.
    fn parent(&self) -> &str {
        &self.server_id
    }
}
