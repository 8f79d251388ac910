//! `/snapshots`: list (summary = detail in Cinder v3), show, create (of an
//! available volume, or of an in-use one plugged into a server with `force`
//! below 3.66; quota for one snapshot and its gigabytes), update and
//! delete. Create and delete answer 202; the storage controller freezes the
//! volume's layer and moves the status on.

use super::access;
use super::common::{self, opt_bool, opt_string, param, wrapped, Params};
use super::list::ListRequest;
use super::views::{self, Ctx};
use super::UrlProject;
use crate::types::{
    AttachmentStatus, QuotaSet, Snapshot, SnapshotStatus, Volume, VolumeAttachment, VolumeStatus,
};
use crate::{quota, Volumes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

const FILTERS: &[&str] = &["name", "status", "volume_id", "metadata", "consumes_quota"];
const SORT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "size",
    "created_at",
    "updated_at",
    "volume_id",
];

/// `GET /snapshots` and `/snapshots/detail`.
pub async fn list(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    access::authorize(
        &caller,
        "volume:get_all_snapshots",
        &Default::default(),
        || ApiError::not_found("The resource could not be found."),
    )?;
    let req = ListRequest::parse(&q, mv, FILTERS, SORT_KEYS)?;
    let scope = req.scope(&caller, "volume:get_all_snapshots:all_tenants");
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    let mut found = Vec::new();
    for s in svc.store.list::<Snapshot>(scope.as_deref()).await? {
        // A backup's temporary snapshot is the backup's business, not the user's.
        if s.value.for_backup.is_some() {
            continue;
        }
        let view = views::snapshot(&ctx, &s.value);
        if req.matches(&view)? {
            found.push(view);
        }
    }
    let path = format!(
        "{}{}/snapshots",
        common::PREFIX,
        super::volumes::url_project(&up)
    );
    Ok(Json(req.answer(
        found,
        &url,
        &path,
        &q,
        "snapshots",
        |v| v,
    )?))
}

/// `GET /snapshots/{snapshot_id}`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "snapshot_id")?;
    let s = access::snapshot(&svc.store, &caller, "volume:get_snapshot", id).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok(Json(json!({"snapshot": views::snapshot(&ctx, &s.value)})))
}

/// `POST /snapshots` → 202 with the snapshot in `creating`.
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = wrapped(&body, "snapshot")?;
    let volume_id = opt_string(obj, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property",
        )
    })?;
    let name = opt_string(obj, "name")?.or(opt_string(obj, "display_name")?);
    let description = opt_string(obj, "description")?.or(opt_string(obj, "display_description")?);
    let force = opt_bool(obj, "force")?;
    // From 3.66 in-use volumes need no flag; an explicit `false` is refused
    // there (a `true` is ignored), as Cinder does.
    let in_use_ok = if mv.at_least(3, 66) {
        if force == Some(false) {
            return Err(ApiError::bad_request(
                "Since microversion 3.66 the 'force' flag is invalid for this request.  For \
                 backward compatability, however, when the 'force' flag is passed with a value \
                 evaluating to True, it is silently ignored.",
            ));
        }
        true
    } else {
        force == Some(true)
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(m) => common::metadata_value("metadata", m)?,
    };
    let found = access::volume(&svc.store, &caller, "volume:create_snapshot", &volume_id).await?;
    let project = found.value.project_id.clone();
    let mut tx = svc.store.begin().await?;
    let v = tx
        .get::<Volume>(&volume_id)
        .await?
        .ok_or_else(|| access::volume_not_found(&volume_id))?
        .value;
    let allowed: &[VolumeStatus] = if in_use_ok {
        &[VolumeStatus::Available, VolumeStatus::InUse]
    } else {
        &[VolumeStatus::Available]
    };
    if !allowed.contains(&v.status) {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {volume_id} status must be {}, but current status is: {}.",
            names.join(", "),
            v.status.as_str()
        )));
    }
    if v.status == VolumeStatus::InUse {
        in_use_snapshot_check(&mut tx, &volume_id).await?;
    }
    let set = tx.get::<QuotaSet>(&project).await?.map(|s| s.value);
    let types = tx.list::<crate::types::VolumeType>(None).await?;
    let type_names: BTreeMap<String, String> = types
        .iter()
        .map(|t| (t.value.id.clone(), t.value.name.clone()))
        .collect();
    let usage = quota::usage(&mut tx, &project, &type_names).await?;
    let gib = i64::try_from(v.size).unwrap_or(i64::MAX);
    let mut wanted = vec![("snapshots".to_string(), 1), ("gigabytes".to_string(), gib)];
    if let Some(t) = type_names.get(&v.volume_type_id) {
        wanted.push((format!("snapshots_{t}"), 1));
        wanted.push((format!("gigabytes_{t}"), gib));
    }
    quota::check(set.as_ref(), &usage, &wanted)?;
    let now = chrono::Utc::now();
    let snap = Snapshot {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project,
        user_id: caller.user_id.clone(),
        volume_id,
        name,
        description,
        size: v.size,
        status: SnapshotStatus::Creating,
        metadata,
        error: None,
        layer: None,
        chain: Vec::new(),
        base_image: None,
        for_backup: None,
        created_at: now,
        updated_at: now,
    };
    tx.create(&snap).await?;
    commit_audited(tx, &caller, "volume.snapshot.create", "snapshot", &snap.id).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"snapshot": views::snapshot(&ctx, &snap)})),
    ))
}

/// An in-use volume is frozen by the agent of the server it is plugged into
/// (QMP, under the running guest); a volume in use through a Block Storage
/// attachment only has no one to freeze it (the storage controller freezes
/// available volumes only), so that is refused rather than left to fail.
async fn in_use_snapshot_check(tx: &mut nimbus_store::Tx<'_>, id: &str) -> ApiResult<()> {
    let plugged = tx
        .get::<VolumeAttachment>(id)
        .await?
        .is_some_and(|a| a.value.compute && a.value.status == AttachmentStatus::Attached);
    if plugged {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} is in-use through a Block Storage attachment only \
             (no server has it plugged); snapshot it once it is detached and available."
        )))
    }
}

/// `PUT /snapshots/{snapshot_id}`: name and description.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "snapshot_id")?;
    let obj = wrapped(&body, "snapshot")?.clone();
    common::only_fields(
        &obj,
        "snapshot",
        &["name", "description", "display_name", "display_description"],
    )?;
    let name = opt_string(&obj, "name")?.or(opt_string(&obj, "display_name")?);
    let description = opt_string(&obj, "description")?.or(opt_string(&obj, "display_description")?);
    access::snapshot(&svc.store, &caller, "volume:update_snapshot", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = access::reload_snapshot(&mut tx, id).await?;
    let mut s = found.value;
    if obj.contains_key("name") || obj.contains_key("display_name") {
        s.name = name;
    }
    if obj.contains_key("description") || obj.contains_key("display_description") {
        s.description = description;
    }
    s.updated_at = chrono::Utc::now();

    tx.update(&s, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.snapshot.update", "snapshot", id).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok(Json(json!({"snapshot": views::snapshot(&ctx, &s)})))
}

/// `DELETE /snapshots/{snapshot_id}` → 202 (available or error snapshots).
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    let id = param(&p, "snapshot_id")?;
    access::snapshot(&svc.store, &caller, "volume:delete_snapshot", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = access::reload_snapshot(&mut tx, id).await?;
    let mut s = found.value;
    if !matches!(s.status, SnapshotStatus::Available | SnapshotStatus::Error) {
        return Err(ApiError::bad_request(format!(
            "Invalid snapshot: Volume Snapshot status must be available or error (snapshot \
             {id} is {}).",
            s.status.as_str()
        )));
    }
    // Cinder's snapshot is `backing-up` meanwhile: a backup is reading it.
    let backing_up = tx
        .list::<crate::types::Backup>(Some(&s.project_id))
        .await?
        .iter()
        .any(|b| {
            b.value.snapshot_id.as_deref() == Some(id)
                && b.value.status == crate::types::BackupStatus::Creating
        });
    if backing_up {
        return Err(ApiError::bad_request(format!(
            "Invalid snapshot: Snapshot {id} is being backed up."
        )));
    }
    s.status = SnapshotStatus::Deleting;
    s.updated_at = chrono::Utc::now();

    tx.update(&s, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.snapshot.delete", "snapshot", id).await?;
    Ok(StatusCode::ACCEPTED)
}
