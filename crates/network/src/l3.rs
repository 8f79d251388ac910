//! Layer-3 work inside a store transaction, shared by the API handlers and the
//! bootstrap: a router's gateway port on an external network, its interface
//! port on a subnet (holding the subnet's gateway IP), a floating IP's port, and
//! the reachability check that decides which router does a floating IP's NAT.

use crate::alloc::{self, IpRequest};
use crate::error::{Fault, Kind, NResult};
use crate::ipam::{self, Cidr};
use crate::l3_types::{
    FloatingIp, Router, OWNER_FLOATINGIP, OWNER_ROUTER_GATEWAY, OWNER_ROUTER_INTERFACE,
};
use crate::types::{FixedIp, Network, Port, Subnet};
use chrono::Utc;
use nimbus_store::{StoreError, Tx};

/// A port owned by the network service (router or floating IP): no security
/// groups, no port security, `DOWN` until the agent programs it.
fn service_port(
    project_id: &str,
    network_id: &str,
    mac: String,
    fixed_ips: Vec<FixedIp>,
    device_id: &str,
    device_owner: &str,
) -> Port {
    let now = Utc::now();
    Port {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.to_string(),
        network_id: network_id.to_string(),
        name: String::new(),
        description: String::new(),
        mac_address: mac,
        fixed_ips,
        device_id: device_id.to_string(),
        device_owner: device_owner.to_string(),
        admin_state_up: true,
        security_groups: Vec::new(),
        port_security_enabled: false,
        allowed_address_pairs: Vec::new(),
        tags: Default::default(),
        host: String::new(),
        status: "DOWN".into(),
        created_at: now,
        updated_at: now,
    }
}

/// The 400 Neutron gives for a gateway or floating IP on a non-external network.
pub fn not_external(network_id: &str) -> Fault {
    Fault::bad(
        "BadRequest",
        format!("Bad request: Network {network_id} is not a valid external network."),
    )
}

/// Creates a port on an external network with addresses from its pools (or
/// the requested ones), for a router gateway or a floating IP.
pub async fn external_port_in(
    tx: &mut Tx<'_>,
    network: &Network,
    requests: Option<&[IpRequest]>,
    project_id: &str,
    device_id: &str,
    device_owner: &str,
) -> NResult<Port> {
    if !network.external {
        return Err(not_external(&network.id));
    }
    if alloc::subnets_in(tx, &network.id).await?.is_empty() {
        return Err(Fault::bad(
            "BadRequest",
            format!("Network {} has no subnet to allocate from.", network.id),
        ));
    }
    let fixed_ips = alloc::allocate_in(tx, network, requests, None).await?;
    let ports = alloc::ports_in(tx, &network.id).await?;
    let port = service_port(
        project_id,
        &network.id,
        alloc::new_mac(&ports),
        fixed_ips,
        device_id,
        device_owner,
    );
    create_port(tx, &port).await?;
    Ok(port)
}

/// Creates a service port; an address another process took meanwhile → 409.
async fn create_port(tx: &mut Tx<'_>, port: &Port) -> NResult<()> {
    match tx.create(port).await {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict { .. }) => Err(Fault::conflict(
            "IpAddressAlreadyAllocated",
            format!(
                "An address of port {} on network {} is already allocated; retry.",
                port.id, port.network_id
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The gateway port of `router` on `network`.
pub async fn gateway_port_in(
    tx: &mut Tx<'_>,
    router: &Router,
    network: &Network,
    requests: Option<&[IpRequest]>,
) -> NResult<Port> {
    // Only IPv4 is routed: ask for one IPv4 address unless told otherwise.
    external_port_in(
        tx,
        network,
        requests,
        &router.project_id,
        &router.id,
        OWNER_ROUTER_GATEWAY,
    )
    .await
}

/// The interface ports of a router.
pub async fn interfaces_in(tx: &mut Tx<'_>, router_id: &str) -> NResult<Vec<Port>> {
    Ok(tx
        .list::<Port>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|p| p.device_id == router_id && p.device_owner == OWNER_ROUTER_INTERFACE)
        .collect())
}

/// Checks that a subnet may join the router: not external, not already on it,
/// not overlapping a subnet it already has.
pub async fn check_new_interface(
    tx: &mut Tx<'_>,
    router: &Router,
    network: &Network,
    subnets: &[Subnet],
) -> NResult<()> {
    if network.external {
        return Err(Fault::bad(
            "BadRequest",
            format!(
                "Bad router request: Cannot add an interface on external network {}.",
                network.id
            ),
        ));
    }
    let existing = interfaces_in(tx, &router.id).await?;
    for s in subnets {
        let new = Cidr::parse(&s.cidr).map_err(|_| Fault::invalid("bad stored CIDR"))?;
        for p in &existing {
            for f in &p.fixed_ips {
                if f.subnet_id == s.id {
                    return Err(Fault::bad(
                        "BadRequest",
                        format!(
                            "Bad router request: Router already has a port on subnet {}.",
                            s.id
                        ),
                    ));
                }
                let Some(other) = tx.get::<Subnet>(&f.subnet_id).await?.map(|v| v.value) else {
                    continue;
                };
                if Cidr::parse(&other.cidr).is_ok_and(|c| c.overlaps(&new)) {
                    return Err(Fault::bad(
                        "BadRequest",
                        format!(
                            "Bad router request: Cidr {} of subnet {} overlaps with cidr {} of subnet {}.",
                            s.cidr, s.id, other.cidr, other.id
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A `network:router_interface` port holding the subnet's gateway IP.
pub async fn subnet_interface_in(
    tx: &mut Tx<'_>,
    router: &Router,
    network: &Network,
    subnet: &Subnet,
) -> NResult<Port> {
    let gateway = subnet.gateway_ip.clone().ok_or_else(|| {
        Fault::bad(
            "BadRequest",
            format!(
                "Bad router request: Subnet for router interface must have a gateway IP. Subnet {} has none.",
                subnet.id
            ),
        )
    })?;
    check_new_interface(tx, router, network, std::slice::from_ref(subnet)).await?;
    let ports = alloc::ports_in(tx, &network.id).await?;
    if ports.iter().any(|p| {
        p.fixed_ips
            .iter()
            .any(|f| f.ip_address == gateway && f.subnet_id == subnet.id)
    }) {
        return Err(Fault::conflict(
            "IpAddressInUse",
            format!(
                "Unable to complete operation for network {}. The IP address {gateway} is in use.",
                network.id
            ),
        ));
    }
    let port = service_port(
        &router.project_id,
        &network.id,
        alloc::new_mac(&ports),
        vec![FixedIp {
            subnet_id: subnet.id.clone(),
            ip_address: gateway,
        }],
        &router.id,
        OWNER_ROUTER_INTERFACE,
    );
    create_port(tx, &port).await?;
    Ok(port)
}

/// Every router of the store.
pub async fn routers_in(tx: &mut Tx<'_>) -> NResult<Vec<Router>> {
    Ok(tx
        .list::<Router>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

/// The router that can NAT `fixed_ip` (on `subnet_id`) to the external network
/// `external_id`: one with a gateway there and an interface on the subnet.
/// None → Neutron's 404 `ExternalGatewayForFloatingIPNotFound`.
pub async fn router_for_in(
    tx: &mut Tx<'_>,
    external_id: &str,
    subnet_id: &str,
    port_id: &str,
) -> NResult<String> {
    let ports: Vec<Port> = tx
        .list::<Port>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|p| {
            p.device_owner == OWNER_ROUTER_INTERFACE
                && p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id)
        })
        .collect();
    let mut routers = routers_in(tx).await?;
    routers.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    routers
        .into_iter()
        .find(|r| {
            r.external_gateway
                .as_ref()
                .is_some_and(|g| g.network_id == external_id)
                && ports.iter().any(|p| p.device_id == r.id)
        })
        .map(|r| r.id)
        .ok_or_else(|| {
            Fault::new(
                axum::http::StatusCode::NOT_FOUND,
                "ExternalGatewayForFloatingIPNotFound",
                format!(
                    "External network {external_id} is not reachable from subnet {subnet_id}. Therefore, cannot associate Port {port_id} with a Floating IP."
                ),
            )
        })
}

/// Floating IPs associated through `router_id` (optionally only those whose
/// fixed address is on `subnet_id`).
pub async fn fips_via_in(
    tx: &mut Tx<'_>,
    router_id: &str,
    subnet_id: Option<&str>,
) -> NResult<Vec<FloatingIp>> {
    let mut out = Vec::new();
    for f in tx.list::<FloatingIp>(None).await? {
        let f = f.value;
        if f.router_id.as_deref() != Some(router_id) {
            continue;
        }
        if let Some(sid) = subnet_id {
            let Some(pid) = &f.port_id else { continue };
            let Some(p) = tx.get::<Port>(pid).await? else {
                continue;
            };
            let on = p.value.fixed_ips.iter().any(|x| {
                x.subnet_id == sid && Some(x.ip_address.as_str()) == f.fixed_ip_address.as_deref()
            });
            if !on {
                continue;
            }
        }
        out.push(f);
    }
    Ok(out)
}

/// The floating IP's own port on the external network.
pub async fn floating_port_in(
    tx: &mut Tx<'_>,
    network: &Network,
    requests: Option<&[IpRequest]>,
    fip_id: &str,
) -> NResult<Port> {
    // Neutron's floating IP ports belong to no project: only admins see them.
    external_port_in(tx, network, requests, "", fip_id, OWNER_FLOATINGIP).await
}

/// The network of a subnet id inside `tx`, or 404.
pub async fn subnet_in(tx: &mut Tx<'_>, id: &str) -> NResult<Subnet> {
    tx.get::<Subnet>(id)
        .await?
        .map(|v| v.value)
        .ok_or_else(|| Fault::not_found(Kind::Subnet, id))
}

/// Whether `ip` is a valid IPv4/IPv6 address (canonical form returned).
pub fn canonical(ip: &str) -> Option<String> {
    ipam::canonical_ip(ip)
}

/// Ports of routers and floating IPs go with their owner, never through the
/// port API: 409 `ServicePortInUse` as in Neutron.
pub fn check_port_deletable(p: &Port) -> NResult<()> {
    if [
        OWNER_ROUTER_INTERFACE,
        OWNER_ROUTER_GATEWAY,
        OWNER_FLOATINGIP,
    ]
    .contains(&p.device_owner.as_str())
    {
        return Err(Fault::conflict(
            "ServicePortInUse",
            format!(
                "Port {} cannot be deleted directly via the port API: has device owner {}.",
                p.id, p.device_owner
            ),
        ));
    }
    Ok(())
}

/// A port goes: floating IPs on it lose their association (as in Neutron).
pub async fn disassociate_port_in(tx: &mut Tx<'_>, port_id: &str) -> NResult<()> {
    for f in tx.list::<FloatingIp>(None).await? {
        if f.value.port_id.as_deref() == Some(port_id) {
            let mut f = f.value;
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.status = "DOWN".into();
            f.updated_at = Utc::now();
            tx.update(&f, None).await?;
        }
    }
    Ok(())
}
