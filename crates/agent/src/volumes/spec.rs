//! How a volume looks to QEMU. One JSON form serves both the command line
//! (`-object`, `-blockdev`, `-device` accept JSON) and QMP (`object-add`,
//! `blockdev-add`, `device_add`), so a disk plugged later is exactly the disk a
//! restart puts back.
//!
//! - every layer of the volume's chain is an explicit qcow2 node (each layer of
//!   an encrypted volume needs the volume's secret); the lowest layer opens its
//!   base image from its own header (base images are never encrypted);
//! - the top node is `v<id>g<generation>` (a snapshot adds the next generation
//!   on top, so the name says which layer QEMU writes to);
//! - the device is a `virtio-blk-pci` whose serial is the volume id (as Nova's
//!   libvirt driver sets it: the guest finds it in `/dev/disk/by-id/virtio-*`),
//!   on a hot-plug port `nimbus-hpN`, or on the root bus as the boot disk.

use anyhow::{bail, Context};
use nimbus_volume::storage::Layout;
use nimbus_volume::types::{Volume, VolumeAttachment};
use serde_json::{json, Value};
use std::path::Path;

/// Hot-plug PCIe root ports every guest has: the APIs refuse more volumes than
/// that besides a boot volume.
pub const HOTPLUG_PORTS: u32 = nimbus_volume::attach::MAX_PLUGGED_VOLUMES as u32;

/// A volume's disk, ready for the command line or QMP.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeDisk {
    pub volume_id: String,
    /// The hot-plug port (None: the boot disk on the root bus).
    pub slot: Option<u32>,
    /// `object-add` arguments of the volume's secret (encrypted volumes).
    pub secret: Option<Value>,
    /// `blockdev-add` arguments: the whole chain.
    pub blockdev: Value,
    /// `device_add` arguments.
    pub device: Value,
}

/// 16 hex digits of the volume id: node names must stay under 32 characters.
fn short(volume_id: &str) -> String {
    volume_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect()
}

/// The node of a volume's layer of one generation.
pub fn node_name(volume_id: &str, generation: u64) -> String {
    format!("v{}g{generation}", short(volume_id))
}

/// The prefix of every node name of a volume.
pub fn node_prefix(volume_id: &str) -> String {
    format!("v{}g", short(volume_id))
}

/// The guest device of a volume.
pub fn device_id(volume_id: &str) -> String {
    format!("vol-{}", short(volume_id))
}

/// The secret object of an encrypted volume.
pub fn secret_id(volume_id: &str) -> String {
    format!("sec-{}", short(volume_id))
}

/// The id of hot-plug port `slot`.
pub fn port_id(slot: u32) -> String {
    format!("nimbus-hp{slot}")
}

/// The `-device` arguments of hot-plug port `slot` (no I/O window: virtio on
/// PCIe needs none, and I/O space runs out after a few ports).
pub fn port_device(slot: u32) -> Value {
    json!({
        "driver": "pcie-root-port",
        "id": port_id(slot),
        "chassis": slot + 1,
        "io-reserve": 0,
    })
}

/// The lowest port not in `taken`.
pub fn free_slot(taken: &[u32]) -> Option<u32> {
    (0..HOTPLUG_PORTS).find(|s| !taken.contains(s))
}

/// What lies below a layer node.
pub enum Below {
    /// Another layer (its node spec).
    Layer(Value),
    /// The base image named in the layer's header.
    FromHeader,
    /// Nothing (the bottom of a blank volume's chain, or a new overlay that
    /// `blockdev-snapshot` puts on top of a running node).
    Nothing,
}

/// One qcow2 layer node.
pub fn layer_node(
    path: &Path,
    node: Option<String>,
    secret: Option<String>,
    below: Below,
) -> Value {
    let mut n = json!({
        "driver": "qcow2",
        "file": {"driver": "file", "filename": path.display().to_string()},
        "discard": "unmap",
    });
    if let Some(name) = node {
        n["node-name"] = name.into();
    }
    if let Some(s) = secret {
        n["encrypt"] = json!({"format": "luks", "key-secret": s});
    }
    match below {
        Below::Layer(spec) => n["backing"] = spec,
        Below::Nothing => n["backing"] = Value::Null,
        Below::FromHeader => {}
    }
    n
}

/// The disk of `volume` for attachment `a` on port `slot` (or the boot disk).
pub fn disk(
    layout: &Layout,
    volume: &Volume,
    a: &VolumeAttachment,
    slot: Option<u32>,
    boot: bool,
) -> anyhow::Result<VolumeDisk> {
    let Some(top) = &volume.top else {
        bail!("volume {} has no data yet", volume.id);
    };
    let encrypted = volume.encryption_key_id.is_some();
    let secret_name = encrypted.then(|| secret_id(&volume.id));
    // Built bottom-up: the lowest layer first.
    let mut below = if volume.base_image.is_some() {
        Below::FromHeader
    } else {
        Below::Nothing
    };
    for layer in volume.chain.iter().rev() {
        let node = layer_node(&layout.layer(layer), None, secret_name.clone(), below);
        below = Below::Layer(node);
    }
    let mut blockdev = layer_node(
        &layout.layer(top),
        Some(node_name(&volume.id, volume.generation)),
        secret_name.clone(),
        below,
    );
    if a.mode == "ro" {
        blockdev["read-only"] = true.into();
    }
    let secret = secret_name.map(|id| {
        json!({
            "qom-type": "secret",
            "id": id,
            "file": layout.key(&volume.id).display().to_string(),
        })
    });
    let mut device = json!({
        "driver": "virtio-blk-pci",
        "id": device_id(&volume.id),
        "drive": node_name(&volume.id, volume.generation),
        "serial": volume.id.chars().take(20).collect::<String>(),
    });
    if boot {
        device["bootindex"] = 1.into();
    } else {
        let slot = slot.context("a hot-plugged volume needs a port")?;
        device["bus"] = port_id(slot).into();
    }
    Ok(VolumeDisk {
        volume_id: volume.id.clone(),
        slot,
        secret,
        blockdev,
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_volume::types::{AttachmentStatus, Source, VolumeStatus};

    fn volume(chain: &[&str], base: bool, encrypted: bool) -> Volume {
        let now = chrono::Utc::now();
        Volume {
            id: "0123abcd-4567-89ef-0123-456789abcdef".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            name: None,
            description: None,
            size: 1,
            status: VolumeStatus::InUse,
            volume_type_id: "t".into(),
            bootable: false,
            metadata: Default::default(),
            source: Source::Blank,
            availability_zone: "nova".into(),
            error: None,
            target_size: None,
            image_metadata: Default::default(),
            top: Some("top.qcow2".into()),
            chain: chain.iter().map(|s| s.to_string()).collect(),
            base_image: base.then(|| "img".into()),
            generation: 3,
            upload: None,
            encryption_key_id: encrypted.then(|| "k".into()),
            created_at: now,
            updated_at: now,
        }
    }

    fn attachment() -> VolumeAttachment {
        let now = chrono::Utc::now();
        VolumeAttachment {
            id: "0123abcd-4567-89ef-0123-456789abcdef".into(),
            attachment_id: "a".into(),
            project_id: "p".into(),
            server_id: Some("s".into()),
            status: AttachmentStatus::Attaching,
            compute: true,
            device: None,
            boot_index: None,
            delete_on_termination: false,
            tag: None,
            mode: "rw".into(),
            connector: None,
            slot: None,
            attached_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn chain_is_nested_nearest_first_and_ends_on_the_header_base() {
        let layout = Layout::new(Path::new("/d"));
        let d = disk(
            &layout,
            &volume(&["l2.qcow2", "l1.qcow2"], true, true),
            &attachment(),
            Some(2),
            false,
        )
        .unwrap();
        let b = &d.blockdev;
        assert_eq!(b["node-name"], "v0123abcd456789efg3");
        assert_eq!(b["file"]["filename"], "/d/volumes/top.qcow2");
        assert_eq!(b["backing"]["file"]["filename"], "/d/volumes/l2.qcow2");
        assert_eq!(
            b["backing"]["backing"]["file"]["filename"],
            "/d/volumes/l1.qcow2"
        );
        assert!(b["backing"]["backing"].get("backing").is_none());
        for n in [b, &b["backing"], &b["backing"]["backing"]] {
            assert_eq!(n["encrypt"]["key-secret"], "sec-0123abcd456789ef");
        }
        assert_eq!(d.device["bus"], "nimbus-hp2");
        assert_eq!(d.device["serial"], "0123abcd-4567-89ef-0");
        assert_eq!(
            d.secret.unwrap()["file"],
            "/d/volumes/keys/0123abcd-4567-89ef-0123-456789abcdef.key"
        );
    }

    #[test]
    fn a_blank_plain_volume_has_no_backing_and_the_boot_disk_no_port() {
        let layout = Layout::new(Path::new("/d"));
        let d = disk(
            &layout,
            &volume(&[], false, false),
            &attachment(),
            None,
            true,
        )
        .unwrap();
        assert!(d.blockdev["backing"].is_null());
        assert!(d.blockdev.get("encrypt").is_none());
        assert!(d.secret.is_none());
        assert_eq!(d.device["bootindex"], 1);
        assert!(d.device.get("bus").is_none());
    }

    #[test]
    fn slots_fill_the_lowest_free_port() {
        assert_eq!(free_slot(&[]), Some(0));
        assert_eq!(free_slot(&[0, 2]), Some(1));
        assert_eq!(free_slot(&(0..HOTPLUG_PORTS).collect::<Vec<_>>()), None);
    }
}
