//! The backup store: backup data on disk under `DATA_DIR/backups/` (not under
//! `volumes/`, whose sweep removes every `.qcow2` no volume or snapshot names),
//! made with `qemu-img` by the backup controller ([`crate::backup`]) only.
//!
//! - `<backup id>.qcow2`: one file per backup. A full backup is the volume's
//!   frozen chain flattened (`qemu-img convert`); an incremental one holds only
//!   the clusters written in the volume layers frozen since its parent's layer,
//!   and has the parent's file as its backing file, so a backup chain opens
//!   like a volume chain;
//! - `keys/<backup id>.key`: a backup of an encrypted volume stays encrypted
//!   (LUKS) with a copy of the volume's secret (0600, directory 0700);
//! - `.<backup id>.*.tmp`: files in the making (never named by a record; the
//!   sweep after each pass removes leftovers of a crash). A restore writes its
//!   file in the making next to the volume layers instead
//!   (`volumes/.restore-<backup id>.tmp`).
//!
//! Why incrementals are copied one layer at a time: `qemu-img convert -B` copies
//! only what is allocated in the source's *top* layer (verified with qemu-img
//! 10.0: a two-layer source loses the lower layer's changes), which is exactly
//! one frozen layer's own writes, zero writes included. Several layers are
//! converted one by one and merged with `qemu-img commit` (on the backup's own
//! temporary files, never on volume layers). The conversion uses a blank plain
//! backing file and is rebased (`-u`, metadata only) onto the parent afterwards,
//! because `convert` opens the new file's backing chain and an encrypted parent
//! cannot be opened there without its secret.

use crate::storage::{self, Luks};
use anyhow::Context;
use serde_json::{json, Value};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The on-disk layout of the backup store.
#[derive(Clone, Debug)]
pub struct BackupLayout {
    /// `DATA_DIR/backups`.
    pub dir: PathBuf,
}

impl BackupLayout {
    pub fn new(data_dir: &Path) -> Self {
        BackupLayout {
            dir: data_dir.join("backups"),
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// A backup's file.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A backup's key (encrypted backups only).
    pub fn key(&self, backup_id: &str) -> PathBuf {
        self.keys_dir().join(format!("{backup_id}.key"))
    }

    /// A temporary file of the backup being made (`what` tells them apart).
    pub fn tmp(&self, backup_id: &str, what: &str) -> PathBuf {
        self.dir.join(format!(".{backup_id}.{what}.tmp"))
    }

    /// Creates the directories (keys: 0700).
    pub async fn create_dirs(&self) -> anyhow::Result<()> {
        for d in [self.dir.clone(), self.keys_dir()] {
            tokio::fs::create_dir_all(&d)
                .await
                .with_context(|| format!("creating {}", d.display()))?;
        }
        tokio::fs::set_permissions(self.keys_dir(), std::fs::Permissions::from_mode(0o700)).await?;
        Ok(())
    }

    /// Copies a volume's secret as the backup's key (0600).
    pub async fn copy_key(&self, backup_id: &str, volume_key: &Path) -> anyhow::Result<PathBuf> {
        let secret = tokio::fs::read(volume_key)
            .await
            .with_context(|| format!("reading {}", volume_key.display()))?;
        let path = self.key(backup_id);
        let tmp = self.keys_dir().join(format!(".{backup_id}.tmp"));
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&secret)?;
            f.sync_all()?;
        }
        tokio::fs::rename(&tmp, &path).await?;
        Ok(path)
    }
}

/// The file name of a backup.
pub fn file_name(backup_id: &str) -> String {
    format!("{backup_id}.qcow2")
}

/// One qcow2 image of a chain: its file and, when encrypted, its secret.
#[derive(Clone, Debug)]
pub struct Node {
    pub path: PathBuf,
    pub key: Option<PathBuf>,
}

/// A chain of qcow2 images, newest first, opened with explicit backing nodes so
/// each encrypted image gets its secret. Below the last node qemu follows the
/// file's header (a volume's plain base image), or nothing when `cut`.
#[derive(Clone, Debug)]
pub struct Chain {
    pub nodes: Vec<Node>,
    pub cut: bool,
}

impl Chain {
    /// The `--object secret,...` arguments (`src<i>` for node i).
    fn objects(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(k) = &n.key {
                args.push("--object".into());
                args.push(format!("secret,id=src{i},file={}", k.display()));
            }
        }
        args
    }

    /// The `json:` filename that opens the chain.
    fn spec(&self) -> String {
        let mut below: Option<Value> = if self.cut { Some(Value::Null) } else { None };
        for (i, n) in self.nodes.iter().enumerate().rev() {
            let mut node = json!({
                "driver": "qcow2",
                "file": {"driver": "file", "filename": n.path.display().to_string()},
            });
            if n.key.is_some() {
                node["encrypt.key-secret"] = format!("src{i}").into();
            }
            if let Some(b) = below.take() {
                node["backing"] = b;
            }
            below = Some(node);
        }
        format!("json:{}", below.unwrap_or(Value::Null))
    }

    /// This chain from node `from` on.
    fn from(&self, from: usize) -> Chain {
        Chain {
            nodes: self.nodes[from..].to_vec(),
            cut: self.cut,
        }
    }
}

/// The `--object` and `-o` arguments that encrypt a new image (secret `sec0`).
fn luks_args(luks: Option<&Luks<'_>>) -> anyhow::Result<Vec<String>> {
    Ok(match luks {
        None => Vec::new(),
        Some(l) => vec![
            "--object".into(),
            format!("secret,id=sec0,file={}", l.key.display()),
            "-o".into(),
            l.qemu_options()?,
        ],
    })
}

/// `qemu-img convert` of `src` into a new qcow2 `dest`, over `backing` (`-B`:
/// only the source's top layer's clusters are copied) when given.
async fn convert(
    src: &Chain,
    dest: &Path,
    backing: Option<&Path>,
    luks: Option<&Luks<'_>>,
) -> anyhow::Result<()> {
    storage::remove(dest).await;
    let mut args: Vec<String> = vec!["convert".into(), "-q".into()];
    args.extend(src.objects());
    args.extend(luks_args(luks)?);
    args.extend(["-O".into(), "qcow2".into()]);
    if let Some(b) = backing {
        args.extend([
            "-B".into(),
            b.display().to_string(),
            "-F".into(),
            "qcow2".into(),
        ]);
    }
    args.push(src.spec());
    args.push(dest.display().to_string());
    storage::qemu_img(&args).await.map(|_| ())
}

/// A full backup: `src` flattened into `dest` (written as a temporary file and
/// renamed, so `dest` exists only complete).
pub async fn full(
    layout: &BackupLayout,
    backup_id: &str,
    src: &Chain,
    dest: &Path,
    luks: Option<&Luks<'_>>,
) -> anyhow::Result<()> {
    let tmp = layout.tmp(backup_id, "full");
    let result = convert(src, &tmp, None, luks).await;
    if result.is_ok() {
        tokio::fs::rename(&tmp, dest).await?;
    }
    storage::remove(&tmp).await;
    result
}

/// What an incremental backup copies and onto what.
pub struct Since<'a> {
    /// How many of the source chain's nodes (newest first) were frozen since
    /// the parent's layer: their own writes are what changed.
    pub changed: usize,
    /// The parent backup's file: the new file's backing file.
    pub parent: &'a Path,
    /// At least the volume's size (the blank helper backing must not end before
    /// the data does, or `convert` would skip zero writes past its end).
    pub size_gib: u64,
}

/// An incremental backup: the clusters written in `src`'s first
/// `since.changed` nodes into `dest`, whose backing file is `since.parent`.
pub async fn incremental(
    layout: &BackupLayout,
    backup_id: &str,
    src: &Chain,
    since: Since<'_>,
    luks: Option<&Luks<'_>>,
    dest: &Path,
) -> anyhow::Result<()> {
    let Since {
        changed,
        parent,
        size_gib,
    } = since;
    let blank = layout.tmp(backup_id, "blank");
    let mut made: Vec<PathBuf> = Vec::new();
    let result = async {
        if changed == 0 {
            // Nothing was written since the parent: an empty overlay.
            let first = layout.tmp(backup_id, "0");
            made.push(first.clone());
            let mut args: Vec<String> = vec!["create".into(), "-q".into()];
            args.extend(luks_args(luks)?);
            args.extend([
                "-f".into(),
                "qcow2".into(),
                "-u".into(),
                "-b".into(),
                parent.display().to_string(),
                "-F".into(),
                "qcow2".into(),
                first.display().to_string(),
                format!("{size_gib}G"),
            ]);
            storage::qemu_img(&args).await?;
            return Ok(first);
        }
        storage::create_layer(&blank, size_gib, None, None).await?;
        // Oldest changed layer first: each one's own writes, over the blank file.
        for (n, i) in (0..changed).rev().enumerate() {
            let part = layout.tmp(backup_id, &n.to_string());
            made.push(part.clone());
            convert(&src.from(i), &part, Some(&blank), luks).await?;
        }
        let key = luks.map(|l| l.key.to_path_buf());
        let node = |p: &PathBuf| Node {
            path: p.clone(),
            key: key.clone(),
        };
        // Newer parts are merged down into the first one.
        for part in made.iter().skip(1) {
            let pair = Chain {
                nodes: vec![node(part), node(&made[0])],
                cut: true,
            };
            let mut args: Vec<String> = vec!["commit".into(), "-q".into(), "-d".into()];
            args.extend(pair.objects());
            args.push(pair.spec());
            storage::qemu_img(&args).await?;
        }
        let first = Chain {
            nodes: vec![node(&made[0])],
            cut: true,
        };
        let mut args: Vec<String> = vec!["rebase".into(), "-q".into(), "-u".into()];
        args.extend(first.objects());
        args.extend([
            "-b".into(),
            parent.display().to_string(),
            "-F".into(),
            "qcow2".into(),
            first.spec(),
        ]);
        storage::qemu_img(&args).await?;
        Ok::<PathBuf, anyhow::Error>(made[0].clone())
    }
    .await;
    let outcome = match result {
        Ok(first) => tokio::fs::rename(&first, dest).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    storage::remove(&blank).await;
    for p in &made {
        storage::remove(p).await;
    }
    outcome
}

/// The temporary file a restore writes next to the new volume layer `dest`
/// (the same directory, so the final rename works when `backups/` is another
/// filesystem; not a `.qcow2` name, so the storage sweep leaves it alone).
pub fn restore_tmp(dest: &Path, backup_id: &str) -> PathBuf {
    dest.with_file_name(format!(".restore-{backup_id}.tmp"))
}

/// Restores a backup chain (`src`, newest first) into a new volume layer
/// `dest` of `size_gib` GiB, encrypted with the target volume's own key when
/// `luks` is given.
pub async fn restore(
    backup_id: &str,
    src: &Chain,
    dest: &Path,
    size_gib: u64,
    luks: Option<&Luks<'_>>,
) -> anyhow::Result<()> {
    let tmp = restore_tmp(dest, backup_id);
    let result = async {
        convert(src, &tmp, None, luks).await?;
        // A target larger than the backup keeps its size (reads past the data: zeros).
        storage::resize_layer(&tmp, size_gib, luks.map(|l| l.key))
            .await
            .or_else(|e| {
                // qemu-img refuses to shrink; same size is not an error either.
                if format!("{e:#}").contains("shrink") {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        tokio::fs::rename(&tmp, dest).await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    storage::remove(&tmp).await;
    result
}
