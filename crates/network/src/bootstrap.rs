//! What a first start creates, idempotently: the admin project's network `private`
//! with the subnet `private-subnet` (10.0.0.0/24, gateway 10.0.0.1, DHCP on) and its
//! DHCP port, the admin project's `default` security group, and the external
//! network `public` with the router `router` ([`crate::bootstrap_l3`]).

use crate::alloc;
use crate::ipam::{self, Cidr};
use crate::secgroups;
use crate::types::{AllocationPool, Network, Subnet};
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_store::Store;

pub const PRIVATE_NETWORK: &str = "private";
pub const PRIVATE_SUBNET: &str = "private-subnet";
pub const PRIVATE_CIDR: &str = "10.0.0.0/24";
/// Neutron's default MTU for overlay (VXLAN) networks.
pub const DEFAULT_MTU: u32 = 1450;

/// Creates what is missing of the defaults; a second call writes nothing.
pub async fn ensure_defaults(store: &Store, admin_project_id: &str) -> Result<(), BootstrapError> {
    let mut tx = store.begin().await?;
    secgroups::ensure_default_in(&mut tx, admin_project_id)
        .await
        .map_err(|f| f.error.message)?;
    let now = Utc::now();
    let existing = tx
        .list::<Network>(Some(admin_project_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .find(|n| n.name == PRIVATE_NETWORK);
    let network = match existing {
        Some(n) => n,
        None => {
            let n = Network {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: admin_project_id.to_string(),
                name: PRIVATE_NETWORK.into(),
                description: String::new(),
                admin_state_up: true,
                shared: false,
                external: false,
                mtu: DEFAULT_MTU,
                port_security_enabled: true,
                tags: Default::default(),
                created_at: now,
                updated_at: now,
            };
            tx.create(&n).await?;
            AuditRecord::new(None, "network.network.create", "network", &n.id, true)
                .with_detail("bootstrap")
                .write(&mut tx)
                .await?;
            n
        }
    };
    let subnets = alloc::subnets_in(&mut tx, &network.id)
        .await
        .map_err(|f| f.error.message)?;
    if !subnets.iter().any(|s| s.name == PRIVATE_SUBNET) {
        let cidr = Cidr::parse(PRIVATE_CIDR).map_err(|e| format!("{e:?}"))?;
        let gateway = cidr.default_gateway();
        let s = Subnet {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: admin_project_id.to_string(),
            network_id: network.id.clone(),
            name: PRIVATE_SUBNET.into(),
            description: String::new(),
            ip_version: 4,
            cidr: cidr.to_string(),
            gateway_ip: Some(ipam::format_ip(4, gateway)),
            allocation_pools: cidr
                .default_pools(Some(gateway))
                .into_iter()
                .map(|(a, b)| AllocationPool {
                    start: ipam::format_ip(4, a),
                    end: ipam::format_ip(4, b),
                })
                .collect(),
            enable_dhcp: true,
            dns_nameservers: Vec::new(),
            host_routes: Vec::new(),
            tags: Default::default(),
            created_at: now,
            updated_at: now,
        };
        tx.create(&s).await?;
        AuditRecord::new(None, "network.subnet.create", "subnet", &s.id, true)
            .with_detail("bootstrap")
            .write(&mut tx)
            .await?;
    }
    alloc::sync_dhcp_in(&mut tx, &network)
        .await
        .map_err(|f| f.error.message)?;
    let private_subnet = alloc::subnets_in(&mut tx, &network.id)
        .await
        .map_err(|f| f.error.message)?
        .into_iter()
        .find(|s| s.name == PRIVATE_SUBNET);
    crate::bootstrap_l3::ensure_public_in(
        &mut tx,
        admin_project_id,
        &network,
        private_subnet.as_ref(),
        DEFAULT_MTU,
    )
    .await
    .map_err(|f| f.error.message)?;
    tx.commit().await?;
    Ok(())
}

/// A bootstrap failure, as text (the binary wraps it into `anyhow`).
#[derive(Debug)]
pub struct BootstrapError(pub String);

impl std::fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BootstrapError {}

impl From<String> for BootstrapError {
    fn from(s: String) -> Self {
        BootstrapError(s)
    }
}

impl From<nimbus_store::StoreError> for BootstrapError {
    fn from(e: nimbus_store::StoreError) -> Self {
        BootstrapError(e.to_string())
    }
}
