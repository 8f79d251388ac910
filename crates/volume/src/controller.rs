//! The storage controller: makes the files under `DATA_DIR/volumes/` match the
//! records. Level-triggered like the scheduler: every pass looks at the whole
//! state (a pass at start, then after each burst of volume/snapshot changes, and
//! every few seconds), so a restart simply carries on.
//!
//! - volume `creating` → its first top layer (blank, over a base image, over a
//!   snapshot's layer, or over a freshly frozen layer of the source volume), then
//!   `available` (or `error` with the reason);
//! - volume `extending` → `qemu-img resize` of its top, then `available`;
//! - snapshot `creating` → the volume's top is frozen into the snapshot's layer
//!   and the volume continues on a new top over it (one transaction writes both);
//! - snapshot / volume `deleting` → the record goes (a volume's key with it);
//! - then the sweep: every layer, base image and key no record refers to is
//!   removed. Files are only ever made before the record that names them is
//!   written, and only this task makes them, so the sweep never races a create.

use crate::storage::{self, Backing, Luks};
use crate::types::{
    Encryption, Snapshot, SnapshotStatus, Source, Volume, VolumeAttachment, VolumeStatus,
    VolumeType,
};
use crate::Volumes;
use anyhow::{bail, Context};
use nimbus_api::audit::AuditRecord;
use nimbus_store::{Change, Resource, Store, WatchFilter};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How many generations above a volume's current one may exist on disk before
/// its record names them (a freeze makes one at a time).
const PENDING_GENERATIONS: u64 = 2;

/// Passes also run this often without events.
const TICK: Duration = Duration::from_secs(5);

/// Runs forever.
pub async fn run(svc: Arc<Volumes>) {
    loop {
        let from = svc.store.revision();
        let filter = WatchFilter {
            kinds: vec![Volume::KIND.into(), Snapshot::KIND.into()],
            parent: None,
        };
        let mut watch = match svc.store.watch(filter, from).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "volume controller: watch failed; retrying");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        loop {
            if let Err(e) = pass(&svc).await {
                tracing::warn!(error = %e, "volume controller pass failed");
            }
            match tokio::time::timeout(TICK, watch.next()).await {
                Ok(Some(Ok(_))) | Err(_) => {
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout(Duration::from_millis(20), watch.next()).await
                    {
                    }
                }
                Ok(Some(Err(_))) | Ok(None) => break,
            }
        }
    }
}

/// One pass over every volume and snapshot, then the sweep.
pub async fn pass(svc: &Volumes) -> anyhow::Result<()> {
    let store = &svc.store;
    // A volume plugged into a guest belongs to the agent of its server for
    // snapshots and resizes (QEMU has its top open); see `nimbus_agent::volumes`.
    let plugged: HashSet<String> = store
        .list::<VolumeAttachment>(None)
        .await?
        .into_iter()
        .filter(|a| a.value.compute)
        .map(|a| a.value.id)
        .collect();
    for s in store.list::<Snapshot>(None).await? {
        match s.value.status {
            SnapshotStatus::Creating if plugged.contains(&s.value.volume_id) => {}
            SnapshotStatus::Creating => take_snapshot(svc, &s.value).await?,
            SnapshotStatus::Deleting => delete_record::<Snapshot>(store, &s.value.id).await?,
            _ => {}
        }
    }
    for v in store.list::<Volume>(None).await? {
        match v.value.status {
            VolumeStatus::Creating => create_volume(svc, &v.value).await?,
            VolumeStatus::Extending if plugged.contains(&v.value.id) => {}
            VolumeStatus::Extending => extend_volume(svc, &v.value).await?,
            VolumeStatus::Uploading => upload_volume(svc, &v.value).await?,
            VolumeStatus::Deleting => delete_record::<Volume>(store, &v.value.id).await?,
            _ => {}
        }
    }
    sweep(svc).await
}

/// Builds a volume's first top layer.
async fn create_volume(svc: &Volumes, v: &Volume) -> anyhow::Result<()> {
    match make_volume(svc, v).await {
        Ok(made) => {
            // Writers are serialised in one process, so this read-change-write
            // in one transaction cannot lose a concurrent change.
            let mut tx = svc.store.begin().await?;
            let Some(found) = tx.get::<Volume>(&v.id).await? else {
                return Ok(());
            };
            let mut vol = found.value;
            if vol.status != VolumeStatus::Creating {
                return Ok(());
            }
            // Made for a server that boots from it: its agent takes it from here.
            let attached = tx.get::<VolumeAttachment>(&v.id).await?.is_some();
            vol.top = Some(made.top.clone());
            vol.chain = made.chain.clone();
            vol.base_image = made.base_image.clone();
            vol.generation = made.generation;
            vol.status = if attached {
                VolumeStatus::Attaching
            } else {
                VolumeStatus::Available
            };
            vol.updated_at = chrono::Utc::now();
            tx.update(&vol, Some(found.revision)).await?;
            tx.commit().await?;
            tracing::info!(volume = %v.id, status = vol.status.as_str(), "volume made");
            Ok(())
        }
        Err(e) => fail_volume(&svc.store, &v.id, VolumeStatus::Error, &e).await,
    }
}

/// What [`make_volume`] made.
struct Made {
    top: String,
    chain: Vec<String>,
    base_image: Option<String>,
    generation: u64,
}

async fn make_volume(svc: &Volumes, v: &Volume) -> anyhow::Result<Made> {
    let layout = &svc.layout;
    let encryption = encryption_of(svc, &v.volume_type_id).await?;
    let encrypted = encryption.is_some();
    let generation = v.generation;
    let top = storage::layer_name(&v.id, generation);
    let top_path = layout.layer(&top);
    let (chain, base_image, backing): (Vec<String>, Option<String>, Option<(PathBuf, &str)>) =
        match &v.source {
            Source::Blank => (Vec::new(), None, None),
            Source::Image(image_id) => {
                let image = svc
                    .store
                    .get::<nimbus_image::types::Image>(image_id)
                    .await?
                    .with_context(|| format!("image {image_id} is gone"))?
                    .value;
                let format = storage::backing_format(image.disk_format.as_deref())?;
                let base = layout.link_base_image(image_id).await?;
                (Vec::new(), Some(image_id.clone()), Some((base, format)))
            }
            Source::Snapshot(snap_id) => {
                let snap = svc
                    .store
                    .get::<Snapshot>(snap_id)
                    .await?
                    .with_context(|| format!("snapshot {snap_id} is gone"))?
                    .value;
                let Some(layer) = snap.layer.clone() else {
                    bail!("snapshot {snap_id} has no data");
                };
                let mut chain = vec![layer.clone()];
                chain.extend(snap.chain.iter().cloned());
                (
                    chain,
                    snap.base_image.clone(),
                    Some((layout.layer(&layer), "qcow2")),
                )
            }
            Source::Volume(src_id) => {
                let (layer, below, base) = freeze(svc, src_id).await?;
                let mut chain = vec![layer.clone()];
                chain.extend(below);
                (chain, base, Some((layout.layer(&layer), "qcow2")))
            }
        };
    let key = if encrypted {
        let from = match &v.source {
            Source::Snapshot(s) => Some(
                svc.store
                    .get::<Snapshot>(s)
                    .await?
                    .context("snapshot gone")?
                    .value
                    .volume_id,
            ),
            Source::Volume(src) => Some(src.clone()),
            _ => None,
        };
        Some(layout.make_key(&v.id, from.as_deref()).await?)
    } else {
        None
    };
    let backing = backing
        .as_ref()
        .map(|(p, f)| Backing { path: p, format: f });
    let luks = match (&key, &encryption) {
        (Some(k), Some(e)) => Some(Luks {
            key: k,
            cipher: &e.cipher,
            key_size: e.key_size,
        }),
        _ => None,
    };
    storage::create_layer(&top_path, v.size, backing, luks.as_ref()).await?;
    Ok(Made {
        top,
        chain,
        base_image,
        generation,
    })
}

/// Freezes `volume_id`'s current top: the volume continues on a new top over it.
/// Returns the frozen layer, the layers below it and the base image.
async fn freeze(
    svc: &Volumes,
    volume_id: &str,
) -> anyhow::Result<(String, Vec<String>, Option<String>)> {
    let v = svc
        .store
        .get::<Volume>(volume_id)
        .await?
        .with_context(|| format!("volume {volume_id} is gone"))?
        .value;
    let Some(frozen) = v.top.clone() else {
        bail!("volume {volume_id} has no data yet");
    };
    // An extend asked for after the snapshot is fine: it resizes whatever top
    // the volume has when it runs. Attached volumes freeze through QMP (agent).
    if !matches!(v.status, VolumeStatus::Available | VolumeStatus::Extending) {
        bail!("volume {volume_id} is {}", v.status.as_str());
    }
    let next_gen = v.generation + 1;
    let next = storage::layer_name(&v.id, next_gen);
    let key = svc.layout.key(&v.id);
    let encryption = match v.encryption_key_id {
        Some(_) => encryption_of(svc, &v.volume_type_id).await?,
        None => None,
    };
    let luks = encryption.as_ref().map(|e| Luks {
        key: &key,
        cipher: &e.cipher,
        key_size: e.key_size,
    });
    let frozen_path = svc.layout.layer(&frozen);
    storage::create_layer(
        &svc.layout.layer(&next),
        v.size,
        Some(Backing {
            path: &frozen_path,
            format: "qcow2",
        }),
        luks.as_ref(),
    )
    .await?;
    let written = svc
        .store
        .modify::<Volume, _, _>(volume_id, |vol| {
            if vol.top.as_deref() != Some(frozen.as_str()) {
                return Err(nimbus_store::StoreError::Conflict {
                    kind: "volume".into(),
                    detail: format!("{volume_id} changed while it was frozen"),
                });
            }
            vol.chain.insert(0, frozen.clone());
            vol.top = Some(next.clone());
            vol.generation = next_gen;
            Ok(Change::Write(()))
        })
        .await?;
    if written.is_none() {
        bail!("volume {volume_id} is gone");
    }
    Ok((frozen, v.chain, v.base_image))
}

/// The encryption spec of a volume type (None: plain; types in use cannot be
/// deleted, so a missing type only happens to volumes being deleted).
async fn encryption_of(svc: &Volumes, type_id: &str) -> anyhow::Result<Option<Encryption>> {
    Ok(svc
        .store
        .get::<VolumeType>(type_id)
        .await?
        .and_then(|t| t.value.encryption))
}

/// Takes a snapshot: freezes the volume's top into it.
async fn take_snapshot(svc: &Volumes, s: &Snapshot) -> anyhow::Result<()> {
    let result = freeze(svc, &s.volume_id).await;
    let outcome = match &result {
        Ok(_) => "available".to_string(),
        Err(e) => format!("error: {e:#}"),
    };
    let written = svc
        .store
        .modify_with::<Snapshot, _, _>(&s.id, |snap, _tx| {
            if snap.status != SnapshotStatus::Creating {
                return Ok(Change::Keep(()));
            }
            match &result {
                Ok((layer, chain, base)) => {
                    snap.layer = Some(layer.clone());
                    snap.chain = chain.clone();
                    snap.base_image = base.clone();
                    snap.status = SnapshotStatus::Available;
                }
                Err(e) => {
                    snap.status = SnapshotStatus::Error;
                    snap.error = Some(format!("{e:#}"));
                }
            }
            snap.updated_at = chrono::Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    if written.is_some() {
        tracing::info!(snapshot = %s.id, %outcome, "snapshot taken");
    }
    Ok(())
}

/// Grows a volume's top to its target size.
async fn extend_volume(svc: &Volumes, v: &Volume) -> anyhow::Result<()> {
    let (Some(top), Some(target)) = (&v.top, v.target_size) else {
        let e = anyhow::anyhow!("nothing to extend");
        return fail_volume(&svc.store, &v.id, VolumeStatus::ErrorExtending, &e).await;
    };
    let key = v.encryption_key_id.as_ref().map(|_| svc.layout.key(&v.id));
    match storage::resize_layer(&svc.layout.layer(top), target, key.as_deref()).await {
        Ok(()) => {
            svc.store
                .modify::<Volume, _, _>(&v.id, |vol| {
                    if vol.status != VolumeStatus::Extending {
                        return Ok(Change::Keep(()));
                    }
                    vol.size = target.max(vol.size);
                    vol.target_size = None;
                    vol.status = VolumeStatus::Available;
                    vol.updated_at = chrono::Utc::now();
                    Ok(Change::Write(()))
                })
                .await?;
            Ok(())
        }
        Err(e) => fail_volume(&svc.store, &v.id, VolumeStatus::ErrorExtending, &e).await,
    }
}

/// Fills the queued image of an `os-volume_upload_image`: the chain flattened
/// with `qemu-img convert` into a temporary file (not a `.qcow2` name, so the
/// sweep leaves it alone), handed to the image service. The volume goes back to
/// `available` either way; a failed upload's image is removed.
async fn upload_volume(svc: &Volumes, v: &Volume) -> anyhow::Result<()> {
    let (Some(top), Some(upload)) = (&v.top, &v.upload) else {
        return finish_upload(&svc.store, &v.id, None).await;
    };
    let tmp = svc.layout.dir.join(format!(".upload-{}.tmp", v.id));
    let result = async {
        storage::qemu_img(&[
            "convert".into(),
            "-q".into(),
            "-O".into(),
            upload.disk_format.clone(),
            svc.layout.layer(top).display().to_string(),
            tmp.display().to_string(),
        ])
        .await?;
        svc.images
            .import_file(&upload.image_id, &tmp, &upload.disk_format)
            .await
    }
    .await;
    storage::remove(&tmp).await;
    match result {
        Ok(_) => finish_upload(&svc.store, &v.id, None).await,
        Err(e) => {
            let reason = format!("{e:#}");
            tracing::warn!(volume = %v.id, error = %reason, "upload to image failed");
            let mut tx = svc.store.begin().await?;
            if let Some(image) = tx
                .get::<nimbus_image::types::Image>(&upload.image_id)
                .await?
            {
                if image.value.status == nimbus_image::types::Status::Queued {
                    tx.delete::<nimbus_image::types::Image>(&upload.image_id, None)
                        .await?;
                }
            }
            AuditRecord::new(None, "volume.volume.upload_image", "volume", &v.id, false)
                .with_detail(reason.clone())
                .write(&mut tx)
                .await?;
            tx.commit().await?;
            finish_upload(&svc.store, &v.id, Some(reason)).await
        }
    }
}

async fn finish_upload(store: &Store, id: &str, error: Option<String>) -> anyhow::Result<()> {
    store
        .modify::<Volume, _, _>(id, |vol| {
            if vol.status != VolumeStatus::Uploading {
                return Ok(Change::Keep(()));
            }
            vol.status = VolumeStatus::Available;
            vol.upload = None;
            if error.is_some() {
                vol.error = error.clone();
            }
            vol.updated_at = chrono::Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    Ok(())
}

/// Puts a volume into an error status with the reason (and an audit record).
async fn fail_volume(
    store: &Store,
    id: &str,
    status: VolumeStatus,
    e: &anyhow::Error,
) -> anyhow::Result<()> {
    let reason = format!("{e:#}");
    tracing::warn!(volume = %id, error = %reason, "volume failed");
    store
        .modify_with::<Volume, _, _>(id, |vol, _tx| {
            vol.status = status;
            vol.target_size = None;
            vol.error = Some(reason.clone());
            vol.updated_at = chrono::Utc::now();
            Ok(Change::Write(()))
        })
        .await?;
    let mut tx = store.begin().await?;
    AuditRecord::new(None, "volume.volume.realise", "volume", id, false)
        .with_detail(reason)
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a record whose deletion was asked for (its files go in the sweep).
async fn delete_record<T: Resource>(store: &Store, id: &str) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    match tx.delete::<T>(id, None).await {
        Ok(_) | Err(nimbus_store::StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    tracing::info!(kind = T::KIND, %id, "deleted");
    Ok(())
}

/// Removes every layer, base image and key that no record refers to.
pub async fn sweep(svc: &Volumes) -> anyhow::Result<()> {
    let mut layers = HashSet::new();
    let mut bases = HashSet::new();
    let mut keys = HashSet::new();
    for v in svc.store.list::<Volume>(None).await? {
        let v = v.value;
        layers.extend(v.top.iter().cloned());
        layers.extend(v.chain.iter().cloned());
        bases.extend(v.base_image.iter().cloned());
        if let Source::Image(i) = &v.source {
            bases.insert(i.clone());
        }
        keys.insert(format!("{}.key", v.id));
        // The next generations' layers are in the making (by this task, or by
        // the agent freezing an attached volume) before the record names them.
        for generation in v.generation + 1..=v.generation + PENDING_GENERATIONS {
            layers.insert(storage::layer_name(&v.id, generation));
        }
    }
    for s in svc.store.list::<Snapshot>(None).await? {
        let s = s.value;
        layers.extend(s.layer.iter().cloned());
        layers.extend(s.chain.iter().cloned());
        bases.extend(s.base_image.iter().cloned());
    }
    remove_unlisted(&svc.layout.dir, &layers, |n| n.ends_with(".qcow2")).await?;
    remove_unlisted(&svc.layout.images_dir(), &bases, |_| true).await?;
    remove_unlisted(&svc.layout.keys_dir(), &keys, |_| true).await?;
    Ok(())
}

async fn remove_unlisted(
    dir: &std::path::Path,
    keep: &HashSet<String>,
    ours: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().await?.is_file() || !ours(&name) || keep.contains(&name) {
            continue;
        }
        tracing::info!(file = %entry.path().display(), "removing volume data no record uses");
        storage::remove(&entry.path()).await;
    }
    Ok(())
}
