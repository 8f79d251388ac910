//! Image data on disk. Each image's data is one file, `DATA_DIR/images/<image id>`,
//! written under a temporary name (`<id>.partial-<random>`) while it arrives and
//! renamed into place once complete. Data is never held whole in memory: the
//! request body streams through a small bounded channel to a blocking writer that
//! hashes (MD5 for `checksum`, SHA-512 for `os_hash_value`) as it writes.
//!
//! Uploads in flight are counted per project ([`Inflight`]) so that concurrent
//! uploads cannot together overrun the project's storage quota.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use parking_lot::Mutex;
use sha2::Sha512;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of the start of the data kept for format inspection.
const HEAD: usize = 512;
/// Chunks queued between the request body and the writer.
const QUEUE: usize = 16;

/// The data file of an image.
pub fn file_path(dir: &Path, image_id: &str) -> PathBuf {
    dir.join(image_id)
}

/// A fresh temporary name for data on its way into `file_path`.
pub fn partial_path(dir: &Path, image_id: &str) -> PathBuf {
    dir.join(format!(
        "{image_id}.partial-{}",
        uuid::Uuid::new_v4().simple()
    ))
}

/// What was written: size, digests and the first bytes.
#[derive(Clone, Debug)]
pub struct Stored {
    pub size: u64,
    pub md5: String,
    pub sha512: String,
    pub head: Vec<u8>,
}

/// Why receiving data failed.
#[derive(Debug)]
pub enum ReceiveError {
    /// The project's quota would be exceeded.
    Quota,
    /// The request body broke off (client went away, bad chunking).
    Body(String),
    Io(std::io::Error),
}

/// Digests and size, updated chunk by chunk.
struct Hasher {
    md5: Md5,
    sha: Sha512,
    head: Vec<u8>,
    size: u64,
}

impl Hasher {
    fn new() -> Self {
        Hasher {
            md5: Md5::new(),
            sha: Sha512::new(),
            head: Vec::new(),
            size: 0,
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.md5.update(chunk);
        self.sha.update(chunk);
        self.size += chunk.len() as u64;
    }

    fn finish(self) -> Stored {
        Stored {
            size: self.size,
            md5: hex::encode(self.md5.finalize()),
            sha512: hex::encode(self.sha.finalize()),
            head: self.head,
        }
    }
}

/// Streams `body` into a new file at `path`. `allow` is told the running total and
/// answers whether it is still within quota. On any failure the file is removed.
pub async fn receive<S, E>(
    mut body: S,
    path: &Path,
    mut allow: impl FnMut(u64) -> bool,
) -> Result<Stored, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
    let target = path.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Stored> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        let mut hasher = Hasher::new();
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        Ok(hasher.finish())
    });
    let mut total = 0u64;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                total += chunk.len() as u64;
                if !allow(total) {
                    failure = Some(ReceiveError::Quota);
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(ReceiveError::Body(e.to_string()));
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let error = match (failure, written) {
        (None, Ok(stored)) => return Ok(stored),
        (Some(failure), _) => failure,
        (None, Err(e)) => ReceiveError::Io(e),
    };
    remove(path).await;
    Err(error)
}

/// Copies a local file into a new file at `dest`, hashing it (blocking: run it on
/// the blocking pool). For images the cloud registers itself (built-in guest
/// images, server snapshots).
pub fn copy_file(src: &Path, dest: &Path) -> std::io::Result<Stored> {
    let mut input = std::fs::File::open(src)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    Ok(hasher.finish())
}

/// Removes a file, ignoring one that is already gone.
pub async fn remove(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "removing image data failed");
        }
    }
}

/// The qcow2 magic number.
const QCOW2_MAGIC: &[u8] = b"QFI\xfb";

/// Checks that the data is what `disk_format` says and returns the virtual size
/// where it can be known. Refuses qcow2 images that point outside themselves
/// (backing file, external data file): a guest booting them could read host files.
pub fn inspect(disk_format: &str, head: &[u8], size: u64) -> Result<Option<u64>, String> {
    let be64 = |at: usize| {
        head.get(at..at + 8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
    };
    match disk_format {
        "qcow2" => {
            if !head.starts_with(QCOW2_MAGIC) || head.len() < 32 {
                return Err("Image data is not in qcow2 format.".into());
            }
            if be64(8) != Some(0) {
                return Err("qcow2 images with a backing file are not allowed.".into());
            }
            let version = u32::from_be_bytes(head[4..8].try_into().expect("4 bytes"));
            if version >= 3 && be64(72).is_some_and(|features| features & 4 != 0) {
                return Err("qcow2 images with an external data file are not allowed.".into());
            }
            Ok(be64(24))
        }
        "raw" if head.starts_with(QCOW2_MAGIC) => {
            Err("Image data is in qcow2 format, but disk_format is raw.".into())
        }
        "raw" | "iso" => Ok(Some(size)),
        _ => Ok(None),
    }
}

/// Bytes being uploaded right now, per project.
#[derive(Default)]
pub struct Inflight(Mutex<HashMap<String, u64>>);

impl Inflight {
    /// Bytes in flight for `project`.
    pub fn total(&self, project: &str) -> u64 {
        self.0.lock().get(project).copied().unwrap_or(0)
    }

    /// Starts counting an upload of `project`; it stops counting when dropped.
    pub fn reserve(self: &Arc<Self>, project: &str) -> Reservation {
        Reservation {
            inflight: self.clone(),
            project: project.to_string(),
            bytes: 0,
        }
    }
}

/// One upload's share of [`Inflight`].
pub struct Reservation {
    inflight: Arc<Inflight>,
    project: String,
    bytes: u64,
}

impl Reservation {
    /// Sets how many bytes this upload has received.
    pub fn set(&mut self, bytes: u64) {
        let mut map = self.inflight.0.lock();
        let entry = map.entry(self.project.clone()).or_insert(0);
        *entry = entry.saturating_sub(self.bytes) + bytes;
        self.bytes = bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.set(0);
        let mut map = self.inflight.0.lock();
        if map.get(&self.project) == Some(&0) {
            map.remove(&self.project);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qcow2(version: u32, backing: u64, size: u64, features: u64) -> Vec<u8> {
        let mut h = vec![0u8; 104];
        h[..4].copy_from_slice(QCOW2_MAGIC);
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h[72..80].copy_from_slice(&features.to_be_bytes());
        h
    }

    #[test]
    fn qcow2_header_gives_virtual_size() {
        assert_eq!(
            inspect("qcow2", &qcow2(3, 0, 1 << 30, 0), 104),
            Ok(Some(1 << 30))
        );
        assert_eq!(inspect("qcow2", &qcow2(2, 0, 42, 0), 104), Ok(Some(42)));
    }

    #[test]
    fn dangerous_or_mislabelled_data_is_refused() {
        assert!(inspect("qcow2", &qcow2(3, 512, 1, 0), 104).is_err());
        assert!(inspect("qcow2", &qcow2(3, 0, 1, 4), 104).is_err());
        assert!(inspect("qcow2", b"plain bytes", 11).is_err());
        assert!(inspect("raw", &qcow2(3, 0, 1, 0), 104).is_err());
        assert_eq!(inspect("raw", b"plain", 5), Ok(Some(5)));
        assert_eq!(inspect("vmdk", b"whatever", 8), Ok(None));
    }

    #[test]
    fn reservations_add_up_and_vanish() {
        let inflight = Arc::new(Inflight::default());
        let mut a = inflight.reserve("p");
        let mut b = inflight.reserve("p");
        a.set(10);
        b.set(5);
        a.set(20);
        assert_eq!(inflight.total("p"), 25);
        drop(a);
        assert_eq!(inflight.total("p"), 5);
        drop(b);
        assert!(inflight.0.lock().is_empty());
    }
}
