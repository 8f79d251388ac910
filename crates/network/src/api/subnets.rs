//! `/v2.0/subnets`: IPv4 and IPv6 subnets of a network with Neutron's defaults
//! (gateway: the first host; pools: every usable address but the gateway) and
//! checks (normalised CIDR, pools inside the subnet and clear of the gateway, no
//! overlap with the network's other subnets). Creating, changing or deleting a
//! subnet keeps the network's DHCP port in step; deleting a subnet that non-DHCP
//! ports hold addresses on is a 409 `SubnetInUse`.

use super::common::*;
use super::networks;
use super::subnet_attrs::*;
use super::views;
use crate::access::{self, authorize_on};
use crate::alloc;
use crate::error::{Fault, Kind, NResult};
use crate::ipam::{self, Cidr};
use crate::types::{Network, Port, Subnet, OWNER_DHCP};
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
use nimbus_store::{Store, Versioned};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

const READ_ONLY: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "revision_number",
    "subnetpool_id",
    "segment_id",
    "service_types",
    "ipv6_address_mode",
    "ipv6_ra_mode",
    "prefixlen",
    "use_default_subnetpool",
];

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<Subnet>> {
    store
        .get::<Subnet>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::Subnet, id))
}

/// Authorizes on a subnet: its network decides whether other projects see it.
async fn authorize_subnet(
    store: &Store,
    caller: &Principal,
    action: &str,
    s: &Subnet,
) -> NResult<Network> {
    let mut n = store
        .get::<Network>(&s.network_id)
        .await?
        .map(|v| v.value)
        .ok_or_else(|| Fault::not_found(Kind::Subnet, &s.id))?;
    crate::rbac::apply_one(store, caller, &mut n).await?;
    authorize_on(
        caller,
        action,
        Kind::Subnet,
        &s.id,
        &s.project_id,
        access::network_open(&n),
    )?;
    Ok(n)
}

/// `GET /v2.0/subnets`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let shared = crate::rbac::shared_with(&net.store, &caller).await?;
    let networks: HashMap<String, Network> = net
        .store
        .list::<Network>(None)
        .await?
        .into_iter()
        .map(|mut n| {
            crate::rbac::apply(&shared, &mut n.value);
            (n.value.id.clone(), n.value)
        })
        .collect();
    let items: Vec<Value> = net
        .store
        .list::<Subnet>(None)
        .await?
        .into_iter()
        .filter(|s| access::sees_subnet(&caller, &s.value, networks.get(&s.value.network_id)))
        .map(|s| views::subnet(&s.value, s.revision))
        .collect();
    Ok(Json(list("subnets", items, &q, &url)?))
}

/// `GET /v2.0/subnets/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let s = load(&net.store, &id).await?;
    authorize_subnet(&net.store, &caller, "network:get_subnet", &s.value).await?;
    Ok(Json(one("subnet", views::subnet(&s.value, s.revision), &q)))
}

/// `POST /v2.0/subnets`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "subnet")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "network_id",
            "cidr",
            "ip_version",
            "gateway_ip",
            "allocation_pools",
            "enable_dhcp",
            "dns_nameservers",
            "host_routes",
            "project_id",
            "tenant_id",
            "tags",
        ],
        READ_ONLY,
        "POST",
    )?;
    for k in [
        "ipv6_address_mode",
        "ipv6_ra_mode",
        "subnetpool_id",
        "segment_id",
    ] {
        if obj.get(k).is_some_and(|v| !v.is_null()) {
            return Err(Fault::invalid(format!(
                "{k} is not supported by this cloud"
            )));
        }
    }
    let network_id = string(obj, "network_id", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'network_id' not specified",
        )
    })?;
    let cidr_text = string(obj, "cidr", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "BadRequest",
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
        )
    })?;
    let cidr = parse_cidr(&cidr_text)?;
    match integer(obj, "ip_version")? {
        None => {}
        Some(Some(v)) if v == cidr.version as i64 => {}
        Some(Some(4 | 6)) => {
            return Err(Fault::invalid(format!(
                "Cannot use a cidr of IP version {} with ip_version set to the other version",
                cidr.version
            )))
        }
        Some(v) => {
            return Err(Fault::invalid(format!(
                "'{}' is not in [4, 6]",
                v.map_or("None".into(), |v| v.to_string())
            )))
        }
    }
    let max_prefix = if cidr.version == 4 { 30 } else { 126 };
    if cidr.prefix == 0 || cidr.prefix > max_prefix {
        return Err(Fault::invalid(format!("Subnet {cidr} is too large or too small: the prefix must be between 1 and {max_prefix}.")));
    }
    let gw = match gateway(obj, &cidr)? {
        None => Some(cidr.default_gateway()),
        Some(g) => g,
    };
    let pools = match pools_from(obj)? {
        None => cidr.default_pools(gw),
        Some(p) => check_pools(&cidr, &p, gw)?,
    };
    let network = networks::load(&net.store, &network_id).await?.value;
    authorize_on(
        &caller,
        "network:create_subnet",
        Kind::Network,
        &network.id,
        &network.project_id,
        access::network_open(&network),
    )?;
    let project_id = given_project(obj)?.unwrap_or_else(|| network.project_id.clone());
    if project_id != network.project_id && !caller.is_cloud_admin() {
        return Err(Fault::new(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            "Only cloud admins may create subnets for another project.",
        ));
    }
    let now = Utc::now();
    let subnet = Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        project_id,
        network_id: network.id.clone(),
        name: string(obj, "name", MAX_NAME)?.unwrap_or_default(),
        description: string(obj, "description", MAX_NAME)?.unwrap_or_default(),
        ip_version: cidr.version,
        cidr: cidr.to_string(),
        gateway_ip: gw.map(|g| ipam::format_ip(cidr.version, g)),
        allocation_pools: to_pools(cidr.version, &pools),
        enable_dhcp: boolean(obj, "enable_dhcp")?.unwrap_or(true),
        dns_nameservers: dns(obj, cidr.version)?.unwrap_or_default(),
        host_routes: routes(obj, cidr.version)?.unwrap_or_default(),
        tags: tags(obj)?,
        created_at: now,
        updated_at: now,
    };
    let mut tx = net.store.begin().await?;
    for other in alloc::subnets_in(&mut tx, &network.id).await? {
        if Cidr::parse(&other.cidr).is_ok_and(|c| c.overlaps(&cidr)) {
            return Err(Fault::invalid(format!(
                "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                network.id
            )));
        }
    }
    crate::quotas::check(&mut tx, "subnet", &subnet.project_id, 1).await?;
    tx.create(&subnet).await?;
    alloc::sync_dhcp_in(&mut tx, &network).await?;
    let revision = tx.revision().await?;
    commit_audited(tx, &caller, "network.subnet.create", "subnet", &subnet.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"subnet": views::subnet(&subnet, revision)})),
    ))
}

/// `PUT /v2.0/subnets/{id}`
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "subnet")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "gateway_ip",
            "allocation_pools",
            "enable_dhcp",
            "dns_nameservers",
            "host_routes",
        ],
        &[
            READ_ONLY,
            &[
                "network_id",
                "cidr",
                "ip_version",
                "project_id",
                "tenant_id",
                "tags",
            ],
        ]
        .concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    let network =
        authorize_subnet(&net.store, &caller, "network:update_subnet", &current.value).await?;
    let mut s = current.value.clone();
    let cidr = parse_cidr(&s.cidr)?;
    if let Some(v) = string(obj, "name", MAX_NAME)? {
        s.name = v;
    }
    if let Some(v) = string(obj, "description", MAX_NAME)? {
        s.description = v;
    }
    if let Some(v) = boolean(obj, "enable_dhcp")? {
        s.enable_dhcp = v;
    }
    if let Some(v) = dns(obj, cidr.version)? {
        s.dns_nameservers = v;
    }
    if let Some(v) = routes(obj, cidr.version)? {
        s.host_routes = v;
    }
    let gw = match gateway(obj, &cidr)? {
        Some(g) => g,
        None => s
            .gateway_ip
            .as_deref()
            .and_then(ipam::parse_ip)
            .map(|(_, a)| a),
    };
    let pools: Vec<(String, String)> = match pools_from(obj)? {
        Some(p) => p,
        None => s
            .allocation_pools
            .iter()
            .map(|p| (p.start.clone(), p.end.clone()))
            .collect(),
    };
    let pools = check_pools(&cidr, &pools, gw)?;
    s.gateway_ip = gw.map(|g| ipam::format_ip(cidr.version, g));
    s.allocation_pools = to_pools(cidr.version, &pools);
    let mut tx = net.store.begin().await?;
    if let Some(g) = &s.gateway_ip {
        let holder = tx
            .list::<Port>(Some(&s.network_id))
            .await?
            .into_iter()
            .find(|p| {
                p.value
                    .fixed_ips
                    .iter()
                    .any(|f| f.subnet_id == s.id && &f.ip_address == g)
            });
        if let Some(p) = holder {
            return Err(Fault::conflict(
                "GatewayIpInUse",
                format!(
                    "Current gateway ip {g} already in use by port {}. Unable to update.",
                    p.value.id
                ),
            ));
        }
    }
    s.updated_at = Utc::now();
    let revision = tx.update(&s, Some(current.revision)).await?;
    alloc::sync_dhcp_in(&mut tx, &network).await?;
    commit_audited(tx, &caller, "network.subnet.update", "subnet", &id).await?;
    Ok(Json(json!({"subnet": views::subnet(&s, revision)})))
}

/// `DELETE /v2.0/subnets/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    let network =
        authorize_subnet(&net.store, &caller, "network:delete_subnet", &current.value).await?;
    let mut tx = net.store.begin().await?;
    let in_use = tx
        .list::<Port>(Some(&network.id))
        .await?
        .into_iter()
        .any(|p| {
            p.value.device_owner != OWNER_DHCP
                && p.value.fixed_ips.iter().any(|f| f.subnet_id == id)
        });
    if in_use {
        return Err(Fault::conflict(
            "SubnetInUse",
            format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
        ));
    }
    tx.delete::<Subnet>(&id, None).await?;
    alloc::sync_dhcp_in(&mut tx, &network).await?;
    commit_audited(tx, &caller, "network.subnet.delete", "subnet", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
