//! What the store says routers should look like on this host, computed without
//! touching the host (so it can be tested without root): per router its
//! namespace, one veth per interface (the port's MAC and addresses), the
//! gateway veth with the external address and the floating IPs, static routes,
//! and the nftables NAT ruleset; per cloud the "outside world" namespace
//! holding each used external subnet's gateway address.

use super::names;
use nimbus_network::l3_types::{FloatingIp, Router};
use nimbus_network::types::{Network, Port, Subnet};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One veth of a router (or of the outside-world namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterLink {
    pub port_id: String,
    pub network_id: String,
    /// Dataplane end, on the network's bridge.
    pub outer: String,
    /// Router namespace end.
    pub inner: String,
    pub mac: Option<String>,
    /// `address/prefix`.
    pub addresses: Vec<String>,
    pub mtu: u32,
}

/// A router as the agent realises it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterSpec {
    pub router_id: String,
    pub netns: String,
    pub interfaces: Vec<RouterLink>,
    pub gateway: Option<RouterLink>,
    /// The external subnet's gateway (default route).
    pub default_via: Option<String>,
    /// `(destination, nexthop)`.
    pub routes: Vec<(String, String)>,
    /// The ruleset for `nft -f` (flushes and redefines `ip nimbus_nat`).
    pub nft: String,
    /// Floating IP ids realised here.
    pub fips: Vec<String>,
}

/// The outside-world namespace: one veth per external network in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSpec {
    pub netns: String,
    pub links: Vec<RouterLink>,
}

/// Everything layer 3 of this cloud.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L3Plan {
    pub routers: Vec<RouterSpec>,
    pub external: Option<ExternalSpec>,
}

impl L3Plan {
    /// The networks whose bridges routers need.
    pub fn networks(&self) -> Vec<(String, u32)> {
        let mut out: BTreeMap<String, u32> = BTreeMap::new();
        for r in &self.routers {
            for l in r.interfaces.iter().chain(r.gateway.as_ref()) {
                out.insert(l.network_id.clone(), l.mtu);
            }
        }
        for l in self.external.iter().flat_map(|e| &e.links) {
            out.insert(l.network_id.clone(), l.mtu);
        }
        out.into_iter().collect()
    }
}

fn prefix_len(cidr: &str) -> Option<&str> {
    cidr.split_once('/').map(|(_, p)| p)
}

/// Addresses of a port as `ip/prefix` of their subnets (IPv4 only: NAT and
/// routing here are IPv4).
fn addresses(p: &Port, subnets: &HashMap<&str, &Subnet>) -> Vec<String> {
    p.fixed_ips
        .iter()
        .filter(|f| !f.ip_address.contains(':'))
        .filter_map(|f| {
            let s = subnets.get(f.subnet_id.as_str())?;
            Some(format!("{}/{}", f.ip_address, prefix_len(&s.cidr)?))
        })
        .collect()
}

/// The plan for all routers of the store (a one-host cloud: this agent
/// realises every router).
pub fn plan(
    data_dir: &Path,
    routers: &[Router],
    fips: &[FloatingIp],
    networks: &[Network],
    subnets: &[Subnet],
    ports: &[Port],
    uplinked: Option<&str>,
) -> L3Plan {
    let subnet_by: HashMap<&str, &Subnet> = subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    let net_by: HashMap<&str, &Network> = networks.iter().map(|n| (n.id.as_str(), n)).collect();
    let port_by: HashMap<&str, &Port> = ports.iter().map(|p| (p.id.as_str(), p)).collect();
    let mtu = |n: &str| net_by.get(n).map(|n| n.mtu).unwrap_or(1500);
    let mut out = L3Plan::default();
    let mut externals: BTreeMap<String, RouterLink> = BTreeMap::new();
    let mut sorted: Vec<&Router> = routers.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for r in sorted {
        let netns = names::router_netns(data_dir, &r.id);
        let mut interfaces: Vec<RouterLink> = ports
            .iter()
            .filter(|p| {
                p.device_id == r.id
                    && p.device_owner == nimbus_network::l3_types::OWNER_ROUTER_INTERFACE
                    && net_by.contains_key(p.network_id.as_str())
            })
            .map(|p| RouterLink {
                port_id: p.id.clone(),
                network_id: p.network_id.clone(),
                outer: names::router_veth_outer(&p.id),
                inner: names::router_veth_inner(&p.id),
                mac: Some(p.mac_address.clone()),
                addresses: addresses(p, &subnet_by),
                mtu: mtu(&p.network_id),
            })
            .collect();
        interfaces.sort_by(|a, b| a.port_id.cmp(&b.port_id));
        let gw_port = r
            .external_gateway
            .as_ref()
            .and_then(|g| port_by.get(g.port_id.as_str()).copied());
        let mut gateway = gw_port.map(|p| RouterLink {
            port_id: p.id.clone(),
            network_id: p.network_id.clone(),
            outer: names::router_veth_outer(&p.id),
            inner: names::router_veth_inner(&p.id),
            mac: Some(p.mac_address.clone()),
            addresses: addresses(p, &subnet_by),
            mtu: mtu(&p.network_id),
        });
        let ext_subnet = gw_port.and_then(|p| {
            p.fixed_ips
                .iter()
                .filter_map(|f| subnet_by.get(f.subnet_id.as_str()))
                .find(|s| s.ip_version == 4)
        });
        let default_via = ext_subnet.and_then(|s| s.gateway_ip.clone());
        // A network on a host interface has its real gateway out there.
        let simulated = ext_subnet.filter(|s| Some(s.network_id.as_str()) != uplinked);
        if let (Some(s), Some(gw_ip)) = (simulated, &default_via) {
            if let Some(p) = prefix_len(&s.cidr) {
                externals
                    .entry(s.network_id.clone())
                    .or_insert_with(|| RouterLink {
                        port_id: String::new(),
                        network_id: s.network_id.clone(),
                        outer: names::external_veth_outer(&s.network_id),
                        inner: names::external_veth_inner(&s.network_id),
                        mac: None,
                        addresses: Vec::new(),
                        mtu: mtu(&s.network_id),
                    })
                    .addresses
                    .push(format!("{gw_ip}/{p}"));
            }
        }
        // Floating IPs this router NATs (with their fixed IP still on a port).
        let mut mine: Vec<&FloatingIp> = fips
            .iter()
            .filter(|f| {
                f.router_id.as_deref() == Some(r.id.as_str()) && f.fixed_ip_address.is_some()
            })
            .filter(|f| {
                gateway.is_some()
                    && f.port_id
                        .as_deref()
                        .is_some_and(|p| port_by.contains_key(p))
            })
            .collect();
        mine.sort_by(|a, b| a.floating_ip_address.cmp(&b.floating_ip_address));
        if let Some(g) = gateway.as_mut() {
            for f in &mine {
                g.addresses.push(format!("{}/32", f.floating_ip_address));
            }
        }
        let internal_cidrs: Vec<String> = interfaces
            .iter()
            .filter_map(|l| port_by.get(l.port_id.as_str()))
            .flat_map(|p| &p.fixed_ips)
            .filter_map(|f| subnet_by.get(f.subnet_id.as_str()))
            .filter(|s| s.ip_version == 4)
            .map(|s| s.cidr.clone())
            .collect();
        let snat = r.external_gateway.as_ref().is_some_and(|g| g.enable_snat);
        let gw_addr = gateway
            .as_ref()
            .and_then(|g| g.addresses.first())
            .and_then(|a| a.split_once('/'))
            .map(|(a, _)| a.to_string());
        let nft = ruleset(
            gateway.as_ref().map(|g| g.inner.as_str()),
            gw_addr.as_deref(),
            if snat { &internal_cidrs } else { &[] },
            &mine
                .iter()
                .map(|f| {
                    (
                        f.floating_ip_address.clone(),
                        f.fixed_ip_address.clone().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>(),
        );
        out.routers.push(RouterSpec {
            router_id: r.id.clone(),
            netns,
            interfaces,
            gateway,
            default_via,
            routes: r
                .routes
                .iter()
                .map(|x| (x.destination.clone(), x.nexthop.clone()))
                .collect(),
            nft,
            fips: mine.iter().map(|f| f.id.clone()).collect(),
        });
    }
    if !externals.is_empty() {
        let mut links: Vec<RouterLink> = externals.into_values().collect();
        for l in &mut links {
            l.addresses.sort();
            l.addresses.dedup();
        }
        out.external = Some(ExternalSpec {
            netns: names::external_netns(data_dir),
            links,
        });
    }
    out
}

/// The `ip nimbus_nat` table: declared, deleted and defined again in one
/// `nft -f` transaction, so applying it twice leaves exactly one copy.
pub fn ruleset(
    gateway_dev: Option<&str>,
    gateway_addr: Option<&str>,
    snat_cidrs: &[String],
    fips: &[(String, String)],
) -> String {
    let mut pre = Vec::new();
    let mut post = Vec::new();
    if let Some(dev) = gateway_dev {
        for (fip, fixed) in fips {
            pre.push(format!("ip daddr {fip} dnat to {fixed}"));
            post.push(format!("oifname \"{dev}\" ip saddr {fixed} snat to {fip}"));
        }
        if let Some(addr) = gateway_addr {
            for c in snat_cidrs {
                post.push(format!("oifname \"{dev}\" ip saddr {c} snat to {addr}"));
            }
        }
    }
    let mut s =
        String::from("table ip nimbus_nat\ndelete table ip nimbus_nat\ntable ip nimbus_nat {\n");
    s.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for r in pre {
        s.push_str(&format!("    {r}\n"));
    }
    s.push_str("  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    for r in post {
        s.push_str(&format!("    {r}\n"));
    }
    s.push_str("  }\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_nats_fips_before_snat_and_replaces_itself() {
        let r = ruleset(
            Some("nrg0"),
            Some("203.0.113.10"),
            &["10.0.0.0/24".into()],
            &[("203.0.113.11".into(), "10.0.0.5".into())],
        );
        assert!(r.starts_with("table ip nimbus_nat\ndelete table ip nimbus_nat\n"));
        assert!(r.contains("ip daddr 203.0.113.11 dnat to 10.0.0.5"));
        let fip = r.find("snat to 203.0.113.11").unwrap();
        let masq = r.find("ip saddr 10.0.0.0/24 snat to 203.0.113.10").unwrap();
        assert!(fip < masq, "{r}");
        // No gateway: empty chains.
        let r = ruleset(None, None, &["10.0.0.0/24".into()], &[]);
        assert!(!r.contains("snat to"));
    }
}
