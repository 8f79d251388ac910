//! `/v2.0/routers`: routers with an optional external gateway (a
//! `network:router_gateway` port on an external network, SNAT on or off),
//! static `routes`, and `add_router_interface`/`remove_router_interface` by
//! subnet (a `network:router_interface` port holding the subnet's gateway IP)
//! or by port. A router with interfaces cannot be deleted (409 `RouterInUse`).

use super::common::*;
use crate::access::{self, authorize_on};
use crate::alloc::IpRequest;
use crate::error::{Fault, Kind, NResult};
use crate::ipam::{self, Cidr};
use crate::l3;
use crate::l3_types::{ExternalGateway, Route, Router, OWNER_ROUTER_INTERFACE};
use crate::types::{Port, Subnet};
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
use std::collections::HashMap;
use std::sync::Arc;

const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "created_at",
    "updated_at",
    "revision_number",
    "distributed",
    "ha",
];

fn router_not_found(id: &str) -> Fault {
    Fault::not_found(Kind::Router, id)
}

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<Router>> {
    store
        .get::<Router>(id)
        .await?
        .ok_or_else(|| router_not_found(id))
}

fn authorize_router(caller: &Principal, action: &str, r: &Router) -> NResult<()> {
    authorize_on(caller, action, Kind::Router, &r.id, &r.project_id, false)
}

/// Neutron's router JSON; `gateway`: the gateway port when there is one.
pub fn view(r: &Router, revision: i64, gateway: Option<&Port>) -> Value {
    let info = r.external_gateway.as_ref().map(|g| {
        json!({
            "network_id": g.network_id,
            "enable_snat": g.enable_snat,
            "external_fixed_ips": gateway.map(|p| json!(p.fixed_ips)).unwrap_or(json!([])),
        })
    });
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "project_id": r.project_id,
        "tenant_id": r.project_id,
        "admin_state_up": r.admin_state_up,
        "status": r.status,
        "external_gateway_info": info,
        "routes": r.routes,
        "distributed": false,
        "ha": false,
        "flavor_id": null,
        "availability_zone_hints": [],
        "availability_zones": [],
        "tags": r.tags,
        "created_at": time(&r.created_at),
        "updated_at": time(&r.updated_at),
        "revision_number": revision,
    })
}

/// `GET /v2.0/routers`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let routers = net.store.list::<Router>(None).await?;
    let ports: HashMap<String, Port> = net
        .store
        .list::<Port>(None)
        .await?
        .into_iter()
        .map(|p| (p.value.id.clone(), p.value))
        .collect();
    let items: Vec<Value> = routers
        .into_iter()
        .filter(|r| access::sees(&caller, &r.value.project_id, false))
        .map(|r| {
            let gw = r
                .value
                .external_gateway
                .as_ref()
                .and_then(|g| ports.get(&g.port_id));
            view(&r.value, r.revision, gw)
        })
        .collect();
    Ok(Json(list("routers", items, &q, &url)?))
}

async fn gateway_of(store: &Store, r: &Router) -> NResult<Option<Port>> {
    match &r.external_gateway {
        Some(g) => Ok(store.get::<Port>(&g.port_id).await?.map(|v| v.value)),
        None => Ok(None),
    }
}

/// `GET /v2.0/routers/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let r = load(&net.store, &id).await?;
    authorize_router(&caller, "network:get_router", &r.value)?;
    let gw = gateway_of(&net.store, &r.value).await?;
    Ok(Json(one(
        "router",
        view(&r.value, r.revision, gw.as_ref()),
        &q,
    )))
}

/// `external_gateway_info` of a body: `Some(None)` to clear.
struct GatewayRequest {
    network_id: String,
    enable_snat: Option<bool>,
    fixed_ips: Option<Vec<IpRequest>>,
}

fn gateway_request(obj: &Map<String, Value>) -> NResult<Option<Option<GatewayRequest>>> {
    let g = match obj.get("external_gateway_info") {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(g)) if g.is_empty() => return Ok(Some(None)),
        Some(Value::Object(g)) => g,
        Some(v) => {
            return Err(invalid_value(
                "external_gateway_info",
                v,
                "is not a dictionary",
            ))
        }
    };
    check_attrs(
        g,
        &["network_id", "enable_snat", "external_fixed_ips"],
        &[],
        "PUT",
    )?;
    let network_id = string(g, "network_id", MAX_NAME)?
        .ok_or_else(|| Fault::invalid("external_gateway_info needs a network_id"))?;
    let enable_snat = boolean(g, "enable_snat")?;
    let fixed_ips = match g.get("external_fixed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| {
                    let o = i.as_object().ok_or_else(|| {
                        Fault::invalid("external_fixed_ips entries must be objects")
                    })?;
                    check_attrs(o, &["subnet_id", "ip_address"], &[], "PUT")?;
                    Ok(IpRequest {
                        subnet_id: string(o, "subnet_id", MAX_NAME)?,
                        ip_address: string(o, "ip_address", MAX_NAME)?,
                    })
                })
                .collect::<NResult<Vec<_>>>()?,
        ),
        Some(v) => return Err(invalid_value("external_fixed_ips", v, "is not a list")),
    };
    Ok(Some(Some(GatewayRequest {
        network_id,
        enable_snat,
        fixed_ips,
    })))
}

/// Sets, changes or clears the gateway of `r` inside `tx`.
async fn apply_gateway(
    tx: &mut Tx<'_>,
    caller: &Principal,
    r: &mut Router,
    req: Option<GatewayRequest>,
) -> NResult<()> {
    let Some(req) = req else {
        if let Some(g) = r.external_gateway.take() {
            if !l3::fips_via_in(tx, &r.id, None).await?.is_empty() {
                return Err(Fault::conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!("Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.", r.id, g.network_id),
                ));
            }
            delete_port(tx, &g.port_id).await?;
        }
        return Ok(());
    };
    if req.fixed_ips.is_some() {
        authorize_on(
            caller,
            "network:create_router:external_gateway_info:external_fixed_ips",
            Kind::Router,
            &r.id,
            &r.project_id,
            true,
        )?;
    }
    let network = tx
        .get::<crate::types::Network>(&req.network_id)
        .await?
        .map(|v| v.value)
        .filter(|n| access::sees_network(caller, n))
        .ok_or_else(|| Fault::not_found(Kind::Network, &req.network_id))?;
    if !network.external {
        return Err(l3::not_external(&network.id));
    }
    match &mut r.external_gateway {
        Some(g) if g.network_id == network.id && req.fixed_ips.is_none() => {
            if let Some(s) = req.enable_snat {
                g.enable_snat = s;
            }
        }
        current => {
            if let Some(g) = current.take() {
                if !l3::fips_via_in(tx, &r.id, None).await?.is_empty() {
                    return Err(Fault::conflict(
                        "RouterExternalGatewayInUseByFloatingIp",
                        format!("Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.", r.id, g.network_id),
                    ));
                }
                delete_port(tx, &g.port_id).await?;
            }
            let port = l3::gateway_port_in(tx, r, &network, req.fixed_ips.as_deref()).await?;
            r.external_gateway = Some(ExternalGateway {
                network_id: network.id.clone(),
                enable_snat: req.enable_snat.unwrap_or(true),
                port_id: port.id,
            });
        }
    }
    Ok(())
}

async fn delete_port(tx: &mut Tx<'_>, id: &str) -> NResult<()> {
    match tx.delete::<Port>(id, None).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v2.0/routers`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "router")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "admin_state_up",
            "external_gateway_info",
            "project_id",
            "tenant_id",
            "tags",
            "availability_zone_hints",
            "flavor_id",
        ],
        &[READ_ONLY, &["routes"]].concat(),
        "POST",
    )?;
    if obj.get("flavor_id").is_some_and(|v| !v.is_null()) {
        return Err(Fault::invalid(
            "router flavors are not supported by this cloud",
        ));
    }
    let project_id = owner(obj, &caller)?;
    let id = uuid::Uuid::new_v4().to_string();
    authorize_on(
        &caller,
        "network:create_router",
        Kind::Router,
        &id,
        &project_id,
        true,
    )?;
    let gateway = gateway_request(obj)?.flatten();
    let now = Utc::now();
    let mut r = Router {
        id: id.clone(),
        project_id,
        name: string(obj, "name", MAX_NAME)?.unwrap_or_default(),
        description: string(obj, "description", MAX_NAME)?.unwrap_or_default(),
        admin_state_up: boolean(obj, "admin_state_up")?.unwrap_or(true),
        external_gateway: None,
        routes: Vec::new(),
        tags: tags(obj)?,
        status: "ACTIVE".into(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = net.store.begin().await?;
    apply_gateway(&mut tx, &caller, &mut r, gateway).await?;
    let revision = tx.create(&r).await?;
    let gw = match &r.external_gateway {
        Some(g) => tx.get::<Port>(&g.port_id).await?.map(|v| v.value),
        None => None,
    };
    commit_audited(tx, &caller, "network.router.create", "router", &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"router": view(&r, revision, gw.as_ref())})),
    ))
}

/// `routes` of a body, each nexthop inside a subnet the router is attached to.
async fn routes(tx: &mut Tx<'_>, r: &Router, v: &Value) -> NResult<Vec<Route>> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(invalid_value("routes", other, "is not a list")),
    };
    let mut cidrs = Vec::new();
    for p in l3::interfaces_in(tx, &r.id).await? {
        for f in &p.fixed_ips {
            if let Some(s) = tx.get::<Subnet>(&f.subnet_id).await? {
                cidrs.extend(Cidr::parse(&s.value.cidr).ok());
            }
        }
    }
    let mut out = Vec::new();
    for i in items {
        let o = i
            .as_object()
            .ok_or_else(|| Fault::invalid("routes entries must be objects"))?;
        check_attrs(o, &["destination", "nexthop"], &[], "PUT")?;
        let dest = string(o, "destination", MAX_NAME)?.unwrap_or_default();
        let hop = string(o, "nexthop", MAX_NAME)?.unwrap_or_default();
        let dcidr = Cidr::parse(&dest)
            .map_err(|_| Fault::invalid(format!("'{dest}' is not a valid IP subnet")))?;
        let (v, a) = ipam::parse_ip(&hop)
            .ok_or_else(|| Fault::invalid(format!("'{hop}' is not a valid IP address")))?;
        if !cidrs.iter().any(|c| c.contains(v, a)) {
            return Err(Fault::bad(
                "InvalidRoutes",
                format!("Invalid format for routes: {i}, the nexthop is not connected with router"),
            ));
        }
        let route = Route {
            destination: dcidr.to_string(),
            nexthop: ipam::format_ip(v, a),
        };
        if !out.contains(&route) {
            out.push(route);
        }
    }
    Ok(out)
}

/// `PUT /v2.0/routers/{id}`
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "router")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "admin_state_up",
            "external_gateway_info",
            "routes",
        ],
        &[READ_ONLY, &["project_id", "tenant_id", "tags", "flavor_id"]].concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    authorize_router(&caller, "network:update_router", &current.value)?;
    let gateway = gateway_request(obj)?;
    let mut r = current.value.clone();
    if let Some(v) = string(obj, "name", MAX_NAME)? {
        r.name = v;
    }
    if let Some(v) = string(obj, "description", MAX_NAME)? {
        r.description = v;
    }
    if let Some(v) = boolean(obj, "admin_state_up")? {
        r.admin_state_up = v;
    }
    let mut tx = net.store.begin().await?;
    if let Some(g) = gateway {
        apply_gateway(&mut tx, &caller, &mut r, g).await?;
    }
    if let Some(v) = obj.get("routes") {
        r.routes = routes(&mut tx, &r, v).await?;
    }
    r.updated_at = Utc::now();
    let revision = tx.update(&r, Some(current.revision)).await?;
    let gw = match &r.external_gateway {
        Some(g) => tx.get::<Port>(&g.port_id).await?.map(|v| v.value),
        None => None,
    };
    commit_audited(tx, &caller, "network.router.update", "router", &id).await?;
    Ok(Json(json!({"router": view(&r, revision, gw.as_ref())})))
}

/// `DELETE /v2.0/routers/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_router(&caller, "network:delete_router", &current.value)?;
    let mut tx = net.store.begin().await?;
    if !l3::interfaces_in(&mut tx, &id).await?.is_empty() {
        return Err(Fault::conflict(
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    if let Some(g) = &current.value.external_gateway {
        delete_port(&mut tx, &g.port_id).await?;
    }
    match tx.delete::<Router>(&id, None).await {
        Err(StoreError::NotFound { .. }) => return Err(router_not_found(&id)),
        other => other?,
    };
    commit_audited(tx, &caller, "network.router.delete", "router", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `{subnet_id}` or `{port_id}` of an interface body (exactly one).
fn interface_ref(body: &Value) -> NResult<(Option<String>, Option<String>)> {
    let obj = body
        .as_object()
        .ok_or_else(|| Fault::bad("HTTPBadRequest", "Resource body required"))?;
    check_attrs(obj, &["subnet_id", "port_id"], &[], "PUT")?;
    let subnet = string(obj, "subnet_id", MAX_NAME)?;
    let port = string(obj, "port_id", MAX_NAME)?;
    match (&subnet, &port) {
        (None, None) => Err(Fault::bad(
            "BadRequest",
            "Bad router request: Either subnet_id or port_id must be specified.",
        )),
        (Some(_), Some(_)) => Err(Fault::bad(
            "BadRequest",
            "Bad router request: Cannot specify both subnet-id and port-id.",
        )),
        _ => Ok((subnet, port)),
    }
}

/// The answer of both interface calls.
fn interface_info(r: &Router, p: &Port) -> Value {
    let subnets: Vec<&str> = p.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
    json!({
        "id": r.id,
        "tenant_id": r.project_id,
        "project_id": r.project_id,
        "port_id": p.id,
        "network_id": p.network_id,
        "subnet_id": subnets.first(),
        "subnet_ids": subnets,
    })
}

/// `PUT /v2.0/routers/{id}/add_router_interface`
pub async fn add_interface(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let (subnet_id, port_id) = interface_ref(&body)?;
    let current = load(&net.store, &id).await?;
    authorize_router(&caller, "network:add_router_interface", &current.value)?;
    let r = current.value;
    let mut tx = net.store.begin().await?;
    let port = match (subnet_id, port_id) {
        (Some(sid), _) => {
            let subnet = l3::subnet_in(&mut tx, &sid).await?;
            let network = crate::alloc::network_in(&mut tx, &subnet.network_id).await?;
            if !access::sees_subnet(&caller, &subnet, Some(&network)) {
                return Err(Fault::not_found(Kind::Subnet, &sid));
            }
            if !caller.is_cloud_admin() && subnet.project_id != r.project_id && !network.shared {
                return Err(Fault::not_found(Kind::Subnet, &sid));
            }
            l3::subnet_interface_in(&mut tx, &r, &network, &subnet).await?
        }
        (None, Some(pid)) => {
            let mut p = tx
                .get::<Port>(&pid)
                .await?
                .map(|v| v.value)
                .filter(|p| access::sees(&caller, &p.project_id, false))
                .ok_or_else(|| Fault::not_found(Kind::Port, &pid))?;
            if !p.device_id.is_empty() || !p.device_owner.is_empty() {
                return Err(Fault::conflict(
                    "PortInUse",
                    format!("Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.", p.network_id, p.device_id),
                ));
            }
            if p.fixed_ips.is_empty() {
                return Err(Fault::bad(
                    "BadRequest",
                    format!("Bad router request: Router port must have at least one fixed IP. Port {pid} has none."),
                ));
            }
            let network = crate::alloc::network_in(&mut tx, &p.network_id).await?;
            let mut subnets = Vec::new();
            for f in &p.fixed_ips {
                subnets.push(l3::subnet_in(&mut tx, &f.subnet_id).await?);
            }
            l3::check_new_interface(&mut tx, &r, &network, &subnets).await?;
            p.device_id = r.id.clone();
            p.device_owner = OWNER_ROUTER_INTERFACE.into();
            p.security_groups.clear();
            p.port_security_enabled = false;
            p.allowed_address_pairs.clear();
            p.updated_at = Utc::now();
            tx.update(&p, None).await?;
            p
        }
        (None, None) => unreachable!("interface_ref insists on one"),
    };
    commit_audited(tx, &caller, "network.router.add_interface", "router", &id).await?;
    Ok(Json(interface_info(&r, &port)))
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`
pub async fn remove_interface(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let (subnet_id, port_id) = interface_ref(&body)?;
    let current = load(&net.store, &id).await?;
    authorize_router(&caller, "network:remove_router_interface", &current.value)?;
    let r = current.value;
    let mut tx = net.store.begin().await?;
    let ifaces = l3::interfaces_in(&mut tx, &id).await?;
    let port = match (&subnet_id, &port_id) {
        (_, Some(pid)) => ifaces.into_iter().find(|p| &p.id == pid).ok_or_else(|| {
            Fault::new(
                StatusCode::NOT_FOUND,
                "RouterInterfaceNotFound",
                format!("Router {id} does not have an interface with id {pid}"),
            )
        })?,
        (Some(sid), None) => ifaces
            .into_iter()
            .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
            .ok_or_else(|| {
                Fault::new(
                    StatusCode::NOT_FOUND,
                    "RouterInterfaceNotFoundForSubnet",
                    format!("Router {id} has no interface on subnet {sid}"),
                )
            })?,
        (None, None) => unreachable!("interface_ref insists on one"),
    };
    if let Some(sid) = &subnet_id {
        if port.fixed_ips.iter().any(|f| &f.subnet_id != sid) {
            // A port on several subnets stays; only that subnet's address goes.
            return Err(Fault::bad(
                "BadRequest",
                format!("Bad router request: Port {} holds more than subnet {sid}; remove it by port_id.", port.id),
            ));
        }
    }
    for f in &port.fixed_ips {
        if !l3::fips_via_in(&mut tx, &id, Some(&f.subnet_id))
            .await?
            .is_empty()
        {
            return Err(Fault::conflict(
                "RouterInterfaceInUseByFloatingIP",
                format!("Router interface for subnet {} on router {id} cannot be deleted, as it is required by one or more floating IPs.", f.subnet_id),
            ));
        }
    }
    delete_port(&mut tx, &port.id).await?;
    commit_audited(
        tx,
        &caller,
        "network.router.remove_interface",
        "router",
        &id,
    )
    .await?;
    Ok(Json(interface_info(&r, &port)))
}
