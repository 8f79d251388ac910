//! One task per server bound to this host: reads the server, compares it with
//! what runs, and takes one step (build, stop, start, reboot, delete), writing
//! the observed state back with `Store::modify`. Level-triggered: every step is
//! derived from the object and the host afresh, so it is safe to redo after a
//! crash at any point (a second QEMU cannot start: the pidfile, the disks and the
//! taps are locked by the first).

use crate::dataplane::{names, Plug};
use crate::qemu::{self, DirectBoot, LaunchSpec, Nic};
use crate::{configdrive, disks, qmp, volumes, Ctx};
use anyhow::{bail, Context};
use chrono::Utc;
use nimbus_compute::server::{
    instance_dir, Fault, PowerIntent, PowerState, Server, TaskState, VmState,
};
use nimbus_network::types::Port;
use nimbus_store::Change;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Records the instance-action event of a finished step.
pub(crate) async fn event<T>(
    ctx: &Ctx,
    id: &str,
    action: &str,
    name: &str,
    started: chrono::DateTime<Utc>,
    result: &anyhow::Result<T>,
) {
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    crate::actions::record(
        &ctx.store,
        &ctx.config.host,
        id,
        action,
        name,
        started,
        error.as_deref(),
    )
    .await;
}

/// How long a graceful power-off may take before QEMU is quit.
const POWERDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often a worker looks at its guest without being woken.
const TICK: Duration = Duration::from_secs(2);

enum Next {
    /// Keep watching this server.
    Continue,
    /// The server is gone (or no longer ours): the worker ends.
    Done,
}

/// The worker loop of `server_id`; ends when the server is gone.
pub async fn run(ctx: Arc<Ctx>, server_id: String, wake: Arc<Notify>) {
    let mut first = true;
    loop {
        let result = reconcile(&ctx, &server_id).await;
        if std::mem::take(&mut first) {
            // After an agent restart: the moment this guest is adopted (bench/network).
            tracing::debug!(server = %server_id, ok = result.is_ok(), "first reconcile of the server done");
        }
        match result {
            Ok(Next::Done) => return,
            Ok(Next::Continue) => {}
            Err(e) => tracing::warn!(server = %server_id, "reconcile: {e:#}"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn reconcile(ctx: &Ctx, id: &str) -> anyhow::Result<Next> {
    let dir = instance_dir(&ctx.config.data_dir, id);
    let server = match ctx.store.get::<Server>(id).await? {
        Some(s) if s.value.host.as_deref() == Some(ctx.config.host.as_str()) => s.value,
        _ => {
            // Deleted behind our back, or moved: nothing of it may stay here.
            remove_local(ctx, id, &[]).await?;
            return Ok(Next::Done);
        }
    };
    if server.deleting {
        delete(ctx, &server).await?;
        return Ok(Next::Done);
    }
    let running = qemu::find(&dir, id).is_some();
    match server.vm_state {
        VmState::Error | VmState::Deleted => return Ok(Next::Continue),
        VmState::Building => {
            let started = Utc::now();
            if !running {
                tracing::info!(server = %id, "building");
                let result = match start_guest(ctx, &server).await {
                    Ok(Start::Waiting(volume)) => {
                        tracing::debug!(server = %id, %volume, "waiting for a volume to be made");
                        return Ok(Next::Continue);
                    }
                    other => other.map(|_| ()),
                };
                if let Err(e) = &result {
                    fail(ctx, id, e).await?;
                    event(
                        ctx,
                        id,
                        "create",
                        "compute__do_build_and_run_instance",
                        started,
                        &result,
                    )
                    .await;
                    return Ok(Next::Continue);
                }
            }
            // Also after adopting a guest a crashed run started before it got here.
            for port_id in &server.port_ids {
                mark_port_active(ctx, port_id).await?;
            }
            mark_running(ctx, id).await?;
            event(
                ctx,
                id,
                "create",
                "compute__do_build_and_run_instance",
                started,
                &Ok(()),
            )
            .await;
            tracing::info!(server = %id, "active");
            return Ok(Next::Continue);
        }
        VmState::Active | VmState::Stopped => {}
    }

    if volumes::reconcile(ctx, &server, running).await? {
        return Ok(Next::Continue);
    }

    if let Some(request) = server.snapshots.first() {
        snapshot(ctx, &server, &request.image_id, running).await?;
        return Ok(Next::Continue);
    }

    if server.reboot.seq > server.observed_reboot {
        reboot(ctx, &server, running).await?;
        return Ok(Next::Continue);
    }

    match (server.desired_power, running) {
        // The steady states: only write when something differs (the tick would
        // otherwise open a write transaction every 2 s per server).
        (PowerIntent::Running, true) => {
            if !shows_running(&server, &ctx.accel) {
                mark_running(ctx, id).await?;
            }
        }
        (PowerIntent::Running, false)
            if server.vm_state == VmState::Active && server.task_state.is_none() =>
        {
            // Nova's power-state sync: a guest that went away by itself is
            // stopped, and stays stopped until someone starts it.
            tracing::warn!(server = %id, "guest is gone without being asked to stop: marking it stopped");
            set_stopped(ctx, id, true).await?;
        }
        (PowerIntent::Running, false) => {
            tracing::info!(server = %id, "starting");
            let started = Utc::now();
            let result = start_ready(ctx, &server).await;
            if let Err(e) = &result {
                fail(ctx, id, e).await?;
            } else {
                mark_running(ctx, id).await?;
            }
            event(ctx, id, "start", "compute_start_instance", started, &result).await;
        }
        (PowerIntent::Stopped, true) => {
            tracing::info!(server = %id, "stopping");
            let started = Utc::now();
            qemu::stop(&dir, id, POWERDOWN_GRACE).await;
            set_stopped(ctx, id, false).await?;
            event(ctx, id, "stop", "compute_stop_instance", started, &Ok(())).await;
        }
        (PowerIntent::Stopped, false) => {
            if !shows_stopped(&server) {
                set_stopped(ctx, id, false).await?;
            }
        }
    }
    Ok(Next::Continue)
}

async fn reboot(ctx: &Ctx, server: &Server, running: bool) -> anyhow::Result<()> {
    let id = server.id.as_str();
    let dir = instance_dir(&ctx.config.data_dir, id);
    let seq = server.reboot.seq;
    tracing::info!(server = %id, hard = server.reboot.hard, "rebooting");
    let started = Utc::now();
    let mut result = Ok(());
    if server.reboot.hard && running {
        if let Err(e) = qmp::command(&qemu::qmp_socket(&dir), "system_reset").await {
            tracing::warn!(server = %id, "system_reset: {e:#}; restarting QEMU instead");
            qemu::kill(&dir, id).await;
            result = start_ready(ctx, server).await;
        }
    } else {
        if running {
            qemu::stop(&dir, id, POWERDOWN_GRACE).await;
        }
        result = start_ready(ctx, server).await;
    }
    event(
        ctx,
        id,
        "reboot",
        "compute_reboot_instance",
        started,
        &result,
    )
    .await;
    if let Err(e) = result {
        fail(ctx, id, &e).await?;
        return Ok(());
    }
    let accel = ctx.accel.clone();
    ctx.store
        .modify::<Server, _, _>(id, |s| {
            s.observed_reboot = s.observed_reboot.max(seq);
            s.vm_state = VmState::Active;
            s.power_state = PowerState::Running;
            s.task_state = None;
            s.accelerator = Some(accel.clone());
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// createImage: the root disk (overlay and base flattened) goes into the queued
/// Glance image; a running guest is paused meanwhile so the copy is consistent.
/// The request is removed whatever happens (a failed snapshot leaves the image
/// queued, as Nova leaves it to be deleted).
async fn snapshot(ctx: &Ctx, server: &Server, image_id: &str, running: bool) -> anyhow::Result<()> {
    let id = server.id.as_str();
    let dir = instance_dir(&ctx.config.data_dir, id);
    let started = Utc::now();
    tracing::info!(server = %id, image = %image_id, "snapshot");
    let result = async {
        let format = match ctx.store.get::<nimbus_image::types::Image>(image_id).await? {
            Some(i) => disks::backing_format(i.value.disk_format.as_deref().or(Some("qcow2")))?,
            None => bail!("image {image_id} is gone"),
        };
        let tmp = dir.join(format!("snapshot-{image_id}.tmp"));
        let sock = qemu::qmp_socket(&dir);
        // One QMP session from pause to resume: a second connection could wait
        // behind the first one's teardown and leave the guest paused.
        let mut session = None;
        if running {
            let mut q = qmp::Qmp::connect(&sock).await.context("QMP")?;
            q.execute("stop", None).await.context("pausing the guest")?;
            session = Some(q);
        }
        // -U: QEMU holds the image lock; the guest is paused, so the copy is stable.
        let converted = crate::cmd::run(
            "qemu-img",
            &[
                "convert", "-U", "-f", "qcow2", "-O", format,
                &dir.join("disk.qcow2").display().to_string(),
                &tmp.display().to_string(),
            ],
        )
        .await;
        if let Some(mut q) = session {
            let mut resumed = q.execute("cont", None).await.map(|_| ());
            if resumed.is_err() {
                resumed = qmp::command(&sock, "cont").await.map(|_| ());
            }
            if let Err(e) = resumed {
                tracing::warn!(server = %id, "resuming the guest after the snapshot: {e:#}");
            }
        }
        converted.context("copying the root disk")?;
        let imported = ctx.images.import_file(image_id, &tmp, format).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        if !imported? {
            tracing::warn!(server = %id, image = %image_id, "snapshot image was deleted or filled meanwhile");
        }
        Ok(())
    }
    .await;
    if let Err(e) = &result {
        tracing::warn!(server = %id, image = %image_id, "snapshot failed: {e:#}");
    }
    event(
        ctx,
        id,
        "createImage",
        "compute_snapshot_instance",
        started,
        &result,
    )
    .await;
    let done = image_id.to_string();
    ctx.store
        .modify::<Server, _, _>(id, |s| {
            s.snapshots.retain(|r| r.image_id != done);
            if s.snapshots.is_empty() && s.task_state == Some(TaskState::ImageSnapshot) {
                s.task_state = None;
            }
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// What a start did.
enum Start {
    Started,
    /// A volume the guest needs is still being made (boot from volume).
    Waiting(String),
}

/// Starts a guest whose volumes exist already (a start or reboot after the build).
async fn start_ready(ctx: &Ctx, server: &Server) -> anyhow::Result<()> {
    match start_guest(ctx, server).await? {
        Start::Started => Ok(()),
        Start::Waiting(volume) => bail!("volume {volume} is not ready"),
    }
}

/// Disks, config drive, taps, QEMU.
async fn start_guest(ctx: &Ctx, server: &Server) -> anyhow::Result<Start> {
    let data_dir = &ctx.config.data_dir;
    let dir = instance_dir(data_dir, &server.id);
    qemu::check_binary(&ctx.config.qemu)?;
    tokio::fs::create_dir_all(&dir).await?;
    let volume_disks = match volumes::at_start(ctx, server).await? {
        volumes::AtStart::Ready(d) => d,
        volumes::AtStart::Wait(volume) => return Ok(Start::Waiting(volume)),
    };
    let root_overlay = !server.image_id.is_empty();
    // The image's properties (kernel, config drive) come from the image, or for a
    // server booting from a volume from the volume's copy of them.
    let properties = if root_overlay {
        let image = disks::image(&ctx.store, &server.image_id).await?;
        let base = disks::cached(data_dir, &ctx.images, &image.id).await?;
        let format = disks::backing_format(image.disk_format.as_deref())?;
        let vsize = match image.virtual_size {
            Some(v) if v > 0 => v,
            _ => disks::virtual_size(&base, format).await?,
        };
        disks::ensure_overlay(
            &dir.join("disk.qcow2"),
            &base,
            format,
            disks::overlay_size(server.flavor.disk, vsize),
        )
        .await
        .context("creating the root disk")?;
        image.properties
    } else {
        let Some(boot) = volume_disks.iter().find(|d| d.slot.is_none()) else {
            bail!("the server has neither an image nor a boot volume");
        };
        ctx.store
            .get::<nimbus_volume::types::Volume>(&boot.volume_id)
            .await?
            .context("the boot volume is gone")?
            .value
            .image_metadata
    };
    let property = |key: &str| {
        properties
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

    let direct = match property("kernel_id") {
        Some(kernel_id) => {
            disks::image(&ctx.store, kernel_id)
                .await
                .context("kernel image")?;
            let kernel = disks::cached(data_dir, &ctx.images, kernel_id).await?;
            let initrd = match property("ramdisk_id") {
                Some(r) => {
                    disks::image(&ctx.store, r).await.context("ramdisk image")?;
                    Some(disks::cached(data_dir, &ctx.images, r).await?)
                }
                None => None,
            };
            Some(DirectBoot {
                kernel,
                initrd,
                append: property("os_command_line")
                    .unwrap_or("console=ttyS0")
                    .to_string(),
            })
        }
        None => None,
    };

    let (ports, mtus, subnets) = configdrive::server_ports(&ctx.store, server).await?;
    // Without a config drive the guest reads the same data from the metadata
    // service (crate::metadata) after its DHCP lease.
    let config_drive = configdrive::wanted(server, property("img_config_drive"));
    if config_drive {
        let network_data = configdrive::network_data(&ports, &subnets, &mtus);
        configdrive::ensure_iso(&dir.join("disk.config"), server, &network_data).await?;
    }

    let plugs: Vec<Plug> = ports
        .iter()
        .zip(&mtus)
        .map(|(p, mtu)| Plug {
            port_id: p.id.clone(),
            network_id: p.network_id.clone(),
            mtu: *mtu,
        })
        .collect();
    ctx.dataplane
        .plug(&plugs)
        .await
        .context("plugging the taps")?;

    let spec = LaunchSpec {
        qemu: ctx.config.qemu.clone(),
        netns: ctx.dataplane.netns().to_string(),
        server_id: server.id.clone(),
        instance_dir: dir.clone(),
        accel: ctx.accel.clone(),
        ram_mb: server.flavor.ram,
        vcpus: server.flavor.vcpus,
        direct,
        root_overlay,
        config_drive,
        volumes: volume_disks.clone(),
        nics: ports
            .iter()
            .map(|p| Nic {
                tap: names::tap(&p.id),
                mac: p.mac_address.clone(),
            })
            .collect(),
    };
    let pid = qemu::launch(&spec).await.context("starting QEMU")?;
    tracing::info!(server = %server.id, pid, accel = %ctx.accel, "QEMU started");
    for p in &ports {
        mark_port_active(ctx, &p.id).await?;
    }
    volumes::started(ctx, &volume_disks).await?;
    Ok(Start::Started)
}

async fn mark_port_active(ctx: &Ctx, port_id: &str) -> anyhow::Result<()> {
    let host = ctx.config.host.clone();
    ctx.store
        .modify::<Port, _, _>(port_id, |p| {
            if p.status == "ACTIVE" && p.host == host {
                return Ok(Change::Keep(()));
            }
            p.status = "ACTIVE".into();
            p.host = host.clone();
            p.updated_at = Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

fn shows_running(s: &Server, accel: &str) -> bool {
    s.vm_state == VmState::Active
        && s.power_state == PowerState::Running
        && s.task_state.is_none()
        && s.launched_at.is_some()
        && s.accelerator.as_deref() == Some(accel)
}

fn shows_stopped(s: &Server) -> bool {
    s.vm_state == VmState::Stopped
        && s.power_state == PowerState::Shutdown
        && s.task_state.is_none()
}

async fn mark_running(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let accel = ctx.accel.clone();
    ctx.store
        .modify::<Server, _, _>(id, |s| {
            if shows_running(s, &accel) {
                return Ok(Change::Keep(()));
            }
            s.vm_state = VmState::Active;
            s.power_state = PowerState::Running;
            s.task_state = None;
            s.fault = None;
            s.launched_at.get_or_insert_with(Utc::now);
            s.accelerator = Some(accel.clone());
            s.updated_at = Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// Stopped and shut down; `by_itself`: the guest died unasked, so the intent
/// becomes Stopped too (as Nova's power-state sync does through its stop API).
async fn set_stopped(ctx: &Ctx, id: &str, by_itself: bool) -> anyhow::Result<()> {
    ctx.store
        .modify::<Server, _, _>(id, |s| {
            let done = shows_stopped(s) && (!by_itself || s.desired_power == PowerIntent::Stopped);
            if done {
                return Ok(Change::Keep(()));
            }
            s.vm_state = VmState::Stopped;
            s.power_state = PowerState::Shutdown;
            s.task_state = None;
            if by_itself {
                s.desired_power = PowerIntent::Stopped;
            }
            s.updated_at = Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// ERROR with a fault saying why.
async fn fail(ctx: &Ctx, id: &str, error: &anyhow::Error) -> anyhow::Result<()> {
    let message = format!("{error:#}");
    tracing::warn!(server = %id, "failed: {message}");
    ctx.store
        .modify::<Server, _, _>(id, |s| {
            s.vm_state = VmState::Error;
            s.task_state = None;
            s.power_state = PowerState::NoState;
            s.fault = Some(Fault {
                code: 500,
                message: message.clone(),
                details: String::new(),
                created: Utc::now(),
            });
            s.updated_at = Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// QEMU, taps, instance dir, then the objects.
async fn delete(ctx: &Ctx, server: &Server) -> anyhow::Result<()> {
    tracing::info!(server = %server.id, "deleting");
    if server.task_state != Some(TaskState::Deleting) {
        // Let readers see DELETING while QEMU goes (best effort).
        let _ = ctx
            .store
            .modify::<Server, _, _>(&server.id, |s| {
                s.task_state = Some(TaskState::Deleting);
                Ok(Change::Write(()))
            })
            .await;
    }
    let ports: Vec<String> = ctx
        .store
        .list::<Port>(None)
        .await?
        .into_iter()
        .filter(|p| p.value.device_id == server.id)
        .map(|p| p.value.id)
        .chain(server.port_ids.iter().cloned())
        .collect();
    let started = Utc::now();
    remove_local(ctx, &server.id, &ports).await?;
    event(
        ctx,
        &server.id,
        "delete",
        "compute_terminate_instance",
        started,
        &Ok(()),
    )
    .await;
    nimbus_compute::lifecycle::finish_delete(&ctx.store, &ctx.networking, &server.id)
        .await
        .map_err(|e| anyhow::anyhow!("releasing the server's ports and deleting it: {e}"))?;
    tracing::info!(server = %server.id, "deleted");
    Ok(())
}

/// Stops the guest and removes its taps and instance directory.
pub(crate) async fn remove_local(ctx: &Ctx, id: &str, ports: &[String]) -> anyhow::Result<()> {
    let dir = instance_dir(&ctx.config.data_dir, id);
    qemu::kill(&dir, id).await;
    if !ports.is_empty() {
        ctx.dataplane.unplug(ports).await?;
    }
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}
