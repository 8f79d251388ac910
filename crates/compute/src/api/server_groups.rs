//! `/os-server-groups`: create (`policies: [one]` below 2.64, `policy` + `rules`
//! from 2.64; the soft policies from 2.15), list (own project; every project for
//! admins with `all_projects`), show, delete. The scheduler honours the policy.

use super::common::*;
use super::server_input::is_uuid;
use crate::quota;
use crate::server::ServerGroup;
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{allowed, authorize, visible, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance group {id} could not be found."))
}

fn target(g: &ServerGroup) -> Target<'_> {
    let mut t = Target::new("server_group", &g.id).project(&g.project_id);
    t.hidden_outside_project = true;
    t
}

fn view(mv: Microversion, g: &ServerGroup) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "members": g.members,
        "project_id": g.project_id,
    });
    if mv.at_least(2, 64) {
        v["policy"] = json!(g.policy);
        v["rules"] = json!(g.rules);
    } else {
        v["policies"] = json!([g.policy]);
        v["metadata"] = json!({});
    }
    if mv.at_least(2, 13) {
        v["user_id"] = json!(g.user_id);
    }
    v
}

async fn load(c: &Compute, caller: &Principal, id: &str, action: &str) -> ApiResult<ServerGroup> {
    let g = if is_uuid(id) {
        c.store.get::<ServerGroup>(id).await?.map(|v| v.value)
    } else {
        None
    };
    let g = g.ok_or_else(|| not_found(id))?;
    if !visible(caller, &target(&g)) {
        return Err(not_found(id));
    }
    authorize(caller, action, &target(&g))?;
    Ok(g)
}

/// `GET /os-server-groups`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-server-groups:index",
        &Target::default(),
    )?;
    let all = q.bool("all_projects")?.unwrap_or(false)
        && allowed(
            &caller,
            "compute:os-server-groups:index:all_projects",
            &Target::default(),
        );
    let parent = if all { None } else { caller.project_id() };
    let mut groups: Vec<ServerGroup> = if all || parent.is_some() {
        c.store
            .list::<ServerGroup>(parent)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect()
    } else {
        Vec::new()
    };
    groups.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let offset = q.usize("offset")?.unwrap_or(0);
    let limit = q.usize("limit")?.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let items: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| view(mv, g))
        .collect();
    Ok(Json(json!({ "server_groups": items })))
}

/// `GET /os-server-groups/{id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = load(&c, &caller, &id, "compute:os-server-groups:show").await?;
    Ok(Json(json!({"server_group": view(mv, &g)})))
}

/// `DELETE /os-server-groups/{id}`: 204 (members keep running).
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    load(&c, &caller, &id, "compute:os-server-groups:delete").await?;
    let mut tx = c.store.begin().await?;
    match tx.delete::<ServerGroup>(&id, None).await {
        Err(nimbus_store::StoreError::NotFound { .. }) => return Err(not_found(&id)),
        other => other?,
    };
    commit_audited(
        tx,
        &caller,
        "compute.server_group.delete",
        "server_group",
        &id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn policy_of(mv: Microversion, obj: &serde_json::Map<String, Value>) -> ApiResult<String> {
    let mut known = vec!["affinity", "anti-affinity"];
    if mv.at_least(2, 15) {
        known.extend(["soft-affinity", "soft-anti-affinity"]);
    }
    let (field, v) = if mv.at_least(2, 64) {
        ("policy", obj["policy"].clone())
    } else {
        match &obj["policies"] {
            Value::Array(l) if l.len() == 1 => ("policies", l[0].clone()),
            other => {
                return Err(invalid(
                    "policies",
                    other,
                    "Must be a list of exactly one policy.",
                ))
            }
        }
    };
    match v.as_str() {
        Some(p) if known.contains(&p) => Ok(p.to_string()),
        _ => Err(invalid(
            field,
            &v,
            &format!("Must be one of: {}.", known.join(", ")),
        )),
    }
}

fn rules_of(
    obj: &serde_json::Map<String, Value>,
    policy: &str,
) -> ApiResult<BTreeMap<String, u32>> {
    let Some(v) = obj.get("rules") else {
        return Ok(BTreeMap::new());
    };
    let r = v
        .as_object()
        .ok_or_else(|| invalid("rules", v, "Must be an object."))?;
    check_keys(r, &["max_server_per_host"], &[])?;
    if r.is_empty() {
        return Ok(BTreeMap::new());
    }
    if policy != "anti-affinity" {
        return Err(ApiError::bad_request(format!(
            "Only anti-affinity policy supports rules; {policy} was given."
        )));
    }
    let n = int_field(r, "max_server_per_host", 1)?.unwrap_or(1);
    Ok(BTreeMap::from([(
        "max_server_per_host".to_string(),
        n as u32,
    )]))
}

/// `POST /os-server-groups`
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let obj = wrapped(&body, "server_group")?;
    if mv.at_least(2, 64) {
        check_keys(obj, &["name", "policy", "rules"], &["name", "policy"])?;
    } else {
        check_keys(obj, &["name", "policies"], &["name", "policies"])?;
    }
    let name = check_name("name", &obj["name"])?;
    let policy = policy_of(mv, obj)?;
    let rules = rules_of(obj, &policy)?;
    let project = caller
        .project_id()
        .ok_or_else(|| ApiError::forbidden("Server groups need a project-scoped token."))?
        .to_string();
    authorize(
        &caller,
        "compute:os-server-groups:create",
        &Target::new("server_group", "").project(&project),
    )?;
    let group = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        project_id: project.clone(),
        user_id: caller.user_id.clone(),
        policy,
        rules,
        members: Vec::new(),
        created_at: Utc::now(),
    };
    let mut tx = c.store.begin().await?;
    let limit = quota::limits(&mut tx, &project)
        .await?
        .limit("server_groups");
    let used = quota::usage(&mut tx, &project).await?.server_groups;
    if limit >= 0 && used >= limit {
        return Err(ApiError::forbidden(
            "Quota exceeded, too many server groups.",
        ));
    }
    tx.create(&group).await?;
    commit_audited(
        tx,
        &caller,
        "compute.server_group.create",
        "server_group",
        &group.id,
    )
    .await?;
    Ok(Json(json!({"server_group": view(mv, &group)})))
}
