//! `/os-quota-sets/{project_id}` (show, `/defaults`, `/detail` with `in_use`,
//! update and delete by admins) and `/limits` (absolute limits with the
//! `total*Used` counters). Which keys appear depends on the microversion: the
//! network proxies go at 2.36, file injection at 2.57.

use crate::quota::{self, QuotaSet, DEFAULTS, INJECTION, NETWORK_PROXIES};
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The quota keys shown at `mv`.
fn keys(mv: Microversion) -> Vec<&'static str> {
    DEFAULTS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !(mv.at_least(2, 36) && NETWORK_PROXIES.contains(k)))
        .filter(|k| !(mv.at_least(2, 57) && INJECTION.contains(k)))
        .collect()
}

fn target(project: &str) -> Target<'_> {
    let mut t = Target::new("quota_set", project).project(project);
    t.hidden_outside_project = true;
    t
}

async fn read(c: &Compute, project: &str) -> ApiResult<(QuotaSet, quota::Usage)> {
    let mut tx = c.store.begin().await?;
    let limits = quota::limits(&mut tx, project).await?;
    let usage = quota::usage(&mut tx, project).await?;
    drop(tx);
    Ok((limits, usage))
}

/// `GET /os-quota-sets/{project_id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "compute:os-quota-sets:show", &target(&project))?;
    let (limits, _) = read(&c, &project).await?;
    let mut doc = Map::new();
    doc.insert("id".into(), json!(project));
    for k in keys(mv) {
        doc.insert(k.into(), json!(limits.limit(k)));
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `GET /os-quota-sets/{project_id}/detail`
pub async fn detail(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "compute:os-quota-sets:show", &target(&project))?;
    let (limits, usage) = read(&c, &project).await?;
    let mut tx = c.store.begin().await?;
    let keypairs = quota::keypairs_of(&mut tx, &caller.user_id).await?;
    drop(tx);
    let mut doc = Map::new();
    doc.insert("id".into(), json!(project));
    for k in keys(mv) {
        let in_use = if k == "key_pairs" {
            keypairs
        } else {
            usage.get(k)
        };
        doc.insert(
            k.into(),
            json!({"limit": limits.limit(k), "in_use": in_use, "reserved": 0}),
        );
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `GET /os-quota-sets/{project_id}/defaults`
pub async fn defaults(
    Auth(caller): Auth,
    mv: Microversion,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-quota-sets:defaults",
        &Target::default(),
    )?;
    let defaults = QuotaSet::default();
    let mut doc = Map::new();
    doc.insert("id".into(), json!(project));
    for k in keys(mv) {
        doc.insert(k.into(), json!(defaults.limit(k)));
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `PUT /os-quota-sets/{project_id}` (admins): integers ≥ -1 for known keys.
pub async fn update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let _ = q;
    let obj = super::common::wrapped(&body, "quota_set")?;
    let shown = keys(mv);
    let mut changes = Vec::new();
    for (k, v) in obj {
        if k == "force" {
            super::common::bool_field(obj, "force")?;
            continue;
        }
        if !shown.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Value: {k}. \
                 Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .filter(|n| (-1..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(|| super::common::invalid(k, v, "Must be an integer from -1 to 2147483647."))?;
        changes.push((k.clone(), n));
    }
    authorize(&caller, "compute:os-quota-sets:update", &target(&project))?;
    let mut tx = c.store.begin().await?;
    let current = tx.get::<QuotaSet>(&project).await?;
    let mut set = current
        .as_ref()
        .map(|v| v.value.clone())
        .unwrap_or_else(|| QuotaSet {
            id: project.clone(),
            limits: Default::default(),
        });
    for (k, n) in changes {
        set.limits.insert(k, n);
    }
    match current {
        Some(v) => tx.update(&set, Some(v.revision)).await?,
        None => tx.create(&set).await?,
    };
    commit_audited(
        tx,
        &caller,
        "compute.quota_set.update",
        "quota_set",
        &project,
    )
    .await?;
    let mut doc = Map::new();
    for k in shown {
        doc.insert(k.into(), json!(set.limit(k)));
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `DELETE /os-quota-sets/{project_id}` (admins): back to the defaults; 202.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    authorize(&caller, "compute:os-quota-sets:delete", &target(&project))?;
    let mut tx = c.store.begin().await?;
    match tx.delete::<QuotaSet>(&project, None).await {
        Ok(_) | Err(nimbus_store::StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    commit_audited(
        tx,
        &caller,
        "compute.quota_set.delete",
        "quota_set",
        &project,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

fn project_for_limits<'a>(caller: &'a Principal, q: &'a Query) -> Option<&'a str> {
    match q.get("tenant_id") {
        Some(t) if caller.is_cloud_admin() => Some(t),
        _ => caller.project_id(),
    }
}

/// `GET /limits`
pub async fn limits(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "compute:limits", &Target::default())?;
    let project = project_for_limits(&caller, &q)
        .unwrap_or_default()
        .to_string();
    let (l, u) = read(&c, &project).await?;
    let mut a = json!({
        "maxTotalInstances": l.limit("instances"),
        "maxTotalCores": l.limit("cores"),
        "maxTotalRAMSize": l.limit("ram"),
        "maxTotalKeypairs": l.limit("key_pairs"),
        "maxServerMeta": l.limit("metadata_items"),
        "maxServerGroups": l.limit("server_groups"),
        "maxServerGroupMembers": l.limit("server_group_members"),
        "totalInstancesUsed": u.instances,
        "totalCoresUsed": u.cores,
        "totalRAMUsed": u.ram,
        "totalServerGroupsUsed": u.server_groups,
    });
    if !mv.at_least(2, 39) {
        a["maxImageMeta"] = json!(128);
    }
    if !mv.at_least(2, 57) {
        a["maxPersonality"] = json!(l.limit("injected_files"));
        a["maxPersonalitySize"] = json!(l.limit("injected_file_content_bytes"));
    }
    if !mv.at_least(2, 36) {
        a["maxTotalFloatingIps"] = json!(l.limit("floating_ips"));
        a["maxSecurityGroups"] = json!(l.limit("security_groups"));
        a["maxSecurityGroupRules"] = json!(l.limit("security_group_rules"));
        a["totalFloatingIpsUsed"] = json!(0);
        a["totalSecurityGroupsUsed"] = json!(0);
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": a}})))
}
