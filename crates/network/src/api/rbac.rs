//! `/v2.0/rbac-policies`: the owner of a network (or a cloud admin) shares it
//! with one project or, admins only, with every project (`*`), with the action
//! `access_as_shared` ([`crate::rbac`] applies it on reads). A policy whose
//! target project still has ports on the network cannot go (409
//! `RbacPolicyInUse`).

use super::common::*;
use crate::access::{self, authorize_on};
use crate::error::{Fault, Kind, NResult};
use crate::l3_types::RbacPolicy;
use crate::rbac::{self, ACCESS_AS_EXTERNAL, ACCESS_AS_SHARED};
use crate::types::{Network, Port, OWNER_DHCP};
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
use nimbus_store::{Store, StoreError, Versioned};
use serde_json::{json, Value};
use std::sync::Arc;

const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "revision_number"];

pub async fn load(store: &Store, id: &str) -> NResult<Versioned<RbacPolicy>> {
    store
        .get::<RbacPolicy>(id)
        .await?
        .ok_or_else(|| Fault::not_found(Kind::RbacPolicy, id))
}

fn authorize_policy(caller: &Principal, action: &str, p: &RbacPolicy) -> NResult<()> {
    authorize_on(
        caller,
        action,
        Kind::RbacPolicy,
        &p.id,
        &p.project_id,
        false,
    )
}

pub fn view(p: &RbacPolicy, revision: i64) -> Value {
    json!({
        "id": p.id,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "object_type": p.object_type,
        "object_id": p.object_id,
        "action": p.action,
        "target_tenant": p.target_tenant,
        "target_project": p.target_tenant,
        "revision_number": revision,
    })
}

/// `GET /v2.0/rbac-policies`: the caller's own policies.
pub async fn index(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    url: PublicUrl,
    q: Query,
) -> NResult<Json<Value>> {
    let items = visible(&net.store, &caller, |p: &RbacPolicy| &p.project_id, view).await?;
    Ok(Json(list("rbac_policies", items, &q, &url)?))
}

/// `GET /v2.0/rbac-policies/{id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    q: Query,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let p = load(&net.store, &id).await?;
    authorize_policy(&caller, "network:get_rbac_policy", &p.value)?;
    Ok(Json(one("rbac_policy", view(&p.value, p.revision), &q)))
}

fn target(obj: &serde_json::Map<String, Value>) -> NResult<String> {
    let t = string(obj, "target_tenant", MAX_NAME)?;
    let p = string(obj, "target_project", MAX_NAME)?;
    match (t, p) {
        (Some(t), Some(p)) if t != p => Err(Fault::invalid(
            "'target_tenant' and 'target_project' do not match",
        )),
        (Some(t), _) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(Fault::bad(
            "HTTPBadRequest",
            "Failed to parse request. Required attribute 'target_tenant' not specified",
        )),
    }
}

/// `POST /v2.0/rbac-policies`
pub async fn create(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    JsonBody(body): JsonBody<Value>,
) -> NResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "rbac_policy")?;
    check_attrs(
        obj,
        &[
            "object_type",
            "object_id",
            "action",
            "target_tenant",
            "target_project",
            "project_id",
            "tenant_id",
        ],
        READ_ONLY,
        "POST",
    )?;
    let object_type = string(obj, "object_type", MAX_NAME)?.unwrap_or_default();
    if object_type != "network" {
        return Err(Fault::invalid(format!(
            "Invalid input for object_type. Reason: '{object_type}' is not in ['network']."
        )));
    }
    let action = string(obj, "action", MAX_NAME)?.unwrap_or_default();
    if action == ACCESS_AS_EXTERNAL {
        return Err(Fault::invalid(
            "access_as_external is not supported by this cloud; use router:external",
        ));
    }
    if action != ACCESS_AS_SHARED {
        return Err(Fault::invalid(format!(
            "Invalid input for action. Reason: '{action}' is not in ['access_as_shared']."
        )));
    }
    let object_id = string(obj, "object_id", MAX_NAME)?.unwrap_or_default();
    let target_tenant = target(obj)?;
    let network = net
        .store
        .get::<Network>(&object_id)
        .await?
        .map(|v| v.value)
        .filter(|n| access::sees_network(&caller, n))
        .ok_or_else(|| Fault::not_found(Kind::Network, &object_id))?;
    let project_id = given_project(obj)?.unwrap_or_else(|| network.project_id.clone());
    let id = uuid::Uuid::new_v4().to_string();
    // Sharing is the network owner's to grant.
    authorize_on(
        &caller,
        "network:create_rbac_policy",
        Kind::Network,
        &network.id,
        &network.project_id,
        access::network_open(&network),
    )?;
    if project_id != network.project_id && !caller.is_cloud_admin() {
        return Err(Fault::new(
            StatusCode::FORBIDDEN,
            "PolicyNotAuthorized",
            "Only cloud admins may create policies for another project.",
        ));
    }
    if target_tenant == "*" {
        authorize_on(
            &caller,
            "network:create_rbac_policy:target_tenant",
            Kind::RbacPolicy,
            &id,
            &project_id,
            true,
        )?;
    }
    let p = RbacPolicy {
        id: id.clone(),
        project_id,
        object_type,
        object_id,
        action,
        target_tenant,
        created_at: Utc::now(),
    };
    let mut tx = net.store.begin().await?;
    let revision = match tx.create(&p).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(Fault::conflict(
                "DuplicateRbacPolicy",
                "An RBAC policy already exists with those values.",
            ))
        }
        other => other?,
    };
    commit_audited(
        tx,
        &caller,
        "network.rbac_policy.create",
        "rbac_policy",
        &id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"rbac_policy": view(&p, revision)})),
    ))
}

/// Whether projects that only see the network through `p` still use it.
async fn in_use(net: &Networking, p: &RbacPolicy, network: &Network) -> NResult<bool> {
    if network.shared {
        return Ok(false);
    }
    let others: Vec<RbacPolicy> = net
        .store
        .list::<RbacPolicy>(Some(&p.object_id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|o| o.id != p.id && o.action == ACCESS_AS_SHARED)
        .collect();
    Ok(net
        .store
        .list::<Port>(Some(&network.id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|port| port.device_owner != OWNER_DHCP)
        .filter(|port| port.project_id != network.project_id && !port.project_id.is_empty())
        .any(|port| {
            rbac::targets(p, Some(&port.project_id))
                && !others
                    .iter()
                    .any(|o| rbac::targets(o, Some(&port.project_id)))
        }))
}

/// `PUT /v2.0/rbac-policies/{id}`: only the target may change.
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "rbac_policy")?;
    check_attrs(
        obj,
        &["target_tenant", "target_project"],
        &[
            READ_ONLY,
            &[
                "object_type",
                "object_id",
                "action",
                "project_id",
                "tenant_id",
            ],
        ]
        .concat(),
        "PUT",
    )?;
    let current = load(&net.store, &id).await?;
    authorize_policy(&caller, "network:update_rbac_policy", &current.value)?;
    let mut p = current.value.clone();
    let new_target = target(obj)?;
    if new_target == "*" && p.target_tenant != "*" {
        authorize_policy(&caller, "network:create_rbac_policy:target_tenant", &p)?;
    }
    if let Some(n) = net.store.get::<Network>(&p.object_id).await? {
        if new_target != p.target_tenant && new_target != "*" && in_use(&net, &p, &n.value).await? {
            return Err(policy_in_use(&id, &p.object_id));
        }
    }
    p.target_tenant = new_target;
    let mut tx = net.store.begin().await?;
    let revision = match tx.update(&p, Some(current.revision)).await {
        Err(StoreError::Conflict { .. }) => {
            return Err(Fault::conflict(
                "DuplicateRbacPolicy",
                "An RBAC policy already exists with those values.",
            ))
        }
        other => other?,
    };
    commit_audited(
        tx,
        &caller,
        "network.rbac_policy.update",
        "rbac_policy",
        &id,
    )
    .await?;
    Ok(Json(json!({"rbac_policy": view(&p, revision)})))
}

fn policy_in_use(id: &str, object_id: &str) -> Fault {
    Fault::conflict(
        "RbacPolicyInUse",
        format!("RBAC policy {id} on object {object_id} cannot be removed because other objects depend on it."),
    )
}

/// `DELETE /v2.0/rbac-policies/{id}`
pub async fn delete(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let current = load(&net.store, &id).await?;
    authorize_policy(&caller, "network:delete_rbac_policy", &current.value)?;
    if let Some(n) = net.store.get::<Network>(&current.value.object_id).await? {
        if in_use(&net, &current.value, &n.value).await? {
            return Err(policy_in_use(&id, &current.value.object_id));
        }
    }
    let mut tx = net.store.begin().await?;
    match tx.delete::<RbacPolicy>(&id, None).await {
        Err(StoreError::NotFound { .. }) => return Err(Fault::not_found(Kind::RbacPolicy, &id)),
        other => other?,
    };
    commit_audited(
        tx,
        &caller,
        "network.rbac_policy.delete",
        "rbac_policy",
        &id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
