//! Which instance a metadata request is for: the one whose port holds the
//! request's source address on the network the request arrived on. Only store
//! objects decide it; nothing the guest sends does.

use crate::configdrive;
use nimbus_compute::server::Server;
use nimbus_network::types::{Port, SecurityGroup, Subnet};
use nimbus_store::Store;
use std::net::IpAddr;

/// Everything the metadata bodies are made of.
#[derive(Clone, Debug)]
pub struct Instance {
    pub server: Server,
    /// The server's ports in NIC order, their networks' MTUs, their subnets.
    pub ports: Vec<Port>,
    pub mtus: Vec<u32>,
    pub subnets: Vec<Subnet>,
    /// The names of the server's security groups (EC2 `security-groups`).
    pub security_groups: Vec<String>,
    /// The address the request came from.
    pub address: IpAddr,
}

/// The port of a server on `network_id` with fixed IP `ip`, among `ports`.
pub fn port_with_address<'a>(ports: &'a [Port], network_id: &str, ip: IpAddr) -> Option<&'a Port> {
    ports.iter().find(|p| {
        p.network_id == network_id
            && p.device_owner.starts_with("compute:")
            && !p.device_id.is_empty()
            && p.fixed_ips
                .iter()
                .any(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|a| a == ip))
    })
}

/// The instance behind a request from `ip` on `network_id`, or `None` when no
/// server's port there has that address (or the server is being deleted, or no
/// longer lists the port).
pub async fn lookup(
    store: &Store,
    network_id: &str,
    ip: IpAddr,
) -> anyhow::Result<Option<Instance>> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    let ports: Vec<Port> = store
        .list::<Port>(None)
        .await?
        .into_iter()
        .map(|p| p.value)
        .collect();
    let Some(port) = port_with_address(&ports, network_id, ip) else {
        return Ok(None);
    };
    let Some(server) = store.get::<Server>(&port.device_id).await? else {
        return Ok(None);
    };
    let server = server.value;
    if server.deleting || !server.port_ids.contains(&port.id) {
        return Ok(None);
    }
    let (ports, mtus, subnets) = configdrive::server_ports(store, &server).await?;
    let mut security_groups = Vec::new();
    for id in &server.security_groups {
        if let Some(g) = store.get::<SecurityGroup>(id).await? {
            security_groups.push(g.value.name);
        }
    }
    Ok(Some(Instance {
        server,
        ports,
        mtus,
        subnets,
        security_groups,
        address: ip,
    }))
}
