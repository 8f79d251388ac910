//! Volume work on a running guest through QMP: plug (secret, chain, device),
//! unplug (the guest lets go of the device, then the nodes go), resize the top
//! node, and switch the guest onto a new top layer for a snapshot. Each step
//! first looks at what QEMU already has, so a step redone after a crash does
//! not fail on its own earlier half.

use super::spec::{self, VolumeDisk};
use crate::qmp::Qmp;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a guest may take to release an unplugged disk (Linux's PCIe
/// hot-plug driver waits 5 s after the attention button before it lets go).
const UNPLUG_TIMEOUT: Duration = Duration::from_secs(40);

/// The ids of the devices the user (we) added.
async fn devices(q: &mut Qmp) -> anyhow::Result<Vec<String>> {
    let list = q
        .execute("qom-list", Some(json!({"path": "/machine/peripheral"})))
        .await?;
    Ok(list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The names of the block nodes QEMU has.
async fn nodes(q: &mut Qmp) -> anyhow::Result<Vec<String>> {
    let list = q
        .execute("query-named-block-nodes", Some(json!({"flat": true})))
        .await?;
    Ok(list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["node-name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Whether QEMU has a block node of this name.
pub async fn has_node(sock: &Path, node: &str) -> anyhow::Result<bool> {
    let mut q = Qmp::connect(sock).await?;
    Ok(nodes(&mut q).await?.iter().any(|n| n == node))
}

/// Plugs a volume into the running guest.
pub async fn plug(sock: &Path, disk: &VolumeDisk) -> anyhow::Result<()> {
    let mut q = Qmp::connect(sock).await.context("QMP")?;
    let device = disk.device["id"].as_str().unwrap_or_default().to_string();
    if devices(&mut q).await?.contains(&device) {
        return Ok(());
    }
    let node = disk.blockdev["node-name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !nodes(&mut q).await?.contains(&node) {
        if let Some(secret) = &disk.secret {
            if let Err(e) = q.execute("object-add", Some(secret.clone())).await {
                // Left by an earlier attempt: the same id names the same key file.
                if !format!("{e:#}").contains("already exists") {
                    return Err(e.context("adding the volume's secret"));
                }
            }
        }
        q.execute("blockdev-add", Some(disk.blockdev.clone()))
            .await
            .context("opening the volume")?;
    }
    if let Err(e) = q.execute("device_add", Some(disk.device.clone())).await {
        let _ = q
            .execute("blockdev-del", Some(json!({"node-name": node})))
            .await;
        return Err(e.context("adding the disk to the guest"));
    }
    Ok(())
}

/// Unplugs a volume: asks the guest to let go of the device, waits until QEMU
/// removed it, then closes the volume's nodes (newest layer first) and secret.
pub async fn unplug(sock: &Path, volume_id: &str) -> anyhow::Result<()> {
    let device = spec::device_id(volume_id);
    let mut q = Qmp::connect(sock).await.context("QMP")?;
    if devices(&mut q).await?.contains(&device) {
        if let Err(e) = q.execute("device_del", Some(json!({"id": device}))).await {
            // Asked already (a retry): keep waiting for the guest.
            if !format!("{e:#}").contains("in the process of unplug") {
                return Err(e.context("asking the guest to release the disk"));
            }
        }
        let deadline = Instant::now() + UNPLUG_TIMEOUT;
        while devices(&mut q).await?.contains(&device) {
            if Instant::now() > deadline {
                bail!("the guest did not release the disk within {UNPLUG_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let prefix = spec::node_prefix(volume_id);
    let mut ours: Vec<(u64, String)> = nodes(&mut q)
        .await?
        .into_iter()
        .filter_map(|n| {
            let generation = n.strip_prefix(&prefix)?.parse().ok()?;
            Some((generation, n))
        })
        .collect();
    ours.sort();
    for (_, node) in ours.into_iter().rev() {
        q.execute("blockdev-del", Some(json!({"node-name": node})))
            .await
            .context("closing the volume")?;
    }
    let _ = q
        .execute(
            "object-del",
            Some(json!({"id": spec::secret_id(volume_id)})),
        )
        .await;
    Ok(())
}

/// Grows the node the guest writes to; the guest sees the new size at once.
pub async fn resize(sock: &Path, node: &str, bytes: u64) -> anyhow::Result<()> {
    let mut q = Qmp::connect(sock).await.context("QMP")?;
    q.execute(
        "block_resize",
        Some(json!({"node-name": node, "size": bytes})),
    )
    .await?;
    Ok(())
}

/// Opens `overlay` (a new empty layer over the file behind `current`) and makes
/// it the node the guest writes to; `current` becomes its read-only backing.
pub async fn switch_to_overlay(sock: &Path, current: &str, overlay: Value) -> anyhow::Result<()> {
    let mut q = Qmp::connect(sock).await.context("QMP")?;
    let name = overlay["node-name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    q.execute("blockdev-add", Some(overlay))
        .await
        .context("opening the new layer")?;
    if let Err(e) = q
        .execute(
            "blockdev-snapshot",
            Some(json!({"node": current, "overlay": name})),
        )
        .await
    {
        let _ = q
            .execute("blockdev-del", Some(json!({"node-name": name})))
            .await;
        return Err(e.context("switching the guest to the new layer"));
    }
    Ok(())
}
