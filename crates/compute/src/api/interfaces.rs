//! `POST /servers/{id}/os-interface` (attach a port or a new port on a network)
//! and `DELETE /servers/{id}/os-interface/{port_id}` (detach). The agent builds a
//! guest's NICs when it starts it and does not hot-plug, so both need the server
//! SHUTOFF (409 otherwise); the change shows at the next start.

use super::common::*;
use super::server_actions::task_name;
use super::server_input::is_uuid;
use super::servers::{load, not_found};
use crate::lifecycle::{record_action, request_id};
use crate::server::{Server, VmState};
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use nimbus_network::types::{Port, OWNER_COMPUTE};
use nimbus_network::PortRequest;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// What to attach.
enum Attach {
    Port(String),
    Network {
        id: String,
        fixed_ip: Option<String>,
    },
}

fn parse(body: &Value) -> ApiResult<Attach> {
    let obj = wrapped(body, "interfaceAttachment")?;
    check_keys(obj, &["port_id", "net_id", "fixed_ips", "tag"], &[])?;
    let s = |k: &str| -> ApiResult<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) if is_uuid(v) => Ok(Some(v.clone())),
            Some(v) => Err(invalid(k, v, "Must be a UUID.")),
        }
    };
    let fixed_ip = match obj.get("fixed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(l)) if l.len() == 1 => {
            match l[0].get("ip_address").and_then(Value::as_str) {
                Some(ip) if ip.parse::<IpAddr>().is_ok() => Some(ip.to_string()),
                _ => return Err(invalid("fixed_ips", &l[0], "Must hold one ip_address.")),
            }
        }
        Some(v) => return Err(invalid("fixed_ips", v, "Must be a list of one address.")),
    };
    match (s("port_id")?, s("net_id")?) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "Must not input both network_id and port_id",
        )),
        (Some(_), None) if fixed_ip.is_some() => Err(ApiError::bad_request(
            "Specified Fixed IP cannot be used with port: the port already has a Fixed IP \
             allocated.",
        )),
        (Some(p), None) => Ok(Attach::Port(p)),
        (None, Some(n)) => Ok(Attach::Network { id: n, fixed_ip }),
        (None, None) => Err(ApiError::bad_request(
            "Attaching an interface needs a port_id or a net_id.",
        )),
    }
}

/// Nova's state check for interface changes, narrowed to what the agent does.
fn check_stopped(caller: &Principal, s: &Server, action: &str) -> ApiResult<()> {
    if s.locked && !caller.is_cloud_admin() {
        return Err(ApiError::conflict(format!("Instance {} is locked", s.id)));
    }
    if s.deleting {
        return Err(ApiError::conflict(format!(
            "Cannot '{action}' instance {} while it is in task_state deleting",
            s.id
        )));
    }
    if let Some(t) = s.task_state {
        return Err(ApiError::conflict(format!(
            "Cannot '{action}' instance {} while it is in task_state {}",
            s.id,
            task_name(t)
        )));
    }
    if s.vm_state != VmState::Stopped {
        return Err(ApiError::conflict(format!(
            "Cannot '{action}' instance {} while it is running: network interfaces are not \
             hot-plugged; stop the server first.",
            s.id
        )));
    }
    Ok(())
}

fn attachment(p: &Port) -> Value {
    let ips: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address}))
        .collect();
    json!({
        "port_id": p.id, "net_id": p.network_id, "mac_addr": p.mac_address,
        "port_state": p.status, "fixed_ips": ips,
    })
}

/// `POST /servers/{id}/os-interface`
pub async fn attach(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let what = parse(&body)?;
    let s = load(&c, &caller, &id, "compute:os-interface:attach").await?;
    check_stopped(&caller, &s.value, "attach_interface")?;
    match &what {
        Attach::Port(p) => {
            c.networking
                .usable_port(&caller, p)
                .await
                .map_err(|e| match e.status {
                    StatusCode::NOT_FOUND => {
                        ApiError::not_found(format!("Port {p} could not be found."))
                    }
                    _ => e,
                })?;
        }
        Attach::Network { id: net, .. } => {
            c.networking.usable_network(&caller, net).await?;
        }
    }
    let mut tx = c.store.begin().await?;
    let current = tx.get::<Server>(&id).await?.ok_or_else(|| not_found(&id))?;
    let mut server = current.value;
    check_stopped(&caller, &server, "attach_interface")?;
    let port = match what {
        Attach::Port(p) => {
            let taken = tx
                .get::<Port>(&p)
                .await?
                .is_none_or(|cur| !cur.value.device_id.is_empty());
            if taken {
                return Err(ApiError::conflict(format!("Port {p} is still in use.")));
            }
            server.user_ports.push(p.clone());
            c.networking
                .bind_port_in(&mut tx, &p, &id, OWNER_COMPUTE)
                .await?
        }
        Attach::Network { id: net, fixed_ip } => {
            c.networking
                .create_port_in(
                    &mut tx,
                    PortRequest {
                        project_id: server.project_id.clone(),
                        network_id: net,
                        fixed_ip,
                        security_groups: server.security_groups.clone(),
                        device_id: id.clone(),
                        device_owner: OWNER_COMPUTE.to_string(),
                        name: String::new(),
                    },
                )
                .await?
        }
    };
    server.port_ids.push(port.id.clone());
    server.updated_at = Utc::now();
    tx.update(&server, Some(current.revision)).await?;
    record_action(&mut tx, &caller, &server, "attach_interface", &request_id()).await?;
    AuditRecord::new(
        Some(&caller),
        "compute.server.attach_interface",
        "server",
        &id,
        true,
    )
    .with_detail(format!("port {}", port.id))
    .write(&mut tx)
    .await?;
    tx.commit().await?;
    let mut v = attachment(&port);
    if mv.at_least(2, 70) {
        v["tag"] = Value::Null;
    }
    Ok(Json(json!({ "interfaceAttachment": v })))
}

/// `DELETE /servers/{id}/os-interface/{port_id}`: 202.
pub async fn detach(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, port_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let s = load(&c, &caller, &id, "compute:os-interface:detach").await?;
    if !s.value.port_ids.contains(&port_id) {
        return Err(ApiError::not_found(format!(
            "Port {port_id} is not attached"
        )));
    }
    check_stopped(&caller, &s.value, "detach_interface")?;
    let mut tx = c.store.begin().await?;
    let current = tx.get::<Server>(&id).await?.ok_or_else(|| not_found(&id))?;
    let mut server = current.value;
    check_stopped(&caller, &server, "detach_interface")?;
    if !server.port_ids.contains(&port_id) {
        return Err(ApiError::not_found(format!(
            "Port {port_id} is not attached"
        )));
    }
    let theirs = server.user_ports.contains(&port_id);
    let one = [port_id.clone()];
    let (delete, unbind): (&[String], &[String]) = if theirs { (&[], &one) } else { (&one, &[]) };
    c.networking
        .release_ports_in(&mut tx, delete, unbind)
        .await?;
    server.port_ids.retain(|p| *p != port_id);
    server.user_ports.retain(|p| *p != port_id);
    server.updated_at = Utc::now();
    tx.update(&server, Some(current.revision)).await?;
    record_action(&mut tx, &caller, &server, "detach_interface", &request_id()).await?;
    AuditRecord::new(
        Some(&caller),
        "compute.server.detach_interface",
        "server",
        &id,
        true,
    )
    .with_detail(format!("port {port_id}"))
    .write(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED)
}
