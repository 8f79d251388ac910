//! QEMU guests: the command line, starting a guest inside the dataplane
//! namespace (daemonized, with a pidfile), finding it again after a restart
//! (pidfile + the server id in `/proc/<pid>/cmdline`), and stopping it.

use crate::cmd::find_program;
use crate::volumes::{spec, VolumeDisk, HOTPLUG_PORTS};
use crate::{proc, qmp};
use anyhow::{anyhow, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A NIC: the tap in the dataplane namespace and the port's MAC.
#[derive(Clone, Debug, PartialEq)]
pub struct Nic {
    pub tap: String,
    pub mac: String,
}

/// Direct kernel boot (images with `kernel_id`/`ramdisk_id`).
#[derive(Clone, Debug, PartialEq)]
pub struct DirectBoot {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: String,
}

/// Everything one guest's command line is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchSpec {
    pub qemu: String,
    pub netns: String,
    pub server_id: String,
    pub instance_dir: PathBuf,
    /// `kvm` or `tcg`.
    pub accel: String,
    pub ram_mb: u64,
    pub vcpus: u64,
    pub direct: Option<DirectBoot>,
    /// Boot from `disk.qcow2` (the overlay on the image); false when the server
    /// boots from a volume (the first of `volumes`).
    pub root_overlay: bool,
    /// Attach `disk.config` (the config drive) as a read-only virtio disk.
    pub config_drive: bool,
    /// Volumes (ADR 0010): the boot volume, if any, first.
    pub volumes: Vec<VolumeDisk>,
    pub nics: Vec<Nic>,
}

/// Files of a guest in its instance directory.
pub fn pidfile(instance_dir: &Path) -> PathBuf {
    instance_dir.join("qemu.pid")
}
/// The QMP socket. Not in the instance directory: a Unix socket path must stay
/// under 108 bytes, which a deep data dir exceeds. `/run/nimbus/qmp/` holds one
/// per guest, named by a hash of the instance directory (unique per cloud and
/// server, the same after a restart, so adoption finds it).
pub fn qmp_socket(instance_dir: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(instance_dir.as_os_str().as_encoded_bytes());
    Path::new(QMP_DIR).join(format!("{}.sock", hex16(&digest)))
}

/// Where the QMP sockets live (tmpfs: they mean nothing after a host reboot).
pub const QMP_DIR: &str = "/run/nimbus/qmp";

fn hex16(bytes: &[u8]) -> String {
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The full command: `ip netns exec <ns> qemu-system-x86_64 ...` (program first).
pub fn command_line(spec: &LaunchSpec) -> Vec<String> {
    let dir = &spec.instance_dir;
    let p = |name: &str| dir.join(name).display().to_string();
    let mut a: Vec<String> = vec![
        "ip".into(),
        "netns".into(),
        "exec".into(),
        spec.netns.clone(),
        spec.qemu.clone(),
        "-name".into(),
        format!("guest={},debug-threads=on", spec.server_id),
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        spec.accel.clone(),
        "-m".into(),
        spec.ram_mb.to_string(),
        "-smp".into(),
        spec.vcpus.max(1).to_string(),
        "-nodefaults".into(),
        "-display".into(),
        "none".into(),
        "-daemonize".into(),
        "-pidfile".into(),
        p("qemu.pid"),
        "-chardev".into(),
        format!("file,id=serial0,path={},append=on", p("console.log")),
        "-serial".into(),
        "chardev:serial0".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_socket(dir).display()),
    ];
    if let Some(d) = &spec.direct {
        a.push("-kernel".into());
        a.push(d.kernel.display().to_string());
        if let Some(i) = &d.initrd {
            a.push("-initrd".into());
            a.push(i.display().to_string());
        }
        a.push("-append".into());
        a.push(d.append.clone());
    }
    if spec.root_overlay {
        a.extend([
            "-drive".into(),
            format!(
                "file={},if=none,id=vda,format=qcow2,cache=writeback",
                p("disk.qcow2")
            ),
            "-device".into(),
            "virtio-blk-pci,drive=vda,bootindex=1".into(),
        ]);
    }
    // The boot volume (on the root bus) comes before the config drive, so
    // the guest names it vda as it would the overlay.
    let (boot, plugged): (Vec<&VolumeDisk>, Vec<&VolumeDisk>) =
        spec.volumes.iter().partition(|d| d.slot.is_none());
    for d in boot {
        push_volume(&mut a, d);
    }
    if spec.config_drive {
        a.extend([
            "-drive".into(),
            format!(
                "file={},if=none,id=config,format=raw,readonly=on",
                p("disk.config")
            ),
            "-device".into(),
            "virtio-blk-pci,drive=config".into(),
        ]);
    }
    for slot in 0..HOTPLUG_PORTS {
        a.push("-device".into());
        a.push(spec::port_device(slot).to_string());
    }
    for d in plugged {
        push_volume(&mut a, d);
    }
    for (i, nic) in spec.nics.iter().enumerate() {
        a.push("-netdev".into());
        a.push(format!(
            "tap,id=n{i},ifname={},script=no,downscript=no",
            nic.tap
        ));
        a.push("-device".into());
        a.push(format!("virtio-net-pci,netdev=n{i},mac={}", nic.mac));
    }
    a.push("-device".into());
    a.push("virtio-rng-pci".into());
    a
}

/// A volume's secret, chain and device, in the JSON forms QEMU takes.
fn push_volume(a: &mut Vec<String>, d: &VolumeDisk) {
    if let Some(secret) = &d.secret {
        a.push("-object".into());
        a.push(secret.to_string());
    }
    a.push("-blockdev".into());
    a.push(d.blockdev.to_string());
    a.push("-device".into());
    a.push(d.device.to_string());
}

/// The guest of `server_id` if it runs.
pub fn find(instance_dir: &Path, server_id: &str) -> Option<i32> {
    proc::find(&pidfile(instance_dir), server_id)
}

/// Starts the guest and returns its pid. QEMU daemonizes only after its devices
/// are set up, so a missing tap or a broken disk is an error here.
pub async fn launch(spec: &LaunchSpec) -> anyhow::Result<i32> {
    check_binary(&spec.qemu)?;
    let dir = &spec.instance_dir;
    // Stale files from a guest that is gone (a live one holds the pidfile lock).
    let _ = tokio::fs::remove_file(qmp_socket(dir)).await;
    tokio::fs::create_dir_all(QMP_DIR).await?;
    let args = command_line(spec);
    // Not killed when the agent is dropped mid-launch, and in its own process
    // group: a QEMU that got as far as starting must survive the agent.
    let out = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .output()
        .await?;
    if !out.status.success() {
        // A guest a crashed agent started moments ago holds the pidfile, disk and
        // tap locks, so this second start fails: adopt that guest instead.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(pid) = find(dir, &spec.server_id) {
            tracing::warn!(server = %spec.server_id, pid, "adopting a guest started by an earlier run");
            return Ok(pid);
        }
        bail!(
            "QEMU failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    find(dir, &spec.server_id)
        .ok_or_else(|| anyhow!("QEMU started but its pidfile names no running guest"))
}

/// Fails early (before disks and taps are made) when QEMU is not installed.
pub fn check_binary(qemu: &str) -> anyhow::Result<()> {
    if find_program(qemu).is_none() {
        bail!("QEMU binary {qemu} not found (install qemu-system-x86)");
    }
    Ok(())
}

/// Asks the guest to power off (ACPI), waits up to `grace`, then quits QEMU and
/// finally kills it. Returns once it is gone.
pub async fn stop(instance_dir: &Path, server_id: &str, grace: Duration) {
    let Some(pid) = find(instance_dir, server_id) else {
        return;
    };
    let sock = qmp_socket(instance_dir);
    if grace > Duration::ZERO {
        match qmp::command(&sock, "system_powerdown").await {
            Ok(_) => {
                if proc::wait_gone(pid, server_id, grace).await {
                    return;
                }
                tracing::warn!(server = %server_id, "guest did not power off in {grace:?}: quitting QEMU");
            }
            Err(e) => tracing::warn!(server = %server_id, "system_powerdown: {e:#}"),
        }
    }
    kill(instance_dir, server_id).await;
}

/// Quits QEMU at once (QMP `quit`, then SIGTERM/SIGKILL by pid).
pub async fn kill(instance_dir: &Path, server_id: &str) {
    if let Some(pid) = find(instance_dir, server_id) {
        let _ = qmp::command(&qmp_socket(instance_dir), "quit").await;
        if !proc::wait_gone(pid, server_id, Duration::from_secs(5)).await {
            proc::terminate(pid, server_id, Duration::from_secs(5)).await;
        }
    }
    // The socket lives outside the instance directory, so it goes separately.
    let _ = tokio::fs::remove_file(qmp_socket(instance_dir)).await;
}
