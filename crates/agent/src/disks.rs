//! Disks of a guest: a cache of base images under `DATA_DIR/cache/images/` (so a
//! Glance delete never breaks a server), the qcow2 overlay `disk.qcow2` on top of
//! it, and kernel/ramdisk files for images that boot directly.

use crate::cmd::run;
use anyhow::{bail, Context};
use nimbus_image::types::Image;
use nimbus_image::Images;
use nimbus_store::Store;
use std::path::{Path, PathBuf};

/// `DATA_DIR/cache/images/<image_id>`.
pub fn cache_path(data_dir: &Path, image_id: &str) -> PathBuf {
    data_dir.join("cache").join("images").join(image_id)
}

/// Reads an image record that must have data.
pub async fn image(store: &Store, image_id: &str) -> anyhow::Result<Image> {
    let Some(image) = store.get::<Image>(image_id).await? else {
        bail!("image {image_id} not found");
    };
    if !image.value.has_data() {
        bail!(
            "image {image_id} has no data (status {:?})",
            image.value.status
        );
    }
    Ok(image.value)
}

/// The cached copy of an image's data: a hard link when the image store is on the
/// same filesystem, else a copy (to a temporary name, then renamed, so a crash
/// never leaves a half file under the final name).
pub async fn cached(data_dir: &Path, images: &Images, image_id: &str) -> anyhow::Result<PathBuf> {
    let dest = cache_path(data_dir, image_id);
    if tokio::fs::metadata(&dest).await.is_ok() {
        return Ok(dest);
    }
    let src = images.file_path(image_id);
    if tokio::fs::metadata(&src).await.is_err() {
        bail!(
            "the data file of image {image_id} is missing ({})",
            src.display()
        );
    }
    let parent = dest.parent().expect("cache path has a parent");
    tokio::fs::create_dir_all(parent).await?;
    let tmp = parent.join(format!(".{image_id}.{}.tmp", std::process::id()));
    let _ = tokio::fs::remove_file(&tmp).await;
    if tokio::fs::hard_link(&src, &tmp).await.is_err() {
        tokio::fs::copy(&src, &tmp)
            .await
            .with_context(|| format!("copying {} to the image cache", src.display()))?;
    }
    tokio::fs::rename(&tmp, &dest).await?;
    Ok(dest)
}

/// The overlay size in bytes: the flavor's disk if set and larger than the
/// image's virtual size, else the virtual size.
pub fn overlay_size(flavor_disk_gb: u64, virtual_size: u64) -> u64 {
    let flavor = flavor_disk_gb << 30;
    if flavor_disk_gb > 0 && flavor > virtual_size {
        flavor
    } else {
        virtual_size
    }
}

/// The backing format for qemu-img from Glance's `disk_format`.
pub fn backing_format(disk_format: Option<&str>) -> anyhow::Result<&'static str> {
    match disk_format {
        Some("qcow2") => Ok("qcow2"),
        Some("raw") | Some("iso") | None => Ok("raw"),
        Some(other) => bail!("disk_format {other} cannot back a server disk (qcow2 or raw only)"),
    }
}

/// The virtual size of a disk file, from `qemu-img info`.
pub async fn virtual_size(path: &Path, format: &str) -> anyhow::Result<u64> {
    let out = run(
        "qemu-img",
        &[
            "info",
            "--output=json",
            "-f",
            format,
            &path.display().to_string(),
        ],
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    v["virtual-size"]
        .as_u64()
        .context("qemu-img info without virtual-size")
}

/// Creates `instance_dir/disk.qcow2` over the cached base unless it exists.
pub async fn ensure_overlay(
    overlay: &Path,
    base: &Path,
    format: &str,
    size: u64,
) -> anyhow::Result<()> {
    if tokio::fs::metadata(overlay).await.is_ok() {
        return Ok(());
    }
    let tmp = overlay.with_extension("qcow2.tmp");
    let _ = tokio::fs::remove_file(&tmp).await;
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            format,
            "-b",
            &base.display().to_string(),
            &tmp.display().to_string(),
            &size.to_string(),
        ],
    )
    .await?;
    tokio::fs::rename(&tmp, overlay).await?;
    Ok(())
}
