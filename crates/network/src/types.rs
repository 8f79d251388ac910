//! What the network service stores. Field names follow Neutron's API where the API
//! shows them; everything here is desired state written by the API, except the port
//! fields marked *agent* (observed state the node agent writes back).

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A layer-2 network. On a host it becomes one bridge inside the dataplane
/// namespace (names: `crates/agent` `dataplane::names`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub admin_state_up: bool,
    /// Usable by every project.
    #[serde(default)]
    pub shared: bool,
    /// `router:external`.
    #[serde(default)]
    pub external: bool,
    pub mtu: u32,
    #[serde(default)]
    pub port_security_enabled: bool,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for Network {
    const KIND: &'static str = "network";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// An address range handed out by IPAM (inclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// A static route a subnet announces (`host_routes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// An IP subnet of a network (IPv4 or IPv6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// Normalised CIDR (`10.0.0.0/24`).
    pub cidr: String,
    /// `None`: no gateway (`gateway_ip: null`).
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub enable_dhcp: bool,
    #[serde(default)]
    pub dns_nameservers: Vec<String>,
    #[serde(default)]
    pub host_routes: Vec<HostRoute>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for Subnet {
    const KIND: &'static str = "subnet";
    fn id(&self) -> &str {
        &self.id
    }
    /// Subnets are listed per network.
    fn parent(&self) -> &str {
        &self.network_id
    }
}

/// One address of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// `allowed_address_pairs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// `device_owner` of the ports Nova creates for servers.
pub const OWNER_COMPUTE: &str = "compute:nova";
/// `device_owner` of the port DHCP listens on (one per network with DHCP).
pub const OWNER_DHCP: &str = "network:dhcp";

/// A port: a MAC and addresses on a network, bound to a device (a server's NIC, the
/// DHCP server, later a router interface). Each fixed IP holds the unique key
/// [`Port::ip_key`] so IPAM never hands out an address twice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    /// The server id (or network id for DHCP); empty when unbound.
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub device_owner: String,
    pub admin_state_up: bool,
    /// Security group ids.
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default = "yes")]
    pub port_security_enabled: bool,
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPair>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// `binding:host_id`: the host whose agent plugs it (*agent*, when plugged).
    #[serde(default)]
    pub host: String,
    /// `DOWN` until the agent has the tap up, then `ACTIVE` (*agent*).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

impl Port {
    /// The unique key an allocated address holds: `ip/{subnet_id}/{address}`.
    pub fn ip_key(subnet_id: &str, ip: &str) -> String {
        format!("ip/{subnet_id}/{ip}")
    }
}

impl Resource for Port {
    const KIND: &'static str = "port";
    fn id(&self) -> &str {
        &self.id
    }
    /// Ports are listed per network.
    fn parent(&self) -> &str {
        &self.network_id
    }
    fn unique_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .fixed_ips
            .iter()
            .map(|f| Port::ip_key(&f.subnet_id, &f.ip_address))
            .collect();
        keys.push(format!("mac/{}/{}", self.network_id, self.mac_address));
        keys
    }
}

/// A security group. Its rules are objects of their own ([`SecurityGroupRule`],
/// parent = the group); enforcement comes with the networking issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub stateful: bool,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for SecurityGroup {
    const KIND: &'static str = "security_group";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
    /// The `default` group is unique per project (others may share names).
    fn unique_keys(&self) -> Vec<String> {
        if self.name == "default" {
            vec![format!("default/{}", self.project_id)]
        } else {
            Vec::new()
        }
    }
}

/// One rule of a security group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub project_id: String,
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// As given (name or number), `None` for any.
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    #[serde(default)]
    pub description: String,
    pub created_at: DateTime<Utc>,
}

impl Resource for SecurityGroupRule {
    const KIND: &'static str = "security_group_rule";
    fn id(&self) -> &str {
        &self.id
    }
    /// Rules are listed per group.
    fn parent(&self) -> &str {
        &self.security_group_id
    }
}

/// The `device_id` of a network's DHCP port: `dhcp` followed by the network id.
pub fn dhcp_device_id(network_id: &str) -> String {
    format!("dhcp{network_id}")
}

/// A project's network quotas where they differ from the defaults (Neutron's
/// `quotas` extension); `None` means the default, `-1` unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkQuota {
    /// The project id.
    pub id: String,
    #[serde(default)]
    pub network: Option<i64>,
    #[serde(default)]
    pub subnet: Option<i64>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub security_group: Option<i64>,
    #[serde(default)]
    pub security_group_rule: Option<i64>,
}

impl Resource for NetworkQuota {
    const KIND: &'static str = "network_quota";
    fn id(&self) -> &str {
        &self.id
    }
}
