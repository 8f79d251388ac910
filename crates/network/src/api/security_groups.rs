//! `/v2.0/security-groups`: groups with their rules (`security_group_rules`). A
//! project's `default` group is created on first need (here: when the project
//! lists its groups); a new group starts with the two egress rules. Only cloud
//! admins delete a `default` group (409 otherwise); a group ports use is a 409
//! `SecurityGroupInUse`. Rules elsewhere that name the deleted group as their
//! remote group are deleted with it, as in Neutron.

use super::common::*;
use super::views;
use crate::access::authorize_on;
use crate::error::{Fault, Kind, NResult};
use crate::secgroups::{self, DEFAULT_NAME};
use crate::types::{Port, SecurityGroup, SecurityGroupRule};
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
    "security_group_rules",
    "created_at",
    "updated_at",
    "revision_number",
    "shared",
];

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<SecurityGroup>> {
    store
        .get::<SecurityGroup>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::SecurityGroup, id))
}

pub fn authorize_group(caller: &Principal, action: &str, g: &SecurityGroup) -> NResult<()> {
    authorize_on(
        caller,
        action,
        Kind::SecurityGroup,
        &g.id,
        &g.project_id,
        false,
    )
}

/// The rules of a group, oldest first, with their revisions.
pub async fn rules_of(store: &Store, group_id: &str) -> NResult<Vec<(SecurityGroupRule, i64)>> {
    let mut rules: Vec<(SecurityGroupRule, i64)> = store
        .list::<SecurityGroupRule>(Some(group_id))
        .await?
        .into_iter()
        .map(|v| (v.value, v.revision))
        .collect();
    rules.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
    Ok(rules)
}

/// `GET /v2.0/security-groups`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    if let Some(project) = caller.project_id() {
        net.ensure_default_group(project).await?;
    }
    let mut rules: HashMap<String, Vec<(SecurityGroupRule, i64)>> = HashMap::new();
    for r in net.store.list::<SecurityGroupRule>(None).await? {
        rules
            .entry(r.value.security_group_id.clone())
            .or_default()
            .push((r.value, r.revision));
    }
    let items = visible(
        &net.store,
        &caller,
        |g: &SecurityGroup| &g.project_id,
        |g, revision| {
            let mut rs = rules.remove(&g.id).unwrap_or_default();
            rs.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
            views::security_group(g, revision, &rs)
        },
    )
    .await?;
    Ok(Json(list("security_groups", items, &q, &url)?))
}

/// `GET /v2.0/security-groups/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let g = load(&net.store, &id).await?;
    authorize_group(&caller, "network:get_security_group", &g.value)?;
    let rules = rules_of(&net.store, &id).await?;
    Ok(Json(one(
        "security_group",
        views::security_group(&g.value, g.revision, &rules),
        &q,
    )))
}

/// `POST /v2.0/security-groups`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "security_group")?;
    check_attrs(
        obj,
        &[
            "name",
            "description",
            "stateful",
            "project_id",
            "tenant_id",
            "tags",
        ],
        READ_ONLY,
        "POST",
    )?;
    let project_id = owner(obj, &caller)?;
    let now = Utc::now();
    let group = SecurityGroup {
        id: secgroups::new_id(),
        project_id,
        name: string(obj, "name", MAX_NAME)?.unwrap_or_default(),
        description: string(obj, "description", MAX_NAME)?.unwrap_or_default(),
        stateful: boolean(obj, "stateful")?.unwrap_or(true),
        tags: tags(obj)?,
        created_at: now,
        updated_at: now,
    };
    authorize_on(
        &caller,
        "network:create_security_group",
        Kind::SecurityGroup,
        &group.id,
        &group.project_id,
        true,
    )?;
    let mut tx = net.store.begin().await?;
    if group.name == DEFAULT_NAME {
        secgroups::ensure_default_in(&mut tx, &group.project_id).await?;
        return Err(Fault::conflict(
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let rules = secgroups::egress_rules(&group);
    crate::quotas::check(&mut tx, "security_group", &group.project_id, 1).await?;
    crate::quotas::check(
        &mut tx,
        "security_group_rule",
        &group.project_id,
        rules.len() as i64,
    )
    .await?;
    secgroups::create_in(&mut tx, &group, &rules).await?;
    let revision = tx.revision().await?;
    commit_audited(
        tx,
        &caller,
        "network.security_group.create",
        "security_group",
        &group.id,
    )
    .await?;
    let rules: Vec<(SecurityGroupRule, i64)> = rules.into_iter().map(|r| (r, revision)).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group": views::security_group(&group, revision, &rules)})),
    ))
}

/// `PUT /v2.0/security-groups/{id}`
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "security_group")?;
    check_attrs(
        obj,
        &["name", "description", "stateful"],
        &[READ_ONLY, &["project_id", "tenant_id", "tags"]].concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    authorize_group(&caller, "network:update_security_group", &current.value)?;
    let mut g = current.value.clone();
    if let Some(name) = string(obj, "name", MAX_NAME)? {
        if name != g.name && (g.name == DEFAULT_NAME || name == DEFAULT_NAME) {
            return Err(Fault::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        g.name = name;
    }
    if let Some(v) = string(obj, "description", MAX_NAME)? {
        g.description = v;
    }
    if let Some(v) = boolean(obj, "stateful")? {
        g.stateful = v;
    }
    g.updated_at = Utc::now();
    let mut tx = net.store.begin().await?;
    let revision = tx.update(&g, Some(current.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "network.security_group.update",
        "security_group",
        &id,
    )
    .await?;
    let rules = rules_of(&net.store, &id).await?;
    Ok(Json(
        json!({"security_group": views::security_group(&g, revision, &rules)}),
    ))
}

/// `DELETE /v2.0/security-groups/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_group(&caller, "network:delete_security_group", &current.value)?;
    if current.value.name == DEFAULT_NAME && !caller.is_cloud_admin() {
        return Err(Fault::conflict(
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    let mut tx = net.store.begin().await?;
    let in_use = tx
        .list::<Port>(None)
        .await?
        .iter()
        .any(|p| p.value.security_groups.contains(&id));
    if in_use {
        return Err(Fault::conflict(
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    for r in tx.list::<SecurityGroupRule>(None).await? {
        if r.value.security_group_id == id
            || r.value.remote_group_id.as_deref() == Some(id.as_str())
        {
            tx.delete::<SecurityGroupRule>(&r.value.id, None).await?;
        }
    }
    tx.delete::<SecurityGroup>(&id, None).await?;
    commit_audited(
        tx,
        &caller,
        "network.security_group.delete",
        "security_group",
        &id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
