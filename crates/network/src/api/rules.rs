//! `/v2.0/security-group-rules`: create (validated as Neutron does, duplicates a
//! 409 `SecurityGroupRuleExists`), list, show, delete. Rules belong to their
//! group's project; they cannot be changed, only replaced.

use super::common::*;
use super::security_groups::{self as groups, authorize_group};
use super::views;
use crate::access;
use crate::error::{Fault, Kind, NResult};
use crate::secgroups::{self, RuleSpec, DEFAULT_NAME};
use crate::types::{SecurityGroup, SecurityGroupRule};
use crate::Networking;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::query::Query;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

const READ_ONLY: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "revision_number",
    "normalized_cidr",
    "belongs_to_default_sg",
    "tags",
];

/// `GET /v2.0/security-group-rules`
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let default_groups: HashMap<String, bool> = net
        .store
        .list::<SecurityGroup>(None)
        .await?
        .into_iter()
        .map(|g| (g.value.id.clone(), g.value.name == DEFAULT_NAME))
        .collect();
    let items = visible(
        &net.store,
        &caller,
        |r: &SecurityGroupRule| &r.project_id,
        |r, revision| {
            let in_default = default_groups
                .get(&r.security_group_id)
                .copied()
                .unwrap_or(false);
            views::rule(r, revision, in_default)
        },
    )
    .await?;
    Ok(Json(list("security_group_rules", items, &q, &url)?))
}

async fn load(net: &Networking, id: &str) -> NResult<(SecurityGroupRule, i64, SecurityGroup)> {
    let r = net
        .store
        .get::<SecurityGroupRule>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::SecurityGroupRule, id))?;
    let g = net
        .store
        .get::<SecurityGroup>(&r.value.security_group_id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::SecurityGroupRule, id))?;
    Ok((r.value, r.revision, g.value))
}

/// `GET /v2.0/security-group-rules/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let (r, revision, g) = load(&net, &id).await?;
    access::authorize_on(
        &caller,
        "network:get_security_group_rule",
        Kind::SecurityGroupRule,
        &id,
        &r.project_id,
        false,
    )?;
    Ok(Json(one(
        "security_group_rule",
        views::rule(&r, revision, g.name == DEFAULT_NAME),
        &q,
    )))
}

/// A port number or ICMP type/code: an integer (or a string of digits), or null.
fn port(obj: &Map<String, Value>, field: &str) -> NResult<Option<i64>> {
    match integer(obj, field)? {
        None | Some(None) => Ok(None),
        Some(Some(v)) => Ok(Some(v)),
    }
}

/// The protocol: a name, a number (JSON or text), or null.
fn protocol(obj: &Map<String, Value>) -> NResult<Option<String>> {
    match obj.get("protocol") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_NAME => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(v) => Err(Fault::bad(
            "SecurityGroupRuleInvalidProtocol",
            format!("Security group rule protocol {v} not supported."),
        )),
    }
}

/// `POST /v2.0/security-group-rules`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "security_group_rule")?;
    check_attrs(
        obj,
        &[
            "security_group_id",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "remote_address_group_id",
            "description",
            "project_id",
            "tenant_id",
        ],
        READ_ONLY,
        "POST",
    )?;
    if obj
        .get("remote_address_group_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(Fault::invalid(
            "remote_address_group_id is not supported by this cloud",
        ));
    }
    let group_id = string(obj, "security_group_id", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'security_group_id' not specified",
        )
    })?;
    let direction = string(obj, "direction", MAX_NAME)?.ok_or_else(|| {
        Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'direction' not specified",
        )
    })?;
    let spec = RuleSpec {
        direction,
        ethertype: string(obj, "ethertype", MAX_NAME)?.unwrap_or_else(|| "IPv4".into()),
        protocol: protocol(obj)?,
        port_range_min: port(obj, "port_range_min")?,
        port_range_max: port(obj, "port_range_max")?,
        remote_ip_prefix: nullable_string(obj, "remote_ip_prefix", MAX_NAME)?.flatten(),
        remote_group_id: nullable_string(obj, "remote_group_id", MAX_NAME)?.flatten(),
    };
    let description = string(obj, "description", MAX_NAME)?.unwrap_or_default();
    let group = groups::load(&net.store, &group_id).await?.value;
    authorize_group(&caller, "network:get_security_group", &group)?;
    access::authorize_on(
        &caller,
        "network:create_security_group_rule",
        Kind::SecurityGroup,
        &group.id,
        &group.project_id,
        false,
    )?;
    if let Some(p) = given_project(obj)?.filter(|p| *p != group.project_id) {
        return Err(Fault::invalid(format!(
            "The rule's project {p} is not the project of its security group"
        )));
    }
    let checked = secgroups::check_rule(spec)?;
    if let Some(remote) = &checked.remote_group_id {
        let g = groups::load(&net.store, remote).await?.value;
        if !access::sees(&caller, &g.project_id, false) {
            return Err(Fault::not_found(Kind::SecurityGroup, remote));
        }
    }
    let mut tx = net.store.begin().await?;
    if tx.get::<SecurityGroup>(&group.id).await?.is_none() {
        return Err(Fault::not_found(Kind::SecurityGroup, &group.id));
    }
    let existing = tx.list::<SecurityGroupRule>(Some(&group.id)).await?;
    if let Some(dup) = existing
        .iter()
        .find(|r| secgroups::same_rule(&r.value, &checked))
    {
        return Err(Fault::conflict(
            "SecurityGroupRuleExists",
            format!(
                "Security group rule already exists. Rule id is {}.",
                dup.value.id
            ),
        ));
    }
    let rule = SecurityGroupRule {
        id: secgroups::new_id(),
        project_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction: checked.direction,
        ethertype: checked.ethertype,
        protocol: checked.protocol,
        port_range_min: checked.port_range_min,
        port_range_max: checked.port_range_max,
        remote_ip_prefix: checked.remote_ip_prefix,
        remote_group_id: checked.remote_group_id,
        description,
        created_at: Utc::now(),
    };
    crate::quotas::check(&mut tx, "security_group_rule", &rule.project_id, 1).await?;
    let revision = tx.create(&rule).await?;
    commit_audited(
        tx,
        &caller,
        "network.security_group_rule.create",
        "security_group_rule",
        &rule.id,
    )
    .await?;
    let v = views::rule(&rule, revision, group.name == DEFAULT_NAME);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "security_group_rule": v })),
    ))
}

/// `DELETE /v2.0/security-group-rules/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let (r, _, _) = load(&net, &id).await?;
    access::authorize_on(
        &caller,
        "network:delete_security_group_rule",
        Kind::SecurityGroupRule,
        &id,
        &r.project_id,
        false,
    )?;
    let mut tx = net.store.begin().await?;
    if tx.delete::<SecurityGroupRule>(&id, None).await.is_err() {
        return Err(Fault::not_found(Kind::SecurityGroupRule, &id));
    }
    commit_audited(
        tx,
        &caller,
        "network.security_group_rule.delete",
        "security_group_rule",
        &id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
