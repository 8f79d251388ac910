//! The backup controller: makes the backup store (`DATA_DIR/backups/`,
//! [`crate::backup_store`]) match the backup records. Level-triggered like the
//! storage controller ([`crate::controller`]): a pass at start, after each
//! burst of backup/snapshot/volume changes and every few seconds.
//!
//! - backup `creating` → a temporary snapshot of the volume (a [`Snapshot`]
//!   with `for_backup`, hidden from users) freezes the data, made by the
//!   storage controller (or by the agent when the volume is plugged into a
//!   guest); once it is available its frozen chain is copied (full, or only the
//!   layers frozen since the parent backup's layer), then the backup is
//!   `available` and the temporary snapshot is deleted. A backup of a user's
//!   snapshot copies that snapshot's chain directly. Backups thus only read
//!   frozen layers and never race a running guest;
//! - backup `restoring` → the target volume (`restoring-backup`) gets a new top
//!   layer filled from the backup chain (its old layers go in the storage
//!   sweep), encrypted with its own key when its type is encrypted;
//! - backup `deleting` → the record goes;
//! - then the sweep: every backup file, key or temporary file no record needs is
//!   removed. Only this task writes the store, and files exist before the
//!   records that name them, so the sweep never races a copy.

use crate::backup_store::{self, Chain, Node};
use crate::storage::{self, Luks};
use crate::types::{
    Backup, BackupStatus, Encryption, Snapshot, SnapshotStatus, Volume, VolumeStatus, VolumeType,
};
use crate::Volumes;
use anyhow::{bail, Context};
use nimbus_api::audit::AuditRecord;
use nimbus_store::{Resource, WatchFilter};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Passes also run this often without events.
const TICK: Duration = Duration::from_secs(5);

/// Runs forever.
pub async fn run(svc: Arc<Volumes>) {
    loop {
        let from = svc.store.revision();
        let filter = WatchFilter {
            kinds: vec![
                Backup::KIND.into(),
                Snapshot::KIND.into(),
                Volume::KIND.into(),
            ],
            parent: None,
        };
        let mut watch = match svc.store.watch(filter, from).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "backup controller: watch failed; retrying");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        loop {
            if let Err(e) = pass(&svc).await {
                tracing::warn!(error = %e, "backup controller pass failed");
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

/// One pass over every backup, then the sweep.
pub async fn pass(svc: &Volumes) -> anyhow::Result<()> {
    for b in svc.store.list::<Backup>(None).await? {
        let b = b.value;
        let step = match b.status {
            BackupStatus::Creating => create(svc, &b).await,
            BackupStatus::Restoring => restore(svc, &b).await,
            BackupStatus::Deleting => delete(svc, &b).await,
            _ => Ok(()),
        };
        if let Err(e) = step {
            tracing::warn!(backup = %b.id, error = %format!("{e:#}"), "backup step failed");
        }
    }
    sweep(svc).await
}

/// Moves a `creating` backup on: freeze, wait, copy.
async fn create(svc: &Volumes, b: &Backup) -> anyhow::Result<()> {
    let snap_id = match (&b.snapshot_id, &b.temp_snapshot) {
        (Some(s), _) | (None, Some(s)) => s.clone(),
        (None, None) => return start_snapshot(svc, b).await,
    };
    let Some(snap) = svc.store.get::<Snapshot>(&snap_id).await? else {
        let why = format!("snapshot {snap_id} is gone");
        return fail(svc, b, why.clone(), why).await;
    };
    let snap = snap.value;
    match snap.status {
        // The storage controller (or the agent of a plugged volume) freezes it.
        SnapshotStatus::Creating => return Ok(()),
        SnapshotStatus::Available => {}
        other => {
            let why = snap.error.clone().unwrap_or_default();
            let public = format!(
                "the volume could not be frozen (snapshot {})",
                other.as_str()
            );
            let reason = format!("snapshot {snap_id} is {}: {why}", other.as_str());
            return fail(svc, b, public, reason).await;
        }
    }
    match copy(svc, b, &snap).await {
        Ok(backing) => finish(svc, b, &snap, backing).await,
        // qemu-img's words name files of the data directory: the audit
        // record and the log get them, the user a summary.
        Err(e) => {
            let public = "copying the volume's data failed".to_string();
            fail(svc, b, public, format!("{e:#}")).await
        }
    }
}

/// Asks for the temporary snapshot that freezes the volume for `b`.
async fn start_snapshot(svc: &Volumes, b: &Backup) -> anyhow::Result<()> {
    let mut tx = svc.store.begin().await?;
    let Some(found) = tx.get::<Backup>(&b.id).await? else {
        return Ok(());
    };
    let mut backup = found.value;
    if backup.status != BackupStatus::Creating || backup.temp_snapshot.is_some() {
        return Ok(());
    }
    let Some(volume) = tx.get::<Volume>(&backup.volume_id).await? else {
        drop(tx);
        let why = format!("volume {} is gone", b.volume_id);
        return fail(svc, b, why.clone(), why).await;
    };
    let now = chrono::Utc::now();
    let snap = Snapshot {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: backup.project_id.clone(),
        user_id: backup.user_id.clone(),
        volume_id: backup.volume_id.clone(),
        name: Some(format!("backup-{}", backup.id)),
        description: Some("temporary snapshot of a backup".into()),
        size: volume.value.size,
        status: SnapshotStatus::Creating,
        metadata: Default::default(),
        error: None,
        layer: None,
        chain: Vec::new(),
        base_image: None,
        for_backup: Some(backup.id.clone()),
        created_at: now,
        updated_at: now,
    };
    tx.create(&snap).await?;
    backup.temp_snapshot = Some(snap.id.clone());
    backup.updated_at = now;
    tx.update(&backup, Some(found.revision)).await?;
    tx.commit().await?;
    Ok(())
}

/// The encryption of a volume type (None: plain, or the type is gone).
async fn encryption_of(svc: &Volumes, type_id: &str) -> anyhow::Result<Option<Encryption>> {
    Ok(svc
        .store
        .get::<VolumeType>(type_id)
        .await?
        .and_then(|t| t.value.encryption))
}

/// Copies a frozen snapshot chain into the backup's file. Returns the backup
/// whose file backs the new one (an incremental copy), if any.
async fn copy(svc: &Volumes, b: &Backup, snap: &Snapshot) -> anyhow::Result<Option<String>> {
    let layer = snap.layer.clone().context("the snapshot has no data")?;
    let mut names = vec![layer];
    names.extend(snap.chain.iter().cloned());
    let volume_key = b
        .encryption_key_id
        .as_ref()
        .map(|_| svc.layout.key(&b.volume_id));
    let chain = Chain {
        nodes: names
            .iter()
            .map(|n| Node {
                path: svc.layout.layer(n),
                key: volume_key.clone(),
            })
            .collect(),
        cut: false,
    };
    let encryption = match &volume_key {
        Some(_) => Some(
            encryption_of(svc, &b.volume_type_id)
                .await?
                .context("the encrypted volume's type is gone")?,
        ),
        None => None,
    };
    let backup_key = match &volume_key {
        Some(k) => Some(svc.backups.copy_key(&b.id, k).await?),
        None => None,
    };
    let luks = match (&backup_key, &encryption) {
        (Some(k), Some(e)) => Some(Luks {
            key: k,
            cipher: &e.cipher,
            key_size: e.key_size,
        }),
        _ => None,
    };
    let dest = svc.backups.file(&backup_store::file_name(&b.id));
    let parent = match (&b.parent_id, b.is_incremental) {
        (Some(p), true) => Some(
            svc.store
                .get::<Backup>(p)
                .await?
                .with_context(|| format!("parent backup {p} is gone"))?
                .value,
        ),
        _ => None,
    };
    // Where the parent's frozen layer sits in this chain: the layers above it
    // are what changed. Not there (the volume was restored since): copy all.
    let since = parent.as_ref().and_then(|p| {
        let frozen = p.frozen.as_ref()?;
        let file = p.file.as_ref()?;
        let at = names.iter().position(|n| n == frozen)?;
        Some((p.id.clone(), svc.backups.file(file), at))
    });
    match since {
        Some((parent_id, parent_file, changed)) => {
            backup_store::incremental(
                &svc.backups,
                &b.id,
                &chain,
                backup_store::Since {
                    changed,
                    parent: &parent_file,
                    size_gib: snap.size,
                },
                luks.as_ref(),
                &dest,
            )
            .await?;
            Ok(Some(parent_id))
        }
        None => {
            backup_store::full(&svc.backups, &b.id, &chain, &dest, luks.as_ref()).await?;
            Ok(None)
        }
    }
}

/// The copy is made: the backup is `available`, its temporary snapshot goes.
async fn finish(
    svc: &Volumes,
    b: &Backup,
    snap: &Snapshot,
    backing: Option<String>,
) -> anyhow::Result<()> {
    let mut tx = svc.store.begin().await?;
    let Some(found) = tx.get::<Backup>(&b.id).await? else {
        return Ok(());
    };
    let mut backup = found.value;
    // Deleted meanwhile: the file is unnamed and goes in the sweep.
    if backup.status != BackupStatus::Creating {
        return Ok(());
    }
    backup.file = Some(backup_store::file_name(&b.id));
    backup.backing = backing;
    backup.frozen = snap.layer.clone();
    backup.object_count = 1;
    backup.status = BackupStatus::Available;
    backup.updated_at = chrono::Utc::now();
    tx.update(&backup, Some(found.revision)).await?;
    drop_temp_snapshot(&mut tx, &backup).await?;
    tx.commit().await?;
    tracing::info!(backup = %b.id, incremental = backup.backing.is_some(), "backup made");
    Ok(())
}

/// Asks the storage controller to delete a backup's temporary snapshot.
async fn drop_temp_snapshot(tx: &mut nimbus_store::Tx<'_>, b: &Backup) -> anyhow::Result<()> {
    let Some(id) = &b.temp_snapshot else {
        return Ok(());
    };
    if let Some(found) = tx.get::<Snapshot>(id).await? {
        let mut s = found.value;
        if s.status != SnapshotStatus::Deleting {
            s.status = SnapshotStatus::Deleting;
            s.updated_at = chrono::Utc::now();
            tx.update(&s, Some(found.revision)).await?;
        }
    }
    Ok(())
}

/// The backup failed: `error` with the reason users see (`fail_reason`), and
/// the full one in the log and an audit record.
async fn fail(svc: &Volumes, b: &Backup, public: String, reason: String) -> anyhow::Result<()> {
    tracing::warn!(backup = %b.id, error = %reason, "backup failed");
    let mut tx = svc.store.begin().await?;
    let Some(found) = tx.get::<Backup>(&b.id).await? else {
        return Ok(());
    };
    let mut backup = found.value;
    if backup.status != BackupStatus::Creating {
        return Ok(());
    }
    backup.status = BackupStatus::Error;
    backup.fail_reason = Some(public);
    backup.updated_at = chrono::Utc::now();
    tx.update(&backup, Some(found.revision)).await?;
    drop_temp_snapshot(&mut tx, &backup).await?;
    AuditRecord::new(None, "volume.backup.create", "backup", &b.id, false)
        .with_detail(reason)
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A backup's chain of files, newest first, each with its own key.
async fn backup_chain(svc: &Volumes, b: &Backup) -> anyhow::Result<Chain> {
    let mut nodes = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = b.clone();
    loop {
        if !seen.insert(cur.id.clone()) {
            bail!("backup {} is its own ancestor", cur.id);
        }
        let file = cur
            .file
            .as_ref()
            .with_context(|| format!("backup {} has no data", cur.id))?;
        nodes.push(Node {
            path: svc.backups.file(file),
            key: cur
                .encryption_key_id
                .as_ref()
                .map(|_| svc.backups.key(&cur.id)),
        });
        let Some(next) = cur.backing.clone() else {
            break;
        };
        cur = svc
            .store
            .get::<Backup>(&next)
            .await?
            .with_context(|| format!("backup {next} (a parent) is gone"))?
            .value;
    }
    Ok(Chain { nodes, cut: true })
}

/// Restores a backup into its target volume.
async fn restore(svc: &Volumes, b: &Backup) -> anyhow::Result<()> {
    let Some(r) = &b.restore else {
        return end_restore(svc, b, None).await;
    };
    let target = match svc.store.get::<Volume>(&r.volume_id).await? {
        Some(v) if v.value.status == VolumeStatus::RestoringBackup => v.value,
        // Gone or reset by an admin: nothing to restore into.
        _ => return end_restore(svc, b, None).await,
    };
    let result = async {
        let chain = backup_chain(svc, b).await?;
        let encryption = match &target.encryption_key_id {
            Some(_) => Some(
                encryption_of(svc, &target.volume_type_id)
                    .await?
                    .context("the target's encrypted type is gone")?,
            ),
            None => None,
        };
        let key: Option<PathBuf> = match &encryption {
            Some(_) => {
                let k = svc.layout.key(&target.id);
                if tokio::fs::metadata(&k).await.is_err() {
                    // A volume made by this restore: its own fresh secret.
                    svc.layout.make_key(&target.id, None).await?;
                }
                Some(k)
            }
            None => None,
        };
        let luks = match (&key, &encryption) {
            (Some(k), Some(e)) => Some(Luks {
                key: k,
                cipher: &e.cipher,
                key_size: e.key_size,
            }),
            _ => None,
        };
        let generation = target.generation + 1;
        let name = storage::layer_name(&target.id, generation);
        backup_store::restore(
            &b.id,
            &chain,
            &svc.layout.layer(&name),
            target.size,
            luks.as_ref(),
        )
        .await?;
        Ok::<(String, u64), anyhow::Error>((name, generation))
    }
    .await;
    match result {
        Ok(made) => end_restore(svc, b, Some(Ok(made))).await,
        Err(e) => end_restore(svc, b, Some(Err(format!("{e:#}")))).await,
    }
}

/// Ends a restore: the backup is `available` again; the target volume (if the
/// restore ran) continues on the restored layer, or is `error`.
async fn end_restore(
    svc: &Volumes,
    b: &Backup,
    outcome: Option<Result<(String, u64), String>>,
) -> anyhow::Result<()> {
    let mut tx = svc.store.begin().await?;
    let Some(found) = tx.get::<Backup>(&b.id).await? else {
        return Ok(());
    };
    let mut backup = found.value;
    if backup.status != BackupStatus::Restoring {
        return Ok(());
    }
    let target_id = backup.restore.take().map(|r| r.volume_id);
    backup.status = BackupStatus::Available;
    backup.updated_at = chrono::Utc::now();
    tx.update(&backup, Some(found.revision)).await?;
    if let (Some(id), Some(outcome)) = (&target_id, &outcome) {
        if let Some(v) = tx.get::<Volume>(id).await? {
            let mut vol = v.value;
            if vol.status == VolumeStatus::RestoringBackup {
                match outcome {
                    Ok((top, generation)) => {
                        vol.top = Some(top.clone());
                        vol.chain = Vec::new();
                        vol.base_image = None;
                        vol.generation = *generation;
                        vol.status = VolumeStatus::Available;
                    }
                    Err(reason) => {
                        vol.status = VolumeStatus::Error;
                        vol.error = Some(reason.clone());
                        AuditRecord::new(None, "volume.backup.restore", "backup", &b.id, false)
                            .with_detail(reason.clone())
                            .write(&mut tx)
                            .await?;
                    }
                }
                vol.updated_at = chrono::Utc::now();
                tx.update(&vol, Some(v.revision)).await?;
            }
        }
    }
    tx.commit().await?;
    tracing::info!(backup = %b.id, volume = ?target_id, ok = ?outcome.map(|o| o.is_ok()), "restore ended");
    Ok(())
}

/// Removes a backup whose deletion was asked for: its temporary snapshot goes,
/// a restore it was doing leaves its target in `error`; files go in the sweep.
async fn delete(svc: &Volumes, b: &Backup) -> anyhow::Result<()> {
    let mut tx = svc.store.begin().await?;
    let Some(found) = tx.get::<Backup>(&b.id).await? else {
        return Ok(());
    };
    let backup = found.value;
    if backup.status != BackupStatus::Deleting {
        return Ok(());
    }
    drop_temp_snapshot(&mut tx, &backup).await?;
    if let Some(r) = &backup.restore {
        if let Some(v) = tx.get::<Volume>(&r.volume_id).await? {
            let mut vol = v.value;
            if vol.status == VolumeStatus::RestoringBackup {
                vol.status = VolumeStatus::Error;
                vol.error = Some(format!("backup {} was deleted while restoring", b.id));
                vol.updated_at = chrono::Utc::now();
                tx.update(&vol, Some(v.revision)).await?;
            }
        }
    }
    tx.delete::<Backup>(&b.id, Some(found.revision)).await?;
    tx.commit().await?;
    tracing::info!(backup = %b.id, "backup deleted");
    Ok(())
}

/// Removes every backup file, key and temporary file no record needs (also a
/// restore's leftover in the volumes directory).
pub async fn sweep(svc: &Volumes) -> anyhow::Result<()> {
    let mut files = HashSet::new();
    let mut keys = HashSet::new();
    for b in svc.store.list::<Backup>(None).await? {
        let b = b.value;
        files.extend(b.file.iter().cloned());
        if b.encryption_key_id.is_some() {
            keys.insert(format!("{}.key", b.id));
        }
    }
    // Temporary files belong to the pass that just ended: all are leftovers.
    remove_unlisted(&svc.backups.dir, &files, |n| {
        n.ends_with(".qcow2") || n.ends_with(".tmp")
    })
    .await?;
    remove_unlisted(&svc.backups.keys_dir(), &keys, |_| true).await?;
    remove_unlisted(&svc.layout.dir, &HashSet::new(), |n| {
        n.starts_with(".restore-") && n.ends_with(".tmp")
    })
    .await
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
        tracing::info!(file = %entry.path().display(), "removing backup data no record uses");
        storage::remove(&entry.path()).await;
    }
    Ok(())
}
