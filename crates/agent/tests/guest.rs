//! The agent for real: boots the default guest image under QEMU in the dataplane
//! namespace, with DHCP, and drives it through restart (adoption), stop, start and
//! delete. Needs root, qemu-system-x86_64, genisoimage, dnsmasq, ssh and the built
//! guest image (`guest/build`, or `NIMBUS_GUEST_DIR`); skips with a reason otherwise.

mod common;

use common::*;
use nimbus_agent::dataplane::{links, names};
use nimbus_agent::{qemu, AgentConfig};
use nimbus_compute::server::{
    console_log, instance_dir, Hypervisor, InstanceAction, PowerIntent, RebootRequest, Server,
    SnapshotRequest, TaskState, VmState,
};
use nimbus_image::types::{Image, Status, Visibility};
use nimbus_image::{ImageConfig, Images};
use nimbus_network::types::{Network, Port, Subnet, OWNER_COMPUTE, OWNER_DHCP};
use nimbus_store::{Change, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOST: &str = "agent-test-host";
const NET: &str = "5e6f7a8b-1c2d-4e3f-9a0b-c1d2e3f4a5b6";
const SUBNET: &str = "sub-agent-test";
const SERVER: &str = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";
const PORT: &str = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d";
const IP: &str = "10.77.0.10";
const TIMEOUT: Duration = Duration::from_secs(120);

fn guest_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("NIMBUS_GUEST_DIR").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest/.out")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("vmlinux").is_file() && d.join("disk.qcow2").is_file())
}

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in [
        "qemu-system-x86_64",
        "qemu-img",
        "genisoimage",
        "dnsmasq",
        "ssh",
        "ssh-keygen",
        "ip",
    ] {
        if nimbus_agent::cmd::find_program(tool).is_none() {
            return Some(format!("{tool} not installed"));
        }
    }
    if guest_dir().is_none() {
        return Some("guest image not built (guest/build, or set NIMBUS_GUEST_DIR)".into());
    }
    None
}

/// A running agent, aborted when dropped (also when a test fails, before the
/// teardown: an agent left running would start things again).
struct Agent(tokio::task::JoinHandle<anyhow::Result<()>>);
impl Agent {
    async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}
impl Drop for Agent {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Tears everything of the data dir down when the test ends, failed or not.
struct Teardown(PathBuf);
impl Drop for Teardown {
    fn drop(&mut self) {
        // Give aborted agent tasks a moment to be gone.
        std::thread::sleep(Duration::from_millis(300));
        let dir = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(nimbus_agent::teardown_all(&dir));
        })
        .join();
    }
}

async fn register(images: &Images, id: &str, file: &Path, format: &str, props: &[(&str, &str)]) {
    let mut image = Image::new(id.to_string(), Some(PROJECT.to_string()));
    image.name = Some(id.to_string());
    image.visibility = Visibility::Public;
    image.disk_format = Some(format.to_string());
    image.container_format = Some(if format == "qcow2" { "bare" } else { format }.to_string());
    for (k, v) in props {
        image.properties.insert(k.to_string(), v.to_string());
    }
    images.register_file(image, file).await.unwrap();
}

async fn create<T: nimbus_store::Resource>(store: &Store, obj: &T) {
    let mut tx = store.begin().await.unwrap();
    tx.create(obj).await.unwrap();
    tx.commit().await.unwrap();
}

async fn server(store: &Store) -> Option<Server> {
    store.get::<Server>(SERVER).await.unwrap().map(|v| v.value)
}

/// Polls `check` every 250 ms until it gives a value or `TIMEOUT` passes.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            eprintln!(
                "[guest test] {what}: after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            return v;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_state(store: &Store, want: VmState) -> Server {
    wait_for(&format!("vm_state {want:?}"), || async {
        let s = server(store).await.expect("server exists");
        assert!(
            s.vm_state != VmState::Error || want == VmState::Error,
            "server went to ERROR: {:?}",
            s.fault
        );
        (s.vm_state == want && s.task_state.is_none()).then_some(s)
    })
    .await
}

async fn change(store: &Store, f: impl Fn(&mut Server)) {
    store
        .modify::<Server, _, _>(SERVER, |s| {
            f(s);
            Ok(Change::Write(()))
        })
        .await
        .unwrap()
        .expect("server exists");
}

fn ready_lines(data_dir: &Path) -> usize {
    ready_lines_of(data_dir, SERVER, IP)
}

fn ready_lines_of(data_dir: &Path, server_id: &str, ip: &str) -> usize {
    std::fs::read_to_string(console_log(data_dir, server_id))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("nimbus-guest ready:") && l.contains(&format!("{ip}/")))
        .count()
}

fn ssh_hostname(dhcp_ns: &str, key: &Path) -> Option<String> {
    ssh_hostname_at(dhcp_ns, key, IP)
}

fn ssh_hostname_at(dhcp_ns: &str, key: &Path, ip: &str) -> Option<String> {
    ssh_run(dhcp_ns, key, ip, "hostname")
}

/// Runs `command` on the guest at `ip` over SSH from the DHCP namespace.
fn ssh_run(dhcp_ns: &str, key: &Path, ip: &str, command: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", dhcp_ns, "ssh", "-i"])
        .arg(key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("nimbus@{ip}"))
        .arg(command)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn start_agent(data_dir: &Path, store: &Store, images: &Arc<Images>) -> Agent {
    let mut config = AgentConfig::new(HOST, data_dir);
    config.probe_kernel = guest_dir().map(|d| d.join("vmlinux"));
    Agent(tokio::spawn(nimbus_agent::run(
        config,
        store.clone(),
        images.clone(),
    )))
}

/// Everything a boot test needs; tears down (guests, dnsmasq, namespaces) and
/// removes its directory when dropped, failed or not.
struct Fixture {
    _teardown: Teardown,
    data_dir: PathBuf,
    store: Store,
    images: Arc<Images>,
    key: PathBuf,
    _ts: nimbus_store::testing::TestStore,
    _tmp: tempfile::TempDir,
    /// Boot tests share ids and count QEMU processes: one at a time.
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Images (kernel, ramdisk, root disk), a key, network, subnet, DHCP port, the
/// server's port and the server (BUILD, bound to this host).
async fn setup() -> Fixture {
    // The agent's log goes with the test's output (shown when it fails).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "nimbus_agent=info".into()),
        )
        .with_test_writer()
        .try_init();
    let serial = SERIAL.lock().await;
    let guest = guest_dir().unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("nimbus-agent-test")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().canonicalize().unwrap();
    let _teardown = Teardown(data_dir.clone());
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    let images = Images::open(store.clone(), ImageConfig::new(&data_dir))
        .await
        .unwrap();

    // Images: kernel, ramdisk, and the root disk that points at them.
    register(&images, "kernel-1", &guest.join("vmlinux"), "aki", &[]).await;
    register(
        &images,
        "ramdisk-1",
        &guest.join("initramfs.cpio.gz"),
        "ari",
        &[],
    )
    .await;
    register(
        &images,
        "disk-1",
        &guest.join("disk.qcow2"),
        "qcow2",
        &[
            ("kernel_id", "kernel-1"),
            ("ramdisk_id", "ramdisk-1"),
            ("os_command_line", "console=ttyS0 quiet"),
        ],
    )
    .await;

    // A key pair for SSH.
    let key = data_dir.join("id_test");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();

    // Network, subnet, DHCP port, server port, server.
    create::<Network>(&store, &network(NET, 1450)).await;
    create::<Subnet>(
        &store,
        &subnet(SUBNET, NET, "10.77.0.0/24", Some("10.77.0.1")),
    )
    .await;
    create::<Port>(
        &store,
        &port(
            "dhcp-port-1",
            NET,
            SUBNET,
            "fa:16:3e:00:00:02",
            "10.77.0.2",
            NET,
            OWNER_DHCP,
        ),
    )
    .await;
    create::<Port>(
        &store,
        &port(
            PORT,
            NET,
            SUBNET,
            "fa:16:3e:12:34:56",
            IP,
            SERVER,
            OWNER_COMPUTE,
        ),
    )
    .await;
    let mut s = common::server(SERVER, "vm1", "disk-1", vec![PORT.into()]);
    s.host = Some(HOST.into());
    s.task_state = Some(TaskState::Spawning);
    s.key_name = Some("k1".into());
    s.key_data = Some(public.trim().to_string());
    create::<Server>(&store, &s).await;

    Fixture {
        _teardown,
        data_dir,
        store,
        images,
        key,
        _ts: ts,
        _tmp: tmp,
        _serial: serial,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_boots_restarts_stops_starts_and_is_deleted() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let fx = setup().await;
    let (data_dir, store, images, key) = (
        fx.data_dir.clone(),
        fx.store.clone(),
        fx.images.clone(),
        fx.key.clone(),
    );
    create::<InstanceAction>(&store, &action("create", "req-create")).await;

    let agent = start_agent(&data_dir, &store, &images);

    // The host registered itself.
    let hv = wait_for("hypervisor registered", || async {
        store
            .get::<Hypervisor>(HOST)
            .await
            .unwrap()
            .map(|h| h.value)
    })
    .await;
    assert_eq!(hv.state, "up");
    assert!(hv.vcpus > 0 && hv.memory_mb > 0);
    assert_eq!(hv.cpu_allocation_ratio, 4.0);
    assert!(hv.accelerator == "tcg" || hv.accelerator == "kvm");

    // BUILD → ACTIVE, the guest says it is ready with its address, SSH works.
    let active = wait_state(&store, VmState::Active).await;
    assert!(active.launched_at.is_some());
    assert_eq!(active.accelerator.as_deref(), Some(hv.accelerator.as_str()));
    let p = store.get::<Port>(PORT).await.unwrap().unwrap().value;
    assert_eq!((p.status.as_str(), p.host.as_str()), ("ACTIVE", HOST));
    let dir = instance_dir(&data_dir, SERVER);
    let pid = qemu::find(&dir, SERVER).expect("QEMU runs");
    wait_for("ready line with the port's IP", || async {
        (ready_lines(&data_dir) >= 1).then_some(())
    })
    .await;
    let dhcp_ns = names::dhcp_netns(&data_dir, NET);
    let hostname = wait_for("ssh from the DHCP namespace", || async {
        ssh_hostname(&dhcp_ns, &key)
    })
    .await;
    assert_eq!(hostname, "vm1");

    // createImage: the disk goes into the queued image; the guest keeps running.
    let mut snap = Image::new("snap-1".into(), Some(PROJECT.into()));
    snap.name = Some("vm1-snap".into());
    create::<Image>(&store, &snap).await;
    change(&store, |s| {
        s.snapshots = vec![SnapshotRequest {
            image_id: "snap-1".into(),
        }];
        s.task_state = Some(TaskState::ImageSnapshot);
    })
    .await;
    let snap = wait_for("snapshot image active", || async {
        let i = store.get::<Image>("snap-1").await.unwrap()?.value;
        (i.status == Status::Active).then_some(i)
    })
    .await;
    assert_eq!(snap.disk_format.as_deref(), Some("qcow2"));
    assert!(snap.size.unwrap() > 0 && snap.virtual_size.unwrap() >= 1 << 30);
    wait_for("snapshot request done", || async {
        let s = server(&store).await.unwrap();
        (s.snapshots.is_empty() && s.task_state.is_none()).then_some(())
    })
    .await;
    let status = nimbus_agent::qmp::status(&qemu::qmp_socket(&dir))
        .await
        .unwrap();
    assert_eq!(status, "running");

    // The agent dies after QEMU started but before it wrote ACTIVE (as a kill -9
    // during BUILD would leave it): the next agent adopts the guest, exactly one QEMU.
    agent.stop().await;
    change(&store, |s| {
        s.vm_state = VmState::Building;
        s.task_state = Some(TaskState::Spawning);
    })
    .await;
    let agent = start_agent(&data_dir, &store, &images);
    wait_state(&store, VmState::Active).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        qemu::find(&dir, SERVER),
        Some(pid),
        "the guest was not adopted"
    );
    assert_eq!(qemu_count(), 1, "exactly one QEMU for the server");
    assert_eq!(ready_lines(&data_dir), 1, "the guest was booted twice");

    // Hard reboot: system_reset, same QEMU, the guest boots again.
    change(&store, |s| {
        s.reboot = RebootRequest { seq: 1, hard: true };
        s.task_state = Some(TaskState::RebootingHard);
    })
    .await;
    wait_for("hard reboot observed", || async {
        let s = server(&store).await.unwrap();
        (s.observed_reboot == 1 && s.task_state.is_none()).then_some(())
    })
    .await;
    assert_eq!(qemu::find(&dir, SERVER), Some(pid));
    wait_for("ready line after the hard reboot", || async {
        (ready_lines(&data_dir) >= 2).then_some(())
    })
    .await;

    // Soft reboot: graceful power-off, a new QEMU on the same disks.
    change(&store, |s| {
        s.reboot = RebootRequest {
            seq: 2,
            hard: false,
        };
        s.task_state = Some(TaskState::Rebooting);
    })
    .await;
    wait_for("soft reboot observed", || async {
        let s = server(&store).await.unwrap();
        (s.observed_reboot == 2 && s.task_state.is_none() && s.vm_state == VmState::Active)
            .then_some(())
    })
    .await;
    let pid = qemu::find(&dir, SERVER).expect("QEMU runs after the soft reboot");
    assert_eq!(qemu_count(), 1);
    wait_for("ready line after the soft reboot", || async {
        (ready_lines(&data_dir) >= 3).then_some(())
    })
    .await;

    // The guest dies by itself: the server becomes SHUTOFF and stays so.
    nimbus_agent::proc::signal(pid, libc::SIGKILL);
    let died = wait_state(&store, VmState::Stopped).await;
    assert_eq!(died.desired_power, PowerIntent::Stopped);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        qemu_count(),
        0,
        "a guest that died must not be restarted unasked"
    );
    change(&store, |s| {
        s.desired_power = PowerIntent::Running;
        s.task_state = Some(TaskState::PoweringOn);
    })
    .await;
    wait_state(&store, VmState::Active).await;
    let pid = qemu::find(&dir, SERVER).expect("QEMU runs again");
    wait_for("ready line after the start", || async {
        (ready_lines(&data_dir) >= 4).then_some(())
    })
    .await;

    // Stop: powered down gracefully, no QEMU.
    create::<InstanceAction>(&store, &action("stop", "req-stop")).await;
    change(&store, |s| {
        s.desired_power = PowerIntent::Stopped;
        s.task_state = Some(TaskState::PoweringOff);
    })
    .await;
    let stopped = wait_state(&store, VmState::Stopped).await;
    assert_eq!(
        stopped.power_state,
        nimbus_compute::server::PowerState::Shutdown
    );
    assert!(qemu::find(&dir, SERVER).is_none());
    assert_eq!(qemu_count(), 0);
    let stop = wait_for("stop event recorded", || async {
        let a = store
            .get::<InstanceAction>(&format!("{SERVER}/req-stop"))
            .await
            .unwrap()?;
        (!a.value.events.is_empty()).then_some(a.value)
    })
    .await;
    assert_eq!(stop.events[0].event, "compute_stop_instance");
    assert_eq!(stop.events[0].result.as_deref(), Some("Success"));
    let create = store
        .get::<InstanceAction>(&format!("{SERVER}/req-create"))
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(create.events.len(), 1, "{create:?}");
    assert_eq!(create.events[0].event, "compute__do_build_and_run_instance");
    assert_eq!(create.events[0].host.as_deref(), Some(HOST));

    // Start: the same disks boot again.
    change(&store, |s| {
        s.desired_power = PowerIntent::Running;
        s.task_state = Some(TaskState::PoweringOn);
    })
    .await;
    wait_state(&store, VmState::Active).await;
    let pid2 = qemu::find(&dir, SERVER).expect("QEMU runs again");
    assert_ne!(pid, pid2);
    wait_for("ready line after stop/start", || async {
        (ready_lines(&data_dir) >= 5).then_some(())
    })
    .await;
    let hostname = wait_for("ssh after stop/start", || async {
        ssh_hostname(&dhcp_ns, &key)
    })
    .await;
    assert_eq!(hostname, "vm1");

    // Delete: no QEMU, no tap, no instance dir, no ports, no namespaces.
    change(&store, |s| {
        s.deleting = true;
        s.task_state = Some(TaskState::Deleting);
    })
    .await;
    wait_for("server object gone", || async {
        server(&store).await.is_none().then_some(())
    })
    .await;
    assert!(
        !nimbus_agent::proc::alive_with(pid2, SERVER),
        "QEMU still runs"
    );
    assert!(!dir.exists(), "instance dir still there");
    assert!(
        store.get::<Port>(PORT).await.unwrap().is_none(),
        "server port still there"
    );
    assert!(
        store.get::<Port>("dhcp-port-1").await.unwrap().is_some(),
        "DHCP port must stay"
    );
    let dp = names::dataplane_netns(&data_dir);
    wait_for("namespaces removed", || async {
        let ns = links::list_netns();
        (!ns.contains(&dp) && !ns.contains(&dhcp_ns)).then_some(())
    })
    .await;
    assert!(
        nimbus_agent::dataplane::dhcp::running(&data_dir, NET).is_none(),
        "dnsmasq still runs"
    );
    drop(agent);
}

/// An instance action as the API records it.
fn action(name: &str, request_id: &str) -> InstanceAction {
    InstanceAction {
        id: format!("{SERVER}/{request_id}"),
        request_id: request_id.into(),
        server_id: SERVER.into(),
        project_id: PROJECT.into(),
        user_id: "u1".into(),
        action: name.into(),
        start_time: chrono::Utc::now(),
        message: None,
        events: Vec::new(),
    }
}

/// QEMU processes of this test's server (by the id in their command line).
fn qemu_count() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("qemu-system") && c.contains(SERVER)
                })
                .unwrap_or(false)
                && nimbus_agent::proc::alive_with(*pid, SERVER)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_qemu_binary_is_a_server_error_with_a_fault() {
    let tmp = tempfile::Builder::new()
        .prefix("nimbus-agent-test")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().canonicalize().unwrap();
    let _teardown = Teardown(data_dir.clone());
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    let images = Images::open(store.clone(), ImageConfig::new(&data_dir))
        .await
        .unwrap();
    let raw = data_dir.join("raw.img");
    std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
    register(&images, "raw-1", &raw, "raw", &[]).await;
    let mut s = common::server(SERVER, "vm1", "raw-1", vec![]);
    s.host = Some(HOST.into());
    create::<Server>(&store, &s).await;
    let mut config = AgentConfig::new(HOST, &data_dir);
    config.qemu = "/nonexistent/qemu-system-x86_64".into();
    let agent = Agent(tokio::spawn(nimbus_agent::run(
        config,
        store.clone(),
        images.clone(),
    )));
    let failed = wait_state(&store, VmState::Error).await;
    let fault = failed.fault.expect("a fault");
    assert_eq!(fault.code, 500);
    assert!(
        fault
            .message
            .contains("QEMU binary /nonexistent/qemu-system-x86_64 not found"),
        "{}",
        fault.message
    );
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_build_leaves_exactly_one_guest() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let fx = setup().await;
    let (data_dir, store, images) = (fx.data_dir.clone(), fx.store.clone(), fx.images.clone());
    let dir = instance_dir(&data_dir, SERVER);
    // This one boots with a config drive (the others read the metadata service).
    change(&store, |s| s.config_drive = true).await;
    let agent = start_agent(&data_dir, &store, &images);
    // Die right when QEMU is about to start (config drive written).
    wait_for("config drive written", || async {
        dir.join("disk.config").exists().then_some(())
    })
    .await;
    agent.stop().await;
    let agent = start_agent(&data_dir, &store, &images);
    let active = wait_state(&store, VmState::Active).await;
    assert!(active.fault.is_none());
    wait_for("ready line", || async {
        (ready_lines(&data_dir) >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(qemu_count(), 1, "exactly one QEMU for the server");
    assert_eq!(ready_lines(&data_dir), 1, "the guest booted twice");
    drop(agent);
}

/// A boot sector that writes `nimbus-bios-ok` to COM1 and halts: enough to show
/// that an ordinary disk image (no kernel_id) boots through SeaBIOS.
fn bios_disk() -> Vec<u8> {
    let mut code: Vec<u8> = vec![
        0x31, 0xC0, // xor ax, ax
        0x8E, 0xD8, // mov ds, ax
        0xFC, // cld
        0xBA, 0xF8, 0x03, // mov dx, 0x3f8
        0xBE, 0x15, 0x7C, // mov si, 0x7c15 (the message)
        0xAC, // lodsb
        0x84, 0xC0, // test al, al
        0x74, 0x03, // jz +3
        0xEE, // out dx, al
        0xEB, 0xF8, // jmp lodsb
        0xFA, // cli
        0xF4, // hlt
    ];
    code.extend_from_slice(b"nimbus-bios-ok\r\n\0");
    code.resize(510, 0);
    code.extend_from_slice(&[0x55, 0xAA]);
    code.resize(1 << 20, 0);
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_disk_image_boots_through_the_bios() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    for tool in ["qemu-system-x86_64", "qemu-img", "genisoimage", "ip"] {
        if nimbus_agent::cmd::find_program(tool).is_none() {
            eprintln!("skipped: {tool} not installed");
            return;
        }
    }
    let _serial = SERIAL.lock().await;
    let tmp = tempfile::Builder::new()
        .prefix("nimbus-agent-test")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().canonicalize().unwrap();
    let _teardown = Teardown(data_dir.clone());
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    let images = Images::open(store.clone(), ImageConfig::new(&data_dir))
        .await
        .unwrap();
    let raw = data_dir.join("boot.img");
    std::fs::write(&raw, bios_disk()).unwrap();
    register(&images, "bios-1", &raw, "raw", &[]).await;
    let mut s = common::server(SERVER, "vm-bios", "bios-1", vec![]);
    s.host = Some(HOST.into());
    create::<Server>(&store, &s).await;
    let agent = start_agent(&data_dir, &store, &images);
    wait_state(&store, VmState::Active).await;
    wait_for("the boot sector's line on the console", || async {
        std::fs::read_to_string(console_log(&data_dir, SERVER))
            .unwrap_or_default()
            .contains("nimbus-bios-ok")
            .then_some(())
    })
    .await;
    // The overlay is 1 GiB (the flavor's disk) over the 1 MiB raw base.
    let info = nimbus_agent::cmd::run(
        "qemu-img",
        &[
            "info",
            "-U",
            "--output=json",
            &instance_dir(&data_dir, SERVER)
                .join("disk.qcow2")
                .display()
                .to_string(),
        ],
    )
    .await
    .unwrap();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["virtual-size"], 1u64 << 30);
    assert_eq!(info["backing-filename-format"], "raw");
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_a_network_and_its_dhcp() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let fx = setup().await;
    let (data_dir, store, images, key) = (
        fx.data_dir.clone(),
        fx.store.clone(),
        fx.images.clone(),
        fx.key.clone(),
    );
    let agent = start_agent(&data_dir, &store, &images);
    wait_state(&store, VmState::Active).await;
    wait_for("first guest ready", || async {
        (ready_lines(&data_dir) >= 1).then_some(())
    })
    .await;

    // A second server on the same network, after dnsmasq is up: its lease comes
    // from the rewritten hostsfile (SIGHUP).
    const SERVER2: &str = "1c2d3e4f-5061-4728-99aa-bbccddeeff00";
    const PORT2: &str = "8b7c6d5e-4f3a-4b2c-9d0e-1f2a3b4c5d6e";
    const IP2: &str = "10.77.0.11";
    create::<Port>(
        &store,
        &port(
            PORT2,
            NET,
            SUBNET,
            "fa:16:3e:12:34:57",
            IP2,
            SERVER2,
            OWNER_COMPUTE,
        ),
    )
    .await;
    let first = server(&store).await.unwrap();
    let mut s2 = common::server(SERVER2, "vm2", "disk-1", vec![PORT2.into()]);
    s2.host = Some(HOST.into());
    s2.key_name = first.key_name.clone();
    s2.key_data = first.key_data.clone();
    create::<Server>(&store, &s2).await;
    wait_for("second guest ready with its address", || async {
        (ready_lines_of(&data_dir, SERVER2, IP2) >= 1).then_some(())
    })
    .await;
    let dhcp_ns = names::dhcp_netns(&data_dir, NET);
    let hostname = wait_for("ssh to the second guest", || async {
        ssh_hostname_at(&dhcp_ns, &key, IP2)
    })
    .await;
    assert_eq!(hostname, "vm2");

    // Deleting the first leaves the second (and the network's plumbing) alone.
    change(&store, |s| s.deleting = true).await;
    wait_for("first server gone", || async {
        server(&store).await.is_none().then_some(())
    })
    .await;
    let dp = names::dataplane_netns(&data_dir);
    let links: Vec<String> = links::links(&dp)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert!(!links.contains(&names::tap(PORT)), "{links:?}");
    assert!(links.contains(&names::tap(PORT2)), "{links:?}");
    assert!(links.contains(&names::bridge(NET)), "{links:?}");
    assert!(links::list_netns().contains(&dhcp_ns));
    assert!(qemu::find(&instance_dir(&data_dir, SERVER2), SERVER2).is_some());
    assert_eq!(ssh_hostname_at(&dhcp_ns, &key, IP2).as_deref(), Some("vm2"));

    // Deleting the last one removes the namespaces.
    store
        .modify::<Server, _, _>(SERVER2, |s| {
            s.deleting = true;
            Ok(Change::Write(()))
        })
        .await
        .unwrap();
    wait_for("namespaces removed after the last server", || async {
        let ns = links::list_netns();
        (store.get::<Server>(SERVER2).await.unwrap().is_none()
            && !ns.contains(&dp)
            && !ns.contains(&dhcp_ns))
        .then_some(())
    })
    .await;
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_without_config_drive_reads_the_metadata_service() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let fx = setup().await;
    let (data_dir, store, images, key) = (
        fx.data_dir.clone(),
        fx.store.clone(),
        fx.images.clone(),
        fx.key.clone(),
    );
    // "#!/bin/sh\necho md-user-data > /root/ud-marker\n"
    change(&store, |s| {
        s.config_drive = false;
        s.user_data =
            Some("IyEvYmluL3NoCmVjaG8gbWQtdXNlci1kYXRhID4gL3Jvb3QvdWQtbWFya2VyCg==".into());
    })
    .await;
    let started = Instant::now();
    let agent = start_agent(&data_dir, &store, &images);
    wait_state(&store, VmState::Active).await;
    let line = wait_for("ready line", || async {
        std::fs::read_to_string(console_log(&data_dir, SERVER))
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("nimbus-guest ready:"))
            .map(str::to_string)
    })
    .await;
    eprintln!(
        "[guest test] metadata boot: agent start -> ready line {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(line.contains("hostname=vm1 "), "{line}");
    assert!(line.contains(&format!("{IP}/24")), "{line}");
    let dir = instance_dir(&data_dir, SERVER);
    assert!(
        !dir.join("disk.config").exists(),
        "a config drive was built"
    );
    let dhcp_ns = names::dhcp_netns(&data_dir, NET);
    let hostname = wait_for("ssh with the key from the metadata service", || async {
        ssh_hostname(&dhcp_ns, &key)
    })
    .await;
    assert_eq!(hostname, "vm1");
    let run = |cmd: &'static str| {
        let (ns, key) = (dhcp_ns.clone(), key.clone());
        async move { ssh_run(&ns, &key, IP, cmd).expect(cmd) }
    };
    assert_eq!(run("cat /run/nimbus/source").await, "metadata-service");
    assert_eq!(run("cat /root/ud-marker").await, "md-user-data");
    // The guest asks the service itself: its own uuid and address.
    let md = run("wget -qO- http://169.254.169.254/openstack/latest/meta_data.json").await;
    let md: serde_json::Value = serde_json::from_str(&md).unwrap();
    assert_eq!(md["uuid"], SERVER);
    assert_eq!(
        run("wget -qO- http://169.254.169.254/latest/meta-data/local-ipv4").await,
        IP
    );
    // Anything else in the DHCP namespace is nobody: 404.
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &dhcp_ns, "wget", "-qO-", "-T", "5"])
        .arg("http://169.254.169.254/openstack/latest/meta_data.json")
        .output();
    if let Ok(out) = out {
        assert!(
            !out.status.success(),
            "a request from the DHCP address was answered"
        );
    }
    drop(agent);
}

/// A volume record whose top layer exists (as the storage controller leaves it).
async fn ready_volume(store: &Store, data_dir: &Path, id: &str) -> nimbus_volume::types::Volume {
    use nimbus_volume::storage::{self, Layout};
    use nimbus_volume::types::{Source, Volume, VolumeStatus};
    let layout = Layout::new(data_dir);
    layout.create_dirs().await.unwrap();
    let top = storage::layer_name(id, 0);
    storage::create_layer(&layout.layer(&top), 1, None, None)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let v = Volume {
        id: id.into(),
        project_id: PROJECT.into(),
        user_id: "u".into(),
        name: None,
        description: None,
        size: 1,
        status: VolumeStatus::Available,
        volume_type_id: "t".into(),
        bootable: false,
        metadata: Default::default(),
        source: Source::Blank,
        availability_zone: "nova".into(),
        error: None,
        target_size: None,
        image_metadata: Default::default(),
        top: Some(top),
        chain: Vec::new(),
        base_image: None,
        generation: 0,
        upload: None,
        encryption_key_id: None,
        created_at: now,
        updated_at: now,
    };
    create(store, &v).await;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_is_hot_plugged_written_grown_snapshotted_and_unplugged() {
    use nimbus_volume::attach::{self, NewAttachment};
    use nimbus_volume::types::{
        AttachmentStatus, Snapshot, SnapshotStatus, Volume, VolumeAttachment, VolumeStatus,
    };
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let fx = setup().await;
    let (data_dir, store, images, key) = (
        fx.data_dir.clone(),
        fx.store.clone(),
        fx.images.clone(),
        fx.key.clone(),
    );
    const VOL: &str = "7e57ab1e-0000-4000-8000-00000000d15c";
    let _agent = start_agent(&data_dir, &store, &images);
    wait_state(&store, VmState::Active).await;
    let dhcp_ns = names::dhcp_netns(&data_dir, NET);
    wait_for("ssh", || async { ssh_hostname(&dhcp_ns, &key) }).await;
    ready_volume(&store, &data_dir, VOL).await;

    // Nova's attach: the agent plugs it, the guest sees a disk with the volume's serial.
    let mut tx = store.begin().await.unwrap();
    attach::attach(
        &mut tx,
        VOL,
        NewAttachment {
            project_id: PROJECT.into(),
            server_id: Some(SERVER.into()),
            compute: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let find = format!(
        "for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = \"{}\" ] && echo ${{d##*/}}; done; true",
        &VOL[..20]
    );
    let disk = wait_for("the guest sees the volume", || async {
        ssh_run(&dhcp_ns, &key, IP, &find).filter(|d| !d.is_empty())
    })
    .await;
    let a = store
        .get::<VolumeAttachment>(VOL)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!((a.status, a.slot), (AttachmentStatus::Attached, Some(0)));
    let v = store.get::<Volume>(VOL).await.unwrap().unwrap().value;
    assert_eq!(v.status, VolumeStatus::InUse);
    let wrote = ssh_run(
        &dhcp_ns,
        &key,
        IP,
        &format!("mke2fs -F /dev/{disk} >/dev/null && mkdir -p /mnt/v && mount /dev/{disk} /mnt/v && echo one > /mnt/v/f && sync && cat /mnt/v/f"),
    );
    assert_eq!(wrote.as_deref(), Some("one"));

    // Online extend: block_resize, the guest sees 2 GiB.
    store
        .modify::<Volume, _, _>(VOL, |v| {
            v.status = VolumeStatus::Extending;
            v.target_size = Some(2);
            Ok(Change::Write(()))
        })
        .await
        .unwrap();
    wait_for("the guest sees 2 GiB", || async {
        let size = ssh_run(&dhcp_ns, &key, IP, &format!("cat /sys/block/{disk}/size"))?;
        (size == (4u64 << 20).to_string()).then_some(())
    })
    .await;
    let v = store.get::<Volume>(VOL).await.unwrap().unwrap().value;
    assert_eq!((v.status, v.size), (VolumeStatus::InUse, 2));

    // Online snapshot: the guest goes on writing to the next layer.
    let now = chrono::Utc::now();
    create(
        &store,
        &Snapshot {
            id: "snap-online".into(),
            project_id: PROJECT.into(),
            user_id: "u".into(),
            volume_id: VOL.into(),
            name: None,
            description: None,
            size: 2,
            status: SnapshotStatus::Creating,
            metadata: Default::default(),
            error: None,
            layer: None,
            chain: Vec::new(),
            base_image: None,
            for_backup: None,
            created_at: now,
            updated_at: now,
        },
    )
    .await;
    let snap = wait_for("the online snapshot", || async {
        let s = store.get::<Snapshot>("snap-online").await.unwrap()?.value;
        (s.status != SnapshotStatus::Creating).then_some(s)
    })
    .await;
    assert_eq!(snap.status, SnapshotStatus::Available, "{:?}", snap.error);
    let v = store.get::<Volume>(VOL).await.unwrap().unwrap().value;
    assert_eq!(v.generation, 1);
    assert_eq!(v.chain, vec![snap.layer.clone().unwrap()]);
    let wrote = ssh_run(
        &dhcp_ns,
        &key,
        IP,
        "echo two > /mnt/v/f && sync && cat /mnt/v/f && umount /mnt/v",
    );
    assert_eq!(wrote.as_deref(), Some("two"));

    // Detach: the guest lets go, the record goes, the volume is available.
    let mut tx = store.begin().await.unwrap();
    attach::begin_detach(&mut tx, VOL).await.unwrap();
    tx.commit().await.unwrap();
    wait_for("the attachment to go", || async {
        store
            .get::<VolumeAttachment>(VOL)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let v = store.get::<Volume>(VOL).await.unwrap().unwrap().value;
    assert_eq!(v.status, VolumeStatus::Available);
    let left = ssh_run(&dhcp_ns, &key, IP, &find);
    assert_eq!(left.as_deref(), Some(""));
}
