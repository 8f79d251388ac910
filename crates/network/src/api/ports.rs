//! `/v2.0/ports`: ports with generated (`fa:16:3e:…`) or requested MACs, addresses
//! requested by subnet and/or address or allocated from the pools, security groups
//! (the project's `default` group unless given), port security and allowed address
//! pairs, and the binding host (cloud admins). `status` stays `DOWN` until the node
//! agent reports the tap up. Changing `fixed_ips` re-allocates.

use super::common::*;
use super::networks;
use super::port_attrs::*;
use super::views;
use crate::access::{self, authorize_on};
use crate::alloc;
use crate::error::{Fault, Kind, NResult};
use crate::secgroups;
use crate::types::{AddressPair, Network, Port, OWNER_DHCP};
use crate::Networking;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::query::Query;
use nimbus_store::{Store, StoreError, Versioned};
use serde_json::{json, Value};
use std::sync::Arc;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "created_at",
    "updated_at",
    "revision_number",
    "binding:vif_type",
    "binding:vif_details",
    "ip_allocation",
];

/// How often a port's addresses are allocated again after another process took one.
const ALLOCATION_ATTEMPTS: usize = 5;

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<Port>> {
    store
        .get::<Port>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::Port, id))
}

fn authorize_port(caller: &Principal, action: &str, p: &Port) -> NResult<()> {
    authorize_on(caller, action, Kind::Port, &p.id, &p.project_id, false)
}

/// `GET /v2.0/ports`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let items = visible(&net.store, &caller, |p: &Port| &p.project_id, views::port).await?;
    Ok(Json(list("ports", items, &q, &url)?))
}

/// `GET /v2.0/ports/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let p = load(&net.store, &id).await?;
    authorize_port(&caller, "network:get_port", &p.value)?;
    Ok(Json(one("port", views::port(&p.value, p.revision), &q)))
}

/// Whether non-admins may put ports on the network.
fn usable_by(caller: &Principal, n: &Network) -> bool {
    caller.is_cloud_admin() || caller.project_id() == Some(n.project_id.as_str()) || n.shared
}

/// `POST /v2.0/ports`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "port")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "network_id",
            "admin_state_up",
            "mac_address",
            "fixed_ips",
            "device_id",
            "device_owner",
            "security_groups",
            "port_security_enabled",
            "allowed_address_pairs",
            "binding:host_id",
            "binding:profile",
            "binding:vnic_type",
            "project_id",
            "tenant_id",
            "tags",
        ],
        READ_ONLY,
        "POST",
    )?;
    check_binding(obj)?;
    let network_id = string(obj, "network_id", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'network_id' not specified",
        )
    })?;
    let mut network = networks::load(&net.store, &network_id).await?.value;
    crate::rbac::apply_one(&net.store, &caller, &mut network).await?;
    authorize_on(
        &caller,
        "network:get_network",
        Kind::Network,
        &network.id,
        &network.project_id,
        access::network_open(&network),
    )?;
    if !usable_by(&caller, &network) {
        return Err(Fault::new(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            format!("Only cloud admins may create ports on network {network_id}."),
        ));
    }
    let project_id = owner(obj, &caller)?;
    let id = uuid::Uuid::new_v4().to_string();
    authorize_on(
        &caller,
        "network:create_port",
        Kind::Port,
        &id,
        &project_id,
        true,
    )?;
    let host = string(obj, "binding:host_id", MAX_NAME)?.unwrap_or_default();
    if !host.is_empty() {
        authorize_on(
            &caller,
            "network:create_port:binding:host_id",
            Kind::Port,
            &id,
            &project_id,
            true,
        )?;
    }
    let requested_mac = match string(obj, "mac_address", MAX_NAME)? {
        None => None,
        Some(m) => Some(
            alloc::normalize_mac(&m)
                .ok_or_else(|| Fault::invalid(format!("'{m}' is not a valid MAC address")))?,
        ),
    };
    let requests = fixed_ips(obj)?;
    let security = boolean(obj, "port_security_enabled")?.unwrap_or(network.port_security_enabled);
    let groups = string_list(obj, "security_groups")?;
    let pairs = address_pairs(obj)?;
    if !security && groups.as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(no_security_with_groups());
    }
    if !security && pairs.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(pairs_need_security());
    }
    let name = string(obj, "name", MAX_NAME)?.unwrap_or_default();
    let description = string(obj, "description", MAX_NAME)?.unwrap_or_default();
    let device_id = string(obj, "device_id", MAX_NAME)?.unwrap_or_default();
    let device_owner = string(obj, "device_owner", MAX_NAME)?.unwrap_or_default();
    let admin_state_up = boolean(obj, "admin_state_up")?.unwrap_or(true);
    let tags = tags(obj)?;

    // Another process may take an address or MAC between our read and our write:
    // the store's unique keys refuse the second holder, and we allocate again.
    let mut attempt = 0;
    let (tx, port, revision) = loop {
        attempt += 1;
        let mut tx = net.store.begin().await?;
        let ports = alloc::ports_in(&mut tx, &network.id).await?;
        let mac = match &requested_mac {
            Some(m) if ports.iter().any(|p| &p.mac_address == m) => {
                return Err(mac_in_use(&network.id, m))
            }
            Some(m) => m.clone(),
            None => alloc::new_mac(&ports),
        };
        let fixed_ips = alloc::allocate_in(&mut tx, &network, requests.as_deref(), None).await?;
        let security_groups = match (security, &groups) {
            (false, _) => Vec::new(),
            (true, Some(ids)) => check_groups(&mut tx, &caller, &project_id, ids).await?,
            (true, None) => vec![secgroups::ensure_default_in(&mut tx, &project_id).await?.id],
        };
        let allowed_address_pairs = pairs
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(ip, m)| AddressPair {
                ip_address: ip,
                mac_address: m.unwrap_or_else(|| mac.clone()),
            })
            .collect();
        let now = Utc::now();
        let port = Port {
            id: id.clone(),
            project_id: project_id.clone(),
            network_id: network.id.clone(),
            name: name.clone(),
            description: description.clone(),
            mac_address: mac,
            fixed_ips,
            device_id: device_id.clone(),
            device_owner: device_owner.clone(),
            admin_state_up,
            security_groups,
            port_security_enabled: security,
            allowed_address_pairs,
            tags: tags.clone(),
            host: host.clone(),
            status: "DOWN".into(),
            created_at: now,
            updated_at: now,
        };
        crate::quotas::check(&mut tx, "port", &port.project_id, 1).await?;
        match tx.create(&port).await {
            Ok(revision) => break (tx, port, revision),
            Err(StoreError::Conflict { .. }) if attempt < ALLOCATION_ATTEMPTS => continue,
            Err(StoreError::Conflict { .. }) => {
                return Err(Fault::conflict(
                    "IpAddressGenerationFailure",
                    format!("Unable to allocate an address on network {} after {ALLOCATION_ATTEMPTS} attempts; retry.", network.id),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    };
    commit_audited(tx, &caller, "network.port.create", "port", &port.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"port": views::port(&port, revision)})),
    ))
}

/// `PUT /v2.0/ports/{id}`
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "port")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "admin_state_up",
            "mac_address",
            "fixed_ips",
            "device_id",
            "device_owner",
            "security_groups",
            "port_security_enabled",
            "allowed_address_pairs",
            "binding:host_id",
            "binding:profile",
            "binding:vnic_type",
        ],
        &[
            READ_ONLY,
            &["network_id", "project_id", "tenant_id", "tags"],
        ]
        .concat(),
        "PUT",
    )?;
    check_binding(obj)?;
    let current = load(&net.store, &id).await?;
    authorize_port(&caller, "network:update_port", &current.value)?;
    let mut p = current.value.clone();
    if let Some(h) = string(obj, "binding:host_id", MAX_NAME)? {
        if h != p.host {
            authorize_port(&caller, "network:update_port:binding:host_id", &p)?;
        }
        p.host = h;
    }
    if let Some(v) = string(obj, "name", MAX_NAME)? {
        p.name = v;
    }
    if let Some(v) = string(obj, "description", MAX_NAME)? {
        p.description = v;
    }
    if let Some(v) = string(obj, "device_id", MAX_NAME)? {
        p.device_id = v;
    }
    if let Some(v) = string(obj, "device_owner", MAX_NAME)? {
        p.device_owner = v;
    }
    if let Some(v) = boolean(obj, "admin_state_up")? {
        p.admin_state_up = v;
    }
    let requested_mac = match string(obj, "mac_address", MAX_NAME)? {
        None => None,
        Some(m) => Some(
            alloc::normalize_mac(&m)
                .ok_or_else(|| Fault::invalid(format!("'{m}' is not a valid MAC address")))?,
        ),
    };
    let requests = fixed_ips(obj)?;
    let groups = string_list(obj, "security_groups")?;
    let pairs = address_pairs(obj)?;
    if let Some(v) = boolean(obj, "port_security_enabled")? {
        p.port_security_enabled = v;
    }
    if !p.port_security_enabled {
        let remaining = groups
            .as_ref()
            .map_or(!p.security_groups.is_empty(), |g| !g.is_empty());
        if remaining {
            return Err(Fault::conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            ));
        }
        let pairs_left = pairs
            .as_ref()
            .map_or(!p.allowed_address_pairs.is_empty(), |a| !a.is_empty());
        if pairs_left {
            return Err(pairs_need_security());
        }
    }
    let network = networks::load(&net.store, &p.network_id).await?.value;
    let mut tx = net.store.begin().await?;
    if let Some(m) = requested_mac {
        if m != p.mac_address {
            let ports = alloc::ports_in(&mut tx, &p.network_id).await?;
            if ports.iter().any(|o| o.id != p.id && o.mac_address == m) {
                return Err(mac_in_use(&p.network_id, &m));
            }
            p.mac_address = m;
        }
    }
    if let Some(r) = requests {
        p.fixed_ips = alloc::allocate_in(&mut tx, &network, Some(&r), Some(&p.id)).await?;
    }
    if let Some(ids) = groups {
        p.security_groups = check_groups(&mut tx, &caller, &p.project_id, &ids).await?;
    }
    if let Some(pairs) = pairs {
        let mac = p.mac_address.clone();
        p.allowed_address_pairs = pairs
            .into_iter()
            .map(|(ip, m)| AddressPair {
                ip_address: ip,
                mac_address: m.unwrap_or_else(|| mac.clone()),
            })
            .collect();
    }
    p.updated_at = Utc::now();
    let revision = match tx.update(&p, Some(current.revision)).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(Fault::conflict(
                "IpAddressAlreadyAllocated",
                "An address or MAC of this port was taken concurrently; retry.",
            ))
        }
        other => other?,
    };
    commit_audited(tx, &caller, "network.port.update", "port", &id).await?;
    Ok(Json(json!({"port": views::port(&p, revision)})))
}

/// `DELETE /v2.0/ports/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_port(&caller, "network:delete_port", &current.value)?;
    crate::l3::check_port_deletable(&current.value)?;
    let mut tx = net.store.begin().await?;
    match tx.delete::<Port>(&id, None).await {
        Err(StoreError::NotFound { .. }) => return Err(Fault::not_found(Kind::Port, &id)),
        other => other?,
    };
    crate::l3::disassociate_port_in(&mut tx, &id).await?;
    // A network with DHCP always has its DHCP port: a deleted one comes back at
    // once (as Neutron's DHCP agent recreates it).
    if current.value.device_owner == OWNER_DHCP {
        if let Some(n) = tx.get::<Network>(&current.value.network_id).await? {
            alloc::sync_dhcp_in(&mut tx, &n.value).await?;
        }
    }
    commit_audited(tx, &caller, "network.port.delete", "port", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
