//! Volume data on disk, made with `qemu-img`. Everything lives under
//! `DATA_DIR/volumes/`:
//!
//! - `<volume id>.<generation>.qcow2`: layers. A volume is its writable `top` layer
//!   over a chain of read-only layers, possibly ending on a base image;
//! - `images/<image id>`: base images, hard-linked (copied only across filesystems)
//!   from Glance's data file, so a Glance delete never breaks a volume and
//!   volume-from-image costs the same at any size (copy-on-write);
//! - `keys/<volume id>.key`: the LUKS secret of an encrypted volume (0600).
//!
//! Snapshots and clones freeze the volume's current top (it becomes read-only and
//! is never written again) and the volume continues on a new top layer over it.
//! Layers are never rebased or merged, so nothing that backs onto a layer can be
//! broken by a delete: a layer file is removed only when no volume and no snapshot
//! has it in its chain ([`crate::controller`]'s sweep), whatever the order of
//! deletes. Every layer of an encrypted chain shares one secret; a clone or a
//! volume made from a snapshot gets a copy of it.

use anyhow::{bail, Context};
use rand::RngCore;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The volumes directory inside the data directory.
pub fn volumes_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("volumes")
}

/// The on-disk layout of one volume service.
#[derive(Clone, Debug)]
pub struct Layout {
    /// `DATA_DIR/volumes`.
    pub dir: PathBuf,
    /// Glance's data directory (`DATA_DIR/images`).
    pub glance_dir: PathBuf,
}

impl Layout {
    pub fn new(data_dir: &Path) -> Self {
        Layout {
            dir: volumes_dir(data_dir),
            glance_dir: nimbus_image::images_dir(data_dir),
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.dir.join("images")
    }

    /// A layer file by name.
    pub fn layer(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn key(&self, volume_id: &str) -> PathBuf {
        self.keys_dir().join(format!("{volume_id}.key"))
    }

    pub fn base_image(&self, image_id: &str) -> PathBuf {
        self.images_dir().join(image_id)
    }

    /// Creates the directories (keys: 0700).
    pub async fn create_dirs(&self) -> anyhow::Result<()> {
        for d in [self.dir.clone(), self.images_dir(), self.keys_dir()] {
            tokio::fs::create_dir_all(&d)
                .await
                .with_context(|| format!("creating {}", d.display()))?;
        }
        tokio::fs::set_permissions(self.keys_dir(), std::fs::Permissions::from_mode(0o700)).await?;
        Ok(())
    }

    /// The base image file for `image_id`, linked in from Glance on first use.
    pub async fn link_base_image(&self, image_id: &str) -> anyhow::Result<PathBuf> {
        let dest = self.base_image(image_id);
        if tokio::fs::metadata(&dest).await.is_ok() {
            return Ok(dest);
        }
        let src = nimbus_image::data::file_path(&self.glance_dir, image_id);
        if tokio::fs::metadata(&src).await.is_err() {
            bail!("the data of image {image_id} is missing");
        }
        let tmp = self.images_dir().join(format!(".{image_id}.tmp"));
        let _ = tokio::fs::remove_file(&tmp).await;
        if tokio::fs::hard_link(&src, &tmp).await.is_err() {
            tokio::fs::copy(&src, &tmp)
                .await
                .with_context(|| format!("copying image {image_id}"))?;
        }
        tokio::fs::rename(&tmp, &dest).await?;
        Ok(dest)
    }

    /// Writes a fresh random secret for `volume_id` (0600), or copies `from`'s.
    pub async fn make_key(&self, volume_id: &str, from: Option<&str>) -> anyhow::Result<PathBuf> {
        let path = self.key(volume_id);
        let secret = match from {
            Some(src) => tokio::fs::read(self.key(src))
                .await
                .with_context(|| format!("reading the key of volume {src}"))?,
            None => {
                let mut raw = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut raw);
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .encode(raw)
                    .into_bytes()
            }
        };
        let tmp = self.keys_dir().join(format!(".{volume_id}.tmp"));
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

use std::os::unix::fs::OpenOptionsExt;

/// The name of a volume's layer of one generation.
pub fn layer_name(volume_id: &str, generation: u64) -> String {
    format!("{volume_id}.{generation}.qcow2")
}

/// How a layer is encrypted: LUKS with the volume's secret and its type's cipher.
pub struct Luks<'a> {
    pub key: &'a Path,
    /// dm-crypt's spelling, as Cinder's encryption specs use it (`aes-xts-plain64`).
    pub cipher: &'a str,
    /// Bits of key for the cipher; XTS splits it in two (256 → AES-128-XTS).
    pub key_size: u32,
}

impl Luks<'_> {
    /// QEMU's LUKS creation options for this cipher, or why it cannot be made.
    pub fn qemu_options(&self) -> anyhow::Result<String> {
        let alg = match (self.cipher, self.key_size) {
            ("aes-xts-plain64", 256) => "aes-128",
            ("aes-xts-plain64", 512) => "aes-256",
            (c, k) => {
                bail!("cipher {c} with {k}-bit keys is not supported (aes-xts-plain64, 256 or 512)")
            }
        };
        // The secret is 256 random bits, not a passphrase: PBKDF2 stretching adds
        // nothing, and QEMU's default (2 s of iterations) would be paid again at
        // every open (each attach, resize, backup). 10 ms keeps LUKS's format.
        Ok(format!(
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg={alg},\
             encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain64,encrypt.iter-time=10"
        ))
    }
}

/// Whether a type's encryption spec can be realised (checked when types are made).
pub fn supported_cipher(cipher: &str, key_size: u32) -> bool {
    Luks {
        key: Path::new(""),
        cipher,
        key_size,
    }
    .qemu_options()
    .is_ok()
}

/// What a new layer sits on.
pub struct Backing<'a> {
    pub path: &'a Path,
    /// `qcow2` or `raw`.
    pub format: &'a str,
}

/// Runs qemu-img; an error carries its stderr.
pub async fn qemu_img(args: &[String]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("qemu-img")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .context("running qemu-img")?;
    if !out.status.success() {
        bail!(
            "qemu-img {}: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn secret_object(key: &Path) -> String {
    format!("secret,id=sec0,file={}", key.display())
}

/// Creates a qcow2 layer of `size_gib` GiB: blank, or copy-on-write over `backing`
/// (never opened: `-u`, the size is given), LUKS-encrypted when `luks` is given.
pub async fn create_layer(
    path: &Path,
    size_gib: u64,
    backing: Option<Backing<'_>>,
    luks: Option<&Luks<'_>>,
) -> anyhow::Result<()> {
    let mut args: Vec<String> = vec!["create".into(), "-q".into(), "-f".into(), "qcow2".into()];
    if let Some(b) = &backing {
        args.extend([
            "-u".into(),
            "-b".into(),
            b.path.display().to_string(),
            "-F".into(),
            b.format.into(),
        ]);
    }
    if let Some(l) = luks {
        args.extend([
            "--object".into(),
            secret_object(l.key),
            "-o".into(),
            l.qemu_options()?,
        ]);
    }
    args.push(path.display().to_string());
    args.push(format!("{size_gib}G"));
    qemu_img(&args).await.map(|_| ())
}

/// Grows a layer to `size_gib` GiB. The layer is opened without its backing chain
/// (whose layers may need secrets of their own), which a resize does not need.
pub async fn resize_layer(path: &Path, size_gib: u64, key: Option<&Path>) -> anyhow::Result<()> {
    let mut spec = serde_json::json!({
        "driver": "qcow2",
        "file": {"driver": "file", "filename": path.display().to_string()},
        "backing": null,
    });
    let mut args: Vec<String> = vec!["resize".into(), "-q".into()];
    if let Some(k) = key {
        spec["encrypt.key-secret"] = "sec0".into();
        args.extend(["--object".into(), secret_object(k)]);
    }
    args.push(format!("json:{spec}"));
    args.push(format!("{size_gib}G"));
    qemu_img(&args).await.map(|_| ())
}

/// `qemu-img info --output=json` of one layer (backing not opened).
pub async fn info(path: &Path) -> anyhow::Result<serde_json::Value> {
    let out = qemu_img(&[
        "info".into(),
        "--output=json".into(),
        "-U".into(),
        path.display().to_string(),
    ])
    .await?;
    Ok(serde_json::from_str(&out)?)
}

/// The qemu-img format of a Glance image, for use as a backing file.
pub fn backing_format(disk_format: Option<&str>) -> anyhow::Result<&'static str> {
    match disk_format {
        Some("qcow2") => Ok("qcow2"),
        Some("raw") | Some("iso") | None => Ok("raw"),
        Some(other) => bail!("disk_format {other} cannot back a volume (qcow2 or raw only)"),
    }
}

/// Removes a file; absent is fine.
pub async fn remove(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove");
        }
    }
}
