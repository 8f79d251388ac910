//! `/os-quota-sets/{project_id}` (show, `?usage=true` with `in_use`, `/defaults`,
//! update and delete by admins) and `/limits` (Cinder's absolute limits with the
//! `total*Used` counters). Per-type keys (`volumes_<type>`, ...) are shown for
//! every type.

use super::access::{self, all_types};
use super::common::{param, wrapped, Params};
use super::volume_create::type_names;
use crate::quota::{self, DEFAULTS, PER_TYPE};
use crate::types::QuotaSet;
use crate::Volumes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::policy::Target;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn target(project: &str) -> Target<'_> {
    super::common::owned("quota_set", project, project)
}

fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// Every key shown: the fixed ones, then the per-type ones.
async fn keys(svc: &Volumes) -> ApiResult<Vec<String>> {
    let mut keys: Vec<String> = DEFAULTS.iter().map(|(k, _)| k.to_string()).collect();
    for t in all_types(&svc.store).await?.values() {
        for k in PER_TYPE {
            keys.push(format!("{k}_{}", t.name));
        }
    }
    Ok(keys)
}

/// `GET /os-quota-sets/{project_id}[?usage=true]`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    q: Query,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let project = param(&p, "quota_project")?;
    access::authorize(&caller, "volume:quotas:show", &target(project), not_found)?;
    let with_usage = q.bool("usage")?.unwrap_or(false);
    let types = all_types(&svc.store).await?;
    let mut tx = svc.store.begin().await?;
    let set = tx.get::<QuotaSet>(project).await?.map(|s| s.value);
    let usage = quota::usage(&mut tx, project, &type_names(&types)).await?;
    drop(tx);
    let mut doc = Map::new();
    doc.insert("id".into(), json!(project));
    for k in keys(&svc).await? {
        let lim = quota::limit(set.as_ref(), &k);
        let v = if with_usage {
            json!({"limit": lim, "in_use": usage.get(&k), "reserved": 0, "allocated": 0})
        } else {
            json!(lim)
        };
        doc.insert(k, v);
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `GET /os-quota-sets/{project_id}/defaults`
pub async fn defaults(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let project = param(&p, "quota_project")?;
    access::authorize(
        &caller,
        "volume:quotas:defaults",
        &Target::default(),
        not_found,
    )?;
    let mut doc = Map::new();
    doc.insert("id".into(), json!(project));
    for k in keys(&svc).await? {
        doc.insert(k.clone(), json!(quota::limit(None, &k)));
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `PUT /os-quota-sets/{project_id}` (admins): integers ≥ -1 for known keys.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let project = param(&p, "quota_project")?.to_string();
    let obj = wrapped(&body, "quota_set")?;
    let known = keys(&svc).await?;
    let mut changes = Vec::new();
    for (k, v) in obj {
        if k == "tenant_id" || k == "id" {
            continue;
        }
        if !known.contains(k) {
            return Err(ApiError::bad_request(format!(
                "Bad key(s) in quota set: {k}"
            )));
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .filter(|n| (-1..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input received: Quota limit {v} for {k} must be an integer from -1 \
                 to 2147483647."
            ))
        })?;
        changes.push((k.clone(), n));
    }
    access::authorize(
        &caller,
        "volume:quotas:update",
        &target(&project),
        not_found,
    )?;
    let mut tx = svc.store.begin().await?;
    let current = tx.get::<QuotaSet>(&project).await?;
    let mut set = current
        .as_ref()
        .map(|v| v.value.clone())
        .unwrap_or(QuotaSet {
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
        "volume.quota_set.update",
        "quota_set",
        &project,
    )
    .await?;
    let mut doc = Map::new();
    for k in known {
        doc.insert(k.clone(), json!(quota::limit(Some(&set), &k)));
    }
    Ok(Json(json!({"quota_set": doc})))
}

/// `DELETE /os-quota-sets/{project_id}` (admins): back to the defaults.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    let project = param(&p, "quota_project")?;
    access::authorize(&caller, "volume:quotas:delete", &target(project), not_found)?;
    let mut tx = svc.store.begin().await?;
    match tx.delete::<QuotaSet>(project, None).await {
        Ok(_) | Err(nimbus_store::StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    commit_audited(tx, &caller, "volume.quota_set.delete", "quota_set", project).await?;
    Ok(StatusCode::OK)
}

/// `GET /limits`: the caller's project (admins may name one with `project_id`).
pub async fn limits(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    q: Query,
) -> ApiResult<Json<Value>> {
    access::authorize(&caller, "volume:limits", &Target::default(), not_found)?;
    let project = project_for_limits(&caller, &q);
    let types = all_types(&svc.store).await?;
    let mut tx = svc.store.begin().await?;
    let set = tx.get::<QuotaSet>(&project).await?.map(|s| s.value);
    let usage = quota::usage(&mut tx, &project, &type_names(&types)).await?;
    drop(tx);
    let lim = |k: &str| quota::limit(set.as_ref(), k);
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": lim("volumes"),
        "maxTotalSnapshots": lim("snapshots"),
        "maxTotalVolumeGigabytes": lim("gigabytes"),
        "maxTotalBackups": lim("backups"),
        "maxTotalBackupGigabytes": lim("backup_gigabytes"),
        "totalVolumesUsed": usage.get("volumes"),
        "totalSnapshotsUsed": usage.get("snapshots"),
        "totalGigabytesUsed": usage.get("gigabytes"),
        "totalBackupsUsed": usage.get("backups"),
        "totalBackupGigabytesUsed": usage.get("backup_gigabytes"),
    }}})))
}

fn project_for_limits(caller: &Principal, q: &Query) -> String {
    match q.get("project_id").or(q.get("tenant_id")) {
        Some(p) if caller.is_cloud_admin() => p.to_string(),
        _ => caller.project_id().unwrap_or("").to_string(),
    }
}
