//! `/volumes`: list (summary and `/detail`), show, update and delete (create is
//! [`super::volume_create`]). Deletes answer 202: the storage controller removes
//! the files and the record.

use super::access::{self, all_types};
use super::common::{self, opt_string, param, wrapped, Params};
use super::list::ListRequest;
use super::views::{self, Ctx};
use super::UrlProject;
use crate::types::{
    AttachmentStatus, Snapshot, SnapshotStatus, Volume, VolumeAttachment, VolumeStatus, VolumeType,
};
use crate::Volumes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Versioned;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Filters the volume lists accept (Cinder's default `resource_query_filters`).
const FILTERS: &[&str] = &[
    "name",
    "status",
    "metadata",
    "bootable",
    "availability_zone",
    "size",
    "volume_type",
    "migration_status",
    "group_id",
    "glance_metadata",
    "created_at",
    "updated_at",
    "consumes_quota",
];
const SORT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "size",
    "created_at",
    "updated_at",
    "availability_zone",
    "bootable",
    "volume_type",
];

/// `GET /volumes`
pub async fn list(
    svc: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_volumes(svc, auth, mv, url, q, up, false).await
}

/// `GET /volumes/detail`
pub async fn detail(
    svc: State<Arc<Volumes>>,
    auth: Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
) -> ApiResult<Json<Value>> {
    list_volumes(svc, auth, mv, url, q, up, true).await
}

async fn list_volumes(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    up: Option<Extension<UrlProject>>,
    detailed: bool,
) -> ApiResult<Json<Value>> {
    access::authorize(&caller, "volume:get_all", &Default::default(), || {
        ApiError::not_found("The resource could not be found.")
    })?;
    let req = ListRequest::parse(&q, mv, FILTERS, SORT_KEYS)?;
    let scope = req.scope(&caller, "volume:get_all:all_tenants");
    let types = all_types(&svc.store).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    // One read of the attachments for the whole list (the summary shows none).
    let attachments: HashMap<String, VolumeAttachment> = if detailed {
        svc.store
            .list::<VolumeAttachment>(None)
            .await?
            .into_iter()
            .map(|a| (a.value.id.clone(), a.value))
            .collect()
    } else {
        HashMap::new()
    };
    let mut views = Vec::new();
    for v in svc.store.list::<Volume>(scope.as_deref()).await? {
        let view = views::volume_with(
            &ctx,
            &v.value,
            types.get(&v.value.volume_type_id),
            attachments.get(&v.value.id),
        );
        if req.matches(&view)? {
            views.push(view);
        }
    }
    let path = format!(
        "{}{}/volumes{}",
        common::PREFIX,
        url_project(&up),
        if detailed { "/detail" } else { "" }
    );
    let doc = req.answer(views, &url, &path, &q, "volumes", |v| {
        if detailed {
            v
        } else {
            json!({"id": v["id"], "name": v["name"], "links": v["links"]})
        }
    })?;
    Ok(Json(doc))
}

/// `GET /volumes/{volume_id}`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let v = access::volume(&svc.store, &caller, "volume:get", id).await?;
    Ok(Json(
        json!({"volume": view_one(&svc, &caller, mv, &url, &v.value).await?}),
    ))
}

/// The full view of one volume.
pub async fn view_one(
    svc: &Volumes,
    caller: &Principal,
    mv: Microversion,
    url: &PublicUrl,
    v: &Volume,
) -> ApiResult<Value> {
    let vtype = svc.store.get::<VolumeType>(&v.volume_type_id).await?;
    let attachment = svc.store.get::<VolumeAttachment>(&v.id).await?;
    let ctx = Ctx {
        url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok(views::volume_with(
        &ctx,
        v,
        vtype.as_ref().map(|t| &t.value),
        attachment.as_ref().map(|a| &a.value),
    ))
}

/// `PUT /volumes/{volume_id}`: name, description, metadata.
pub async fn update(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = param(&p, "volume_id")?;
    let obj: Map<String, Value> = wrapped(&body, "volume")?.clone();
    common::only_fields(
        &obj,
        "volume",
        &[
            "name",
            "description",
            "display_name",
            "display_description",
            "metadata",
        ],
    )?;
    let name = opt_string(&obj, "name")?.or(opt_string(&obj, "display_name")?);
    let description = opt_string(&obj, "description")?.or(opt_string(&obj, "display_description")?);
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m) => Some(common::metadata_value("metadata", m)?),
    };
    access::volume(&svc.store, &caller, "volume:update", id).await?;
    let mut tx = svc.store.begin().await?;
    let found = access::reload_volume(&mut tx, id).await?;
    let mut v = found.value;
    let has = |k: &str| obj.contains_key(k);
    if has("name") || has("display_name") {
        v.name = name;
    }
    if has("description") || has("display_description") {
        v.description = description;
    }
    if let Some(m) = metadata {
        v.metadata = m;
    }
    v.updated_at = chrono::Utc::now();
    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.volume.update", "volume", id).await?;
    Ok(Json(
        json!({"volume": view_one(&svc, &caller, mv, &url, &v).await?}),
    ))
}

/// Statuses a volume may be deleted from.
const DELETABLE: &[VolumeStatus] = &[
    VolumeStatus::Available,
    VolumeStatus::Error,
    VolumeStatus::ErrorExtending,
];

/// `DELETE /volumes/{volume_id}?cascade=&force=` → 202; the volume goes
/// `deleting`, the controller removes it. `cascade` deletes its snapshots too.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    q: Query,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    let id = param(&p, "volume_id")?;
    let cascade = q.bool("cascade")?.unwrap_or(false);
    let force = q.bool("force")?.unwrap_or(false);
    access::volume(&svc.store, &caller, "volume:delete", id).await?;
    if force && !caller.is_cloud_admin() {
        return Err(access::denied("volume:force_delete"));
    }
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Volume>(id)
        .await?
        .ok_or_else(|| access::volume_not_found(id))?;
    if !(DELETABLE.contains(&found.value.status)
        || force && found.value.status != VolumeStatus::Deleting)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume status must be available or error or error_restoring or \
             error_extending or error_managing and must not be migrating, attached, belong to \
             a group, have snapshots, awaiting a transfer, or be disassociated from snapshots \
             after volume transfer. (volume {id} is {})",
            found.value.status.as_str()
        )));
    }
    let found = release_for_delete(&mut tx, found).await?;
    let mut v = found.value;
    let snapshots: Vec<Snapshot> = tx
        .list::<Snapshot>(Some(&v.project_id))
        .await?
        .into_iter()
        .map(|s| s.value)
        .filter(|s| s.volume_id == v.id)
        .collect();
    if !snapshots.is_empty() && !cascade {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} still has dependent snapshots."
        )));
    }
    for mut s in snapshots {
        if s.status == SnapshotStatus::Creating {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Snapshot {} of volume {id} is still being created.",
                s.id
            )));
        }
        s.status = SnapshotStatus::Deleting;
        s.updated_at = chrono::Utc::now();
        tx.update(&s, None).await?;
    }
    v.status = VolumeStatus::Deleting;
    v.updated_at = chrono::Utc::now();
    tx.update(&v, Some(found.revision)).await?;
    commit_audited(tx, &caller, "volume.volume.delete", "volume", id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Even a forced delete leaves an attached volume alone (Cinder: "must not be
/// attached"), and every volume a server's agent owns; a bookkeeping
/// reservation of a volume force-deleted goes with it. Returns the volume as
/// it is after that.
async fn release_for_delete(
    tx: &mut nimbus_store::Tx<'_>,
    found: Versioned<Volume>,
) -> ApiResult<Versioned<Volume>> {
    let id = found.value.id.clone();
    let Some(a) = tx.get::<VolumeAttachment>(&id).await? else {
        return Ok(found);
    };
    let a = a.value;
    if a.compute
        || matches!(
            a.status,
            AttachmentStatus::Attached | AttachmentStatus::Detaching
        )
    {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume {id} must not be attached (attachment {} to server {} is \
             {}); detach it first.",
            a.attachment_id,
            a.server_id.as_deref().unwrap_or("-"),
            a.status.as_str()
        )));
    }
    crate::attach::finish_detach(tx, &id).await?;
    access::reload_volume(tx, &id).await
}

/// `/{project_id}` when the request URL carried one (for the next links).
pub fn url_project(up: &Option<Extension<UrlProject>>) -> String {
    up.as_ref()
        .map(|p| format!("/{}", p.0 .0))
        .unwrap_or_default()
}
