//! Volumes in guests (ADR 0010): the agent of a server's host owns the volumes
//! attached to it through Nova. It puts them on the guest's command line at every
//! start, plugs and unplugs them through QMP while the guest runs, and carries
//! out extends and snapshots of them (online with QMP, offline with qemu-img
//! while the guest is off): the storage controller leaves plugged volumes alone.
//!
//! - [`spec`]: how a volume looks to QEMU (nodes, secret, device; one JSON form
//!   for the command line and for QMP);
//! - [`hotplug`]: plug, unplug, resize and freeze through QMP;
//! - this file: one reconcile step per call for a server's attachments.

pub mod hotplug;
pub mod spec;

use crate::qemu;
use crate::Ctx;
use anyhow::Context;
use chrono::Utc;
use nimbus_compute::server::{instance_dir, Server};
use nimbus_store::Store;
use nimbus_volume::attach;
use nimbus_volume::storage::{self, Backing, Layout, Luks};
use nimbus_volume::types::{
    AttachmentStatus, Snapshot, SnapshotStatus, Volume, VolumeAttachment, VolumeStatus, VolumeType,
};
pub use spec::{VolumeDisk, HOTPLUG_PORTS};

/// The server's compute attachments (the ones this agent plugs), boot volume
/// first. A plain read: this runs on every worker tick.
pub async fn attachments(store: &Store, server_id: &str) -> anyhow::Result<Vec<VolumeAttachment>> {
    Ok(attach::of_compute(store, server_id).await?)
}

/// What a guest start needs to know about its volumes.
pub enum AtStart {
    /// Every disk to put on the command line (boot volume first, if any).
    Ready(Vec<VolumeDisk>),
    /// A volume is still being made: start later.
    Wait(String),
}

/// The volume disks of a guest about to start: every attachment that is
/// attaching or attached (a detach asked for while the guest was off finishes
/// here), each on its recorded port or the first free one.
pub async fn at_start(ctx: &Ctx, server: &Server) -> anyhow::Result<AtStart> {
    let layout = Layout::new(&ctx.config.data_dir);
    let list = attachments(&ctx.store, &server.id).await?;
    let mut taken: Vec<u32> = list.iter().filter_map(|a| a.slot).collect();
    let mut disks = Vec::new();
    for a in list {
        match a.status {
            AttachmentStatus::Detaching => {
                finish_detach(&ctx.store, &a.id).await?;
                continue;
            }
            AttachmentStatus::Reserved => continue,
            AttachmentStatus::Attaching | AttachmentStatus::Attached => {}
        }
        let volume = volume(&ctx.store, &a.id).await?;
        match volume.status {
            VolumeStatus::Creating => return Ok(AtStart::Wait(a.id.clone())),
            VolumeStatus::Error => anyhow::bail!("volume {} could not be made", a.id),
            _ => {}
        }
        if volume.top.is_none() {
            return Ok(AtStart::Wait(a.id.clone()));
        }
        let boot = a.boot_index == Some(0);
        let slot = if boot {
            None
        } else {
            match a.slot {
                Some(s) => Some(s),
                None => {
                    let s = spec::free_slot(&taken).context("no free hot-plug port")?;
                    taken.push(s);
                    Some(s)
                }
            }
        };
        disks.push(spec::disk(&layout, &volume, &a, slot, boot)?);
    }
    Ok(AtStart::Ready(disks))
}

/// After a start: the disks on the command line are attached (with their port).
pub async fn started(ctx: &Ctx, disks: &[VolumeDisk]) -> anyhow::Result<()> {
    for d in disks {
        let mut tx = ctx.store.begin().await?;
        attach::finish_attach(&mut tx, &d.volume_id, d.slot).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// One step for the server's volumes; true when it did something (the caller
/// then reconciles again before looking at other work).
pub async fn reconcile(ctx: &Ctx, server: &Server, running: bool) -> anyhow::Result<bool> {
    let list = attachments(&ctx.store, &server.id).await?;
    if list.is_empty() {
        return Ok(false);
    }
    let sock = qemu::qmp_socket(&instance_dir(&ctx.config.data_dir, &server.id));
    let layout = Layout::new(&ctx.config.data_dir);
    for a in &list {
        match a.status {
            AttachmentStatus::Attaching => {
                let volume = volume(&ctx.store, &a.id).await?;
                if volume.top.is_none() {
                    continue; // still being made
                }
                let taken: Vec<u32> = list
                    .iter()
                    .filter(|o| o.id != a.id)
                    .filter_map(|o| o.slot)
                    .collect();
                let started = Utc::now();
                let result = async {
                    if !running {
                        // On the command line at the next start.
                        return Ok(None);
                    }
                    let slot = spec::free_slot(&taken).context(
                        "the guest has no free hot-plug port (at most 8 volumes per server)",
                    )?;
                    let disk = spec::disk(&layout, &volume, a, Some(slot), false)?;
                    hotplug::plug(&sock, &disk).await?;
                    Ok(Some(slot))
                }
                .await;
                crate::worker::event(
                    ctx,
                    &server.id,
                    "attach_volume",
                    "compute_attach_volume",
                    started,
                    &result,
                )
                .await;
                match result {
                    Ok(slot) => {
                        let mut tx = ctx.store.begin().await?;
                        attach::finish_attach(&mut tx, &a.id, slot).await?;
                        tx.commit().await?;
                        tracing::info!(server = %server.id, volume = %a.id, ?slot, "volume attached");
                    }
                    Err(e) => {
                        // Nova rolls a failed attach back: the volume is available again.
                        tracing::warn!(server = %server.id, volume = %a.id, "attach failed: {e:#}");
                        finish_detach(&ctx.store, &a.id).await?;
                    }
                }
                return Ok(true);
            }
            AttachmentStatus::Detaching => {
                let started = Utc::now();
                let result = if running {
                    hotplug::unplug(&sock, &a.id).await
                } else {
                    Ok(())
                };
                crate::worker::event(
                    ctx,
                    &server.id,
                    "detach_volume",
                    "compute_detach_volume",
                    started,
                    &result,
                )
                .await;
                result.with_context(|| format!("detaching volume {}", a.id))?;
                finish_detach(&ctx.store, &a.id).await?;
                tracing::info!(server = %server.id, volume = %a.id, "volume detached");
                return Ok(true);
            }
            AttachmentStatus::Attached => {
                let volume = volume(&ctx.store, &a.id).await?;
                if volume.status == VolumeStatus::Extending {
                    extend(ctx, &layout, &sock, &volume, running).await?;
                    return Ok(true);
                }
                if let Some(snap) = pending_snapshot(&ctx.store, &a.id).await? {
                    snapshot(ctx, &layout, &sock, &volume, &snap, running).await?;
                    return Ok(true);
                }
            }
            AttachmentStatus::Reserved => {}
        }
    }
    Ok(false)
}

async fn volume(store: &Store, id: &str) -> anyhow::Result<Volume> {
    Ok(store
        .get::<Volume>(id)
        .await?
        .with_context(|| format!("volume {id} is gone"))?
        .value)
}

async fn finish_detach(store: &Store, volume_id: &str) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    attach::finish_detach(&mut tx, volume_id).await?;
    tx.commit().await?;
    Ok(())
}

/// `extending` on a plugged volume: `block_resize` while the guest runs (the
/// guest sees the new size at once), `qemu-img resize` while it is off.
async fn extend(
    ctx: &Ctx,
    layout: &Layout,
    sock: &std::path::Path,
    v: &Volume,
    running: bool,
) -> anyhow::Result<()> {
    let (Some(top), Some(target)) = (&v.top, v.target_size) else {
        return settle_extend(&ctx.store, &v.id, None).await;
    };
    let result = if running {
        hotplug::resize(sock, &spec::node_name(&v.id, v.generation), target << 30).await
    } else {
        let key = v.encryption_key_id.as_ref().map(|_| layout.key(&v.id));
        storage::resize_layer(&layout.layer(top), target, key.as_deref()).await
    };
    match result {
        Ok(()) => {
            tracing::info!(volume = %v.id, size = target, online = running, "volume extended");
            settle_extend(&ctx.store, &v.id, Some(target)).await
        }
        Err(e) => {
            tracing::warn!(volume = %v.id, "extend failed: {e:#}");
            settle_extend(&ctx.store, &v.id, None).await
        }
    }
}

/// Ends an extend: the new size (None: failed, the size stays), back to in-use.
async fn settle_extend(store: &Store, id: &str, size: Option<u64>) -> anyhow::Result<()> {
    store
        .modify::<Volume, _, _>(id, |vol| {
            if vol.status != VolumeStatus::Extending {
                return Ok(nimbus_store::Change::Keep(()));
            }
            if let Some(s) = size {
                vol.size = vol.size.max(s);
            } else {
                vol.error = Some("extend failed".into());
            }
            vol.target_size = None;
            vol.status = VolumeStatus::InUse;
            vol.updated_at = Utc::now();
            Ok(nimbus_store::Change::Write(()))
        })
        .await?;
    Ok(())
}

/// The oldest snapshot still to be taken of `volume_id`.
async fn pending_snapshot(store: &Store, volume_id: &str) -> anyhow::Result<Option<Snapshot>> {
    let mut pending: Vec<Snapshot> = store
        .list::<Snapshot>(None)
        .await?
        .into_iter()
        .map(|s| s.value)
        .filter(|s| s.volume_id == volume_id && s.status == SnapshotStatus::Creating)
        .collect();
    pending.sort_by_key(|s| s.created_at);
    Ok(pending.into_iter().next())
}

/// Takes a snapshot of a plugged volume: its top is frozen into the snapshot and
/// the volume continues on the next generation's layer. While the guest runs,
/// QEMU switches to the new layer with `blockdev-snapshot` (no pause, no copy).
async fn snapshot(
    ctx: &Ctx,
    layout: &Layout,
    sock: &std::path::Path,
    v: &Volume,
    snap: &Snapshot,
    running: bool,
) -> anyhow::Result<()> {
    let result = freeze(ctx, layout, sock, v, running).await;
    let outcome = match &result {
        Ok(_) => "available".to_string(),
        Err(e) => format!("error: {e:#}"),
    };
    let mut tx = ctx.store.begin().await?;
    if let Some(found) = tx.get::<Snapshot>(&snap.id).await? {
        let mut s = found.value;
        if s.status == SnapshotStatus::Creating {
            match &result {
                Ok(()) => {
                    s.layer = v.top.clone();
                    s.chain = v.chain.clone();
                    s.base_image = v.base_image.clone();
                    s.status = SnapshotStatus::Available;
                }
                Err(e) => {
                    s.status = SnapshotStatus::Error;
                    s.error = Some(format!("{e:#}"));
                }
            }
            s.updated_at = Utc::now();
            tx.update(&s, Some(found.revision)).await?;
        }
    }
    if result.is_ok() {
        let found = tx
            .get::<Volume>(&v.id)
            .await?
            .with_context(|| format!("volume {} is gone", v.id))?;
        let mut vol = found.value;
        if vol.top == v.top {
            let frozen = vol.top.take().expect("checked above");
            vol.chain.insert(0, frozen);
            vol.generation = v.generation + 1;
            vol.top = Some(storage::layer_name(&v.id, vol.generation));
            vol.updated_at = Utc::now();
            tx.update(&vol, Some(found.revision)).await?;
        }
    }
    tx.commit().await?;
    tracing::info!(snapshot = %snap.id, volume = %v.id, online = running, %outcome, "snapshot taken");
    Ok(())
}

/// Makes the next generation's layer over the current top and (guest running)
/// moves QEMU onto it. Safe to redo: an existing next layer that QEMU already
/// writes to is kept.
async fn freeze(
    ctx: &Ctx,
    layout: &Layout,
    sock: &std::path::Path,
    v: &Volume,
    running: bool,
) -> anyhow::Result<()> {
    let top = v.top.as_deref().context("the volume has no data")?;
    let next_gen = v.generation + 1;
    let next_path = layout.layer(&storage::layer_name(&v.id, next_gen));
    let next_node = spec::node_name(&v.id, next_gen);
    if running && hotplug::has_node(sock, &next_node).await? {
        return Ok(()); // switched before a crash; only the record is missing
    }
    let encryption = match &v.encryption_key_id {
        Some(_) => ctx
            .store
            .get::<VolumeType>(&v.volume_type_id)
            .await?
            .and_then(|t| t.value.encryption),
        None => None,
    };
    let key = layout.key(&v.id);
    let luks = encryption.as_ref().map(|e| Luks {
        key: &key,
        cipher: &e.cipher,
        key_size: e.key_size,
    });
    let top_path = layout.layer(top);
    storage::create_layer(
        &next_path,
        v.size,
        Some(Backing {
            path: &top_path,
            format: "qcow2",
        }),
        luks.as_ref(),
    )
    .await?;
    if running {
        let overlay = spec::layer_node(
            &next_path,
            Some(next_node),
            v.encryption_key_id.as_ref().map(|_| spec::secret_id(&v.id)),
            spec::Below::Nothing,
        );
        hotplug::switch_to_overlay(sock, &spec::node_name(&v.id, v.generation), overlay).await?;
    }
    Ok(())
}
