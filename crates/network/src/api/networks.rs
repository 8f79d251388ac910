//! `/v2.0/networks`: list, show, create, update, delete. `shared` and
//! `router:external` are set by cloud admins only; deleting a network with ports
//! other than its DHCP port is a 409 `NetworkInUse`, otherwise its subnets and DHCP
//! port go with it.

use super::common::*;
use super::views;
use crate::access::{self, authorize_on};
use crate::bootstrap::DEFAULT_MTU;
use crate::error::{Fault, Kind, NResult};
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
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Smallest MTU Neutron accepts (IPv4's minimum).
const MIN_MTU: i64 = 68;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "subnets",
    "created_at",
    "updated_at",
    "revision_number",
    "availability_zones",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "l2_adjacency",
];

/// The network `id` with its revision, or Neutron's 404.
pub async fn load(store: &Store, id: &str) -> NResult<Versioned<Network>> {
    store
        .get::<Network>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::Network, id))
}

async fn subnet_ids(store: &Store, network_id: &str) -> NResult<Vec<String>> {
    let mut subnets: Vec<Subnet> = store
        .list::<Subnet>(Some(network_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    subnets.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(subnets.into_iter().map(|s| s.id).collect())
}

async fn view(store: &Store, n: &Versioned<Network>) -> NResult<Value> {
    Ok(views::network(
        &n.value,
        n.revision,
        &subnet_ids(store, &n.value.id).await?,
    ))
}

/// `GET /v2.0/networks`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let mut by_network: HashMap<String, Vec<Subnet>> = HashMap::new();
    for s in net.store.list::<Subnet>(None).await? {
        by_network
            .entry(s.value.network_id.clone())
            .or_default()
            .push(s.value);
    }
    let shared = crate::rbac::shared_with(&net.store, &caller).await?;
    let items: Vec<Value> = net
        .store
        .list::<Network>(None)
        .await?
        .into_iter()
        .map(|mut n| {
            crate::rbac::apply(&shared, &mut n.value);
            n
        })
        .filter(|n| access::sees_network(&caller, &n.value))
        .map(|n| {
            let mut subnets = by_network.remove(&n.value.id).unwrap_or_default();
            subnets.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            let ids: Vec<String> = subnets.into_iter().map(|s| s.id).collect();
            views::network(&n.value, n.revision, &ids)
        })
        .collect();
    Ok(Json(list("networks", items, &q, &url)?))
}

/// `GET /v2.0/networks/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let mut n = load(&net.store, &id).await?;
    crate::rbac::apply_one(&net.store, &caller, &mut n.value).await?;
    authorize_network(&caller, "network:get_network", &n.value)?;
    Ok(Json(super::common::one(
        "network",
        view(&net.store, &n).await?,
        &q,
    )))
}

fn authorize_network(caller: &Principal, action: &str, n: &Network) -> NResult<()> {
    authorize_on(
        caller,
        action,
        Kind::Network,
        &n.id,
        &n.project_id,
        access::network_open(n),
    )
}

fn mtu(obj: &Map<String, Value>) -> NResult<Option<u32>> {
    match integer(obj, "mtu")? {
        None => Ok(None),
        Some(None) => Err(Fault::invalid("'None' is not an integer")),
        Some(Some(m)) if m < MIN_MTU => Err(Fault::invalid(format!(
            "'{m}' is too small - must be at least '{MIN_MTU}'"
        ))),
        Some(Some(m)) if m > DEFAULT_MTU as i64 => Err(Fault::invalid(format!(
            "Requested MTU is too big, maximum is {DEFAULT_MTU}"
        ))),
        Some(Some(m)) => Ok(Some(m as u32)),
    }
}

/// `POST /v2.0/networks`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "network")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "admin_state_up",
            "shared",
            "router:external",
            "mtu",
            "port_security_enabled",
            "project_id",
            "tenant_id",
            "tags",
            "availability_zone_hints",
        ],
        READ_ONLY,
        "POST",
    )?;
    if string_list(obj, "availability_zone_hints")?.is_some_and(|l| !l.is_empty()) {
        return Err(Fault::bad(
            "AvailabilityZoneNotFound",
            "Availability zones are not supported.",
        ));
    }
    let project_id = owner(obj, &caller)?;
    let now = Utc::now();
    let network = Network {
        id: uuid::Uuid::new_v4().to_string(),
        project_id,
        name: string(obj, "name", MAX_NAME)?.unwrap_or_default(),
        description: string(obj, "description", MAX_NAME)?.unwrap_or_default(),
        admin_state_up: boolean(obj, "admin_state_up")?.unwrap_or(true),
        shared: boolean(obj, "shared")?.unwrap_or(false),
        external: boolean(obj, "router:external")?.unwrap_or(false),
        mtu: mtu(obj)?.unwrap_or(DEFAULT_MTU),
        port_security_enabled: boolean(obj, "port_security_enabled")?.unwrap_or(true),
        tags: tags(obj)?,
        created_at: now,
        updated_at: now,
    };
    let target = |action| {
        authorize_on(
            &caller,
            action,
            Kind::Network,
            &network.id,
            &network.project_id,
            true,
        )
    };
    target("network:create_network")?;
    if network.shared {
        target("network:create_network:shared")?;
    }
    if network.external {
        target("network:create_network:router:external")?;
    }
    let mut tx = net.store.begin().await?;
    crate::quotas::check(&mut tx, "network", &network.project_id, 1).await?;
    let revision = tx.create(&network).await?;
    commit_audited(
        tx,
        &caller,
        "network.network.create",
        "network",
        &network.id,
    )
    .await?;
    let v = views::network(&network, revision, &[]);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "network": v })),
    ))
}

/// `PUT /v2.0/networks/{id}`
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "network")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "admin_state_up",
            "shared",
            "router:external",
            "mtu",
            "port_security_enabled",
        ],
        &[READ_ONLY, &["project_id", "tenant_id", "tags"]].concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    authorize_network(&caller, "network:update_network", &current.value)?;
    let mut n = current.value.clone();
    if let Some(v) = string(obj, "name", MAX_NAME)? {
        n.name = v;
    }
    if let Some(v) = string(obj, "description", MAX_NAME)? {
        n.description = v;
    }
    if let Some(v) = boolean(obj, "admin_state_up")? {
        n.admin_state_up = v;
    }
    if let Some(v) = boolean(obj, "port_security_enabled")? {
        n.port_security_enabled = v;
    }
    if let Some(v) = mtu(obj)? {
        n.mtu = v;
    }
    if let Some(v) = boolean(obj, "shared")? {
        if v != n.shared {
            authorize_network(&caller, "network:update_network:shared", &n)?;
        }
        n.shared = v;
    }
    if let Some(v) = boolean(obj, "router:external")? {
        if v != n.external {
            authorize_network(&caller, "network:update_network:router:external", &n)?;
        }
        n.external = v;
    }
    let mut tx = net.store.begin().await?;
    if current.value.shared && !n.shared {
        let foreign = tx
            .list::<Port>(Some(&id))
            .await?
            .iter()
            .any(|p| p.value.project_id != n.project_id);
        if foreign {
            return Err(Fault::conflict(
                "InvalidSharedSetting",
                format!("Unable to reconfigure sharing settings for network {id}. Multiple tenants are using it."),
            ));
        }
    }
    n.updated_at = Utc::now();
    let revision = tx.update(&n, Some(current.revision)).await?;
    commit_audited(tx, &caller, "network.network.update", "network", &id).await?;
    let v = views::network(&n, revision, &subnet_ids(&net.store, &id).await?);
    Ok(Json(serde_json::json!({ "network": v })))
}

/// `DELETE /v2.0/networks/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_network(&caller, "network:delete_network", &current.value)?;
    let mut tx = net.store.begin().await?;
    let ports = tx.list::<Port>(Some(&id)).await?;
    if ports.iter().any(|p| p.value.device_owner != OWNER_DHCP) {
        return Err(Fault::conflict(
            "NetworkInUse",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        ));
    }
    for p in ports {
        tx.delete::<Port>(&p.value.id, None).await?;
    }
    for s in tx.list::<Subnet>(Some(&id)).await? {
        tx.delete::<Subnet>(&s.value.id, None).await?;
    }
    // Sharing policies go with their network.
    for p in tx.list::<crate::l3_types::RbacPolicy>(Some(&id)).await? {
        tx.delete::<crate::l3_types::RbacPolicy>(&p.value.id, None)
            .await?;
    }
    tx.delete::<Network>(&id, None).await?;
    commit_audited(tx, &caller, "network.network.delete", "network", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
