//! This host: which accelerator guests get (KVM only when the CPU has it, the
//! device opens and a probe guest really runs; else TCG), its resources, and the
//! `Hypervisor` object the agent registers and heartbeats.

use crate::AgentConfig;
use chrono::Utc;
use nimbus_compute::server::Hypervisor;
use nimbus_store::{Change, Store};
use std::path::Path;
use std::time::Duration;

/// The accelerator and why it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Accelerator {
    /// `kvm` or `tcg`.
    pub name: String,
    pub reason: String,
}

impl Accelerator {
    fn tcg(reason: impl Into<String>) -> Accelerator {
        Accelerator {
            name: "tcg".into(),
            reason: reason.into(),
        }
    }
}

/// Finds the accelerator: KVM needs vmx/svm in `/proc/cpuinfo`, a `/dev/kvm` that
/// opens, and a probe guest under `-accel kvm` that shows output within seconds
/// (some nested or paravirtual "KVM"s accept the device but cannot run a guest).
pub async fn probe_accelerator(config: &AgentConfig) -> Accelerator {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    if !flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
        return Accelerator::tcg("no vmx/svm flag in /proc/cpuinfo");
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Accelerator::tcg(format!("/dev/kvm does not open: {e}"));
    }
    match probe_boot(config).await {
        Ok(()) => Accelerator {
            name: "kvm".into(),
            reason: "vmx/svm present, /dev/kvm opens, a probe guest ran under KVM".into(),
        },
        Err(e) => Accelerator::tcg(format!("the KVM probe guest failed: {e:#}")),
    }
}

/// Boots the probe kernel (or just SeaBIOS, watched on its debug port) under KVM
/// and waits for its first output.
async fn probe_boot(config: &AgentConfig) -> anyhow::Result<()> {
    let dir = tempfile_dir(&config.data_dir)?;
    let out = dir.join("probe.log");
    let mut args: Vec<String> = [
        "-machine",
        "q35",
        "-accel",
        "kvm",
        "-m",
        "128",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let expect = match &config.probe_kernel {
        Some(k) => {
            args.extend([
                "-kernel".into(),
                k.display().to_string(),
                "-append".into(),
                "console=ttyS0 panic=-1".into(),
                "-serial".into(),
                format!("file:{}", out.display()),
            ]);
            "Linux version"
        }
        None => {
            args.extend([
                "-chardev".into(),
                format!("file,id=dbg,path={}", out.display()),
                "-device".into(),
                "isa-debugcon,iobase=0x402,chardev=dbg".into(),
            ]);
            "SeaBIOS"
        }
    };
    let mut child = tokio::process::Command::new(&config.qemu)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut seen = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains(expect) {
            seen = true;
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("QEMU exited ({status}) before any output");
        }
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !seen {
        anyhow::bail!("no output within 10 s");
    }
    Ok(())
}

fn tempfile_dir(data_dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = data_dir.join(format!("kvm-probe.{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// CPUs, memory (MiB) and the data dir's filesystem size (GiB).
pub fn resources(data_dir: &Path) -> (u64, u64, u64) {
    let vcpus = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    (vcpus, memory_mb, disk_gb(data_dir))
}

fn disk_gb(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        (st.f_blocks as u64 * st.f_frsize as u64) >> 30
    }
}

/// Creates or refreshes this host's `Hypervisor` (state up, fresh heartbeat).
pub async fn register(
    store: &Store,
    config: &AgentConfig,
    accel: &Accelerator,
) -> anyhow::Result<()> {
    let (vcpus, memory_mb, local_gb) = resources(&config.data_dir);
    let memory_mb = memory_mb.saturating_sub(config.reserved_ram_mb);
    let now = Utc::now();
    let apply = |h: &mut Hypervisor| {
        h.vcpus = vcpus;
        h.memory_mb = memory_mb;
        h.local_gb = local_gb;
        h.cpu_allocation_ratio = config.cpu_allocation_ratio;
        h.ram_allocation_ratio = config.ram_allocation_ratio;
        h.disk_allocation_ratio = config.disk_allocation_ratio;
        h.accelerator = accel.name.clone();
        h.state = "up".into();
        h.heartbeat_at = now;
    };
    let updated = store
        .modify::<Hypervisor, _, _>(&config.host, |h| {
            apply(h);
            h.started_at = now;
            Ok(Change::Write(()))
        })
        .await?;
    if updated.is_some() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    // The revision this transaction commits at: Nova's integer hypervisor id.
    let serial = tx.revision().await?;
    let mut h = Hypervisor {
        id: config.host.clone(),
        serial,
        vcpus: 0,
        memory_mb: 0,
        local_gb: 0,
        cpu_allocation_ratio: 0.0,
        ram_allocation_ratio: 0.0,
        disk_allocation_ratio: 0.0,
        accelerator: String::new(),
        state: String::new(),
        heartbeat_at: now,
        started_at: now,
    };
    apply(&mut h);
    match tx.create(&h).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(())
        }
        // Created concurrently (another start racing this one): refresh it instead.
        Err(nimbus_store::StoreError::Conflict { .. }) => {
            drop(tx);
            Box::pin(register(store, config, accel)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Refreshes the heartbeat.
pub async fn heartbeat(store: &Store, host: &str) -> anyhow::Result<()> {
    store
        .modify::<Hypervisor, _, _>(host, |h| {
            h.heartbeat_at = Utc::now();
            h.state = "up".into();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}
