//! Registers the default guest image (built by `guest/build` from Debian packages)
//! as public Glance images when the cloud starts: the kernel (`aki`) and initramfs
//! (`ari`), hidden from lists, and the bootable `nimbus-guest` disk (`qcow2`) whose
//! `kernel_id`/`ramdisk_id`/`os_command_line` properties make the agent boot it the
//! fast way (`-kernel`).
//!
//! Image ids are derived from the artifacts' SHA-256, so registration is idempotent
//! and a rebuilt guest becomes a new image; the previous one is hidden (servers that
//! use it keep working) instead of leaving two images of the same name.

use anyhow::Context;
use nimbus_image::types::{Image, Visibility};
use nimbus_image::Images;
use nimbus_store::Store;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The name users boot: `openstack server create --image nimbus-guest`.
pub const IMAGE_NAME: &str = "nimbus-guest";
/// Property marking the images registered here.
const BUILTIN: &str = "nimbus_builtin";

#[derive(Deserialize)]
struct Manifest {
    version: String,
    os_distro: String,
    os_version: String,
    kernel_version: String,
    kernel_cmdline: String,
    artifacts: BTreeMap<String, Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    sha256: String,
}

/// Registers the guest in `dir` (`manifest.json`, `vmlinux`, `initramfs.cpio.gz`,
/// `disk.qcow2`) unless it already is; returns the disk image's id.
pub async fn register(store: &Store, images: &Images, dir: &Path) -> anyhow::Result<String> {
    let manifest_path = dir.join("manifest.json");
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let id_of = |artifact: &str| -> anyhow::Result<String> {
        let sha = &manifest
            .artifacts
            .get(artifact)
            .with_context(|| format!("{} lists no {artifact}", manifest_path.display()))?
            .sha256;
        Ok(derived_id(&format!("{artifact}:{sha}")))
    };
    let kernel_id = id_of("vmlinux")?;
    let ramdisk_id = id_of("initramfs.cpio.gz")?;
    let disk_id = derived_id(&format!(
        "disk:{}:{kernel_id}:{ramdisk_id}",
        id_of("disk.qcow2")?
    ));

    let version = &manifest.version;
    let common = |name: String, format: &str, container: &str| {
        let mut props = BTreeMap::from([
            (BUILTIN.to_string(), "true".to_string()),
            ("os_distro".to_string(), manifest.os_distro.clone()),
            ("os_version".to_string(), manifest.os_version.clone()),
            ("nimbus_guest_version".to_string(), version.clone()),
        ]);
        props.insert(
            "description".into(),
            format!("{IMAGE_NAME} {version}, built by guest/build from Debian packages"),
        );
        (name, format.to_string(), container.to_string(), props)
    };
    let mut kernel = common(format!("{IMAGE_NAME}-kernel"), "aki", "aki");
    kernel
        .3
        .insert("kernel_version".into(), manifest.kernel_version.clone());
    let ramdisk = common(format!("{IMAGE_NAME}-initramfs"), "ari", "ari");
    let mut disk = common(IMAGE_NAME.to_string(), "qcow2", "bare");
    for (k, v) in [
        ("kernel_id", kernel_id.as_str()),
        ("ramdisk_id", ramdisk_id.as_str()),
        ("os_command_line", manifest.kernel_cmdline.as_str()),
        ("os_admin_user", "nimbus"),
        ("hw_rng_model", "virtio"),
    ] {
        disk.3.insert(k.to_string(), v.to_string());
    }

    for ((name, format, container, props), id, file, hidden) in [
        (kernel, &kernel_id, "vmlinux", true),
        (ramdisk, &ramdisk_id, "initramfs.cpio.gz", true),
        (disk, &disk_id, "disk.qcow2", false),
    ] {
        if store.get::<Image>(id).await?.is_some() {
            continue;
        }
        let mut image = Image::new(id.clone(), None);
        image.name = Some(name);
        image.visibility = Visibility::Public;
        image.disk_format = Some(format);
        image.container_format = Some(container);
        image.os_hidden = hidden;
        image.protected = true;
        image.properties = props;
        images
            .register_file(image, &dir.join(file))
            .await
            .with_context(|| format!("registering {}", dir.join(file).display()))?;
        tracing::info!(image = %id, file, "registered the built-in guest image");
    }
    hide_older(store, &disk_id).await?;
    Ok(disk_id)
}

/// Hides earlier built-in disk images, so `--image nimbus-guest` names one image.
async fn hide_older(store: &Store, current: &str) -> anyhow::Result<()> {
    for old in store.list::<Image>(None).await? {
        let image = &old.value;
        let builtin_disk = image.properties.get(BUILTIN).is_some_and(|v| v == "true")
            && image.name.as_deref() == Some(IMAGE_NAME);
        if builtin_disk && image.id != current && !image.os_hidden {
            store
                .modify::<Image, (), _>(&image.id, |i| {
                    i.os_hidden = true;
                    Ok(nimbus_store::Change::Write(()))
                })
                .await?;
        }
    }
    Ok(())
}

/// A UUID (version 4 layout) derived from `seed`, stable across starts.
fn derived_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids() {
        let a = derived_id("vmlinux:abc");
        assert_eq!(a, derived_id("vmlinux:abc"));
        assert_ne!(a, derived_id("vmlinux:abd"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }
}
