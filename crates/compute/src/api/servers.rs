//! `/servers`: list (`/servers`, `/servers/detail` with Nova's filters, sorting and
//! paging), show, update and delete. Create is in `server_create.rs`, actions in
//! `server_actions.rs`.
//!
//! Servers belong to their project: a caller from another project gets Nova's 404
//! ("Instance X could not be found."), never a 403.

use super::common::*;
use super::server_input::{access_ip, is_uuid};
use super::server_view::{self, extras};
use crate::lifecycle::{finish_delete, record_action, request_id};
use crate::scheduler::is_up;
use crate::server::{Hypervisor, Server, TaskState};
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{allowed, authorize, visible, Target};
use nimbus_api::query::{parse_bool, Query};
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{Change, Versioned};
use serde_json::{json, Value};
use std::sync::Arc;

/// Nova's 404 for a server.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance {id} could not be found."))
}

/// The policy target of a server: its project, hidden from other projects.
pub fn target(s: &Server) -> Target<'_> {
    let mut t = Target::new("server", &s.id).project(&s.project_id);
    t.hidden_outside_project = true;
    t
}

/// The server `id` if `caller` may see it and perform `action` on it: 404 when it
/// does not exist or lives in another project, 403 when the role is not enough.
pub async fn load(
    c: &Compute,
    caller: &Principal,
    id: &str,
    action: &str,
) -> ApiResult<Versioned<Server>> {
    let found = if is_uuid(id) {
        c.store.get::<Server>(id).await?
    } else {
        None
    };
    let Some(s) = found else {
        return Err(not_found(id));
    };
    if !visible(caller, &target(&s.value)) {
        return Err(not_found(id));
    }
    authorize(caller, action, &target(&s.value))?;
    Ok(s)
}

/// The full document of one server as `caller` sees it.
pub async fn document(
    c: &Compute,
    url: &PublicUrl,
    mv: Microversion,
    caller: &Principal,
    s: &Versioned<Server>,
) -> ApiResult<Value> {
    let x = extras(c, &s.value).await?;
    Ok(server_view::server(url, mv, caller, s, &x))
}

/// `GET /servers/{id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let s = load(&c, &caller, &id, "compute:servers:show").await?;
    Ok(Json(
        json!({"server": document(&c, &url, mv, &caller, &s).await?}),
    ))
}

/// `GET /servers`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
) -> ApiResult<Json<Value>> {
    list(&c, &caller, mv, &url, &q, false).await
}

/// `GET /servers/detail`
pub async fn detail(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
) -> ApiResult<Json<Value>> {
    list(&c, &caller, mv, &url, &q, true).await
}

/// Nova's list sort keys (its column names), with how to compare them here.
const SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "instance_type_id",
    "key_name",
    "launch_index",
    "launched_at",
    "locked",
    "node",
    "power_state",
    "progress",
    "project_id",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
];

fn sort_value(s: &Server, key: &str) -> String {
    match key {
        "access_ip_v4" => s.access_ipv4.clone(),
        "access_ip_v6" => s.access_ipv6.clone(),
        "availability_zone" => s.availability_zone.clone(),
        "config_drive" => s.config_drive.to_string(),
        "display_description" => s.description.clone().unwrap_or_default(),
        "display_name" => s.name.clone(),
        "host" | "node" => s.host.clone().unwrap_or_default(),
        "hostname" => s.hostname.clone(),
        "image_ref" => s.image_id.clone(),
        "instance_type_id" => s.flavor.id.clone(),
        "key_name" => s.key_name.clone().unwrap_or_default(),
        "launch_index" => format!("{:010}", s.launch_index),
        "launched_at" => s.launched_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        "locked" => s.locked.to_string(),
        "power_state" => format!("{:02}", s.power_state as u8),
        "project_id" => s.project_id.clone(),
        "task_state" => format!("{:?}", s.task_state),
        "updated_at" => s.updated_at.to_rfc3339(),
        "user_id" => s.user_id.clone(),
        "uuid" => s.id.clone(),
        "vm_state" => format!("{:?}", s.vm_state),
        "progress" | "terminated_at" => String::new(),
        _ => s.created_at.to_rfc3339(),
    }
}

/// A time filter value: ISO 8601 with or without a zone (UTC then).
fn parse_time(field: &str, v: &str) -> ApiResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Ok(t.and_utc());
        }
    }
    Err(ApiError::bad_request(format!(
        "Invalid input for query parameters {field}. Value: {v}. '{v}' is not a 'date-time'"
    )))
}

fn csv(q: &Query, key: &str) -> Option<Vec<String>> {
    q.get(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    })
}

async fn list(
    c: &Compute,
    caller: &Principal,
    mv: Microversion,
    url: &PublicUrl,
    q: &Query,
    detailed: bool,
) -> ApiResult<Json<Value>> {
    let action = if detailed {
        "compute:servers:detail"
    } else {
        "compute:servers:index"
    };
    authorize(caller, action, &Target::new("server", ""))?;
    let admin = allowed(
        caller,
        "compute:servers:index:get_all_tenants",
        &Target::default(),
    );
    let all_tenants = match q.get("all_tenants") {
        None if q.has("all_tenants") => true,
        None => false,
        // Nova takes any value but an explicit false as true.
        Some(v) => !matches!(parse_bool(v), Ok(Some(false))),
    };
    if all_tenants && !admin {
        return Err(ApiError::policy_denied(
            "compute:servers:index:get_all_tenants",
        ));
    }
    let project_filter: Option<String> = if all_tenants {
        q.get("project_id")
            .or_else(|| q.get("tenant_id"))
            .map(str::to_string)
    } else {
        match caller.project_id() {
            Some(p) => Some(p.to_string()),
            // A system-scoped reader or admin without all_tenants sees nothing of
            // any project (as a project-less token does in Nova).
            None => Some(String::new()),
        }
    };
    if admin {
        if let Some(Ok(Some(true))) = q.get("deleted").map(parse_bool) {
            // Deleted servers are not kept.
            return Ok(Json(json!({"servers": []})));
        }
    }
    let name_re = match q.get("name") {
        None => None,
        Some(n) => Some(regex::Regex::new(n).map_err(|_| {
            ApiError::bad_request(format!("Invalid regular expression in name filter: {n}"))
        })?),
    };
    let ip_re = match q.get("ip") {
        None => None,
        Some(n) => Some(
            regex::Regex::new(n)
                .map_err(|_| ApiError::bad_request(format!("Invalid ip filter: {n}")))?,
        ),
    };
    let status = q.get("status").map(str::to_uppercase);
    if let Some(st) = &status {
        const KNOWN: &[&str] = &[
            "ACTIVE",
            "BUILD",
            "SHUTOFF",
            "ERROR",
            "REBOOT",
            "HARD_REBOOT",
            "DELETED",
            "PAUSED",
            "SUSPENDED",
            "RESCUE",
            "RESIZE",
            "VERIFY_RESIZE",
            "MIGRATING",
            "SHELVED",
            "SHELVED_OFFLOADED",
            "SOFT_DELETED",
            "UNKNOWN",
        ];
        if !KNOWN.contains(&st.as_str()) {
            if admin {
                return Err(ApiError::bad_request(format!("Invalid status value: {st}")));
            }
            return Ok(Json(json!({"servers": []})));
        }
    }
    let image = q
        .get("image")
        .map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
    let flavor = q
        .get("flavor")
        .map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
    let changes_since = q
        .get("changes-since")
        .map(|v| parse_time("changes-since", v))
        .transpose()?;
    let changes_before = match q.get("changes-before") {
        Some(v) if mv.at_least(2, 66) => Some(parse_time("changes-before", v)?),
        _ => None,
    };
    let host = if admin { q.get("host") } else { None };
    let (tags, tags_any, not_tags, not_tags_any) = if mv.at_least(2, 26) {
        (
            csv(q, "tags"),
            csv(q, "tags-any"),
            csv(q, "not-tags"),
            csv(q, "not-tags-any"),
        )
    } else {
        (None, None, None, None)
    };
    let sort_keys: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "sort_key")
            .map(|(_, v)| v.clone())
            .collect();
    let sort_dirs: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "sort_dir")
            .map(|(_, v)| v.to_lowercase())
            .collect();
    if let Some(k) = sort_keys.iter().find(|k| !SORT_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("Invalid sort_key {k}")));
    }
    if let Some(d) = sort_dirs.iter().find(|d| *d != "asc" && *d != "desc") {
        return Err(ApiError::bad_request(format!(
            "Invalid sort_dir {d}: must be asc or desc"
        )));
    }
    let paging = Paging::from_query(q)?;

    // Shared decoded lists: with 1,000 servers, decoding them (and every port
    // they refer to) was most of a request's time.
    let servers = c
        .store
        .list_shared::<Server>(project_filter.as_deref().filter(|p| !p.is_empty()))
        .await?;
    let servers: &[Versioned<Server>] = if project_filter.as_deref() == Some("") {
        &[]
    } else {
        &servers
    };
    // Read once for the whole list (the ip filter and the documents need them).
    let lookup = if detailed || ip_re.is_some() {
        server_view::Lookup::shared(c).await?
    } else {
        Arc::new(server_view::Lookup::default())
    };
    let mut kept: Vec<&Versioned<Server>> = Vec::new();
    for s in servers {
        let v = &s.value;
        let ok = name_re.as_ref().is_none_or(|r| r.is_match(&v.name))
            && status.as_ref().is_none_or(|st| v.status() == st)
            && image.as_ref().is_none_or(|i| &v.image_id == i)
            && flavor.as_ref().is_none_or(|f| &v.flavor.id == f)
            && changes_since.is_none_or(|t| v.updated_at >= t)
            && changes_before.is_none_or(|t| v.updated_at <= t)
            && host.is_none_or(|h| v.host.as_deref() == Some(h))
            && tags
                .as_ref()
                .is_none_or(|t| t.iter().all(|x| v.tags.contains(x)))
            && tags_any
                .as_ref()
                .is_none_or(|t| t.iter().any(|x| v.tags.contains(x)))
            && not_tags
                .as_ref()
                .is_none_or(|t| !t.iter().all(|x| v.tags.contains(x)))
            && not_tags_any
                .as_ref()
                .is_none_or(|t| !t.iter().any(|x| v.tags.contains(x)));
        if !ok {
            continue;
        }
        if let Some(re) = &ip_re {
            let x = lookup.extras(v);
            let hit = x
                .ports
                .iter()
                .flat_map(|p| p.fixed_ips.iter())
                .any(|ip| re.is_match(&ip.ip_address));
            if !hit {
                continue;
            }
        }
        kept.push(s);
    }
    let keys: Vec<String> = if sort_keys.is_empty() {
        vec!["created_at".to_string()]
    } else {
        sort_keys
    };
    // Each server's sort values once, not once per comparison.
    let mut keyed: Vec<(Vec<String>, &Versioned<Server>)> = kept
        .into_iter()
        .map(|s| (keys.iter().map(|k| sort_value(&s.value, k)).collect(), s))
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| {
        for (i, (x, y)) in ka.iter().zip(kb).enumerate() {
            let desc = sort_dirs.get(i).map(|d| d == "desc").unwrap_or(true);
            let o = x.cmp(y);
            let o = if desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        b.value.id.cmp(&a.value.id)
    });
    let kept: Vec<&Versioned<Server>> = keyed.into_iter().map(|(_, s)| s).collect();
    let page = paging.page(kept, |s| &s.value.id)?;
    let mut items = Vec::with_capacity(page.len());
    for s in &page {
        items.push(if detailed {
            server_view::server(url, mv, caller, s, &lookup.extras(&s.value))
        } else {
            server_view::brief(url, &s.value)
        });
    }
    let collection = if detailed {
        "servers/detail"
    } else {
        "servers"
    };
    let mut doc = json!({ "servers": items });
    let last = page.last().map(|s| s.value.id.as_str());
    if let Some(l) = paging.next_links(url, collection, q, page.len(), last) {
        doc["servers_links"] = l;
    }
    Ok(Json(doc))
}

/// `PUT /servers/{id}`: name, description (2.19), access IPs, disk config.
pub async fn update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let obj = wrapped(&body, "server")?;
    let mut fields = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if mv.at_least(2, 19) {
        fields.push("description");
    }
    check_keys(obj, &fields, &[])?;
    let name = obj.get("name").map(|v| check_name("name", v)).transpose()?;
    let description = obj
        .get("description")
        .map(|v| description(v, 255))
        .transpose()?;
    let v4 = obj
        .contains_key("accessIPv4")
        .then(|| access_ip(obj, "accessIPv4", 4))
        .transpose()?;
    let v6 = obj
        .contains_key("accessIPv6")
        .then(|| access_ip(obj, "accessIPv6", 6))
        .transpose()?;
    let disk_config = match obj.get("OS-DCF:diskConfig") {
        None => None,
        Some(Value::String(s)) if s == "AUTO" || s == "MANUAL" => Some(s.clone()),
        Some(v) => return Err(invalid("OS-DCF:diskConfig", v, "Must be AUTO or MANUAL.")),
    };
    load(&c, &caller, &id, "compute:servers:update").await?;
    let written = c
        .store
        .modify_with::<Server, (), _>(&id, |s, _| {
            if let Some(n) = &name {
                s.name = n.clone();
            }
            if let Some(d) = &description {
                s.description = d.clone();
            }
            if let Some(a) = &v4 {
                s.access_ipv4 = a.clone();
            }
            if let Some(a) = &v6 {
                s.access_ipv6 = a.clone();
            }
            if let Some(d) = &disk_config {
                s.disk_config = d.clone();
            }
            s.updated_at = Utc::now();
            Ok(Change::Write(()))
        })
        .await?
        .ok_or_else(|| not_found(&id))?
        .0;
    let mut tx = c.store.begin().await?;
    AuditRecord::new(Some(&caller), "compute.server.update", "server", &id, true)
        .write(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(Json(
        json!({"server": document(&c, &url, mv, &caller, &written).await?}),
    ))
}

/// `DELETE /servers/{id}`: 204. The agent of the server's host removes the guest
/// and then the object; a server without a host, or on a host that is down, goes
/// at once.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = load(&c, &caller, &id, "compute:servers:delete").await?;
    if s.value.locked && !caller.is_cloud_admin() {
        return Err(ApiError::conflict(format!("Instance {id} is locked")));
    }
    let request = request_id();
    let done = c
        .store
        .modify_with::<Server, bool, _>(&id, |s, _| {
            if s.deleting {
                return Ok(Change::Keep(false));
            }
            s.deleting = true;
            s.task_state = Some(TaskState::Deleting);
            s.updated_at = Utc::now();
            Ok(Change::Write(true))
        })
        .await?
        .ok_or_else(|| not_found(&id))?;
    let (server, first) = done;
    if first {
        let mut tx = c.store.begin().await?;
        record_action(&mut tx, &caller, &server.value, "delete", &request).await?;
        AuditRecord::new(
            Some(&caller),
            "compute.server.delete_requested",
            "server",
            &id,
            true,
        )
        .write(&mut tx)
        .await?;
        tx.commit().await?;
    }
    // No agent will act: a server that never got a host, or whose host is down
    // (Nova's "local delete"; the agent removes a guest without an object when it
    // comes back, ADR 0004), goes at once.
    let host_up = match &server.value.host {
        None => false,
        Some(h) => c
            .store
            .get::<Hypervisor>(h)
            .await?
            .is_some_and(|hv| is_up(&hv.value, Utc::now())),
    };
    if !host_up {
        finish_delete(&c.store, &c.networking, &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
