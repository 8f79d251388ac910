//! What is stored for layer 3: routers, floating IPs and RBAC policies. Like
//! `types.rs`, desired state written by the API; the node agent realises routers
//! as namespaces with nftables NAT and writes back only `status`.

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `device_owner` of a router's interface on a tenant subnet (its gateway IP).
pub const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
/// `device_owner` of a router's port on the external network.
pub const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
/// `device_owner` of the port that holds a floating IP's address.
pub const OWNER_FLOATINGIP: &str = "network:floatingip";

/// A static route of a router (`routes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A router's link to an external network (`external_gateway_info`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalGateway {
    pub network_id: String,
    #[serde(default = "yes")]
    pub enable_snat: bool,
    /// The router's `network:router_gateway` port on the external network.
    pub port_id: String,
}

fn yes() -> bool {
    true
}

/// A router. Its interfaces are ports with `device_owner`
/// [`OWNER_ROUTER_INTERFACE`] and `device_id` = the router id (one per subnet,
/// holding the subnet's gateway IP, or another address for a second router).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub admin_state_up: bool,
    #[serde(default)]
    pub external_gateway: Option<ExternalGateway>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// `ACTIVE` once the agent has the namespace up (*agent*).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for Router {
    const KIND: &'static str = "router";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// A floating IP: an address of an external network, its own port
/// ([`OWNER_FLOATINGIP`]) holding it, associated with a fixed IP of a port
/// that a router with a gateway on that external network can reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub project_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    /// The port holding the address on the external network.
    pub floating_port_id: String,
    /// Association: the internal port and which of its fixed IPs.
    #[serde(default)]
    pub port_id: Option<String>,
    #[serde(default)]
    pub fixed_ip_address: Option<String>,
    /// The router that does the NAT (set on association).
    #[serde(default)]
    pub router_id: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// `DOWN` until the agent has programmed the NAT, then `ACTIVE` (*agent*).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for FloatingIp {
    const KIND: &'static str = "floatingip";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// `/v2.0/rbac-policies`: shares an object (a network) with a project (or `*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RbacPolicy {
    pub id: String,
    pub project_id: String,
    /// `network`.
    pub object_type: String,
    pub object_id: String,
    /// `access_as_shared` or `access_as_external`.
    pub action: String,
    /// A project id or `*`.
    pub target_tenant: String,
    pub created_at: DateTime<Utc>,
}

impl Resource for RbacPolicy {
    const KIND: &'static str = "rbac_policy";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.object_id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!(
            "{}/{}/{}/{}",
            self.object_type, self.object_id, self.action, self.target_tenant
        )]
    }
}
