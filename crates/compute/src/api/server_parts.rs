//! The sub-resources of a server: `metadata` (+ `/{key}`), `tags` (+ `/{tag}`,
//! 2.26+), `ips` (+ `/{network}`), `os-interface` (list/show from its ports;
//! attach/detach answer 409 until the agent hot-plugs NICs) and
//! `os-security-groups`.

use super::server_input::{check_tag, metadata, MAX_TAGS};
use super::server_view::{addresses, extras};
use super::servers::{load, not_found};
use crate::server::Server;
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
use nimbus_network::types::SecurityGroup;
use nimbus_store::Change;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Applies `change` to the server (after `load` checked sight and `action`),
/// with an audit record; 409 while it is locked (for non-admins).
async fn change_server<R, F>(
    c: &Compute,
    caller: &Principal,
    id: &str,
    audit: &str,
    mut change: F,
) -> ApiResult<R>
where
    F: FnMut(&mut Server) -> Result<R, ApiError>,
{
    let admin = caller.is_cloud_admin();
    let (_, r) = c
        .store
        .modify_with::<Server, ApiResult<R>, _>(id, |s, _| {
            if s.locked && !admin {
                return Ok(Change::Keep(Err(ApiError::conflict(format!(
                    "Instance {id} is locked"
                )))));
            }
            match change(s) {
                Ok(r) => {
                    s.updated_at = Utc::now();
                    Ok(Change::Write(Ok(r)))
                }
                Err(e) => Ok(Change::Keep(Err(e))),
            }
        })
        .await?
        .ok_or_else(|| not_found(id))?;
    let r = r?;
    let mut tx = c.store.begin().await?;
    AuditRecord::new(Some(caller), audit, "server", id, true)
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(r)
}

fn meta_body(body: &Value, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1 && o.contains_key(key))
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid input: '{key}' is a required property."))
        })?;
    metadata(&obj[key])
}

/// `GET /servers/{id}/metadata`
pub async fn metadata_index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:servers:metadata:index").await?;
    Ok(Json(json!({"metadata": s.value.metadata})))
}

/// `POST` (merge) and `PUT` (replace) `/servers/{id}/metadata`.
async fn metadata_write(
    c: &Compute,
    caller: &Principal,
    id: &str,
    body: &Value,
    replace: bool,
) -> ApiResult<Json<Value>> {
    let given = meta_body(body, "metadata")?;
    load(c, caller, id, "compute:servers:metadata:update").await?;
    let all = change_server(c, caller, id, "compute.server.metadata", |s| {
        let mut next = if replace {
            BTreeMap::new()
        } else {
            s.metadata.clone()
        };
        next.extend(given.clone());
        if next.len() > super::server_input::MAX_METADATA {
            return Err(ApiError::forbidden(
                "Quota exceeded for metadata_items: maximum number of metadata items exceeds 128",
            ));
        }
        s.metadata = next.clone();
        Ok(next)
    })
    .await?;
    Ok(Json(json!({ "metadata": all })))
}

/// `POST /servers/{id}/metadata`
pub async fn metadata_update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    metadata_write(&c, &caller, &id, &body, false).await
}

/// `PUT /servers/{id}/metadata`
pub async fn metadata_replace(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    metadata_write(&c, &caller, &id, &body, true).await
}

/// `GET /servers/{id}/metadata/{key}`
pub async fn metadata_show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:servers:metadata:index").await?;
    match s.value.metadata.get(&key) {
        Some(v) => Ok(Json(json!({"meta": {key: v}}))),
        None => Err(ApiError::not_found("Metadata item was not found")),
    }
}

/// `PUT /servers/{id}/metadata/{key}` with `{"meta": {key: value}}`.
pub async fn metadata_put(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let meta = meta_body(&body, "meta")?;
    if meta.len() != 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    let Some(value) = meta.get(&key).cloned() else {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    };
    load(&c, &caller, &id, "compute:servers:metadata:update").await?;
    change_server(&c, &caller, &id, "compute.server.metadata", |s| {
        s.metadata.insert(key.clone(), value.clone());
        if s.metadata.len() > super::server_input::MAX_METADATA {
            return Err(ApiError::forbidden(
                "Quota exceeded for metadata_items: maximum number of metadata items exceeds 128",
            ));
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({"meta": {key: value}})))
}

/// `DELETE /servers/{id}/metadata/{key}`
pub async fn metadata_delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    load(&c, &caller, &id, "compute:servers:metadata:update").await?;
    change_server(&c, &caller, &id, "compute.server.metadata", |s| {
        s.metadata
            .remove(&key)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found("Metadata item was not found"))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /servers/{id}/tags` (2.26+)
pub async fn tags_index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    mv.require(2, 26)?;
    let s = load(&c, &caller, &id, "compute:servers:tags:index").await?;
    Ok(Json(json!({"tags": s.value.tags})))
}

/// `PUT /servers/{id}/tags`: replaces all tags.
pub async fn tags_replace(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    mv.require(2, 26)?;
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1 && o.contains_key("tags"))
        .ok_or_else(|| ApiError::bad_request("Invalid input: 'tags' is a required property."))?;
    let tags = super::server_input::tags(&obj["tags"])?;
    load(&c, &caller, &id, "compute:servers:tags:update").await?;
    change_server(&c, &caller, &id, "compute.server.tags", |s| {
        s.tags = tags.clone();
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "tags": tags })))
}

/// `DELETE /servers/{id}/tags`
pub async fn tags_clear(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    mv.require(2, 26)?;
    load(&c, &caller, &id, "compute:servers:tags:update").await?;
    change_server(&c, &caller, &id, "compute.server.tags", |s| {
        s.tags.clear();
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /servers/{id}/tags/{tag}`: 204 when present.
pub async fn tag_check(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    mv.require(2, 26)?;
    let s = load(&c, &caller, &id, "compute:servers:tags:index").await?;
    if s.value.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "Tag {tag} could not be found for instance {id}"
        )))
    }
}

/// `PUT /servers/{id}/tags/{tag}`: 201 when added, 204 when already there.
pub async fn tag_add(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    mv.require(2, 26)?;
    check_tag(&tag)?;
    load(&c, &caller, &id, "compute:servers:tags:update").await?;
    change_server(&c, &caller, &id, "compute.server.tags", |s| {
        if s.tags.contains(&tag) {
            return Ok(StatusCode::NO_CONTENT);
        }
        if s.tags.len() >= MAX_TAGS {
            return Err(ApiError::bad_request(format!(
                "The number of tags exceeded the per-server limit {MAX_TAGS}"
            )));
        }
        s.tags.insert(tag.clone());
        Ok(StatusCode::CREATED)
    })
    .await
}

/// `DELETE /servers/{id}/tags/{tag}`
pub async fn tag_delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    mv.require(2, 26)?;
    load(&c, &caller, &id, "compute:servers:tags:update").await?;
    change_server(&c, &caller, &id, "compute.server.tags", |s| {
        if s.tags.remove(&tag) {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!(
                "Tag {tag} could not be found for instance {id}"
            )))
        }
    })
    .await
}

/// `GET /servers/{id}/ips`
pub async fn ips(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:servers:ips").await?;
    let x = extras(&c, &s.value).await?;
    Ok(Json(json!({"addresses": addresses(&x)})))
}

/// `GET /servers/{id}/ips/{network}`
pub async fn ips_of(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, network)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:servers:ips").await?;
    let x = extras(&c, &s.value).await?;
    match addresses(&x).get(&network) {
        Some(list) => Ok(Json(json!({ network: list }))),
        None => Err(ApiError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}

fn interface(p: &nimbus_network::types::Port, mv: Microversion) -> Value {
    let ips: Vec<Value> = p
        .fixed_ips
        .iter()
        .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address}))
        .collect();
    let mut v = json!({
        "port_id": p.id,
        "net_id": p.network_id,
        "mac_addr": p.mac_address,
        "port_state": p.status,
        "fixed_ips": ips,
    });
    if mv.at_least(2, 70) {
        v["tag"] = Value::Null;
    }
    v
}

/// `GET /servers/{id}/os-interface`
pub async fn interfaces(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:os-interface:index").await?;
    let x = extras(&c, &s.value).await?;
    let list: Vec<Value> = x.ports.iter().map(|p| interface(p, mv)).collect();
    Ok(Json(json!({ "interfaceAttachments": list })))
}

/// `GET /servers/{id}/os-interface/{port_id}`
pub async fn interface_show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:os-interface:index").await?;
    let x = extras(&c, &s.value).await?;
    match x.ports.iter().find(|p| p.id == port) {
        Some(p) => Ok(Json(json!({"interfaceAttachment": interface(p, mv)}))),
        None => Err(ApiError::not_found(format!("Port {port} is not attached"))),
    }
}

/// `POST /servers/{id}/os-interface` and `DELETE .../{port_id}`: hot-plugging NICs
/// into a running guest is not wired to the agent yet, so Nova's 409 for an
/// instance that cannot take the change now.
pub async fn interface_change(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(params): Path<Vec<(String, String)>>,
) -> ApiResult<StatusCode> {
    let id = params
        .iter()
        .find(|(k, _)| k == "server_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    load(&c, &caller, &id, "compute:os-interface:attach").await?;
    Err(ApiError::conflict(format!(
        "Cannot 'attach_interface' instance {id}: changing the network interfaces of a \
         server is not supported while it exists; create the server with its ports."
    )))
}

/// `GET /servers/{id}/os-security-groups`
pub async fn security_groups(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:os-security-groups:list").await?;
    let mut out = Vec::new();
    for g in &s.value.security_groups {
        if let Some(g) = c.store.get::<SecurityGroup>(g).await? {
            let g = g.value;
            out.push(json!({
                "id": g.id,
                "name": g.name,
                "description": g.description,
                "tenant_id": g.project_id,
                "rules": [],
            }));
        }
    }
    Ok(Json(json!({ "security_groups": out })))
}
