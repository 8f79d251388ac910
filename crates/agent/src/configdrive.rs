//! The config drive every server gets (Nova's `force_config_drive`): an ISO 9660
//! volume labelled `config-2` with `openstack/latest/{meta_data.json, user_data,
//! network_data.json, vendor_data.json}`, attached read-only.

use crate::cmd::run;
use crate::dataplane::names;
use anyhow::Context;
use base64::Engine;
use nimbus_compute::server::Server;
use nimbus_network::types::{Port, Subnet};
use serde_json::{json, Value};
use std::path::Path;

/// `meta_data.json`.
pub fn meta_data(server: &Server) -> Value {
    let mut public_keys = serde_json::Map::new();
    let mut keys = Vec::new();
    if let (Some(name), Some(data)) = (&server.key_name, &server.key_data) {
        public_keys.insert(name.clone(), json!(data));
        keys.push(json!({ "name": name, "type": "ssh", "data": data }));
    }
    json!({
        "uuid": server.id,
        "name": server.name,
        "hostname": server.hostname,
        "launch_index": server.launch_index,
        "availability_zone": server.availability_zone,
        "project_id": server.project_id,
        "meta": server.metadata,
        "public_keys": public_keys,
        "keys": keys,
        "devices": [],
    })
}

/// `network_data.json`: one link per port (in NIC order), one DHCP network per
/// fixed IPv4 address, DNS servers of the subnets.
pub fn network_data(ports: &[Port], subnets: &[Subnet], mtus: &[u32]) -> Value {
    let mut links = Vec::new();
    let mut networks = Vec::new();
    let mut services = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let link_id = names::tap(&p.id);
        let mut link = json!({
            "id": link_id,
            "type": "phy",
            "ethernet_mac_address": p.mac_address,
            "vif_id": p.id,
        });
        if let Some(mtu) = mtus.get(i) {
            link["mtu"] = json!(mtu);
        }
        links.push(link);
        for f in &p.fixed_ips {
            let Some(subnet) = subnets.iter().find(|s| s.id == f.subnet_id) else {
                continue;
            };
            let kind = if subnet.ip_version == 4 {
                "ipv4_dhcp"
            } else {
                "ipv6_dhcp"
            };
            networks.push(json!({
                "id": format!("network{}", networks.len()),
                "type": kind,
                "link": link_id,
                "network_id": p.network_id,
            }));
            for dns in &subnet.dns_nameservers {
                let svc = json!({ "type": "dns", "address": dns });
                if !services.contains(&svc) {
                    services.push(svc);
                }
            }
        }
    }
    json!({ "links": links, "networks": networks, "services": services })
}

/// Writes the drive's file tree under `root`: `openstack/latest/` and the same
/// files under `openstack/2012-08-10/` (the oldest version readers fall back to).
pub fn write_tree(root: &Path, server: &Server, network_data: &Value) -> anyhow::Result<()> {
    for version in ["latest", "2012-08-10"] {
        write_version(&root.join("openstack").join(version), server, network_data)?;
    }
    Ok(())
}

fn write_version(latest: &Path, server: &Server, network_data: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(latest)?;
    std::fs::write(
        latest.join("meta_data.json"),
        serde_json::to_vec(&meta_data(server))?,
    )?;
    std::fs::write(
        latest.join("network_data.json"),
        serde_json::to_vec(network_data)?,
    )?;
    std::fs::write(latest.join("vendor_data.json"), b"{}")?;
    if let Some(ud) = &server.user_data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(ud.trim())
            .context("user_data is not valid base64")?;
        std::fs::write(latest.join("user_data"), bytes)?;
    }
    Ok(())
}

/// Builds `iso` (unless it exists) from a temporary tree next to it.
pub async fn ensure_iso(iso: &Path, server: &Server, network_data: &Value) -> anyhow::Result<()> {
    if tokio::fs::metadata(iso).await.is_ok() {
        return Ok(());
    }
    let dir = iso.parent().context("config drive path has no parent")?;
    let tree = dir.join("config-drive.tmp");
    let _ = tokio::fs::remove_dir_all(&tree).await;
    write_tree(&tree, server, network_data)?;
    let tmp = iso.with_extension("config.tmp");
    let result = run(
        "genisoimage",
        &[
            "-quiet",
            "-V",
            "config-2",
            "-J",
            "-r",
            "-o",
            &tmp.display().to_string(),
            &tree.display().to_string(),
        ],
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&tree).await;
    result.context("building the config drive")?;
    tokio::fs::rename(&tmp, iso).await?;
    Ok(())
}
