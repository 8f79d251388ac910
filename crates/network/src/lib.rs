//! Network: Neutron v2.0 for Nimbus (catalog type `network`, served at
//! `/network/v2.0`). Networks, subnets with IPAM, ports, security groups.
//!
//! - [`types`]: what is stored. The node agent (`crates/agent`) reads networks,
//!   subnets and ports to build bridges, taps and DHCP; it writes only port status.
//! - [`ipam`]: address arithmetic; [`alloc`]: addresses, MACs and the DHCP port
//!   inside a store transaction; [`secgroups`]: default groups and rule checks;
//!   [`access`]: who sees what; [`quotas`]: per-project limits; [`bootstrap`]: the
//!   admin project's `private` network.
//! - [`api`]: the HTTP routes, in Neutron's error dialect.
//! - [`Networking`]: the in-process API of the compute service. Ports for servers
//!   are created inside the compute API's own transaction, so a server's addresses
//!   exist from the moment it does.

pub mod access;
pub mod alloc;
pub mod api;
pub mod bootstrap;
pub mod error;
pub mod ipam;
pub mod l3_types;
pub mod quotas;
pub mod secgroups;
pub mod types;

use alloc::IpRequest;
use chrono::Utc;
use error::{Fault, Kind};
use nimbus_api::auth::Principal;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{Store, StoreError, Tx};
use std::sync::Arc;
use types::{Network, Port, SecurityGroup, OWNER_DHCP};

/// The network service, shared by its routes and by the compute API.
pub struct Networking {
    pub store: Store,
}

/// A server NIC port the compute API asks for.
#[derive(Clone, Debug, Default)]
pub struct PortRequest {
    pub project_id: String,
    pub network_id: String,
    /// A requested address (Nova's `networks: [{uuid, fixed_ip}]`).
    pub fixed_ip: Option<String>,
    /// Security group ids ([`Networking::resolve_security_groups`]); empty: the
    /// project's `default` group.
    pub security_groups: Vec<String>,
    pub device_id: String,
    pub device_owner: String,
    pub name: String,
}

/// How often a transaction that lost a race with another process is retried.
const RETRIES: usize = 5;

impl Networking {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Networking { store })
    }

    /// A network `caller` may attach a server to (own project, shared, or any for
    /// cloud admin; not external for non-admins): 404 "Network {id} could not be
    /// found." otherwise.
    pub async fn usable_network(&self, caller: &Principal, network_id: &str) -> ApiResult<Network> {
        let n = self
            .store
            .get::<Network>(network_id)
            .await?
            .map(|v| v.value);
        match n {
            Some(n) if caller.is_cloud_admin() => Ok(n),
            Some(n)
                if !n.external
                    && (n.shared || caller.project_id() == Some(n.project_id.as_str())) =>
            {
                Ok(n)
            }
            _ => Err(Fault::not_found(Kind::Network, network_id).into()),
        }
    }

    /// For Nova's `networks: "auto"`: the caller project's own networks plus shared
    /// non-external ones.
    pub async fn auto_networks(&self, caller: &Principal) -> ApiResult<Vec<Network>> {
        let project = caller.project_id();
        Ok(self
            .store
            .list::<Network>(None)
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|n| !n.external && (n.shared || project == Some(n.project_id.as_str())))
            .collect())
    }

    /// Security groups by id, or by name within the caller's project (creating the
    /// project's `default` group when it is named, or when `refs` is empty →
    /// `[default]`). Unknown → 400 "Security group {ref} not found."; two groups
    /// with that name → 409.
    pub async fn resolve_security_groups(
        &self,
        caller: &Principal,
        refs: &[String],
    ) -> ApiResult<Vec<SecurityGroup>> {
        let project = caller
            .project_id()
            .ok_or_else(|| ApiError::bad_request("Security groups need a project-scoped token."))?;
        if refs.is_empty() {
            return Ok(vec![self.ensure_default_group(project).await?]);
        }
        let mine: Vec<SecurityGroup> = self
            .store
            .list::<SecurityGroup>(Some(project))
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let mut out: Vec<SecurityGroup> = Vec::new();
        for r in refs {
            let by_id = self.store.get::<SecurityGroup>(r).await?.map(|v| v.value);
            let group = match by_id {
                Some(g) if caller.is_cloud_admin() || g.project_id == project => g,
                _ => {
                    let named: Vec<&SecurityGroup> = mine.iter().filter(|g| &g.name == r).collect();
                    match named.as_slice() {
                        [g] => (*g).clone(),
                        [] if r == secgroups::DEFAULT_NAME => {
                            self.ensure_default_group(project).await?
                        }
                        [] => {
                            return Err(ApiError::bad_request(format!(
                                "Security group {r} not found."
                            )))
                        }
                        _ => {
                            return Err(ApiError::conflict(format!(
                                "Multiple security groups found matching '{r}'. Use an ID to be more specific."
                            )))
                        }
                    }
                }
            };
            if !out.iter().any(|g| g.id == group.id) {
                out.push(group);
            }
        }
        Ok(out)
    }

    /// The project's `default` group, created with its rules on first need.
    pub async fn ensure_default_group(&self, project_id: &str) -> ApiResult<SecurityGroup> {
        let mut last = None;
        for _ in 0..RETRIES {
            let mut tx = self.store.begin().await?;
            match secgroups::ensure_default_in(&mut tx, project_id).await {
                Ok(g) => {
                    tx.commit().await?;
                    return Ok(g);
                }
                Err(f) if f.status() == axum::http::StatusCode::CONFLICT => last = Some(f),
                Err(f) => return Err(f.into()),
            }
        }
        Err(last.map(ApiError::from).unwrap_or_else(|| {
            ApiError::conflict("The default security group kept changing; retry.")
        }))
    }

    /// A port the caller may use for a server NIC (`networks: [{port}]`): visible,
    /// not bound to a device (else 409 "Port {id} is still in use.").
    pub async fn usable_port(&self, caller: &Principal, port_id: &str) -> ApiResult<Port> {
        let p = self.store.get::<Port>(port_id).await?.map(|v| v.value);
        match p {
            Some(p) if access::sees(caller, &p.project_id, false) => {
                if !p.device_id.is_empty() || p.device_owner == OWNER_DHCP {
                    Err(ApiError::conflict(format!(
                        "Port {port_id} is still in use."
                    )))
                } else {
                    Ok(p)
                }
            }
            _ => Err(Fault::not_found(Kind::Port, port_id).into()),
        }
    }

    /// Creates a server NIC port inside the caller's transaction (IPAM as for the
    /// API; a requested `fixed_ip` outside every subnet of the network → 400, taken
    /// → 409; a network without subnets → 400).
    pub async fn create_port_in(&self, tx: &mut Tx<'_>, req: PortRequest) -> ApiResult<Port> {
        Ok(create_server_port_in(tx, req).await?)
    }

    /// Sets device_id/device_owner of an existing port inside `tx`.
    pub async fn bind_port_in(
        &self,
        tx: &mut Tx<'_>,
        port_id: &str,
        device_id: &str,
        device_owner: &str,
    ) -> ApiResult<Port> {
        let mut port = tx
            .get::<Port>(port_id)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| ApiError::from(Fault::not_found(Kind::Port, port_id)))?;
        port.device_id = device_id.to_string();
        port.device_owner = device_owner.to_string();
        port.updated_at = Utc::now();
        tx.update(&port, None).await?;
        Ok(port)
    }

    /// Server deletion: deletes the ports in `delete`, clears device_id/owner/host of
    /// `unbind`, inside `tx`; ports already gone are skipped.
    pub async fn release_ports_in(
        &self,
        tx: &mut Tx<'_>,
        delete: &[String],
        unbind: &[String],
    ) -> ApiResult<()> {
        for id in delete {
            match tx.delete::<Port>(id, None).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for id in unbind {
            let Some(mut port) = tx.get::<Port>(id).await?.map(|v| v.value) else {
                continue;
            };
            port.device_id.clear();
            port.device_owner.clear();
            port.host.clear();
            port.status = "DOWN".into();
            port.updated_at = Utc::now();
            tx.update(&port, None).await?;
        }
        Ok(())
    }

    /// Ports by device id (for the server views `addresses` and `os-interface`).
    pub async fn ports_of_device(&self, device_id: &str) -> ApiResult<Vec<Port>> {
        let mut ports: Vec<Port> = self
            .store
            .list::<Port>(None)
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|p| p.device_id == device_id)
            .collect();
        ports.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(ports)
    }
}

/// The server NIC port of [`Networking::create_port_in`], with Neutron's faults.
async fn create_server_port_in(tx: &mut Tx<'_>, req: PortRequest) -> error::NResult<Port> {
    let network = alloc::network_in(tx, &req.network_id).await?;
    if alloc::subnets_in(tx, &network.id).await?.is_empty() {
        return Err(Fault::bad(
            "NetworkRequiresSubnet",
            format!(
                "Network {} requires a subnet in order to boot instances on.",
                network.id
            ),
        ));
    }
    let requests = req.fixed_ip.as_ref().map(|ip| {
        vec![IpRequest {
            subnet_id: None,
            ip_address: Some(ip.clone()),
        }]
    });
    let fixed_ips = alloc::allocate_in(tx, &network, requests.as_deref(), None).await?;
    let security_groups = if !network.port_security_enabled {
        Vec::new()
    } else if req.security_groups.is_empty() {
        vec![secgroups::ensure_default_in(tx, &req.project_id).await?.id]
    } else {
        req.security_groups.clone()
    };
    // Nova's answer when the project has no port left (its `PortLimitExceeded`).
    quotas::check(tx, "port", &req.project_id, 1)
        .await
        .map_err(|f| {
            if f.kind == "OverQuota" {
                Fault::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "OverQuota",
                    "Maximum number of ports exceeded",
                )
            } else {
                f
            }
        })?;
    let ports = alloc::ports_in(tx, &network.id).await?;
    let now = Utc::now();
    let port = Port {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: req.project_id,
        network_id: network.id.clone(),
        name: req.name,
        description: String::new(),
        mac_address: alloc::new_mac(&ports),
        fixed_ips,
        device_id: req.device_id,
        device_owner: req.device_owner,
        admin_state_up: true,
        security_groups,
        port_security_enabled: network.port_security_enabled,
        allowed_address_pairs: Vec::new(),
        tags: Default::default(),
        host: String::new(),
        status: "DOWN".into(),
        created_at: now,
        updated_at: now,
    };
    tx.create(&port).await?;
    Ok(port)
}
