//! Port addresses and MACs inside a store transaction: the IPAM decisions of
//! [`crate::ipam`] applied to the stored subnets and ports of one network, and the
//! one DHCP port a network with DHCP-enabled subnets has.
//!
//! Writers are serialised in the process, so the ports read in the transaction are
//! all there are; the unique keys of [`Port`] (`ip/…`, `mac/…`) make a second process
//! allocating the same address fail in the store instead of duplicating it.

use crate::error::{Fault, Kind, NResult};
use crate::ipam::{self, Cidr};
use crate::types::{dhcp_device_id, FixedIp, Network, Port, Subnet, OWNER_DHCP};
use chrono::Utc;
use nimbus_store::Tx;
use std::collections::{HashMap, HashSet};

/// One entry of a port's requested `fixed_ips`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

/// A subnet with its address ranges decoded.
pub struct Pools {
    pub subnet: Subnet,
    pub cidr: Cidr,
    pub pools: Vec<(u128, u128)>,
    pub gateway: Option<u128>,
}

impl Pools {
    pub fn of(subnet: Subnet) -> NResult<Pools> {
        let corrupt = || Fault::from(nimbus_api::ApiError::internal("stored subnet is invalid"));
        let cidr = Cidr::parse(&subnet.cidr).map_err(|_| corrupt())?;
        let pools = subnet
            .allocation_pools
            .iter()
            .map(
                |p| match (ipam::parse_ip(&p.start), ipam::parse_ip(&p.end)) {
                    (Some((_, s)), Some((_, e))) => Ok((s, e)),
                    _ => Err(corrupt()),
                },
            )
            .collect::<NResult<Vec<_>>>()?;
        let gateway = subnet
            .gateway_ip
            .as_deref()
            .and_then(ipam::parse_ip)
            .map(|(_, g)| g);
        Ok(Pools {
            subnet,
            cidr,
            pools,
            gateway,
        })
    }
}

/// The subnets of a network in creation order.
pub async fn subnets_in(tx: &mut Tx<'_>, network_id: &str) -> NResult<Vec<Subnet>> {
    let mut subnets: Vec<Subnet> = tx
        .list::<Subnet>(Some(network_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    subnets.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(subnets)
}

/// The ports of a network.
pub async fn ports_in(tx: &mut Tx<'_>, network_id: &str) -> NResult<Vec<Port>> {
    Ok(tx
        .list::<Port>(Some(network_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

/// Addresses in use per subnet, leaving out the port `except` (which is being
/// re-addressed).
fn used_addresses(ports: &[Port], except: Option<&str>) -> HashMap<String, HashSet<u128>> {
    let mut used: HashMap<String, HashSet<u128>> = HashMap::new();
    for p in ports.iter().filter(|p| Some(p.id.as_str()) != except) {
        for f in &p.fixed_ips {
            if let Some((_, a)) = ipam::parse_ip(&f.ip_address) {
                used.entry(f.subnet_id.clone()).or_default().insert(a);
            }
        }
    }
    used
}

/// Neutron's answer when a network or subnet has no address left.
pub fn exhausted_network(network_id: &str) -> Fault {
    Fault::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

fn exhausted_subnet(subnet_id: &str) -> Fault {
    Fault::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available for subnet {subnet_id}."),
    )
}

/// The addresses a port gets on `network`: `requests` as given (`None`: one address
/// of each IP version the network has subnets of). `except`: the port being
/// updated, whose current addresses count as free.
pub async fn allocate_in(
    tx: &mut Tx<'_>,
    network: &Network,
    requests: Option<&[IpRequest]>,
    except: Option<&str>,
) -> NResult<Vec<FixedIp>> {
    let subnets = subnets_in(tx, &network.id).await?;
    let ports = ports_in(tx, &network.id).await?;
    let mut used = used_addresses(&ports, except);
    let pools: Vec<Pools> = subnets.into_iter().map(Pools::of).collect::<NResult<_>>()?;
    let mut out = Vec::new();
    let mut take = |p: &Pools, a: u128, used: &mut HashMap<String, HashSet<u128>>| {
        used.entry(p.subnet.id.clone()).or_default().insert(a);
        out.push(FixedIp {
            subnet_id: p.subnet.id.clone(),
            ip_address: ipam::format_ip(p.cidr.version, a),
        });
    };
    let Some(requests) = requests else {
        for version in [4u8, 6] {
            let candidates: Vec<&Pools> =
                pools.iter().filter(|p| p.cidr.version == version).collect();
            if candidates.is_empty() {
                continue;
            }
            let found = candidates.iter().find_map(|p| {
                let none = HashSet::new();
                let u = used.get(&p.subnet.id).unwrap_or(&none);
                ipam::first_free(&p.pools, u).map(|a| (*p, a))
            });
            match found {
                Some((p, a)) => take(p, a, &mut used),
                None => return Err(exhausted_network(&network.id)),
            }
        }
        return Ok(out);
    };
    for r in requests {
        let by_id = match &r.subnet_id {
            Some(id) => Some(pools.iter().find(|p| &p.subnet.id == id).ok_or_else(|| {
                Fault::invalid(format!(
                    "Failed to create port on network {}, because fixed_ips included invalid subnet {id}",
                    network.id
                ))
            })?),
            None => None,
        };
        match &r.ip_address {
            Some(ip) => {
                let (version, a) = ipam::parse_ip(ip)
                    .ok_or_else(|| Fault::invalid(format!("'{ip}' is not a valid IP address.")))?;
                let p = match by_id {
                    Some(p) if p.cidr.contains(version, a) => p,
                    Some(p) => {
                        return Err(Fault::invalid(format!(
                            "IP address {ip} is not a valid IP for the specified subnet {}.",
                            p.subnet.id
                        )))
                    }
                    None => pools
                        .iter()
                        .find(|p| p.cidr.contains(version, a))
                        .ok_or_else(|| {
                            Fault::invalid(format!(
                                "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                            ))
                        })?,
                };
                let (lo, hi) = p.cidr.usable();
                if a < lo || a > hi {
                    return Err(Fault::invalid(format!(
                        "IP address {ip} is not a valid IP for the specified subnet {}.",
                        p.subnet.id
                    )));
                }
                let taken =
                    p.gateway == Some(a) || used.get(&p.subnet.id).is_some_and(|u| u.contains(&a));
                if taken {
                    return Err(Fault::conflict(
                        "IpAddressAlreadyAllocated",
                        format!(
                            "IP address {} already allocated in subnet {}",
                            ipam::format_ip(version, a),
                            p.subnet.id
                        ),
                    ));
                }
                take(p, a, &mut used);
            }
            None => {
                let p = by_id.ok_or_else(|| {
                    Fault::invalid("fixed_ips entries need a subnet_id or an ip_address")
                })?;
                let none = HashSet::new();
                let a = ipam::first_free(&p.pools, used.get(&p.subnet.id).unwrap_or(&none))
                    .ok_or_else(|| exhausted_subnet(&p.subnet.id))?;
                take(p, a, &mut used);
            }
        }
    }
    Ok(out)
}

/// A MAC in OpenStack's `fa:16:3e` range that no port of the network has.
pub fn new_mac(ports: &[Port]) -> String {
    loop {
        let b = *uuid::Uuid::new_v4().as_bytes();
        let mac = format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2]);
        if !ports.iter().any(|p| p.mac_address == mac) {
            return mac;
        }
    }
}

/// A MAC as Neutron accepts it (six hex pairs, `:` or `-`), lower-cased with `:`;
/// `None` if malformed or multicast/zero (not usable for a port).
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let bytes: Vec<u8> = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    if bytes[0] & 1 == 1 || bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Makes the network's DHCP port match its DHCP-enabled subnets: one port
/// (`network:dhcp`) with an address on each of them (kept once given, else the
/// first free one of the pools), none when no subnet has DHCP.
pub async fn sync_dhcp_in(tx: &mut Tx<'_>, network: &Network) -> NResult<()> {
    let subnets = subnets_in(tx, &network.id).await?;
    let ports = ports_in(tx, &network.id).await?;
    let existing = ports.iter().find(|p| p.device_owner == OWNER_DHCP).cloned();
    let dhcp: Vec<Subnet> = subnets.into_iter().filter(|s| s.enable_dhcp).collect();
    if dhcp.is_empty() {
        if let Some(p) = existing {
            tx.delete::<Port>(&p.id, None).await?;
        }
        return Ok(());
    }
    let mut used = used_addresses(&ports, existing.as_ref().map(|p| p.id.as_str()));
    let mut fixed_ips = Vec::new();
    for s in dhcp {
        if let Some(f) = existing
            .as_ref()
            .and_then(|p| p.fixed_ips.iter().find(|f| f.subnet_id == s.id))
        {
            fixed_ips.push(f.clone());
            continue;
        }
        let p = Pools::of(s)?;
        let u = used.entry(p.subnet.id.clone()).or_default();
        // A subnet without a free address simply gets no DHCP address.
        if let Some(a) = ipam::first_free(&p.pools, u) {
            u.insert(a);
            fixed_ips.push(FixedIp {
                subnet_id: p.subnet.id.clone(),
                ip_address: ipam::format_ip(p.cidr.version, a),
            });
        }
    }
    let now = Utc::now();
    match existing {
        Some(mut p) => {
            if p.fixed_ips != fixed_ips {
                p.fixed_ips = fixed_ips;
                p.updated_at = now;
                tx.update(&p, None).await?;
            }
        }
        None => {
            let port = Port {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: network.project_id.clone(),
                network_id: network.id.clone(),
                name: String::new(),
                description: String::new(),
                mac_address: new_mac(&ports),
                fixed_ips,
                device_id: dhcp_device_id(&network.id),
                device_owner: OWNER_DHCP.into(),
                admin_state_up: true,
                security_groups: Vec::new(),
                port_security_enabled: false,
                allowed_address_pairs: Vec::new(),
                tags: Default::default(),
                host: String::new(),
                status: "DOWN".into(),
                created_at: now,
                updated_at: now,
            };
            tx.create(&port).await?;
        }
    }
    Ok(())
}

/// The network of an id inside `tx`, or Neutron's 404.
pub async fn network_in(tx: &mut Tx<'_>, id: &str) -> NResult<Network> {
    tx.get::<Network>(id)
        .await?
        .map(|v| v.value)
        .ok_or_else(|| Fault::not_found(Kind::Network, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalised_and_checked() {
        assert_eq!(
            normalize_mac("FA-16-3E-00-11-22").as_deref(),
            Some("fa:16:3e:00:11:22")
        );
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None);
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("fa:16:3e:00:11"), None);
        assert_eq!(normalize_mac("fa:16:3e:00:11:zz"), None);
        let m = new_mac(&[]);
        assert!(m.starts_with("fa:16:3e:") && normalize_mac(&m) == Some(m.clone()));
    }
}
