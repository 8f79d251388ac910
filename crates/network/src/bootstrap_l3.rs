//! The layer-3 part of a first start: the external network `public`
//! (`router:external`, owned by the admin project) with `public-subnet`
//! 203.0.113.0/24 (TEST-NET-3, a documentation range routed nowhere real;
//! gateway .1 is the agent's "outside world" namespace, floating IPs come from
//! .10-.250, no DHCP), and the admin project's router `router` with its gateway
//! on `public` and an interface on `private-subnet`, so a server on `private`
//! can get a floating IP at once. The router is made only together with
//! `public`: a router the admin deleted does not come back on restart.

use crate::alloc;
use crate::error::NResult;
use crate::l3;
use crate::l3_types::{ExternalGateway, Router};
use crate::types::{AllocationPool, Network, Subnet};
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_store::Tx;

pub const PUBLIC_NETWORK: &str = "public";
pub const PUBLIC_SUBNET: &str = "public-subnet";
pub const PUBLIC_CIDR: &str = "203.0.113.0/24";
pub const PUBLIC_GATEWAY: &str = "203.0.113.1";
pub const PUBLIC_POOL: (&str, &str) = ("203.0.113.10", "203.0.113.250");
pub const DEFAULT_ROUTER: &str = "router";

async fn audit(tx: &mut Tx<'_>, action: &str, kind: &str, id: &str) -> NResult<()> {
    AuditRecord::new(None, action, kind, id, true)
        .with_detail("bootstrap")
        .write(tx)
        .await?;
    Ok(())
}

/// Creates `public`, its subnet and the default router when `public` is missing.
pub async fn ensure_public_in(
    tx: &mut Tx<'_>,
    admin_project_id: &str,
    private: &Network,
    private_subnet: Option<&Subnet>,
    mtu: u32,
) -> NResult<()> {
    let exists = tx
        .list::<Network>(Some(admin_project_id))
        .await?
        .into_iter()
        .any(|n| n.value.name == PUBLIC_NETWORK && n.value.external);
    if exists {
        return Ok(());
    }
    let now = Utc::now();
    let public = Network {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: admin_project_id.to_string(),
        name: PUBLIC_NETWORK.into(),
        description:
            "External network: the agent's nimbus-ext namespace stands for the outside world."
                .into(),
        admin_state_up: true,
        shared: false,
        external: true,
        mtu,
        port_security_enabled: false,
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    };
    tx.create(&public).await?;
    audit(tx, "network.network.create", "network", &public.id).await?;
    let subnet = Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: admin_project_id.to_string(),
        network_id: public.id.clone(),
        name: PUBLIC_SUBNET.into(),
        description: String::new(),
        ip_version: 4,
        cidr: PUBLIC_CIDR.into(),
        gateway_ip: Some(PUBLIC_GATEWAY.into()),
        allocation_pools: vec![AllocationPool {
            start: PUBLIC_POOL.0.into(),
            end: PUBLIC_POOL.1.into(),
        }],
        enable_dhcp: false,
        dns_nameservers: Vec::new(),
        host_routes: Vec::new(),
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    };
    tx.create(&subnet).await?;
    audit(tx, "network.subnet.create", "subnet", &subnet.id).await?;
    let mut router = Router {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: admin_project_id.to_string(),
        name: DEFAULT_ROUTER.into(),
        description: String::new(),
        admin_state_up: true,
        external_gateway: None,
        routes: Vec::new(),
        tags: Default::default(),
        status: "ACTIVE".into(),
        created_at: now,
        updated_at: now,
    };
    let gw = l3::gateway_port_in(tx, &router, &public, None).await?;
    router.external_gateway = Some(ExternalGateway {
        network_id: public.id.clone(),
        enable_snat: true,
        port_id: gw.id,
    });
    tx.create(&router).await?;
    audit(tx, "network.router.create", "router", &router.id).await?;
    if let Some(s) = private_subnet {
        let free = !alloc::ports_in(tx, &private.id).await?.iter().any(|p| {
            p.fixed_ips
                .iter()
                .any(|f| Some(&f.ip_address) == s.gateway_ip.as_ref())
        });
        if free && s.gateway_ip.is_some() {
            l3::subnet_interface_in(tx, &router, private, s).await?;
        }
    }
    Ok(())
}
