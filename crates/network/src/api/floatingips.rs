//! `/v2.0/floatingips`: addresses of an external network, each held by its own
//! `network:floatingip` port, associated with a fixed IP of a port (PUT
//! `port_id`/`fixed_ip_address`) that a router with a gateway on that network
//! reaches (else 404 `ExternalGatewayForFloatingIPNotFound`); one floating IP
//! per fixed IP (409). Filters (`port_id`, `fixed_ip_address`,
//! `floating_network_id`, ...) come from the list machinery.

use super::common::*;
use crate::access::{self, authorize_on};
use crate::alloc::{self, IpRequest};
use crate::error::{Fault, Kind, NResult};
use crate::ipam;
use crate::l3;
use crate::l3_types::FloatingIp;
use crate::types::Port;
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
use nimbus_store::{Store, StoreError, Tx, Versioned};
use serde_json::{json, Map, Value};
use std::sync::Arc;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "router_id",
    "created_at",
    "updated_at",
    "revision_number",
    "port_details",
    "port_forwardings",
];

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<FloatingIp>> {
    store
        .get::<FloatingIp>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::FloatingIp, id))
}

fn authorize_fip(caller: &Principal, action: &str, f: &FloatingIp) -> NResult<()> {
    authorize_on(
        caller,
        action,
        Kind::FloatingIp,
        &f.id,
        &f.project_id,
        false,
    )
}

/// Neutron's floating IP JSON.
pub fn view(f: &FloatingIp, revision: i64) -> Value {
    json!({
        "id": f.id,
        "project_id": f.project_id,
        "tenant_id": f.project_id,
        "floating_network_id": f.floating_network_id,
        "floating_ip_address": f.floating_ip_address,
        "fixed_ip_address": f.fixed_ip_address,
        "port_id": f.port_id,
        "router_id": f.router_id,
        "status": f.status,
        "description": f.description,
        "tags": f.tags,
        "dns_domain": "",
        "dns_name": "",
        "qos_policy_id": null,
        "port_details": null,
        "port_forwardings": [],
        "created_at": time(&f.created_at),
        "updated_at": time(&f.updated_at),
        "revision_number": revision,
    })
}

/// `GET /v2.0/floatingips`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let items = visible(&net.store, &caller, |f: &FloatingIp| &f.project_id, view).await?;
    Ok(Json(list("floatingips", items, &q, &url)?))
}

/// `GET /v2.0/floatingips/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let f = load(&net.store, &id).await?;
    authorize_fip(&caller, "network:get_floatingip", &f.value)?;
    Ok(Json(one("floatingip", view(&f.value, f.revision), &q)))
}

/// Associates `f` with `port_id` (and its `fixed_ip`, or its only IPv4
/// address), finding the router that does the NAT; `None` disassociates.
async fn associate(
    tx: &mut Tx<'_>,
    caller: &Principal,
    f: &mut FloatingIp,
    port_id: Option<String>,
    fixed_ip: Option<String>,
) -> NResult<()> {
    let Some(port_id) = port_id else {
        if fixed_ip.is_some() {
            return Err(Fault::invalid("fixed_ip_address needs a port_id"));
        }
        f.port_id = None;
        f.fixed_ip_address = None;
        f.router_id = None;
        f.status = "DOWN".into();
        return Ok(());
    };
    let port: Port = tx
        .get::<Port>(&port_id)
        .await?
        .map(|v| v.value)
        .filter(|p| access::sees(caller, &p.project_id, false))
        .ok_or_else(|| Fault::not_found(Kind::Port, &port_id))?;
    if !caller.is_cloud_admin() && port.project_id != f.project_id {
        return Err(Fault::not_found(Kind::Port, &port_id));
    }
    let v4: Vec<&crate::types::FixedIp> = port
        .fixed_ips
        .iter()
        .filter(|x| ipam::parse_ip(&x.ip_address).is_some_and(|(v, _)| v == 4))
        .collect();
    let chosen = match &fixed_ip {
        Some(ip) => {
            let canon = ipam::canonical_ip(ip)
                .ok_or_else(|| Fault::invalid(format!("'{ip}' is not a valid IP address")))?;
            *v4.iter().find(|x| x.ip_address == canon).ok_or_else(|| {
                Fault::bad(
                    "BadRequest",
                    format!("Bad floatingip request: Port {port_id} does not have fixed ip {canon}."),
                )
            })?
        }
        None => match v4.as_slice() {
            [one] => *one,
            [] => {
                return Err(Fault::bad(
                    "BadRequest",
                    format!("Bad floatingip request: Port {port_id} does not have any IPv4 address."),
                ))
            }
            _ => {
                return Err(Fault::bad(
                    "BadRequest",
                    format!("Bad floatingip request: Port {port_id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP."),
                ))
            }
        },
    };
    let taken = tx.list::<FloatingIp>(None).await?.into_iter().find(|o| {
        o.value.id != f.id
            && o.value.port_id.as_deref() == Some(port_id.as_str())
            && o.value.fixed_ip_address.as_deref() == Some(chosen.ip_address.as_str())
    });
    if let Some(o) = taken {
        return Err(Fault::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                f.floating_ip_address, f.id, chosen.ip_address, o.value.floating_network_id
            ),
        ));
    }
    let router = l3::router_for_in(tx, &f.floating_network_id, &chosen.subnet_id, &port_id).await?;
    let changed = f.port_id.as_deref() != Some(port_id.as_str())
        || f.fixed_ip_address.as_deref() != Some(chosen.ip_address.as_str());
    f.fixed_ip_address = Some(chosen.ip_address.clone());
    f.port_id = Some(port_id);
    f.router_id = Some(router);
    if changed {
        // The agent programs the NAT and sets ACTIVE.
        f.status = "DOWN".into();
    }
    Ok(())
}

fn nullable_id(obj: &Map<String, Value>, field: &str) -> NResult<Option<Option<String>>> {
    nullable_string(obj, field, MAX_NAME)
}

/// `POST /v2.0/floatingips`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "floatingip")?;
    check_attrs(
        obj,
        &[
            "floating_network_id",
            "floating_ip_address",
            "subnet_id",
            "port_id",
            "fixed_ip_address",
            "description",
            "project_id",
            "tenant_id",
            "tags",
            "dns_domain",
            "dns_name",
            "qos_policy_id",
        ],
        READ_ONLY,
        "POST",
    )?;
    for k in ["dns_domain", "dns_name"] {
        if obj.get(k).is_some_and(|v| v != "" && !v.is_null()) {
            return Err(Fault::invalid(format!(
                "{k} is not supported by this cloud"
            )));
        }
    }
    if obj.get("qos_policy_id").is_some_and(|v| !v.is_null()) {
        return Err(Fault::invalid(
            "QoS policies are not supported by this cloud",
        ));
    }
    let network_id = string(obj, "floating_network_id", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
        )
    })?;
    let project_id = owner(obj, &caller)?;
    let id = uuid::Uuid::new_v4().to_string();
    authorize_on(
        &caller,
        "network:create_floatingip",
        Kind::FloatingIp,
        &id,
        &project_id,
        true,
    )?;
    let address = string(obj, "floating_ip_address", MAX_NAME)?;
    if address.is_some() {
        authorize_on(
            &caller,
            "network:create_floatingip:floating_ip_address",
            Kind::FloatingIp,
            &id,
            &project_id,
            true,
        )?;
    }
    let subnet_id = string(obj, "subnet_id", MAX_NAME)?;
    let port_id = nullable_id(obj, "port_id")?.flatten();
    let fixed_ip = nullable_id(obj, "fixed_ip_address")?.flatten();
    let mut tx = net.store.begin().await?;
    let network = tx
        .get::<crate::types::Network>(&network_id)
        .await?
        .map(|v| v.value)
        .filter(|n| access::sees_network(&caller, n))
        .ok_or_else(|| Fault::not_found(Kind::Network, &network_id))?;
    if !network.external {
        return Err(l3::not_external(&network.id));
    }
    let requests = if address.is_some() || subnet_id.is_some() {
        Some(vec![IpRequest {
            subnet_id: subnet_id.clone(),
            ip_address: address.clone(),
        }])
    } else {
        // One IPv4 address (an external network may also carry IPv6 subnets).
        let v4 = alloc::subnets_in(&mut tx, &network.id)
            .await?
            .into_iter()
            .find(|s| s.ip_version == 4)
            .ok_or_else(|| alloc::exhausted_network(&network.id))?;
        Some(vec![IpRequest {
            subnet_id: Some(v4.id),
            ip_address: None,
        }])
    };
    let port = l3::floating_port_in(&mut tx, &network, requests.as_deref(), &id).await?;
    let now = Utc::now();
    let mut f = FloatingIp {
        id: id.clone(),
        project_id,
        floating_network_id: network.id.clone(),
        floating_ip_address: port
            .fixed_ips
            .first()
            .map(|x| x.ip_address.clone())
            .unwrap_or_default(),
        floating_port_id: port.id.clone(),
        port_id: None,
        fixed_ip_address: None,
        router_id: None,
        description: string(obj, "description", MAX_NAME)?.unwrap_or_default(),
        tags: tags(obj)?,
        status: "DOWN".into(),
        created_at: now,
        updated_at: now,
    };
    associate(&mut tx, &caller, &mut f, port_id, fixed_ip).await?;
    let revision = tx.create(&f).await?;
    commit_audited(tx, &caller, "network.floatingip.create", "floatingip", &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"floatingip": view(&f, revision)})),
    ))
}

/// `PUT /v2.0/floatingips/{id}`: associate, move or disassociate (`port_id`
/// null), change the description.
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "floatingip")?;
    check_attrs(
        obj,
        &["port_id", "fixed_ip_address", "description"],
        &[
            READ_ONLY,
            &[
                "floating_network_id",
                "floating_ip_address",
                "project_id",
                "tenant_id",
                "subnet_id",
                "tags",
            ],
        ]
        .concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    authorize_fip(&caller, "network:update_floatingip", &current.value)?;
    let mut f = current.value.clone();
    if let Some(d) = string(obj, "description", MAX_NAME)? {
        f.description = d;
    }
    let mut tx = net.store.begin().await?;
    if let Some(port) = nullable_id(obj, "port_id")? {
        let fixed = nullable_id(obj, "fixed_ip_address")?.flatten();
        associate(&mut tx, &caller, &mut f, port, fixed).await?;
    } else if obj.contains_key("fixed_ip_address") {
        return Err(Fault::invalid("fixed_ip_address needs a port_id"));
    }
    f.updated_at = Utc::now();
    let revision = tx.update(&f, Some(current.revision)).await?;
    commit_audited(tx, &caller, "network.floatingip.update", "floatingip", &id).await?;
    Ok(Json(json!({"floatingip": view(&f, revision)})))
}

/// `DELETE /v2.0/floatingips/{id}`: the address goes with its port.
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_fip(&caller, "network:delete_floatingip", &current.value)?;
    let mut tx = net.store.begin().await?;
    match tx.delete::<FloatingIp>(&id, None).await {
        Err(StoreError::NotFound { .. }) => return Err(Fault::not_found(Kind::FloatingIp, &id)),
        other => other?,
    };
    match tx
        .delete::<Port>(&current.value.floating_port_id, None)
        .await
    {
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    commit_audited(tx, &caller, "network.floatingip.delete", "floatingip", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
