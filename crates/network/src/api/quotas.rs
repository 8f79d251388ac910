//! `/v2.0/quotas` (Neutron's `quotas` extension): a project's limits (its own
//! project may read them, cloud admins and system readers any), their defaults and
//! usage (`/details`), set and reset by cloud admins. Creating objects checks them
//! ([`crate::quotas`]).

use super::common::*;
use crate::error::{Fault, NResult};
use crate::quotas::{self, DEFAULTS};
use crate::types::NetworkQuota;
use crate::Networking;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::policy::{authorize, Target};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Authorizes on a project's quotas (hidden from other projects) or, without a
/// project, on the list of all of them.
fn authorize_quota(caller: &Principal, action: &str, project: &str) -> NResult<()> {
    let mut t = Target::new("quota", project);
    if !project.is_empty() {
        t = t.project(project);
        t.hidden_outside_project = true;
    }
    authorize(caller, action, &t).map_err(|e| {
        let kind = if e.status == StatusCode::NOT_FOUND {
            "HTTPNotFound"
        } else {
            "PolicyNotAuthorized"
        };
        Fault::new(e.status, kind, e.message)
    })
}

fn limits(q: Option<&NetworkQuota>) -> Map<String, Value> {
    DEFAULTS
        .iter()
        .map(|(r, _)| (r.to_string(), json!(quotas::limit(q, r))))
        .collect()
}

async fn stored(net: &Networking, project: &str) -> NResult<Option<NetworkQuota>> {
    Ok(net
        .store
        .get::<NetworkQuota>(project)
        .await?
        .map(|v| v.value))
}

/// `GET /v2.0/quotas`: the projects with limits of their own.
pub async fn index(State(net): State<Arc<Networking>>, Auth(caller): Auth) -> NResult<Json<Value>> {
    authorize_quota(&caller, "network:get_quotas", "")?;
    let list: Vec<Value> = net
        .store
        .list::<NetworkQuota>(None)
        .await?
        .into_iter()
        .map(|q| {
            let mut m = limits(Some(&q.value));
            m.insert("project_id".into(), json!(q.value.id));
            m.insert("tenant_id".into(), json!(q.value.id));
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({ "quotas": list })))
}

/// `GET /v2.0/quotas/{project_id}`
pub async fn show(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(project): Path<String>,
) -> NResult<Json<Value>> {
    authorize_quota(&caller, "network:get_quota", &project)?;
    let q = stored(&net, &project).await?;
    Ok(Json(json!({ "quota": limits(q.as_ref()) })))
}

/// `GET /v2.0/quotas/{project_id}/default`
pub async fn defaults(Auth(caller): Auth, Path(project): Path<String>) -> NResult<Json<Value>> {
    authorize_quota(&caller, "network:get_quota", &project)?;
    Ok(Json(json!({ "quota": limits(None) })))
}

/// `GET /v2.0/quotas/{project_id}/details`: limit, used and reserved per resource.
pub async fn details(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(project): Path<String>,
) -> NResult<Json<Value>> {
    authorize_quota(&caller, "network:get_quota", &project)?;
    let q = stored(&net, &project).await?;
    // Counted in a transaction that writes nothing (dropped: rolled back).
    let mut tx = net.store.begin().await?;
    let mut out = Map::new();
    for (r, _) in DEFAULTS {
        let used = quotas::usage(&mut tx, r, &project).await?;
        out.insert(
            r.to_string(),
            json!({"limit": quotas::limit(q.as_ref(), r), "used": used, "reserved": 0}),
        );
    }
    Ok(Json(json!({ "quota": out })))
}

/// `PUT /v2.0/quotas/{project_id}` with `{"quota": {"network": 10, ...}}`.
pub async fn update(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> NResult<Json<Value>> {
    let obj = wrapped(&body, "quota")?;
    authorize_quota(&caller, "network:update_quota", &project)?;
    let mut tx = net.store.begin().await?;
    let current = tx.get::<NetworkQuota>(&project).await?;
    let mut q = current
        .as_ref()
        .map(|v| v.value.clone())
        .unwrap_or_else(|| NetworkQuota {
            id: project.clone(),
            ..Default::default()
        });
    for (k, v) in obj {
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .filter(|n| *n >= -1)
        .ok_or_else(|| {
            Fault::invalid(format!(
                "'{v}' is not a valid quota limit for {k}: an integer of -1 or more"
            ))
        })?;
        if !quotas::set(&mut q, k, Some(n)) {
            return Err(Fault::bad(
                "HTTPBadRequest",
                format!("Unrecognized attribute(s) '{k}'"),
            ));
        }
    }
    match current {
        Some(c) => tx.update(&q, Some(c.revision)).await?,
        None => tx.create(&q).await?,
    };
    commit_audited(
        tx,
        &caller,
        "network.quota.update",
        "network_quota",
        &project,
    )
    .await?;
    Ok(Json(json!({ "quota": limits(Some(&q)) })))
}

/// `DELETE /v2.0/quotas/{project_id}`: back to the defaults.
pub async fn reset(
    State(net): State<Arc<Networking>>,
    Auth(caller): Auth,
    Path(project): Path<String>,
) -> NResult<StatusCode> {
    authorize_quota(&caller, "network:delete_quota", &project)?;
    let mut tx = net.store.begin().await?;
    if tx.get::<NetworkQuota>(&project).await?.is_some() {
        tx.delete::<NetworkQuota>(&project, None).await?;
    }
    commit_audited(
        tx,
        &caller,
        "network.quota.delete",
        "network_quota",
        &project,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
