//! Instance data: the builders of `meta_data.json`, `network_data.json` and
//! `user_data` (shared with the metadata service, [`crate::metadata`]), and the
//! config drive a server gets when it asks for one ([`wanted`]): an ISO 9660
//! volume labelled `config-2` with `openstack/latest/{meta_data.json, user_data,
//! network_data.json, vendor_data.json}`, attached read-only.

use crate::cmd::run;
use crate::dataplane::names;
use anyhow::bail;
use anyhow::Context;
use base64::Engine;
use nimbus_compute::server::Server;
use nimbus_network::types::{Network, Port, Subnet};
use nimbus_store::Store;
use serde_json::{json, Value};
use std::path::Path;

/// Whether the server gets a config drive: it asked for one (`config_drive:
/// true`) or its image says `img_config_drive=mandatory` (Nova's default without
/// `force_config_drive`). Otherwise the guest reads the metadata service.
pub fn wanted(server: &Server, img_config_drive: Option<&str>) -> bool {
    server.config_drive || img_config_drive == Some("mandatory")
}

/// The decoded `user_data` (`None` when the server has none).
pub fn user_data(server: &Server) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(ud) = &server.user_data else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ud.trim())
        .context("user_data is not valid base64")?;
    Ok(Some(bytes))
}

/// The server's ports in NIC order, their networks' MTUs, and all their subnets:
/// what [`network_data`] is made of.
pub async fn server_ports(
    store: &Store,
    server: &Server,
) -> anyhow::Result<(Vec<Port>, Vec<u32>, Vec<Subnet>)> {
    let mut ports = Vec::new();
    let mut mtus = Vec::new();
    let mut subnets: Vec<Subnet> = Vec::new();
    for port_id in &server.port_ids {
        let Some(port) = store.get::<Port>(port_id).await? else {
            bail!("port {port_id} of the server does not exist");
        };
        let Some(network) = store.get::<Network>(&port.value.network_id).await? else {
            bail!(
                "network {} of port {port_id} does not exist",
                port.value.network_id
            );
        };
        for s in store.list::<Subnet>(Some(&network.value.id)).await? {
            if !subnets.iter().any(|x| x.id == s.value.id) {
                subnets.push(s.value);
            }
        }
        mtus.push(network.value.mtu);
        ports.push(port.value);
    }
    Ok((ports, mtus, subnets))
}

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
    if let Some(bytes) = user_data(server)? {
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
