//! `/volumes`: list (summary and `/detail`), show, create (blank, from an image,
//! from a snapshot, clone of a volume; quota checked in the creating
//! transaction), update and delete. Creates and deletes answer 202: the storage
//! controller does the work and moves the status on.

use super::access::{self, all_types, default_type, find_type};
use super::common::{self, opt_bool, opt_string, param, wrapped, Params};
use super::list::ListRequest;
use super::views::{self, Ctx};
use super::UrlProject;
use crate::types::{Snapshot, SnapshotStatus, Source, Volume, VolumeStatus, VolumeType};
use crate::{quota, Volumes, AVAILABILITY_ZONE};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::allowed;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
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
    let everyone =
        req.all_tenants && allowed(&caller, "volume:get_all:all_tenants", &Default::default());
    let scope = if everyone {
        req.project.clone()
    } else {
        Some(caller.project_id().unwrap_or("").to_string())
    };
    let types = all_types(&svc.store).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    let mut views = Vec::new();
    for v in svc.store.list::<Volume>(scope.as_deref()).await? {
        let view = views::volume(&ctx, &v.value, types.get(&v.value.volume_type_id));
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
    let ctx = Ctx {
        url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok(views::volume(&ctx, v, vtype.as_ref().map(|t| &t.value)))
}

/// What a create request asked for, checked for form.
struct CreateRequest {
    name: Option<String>,
    description: Option<String>,
    size: Option<u64>,
    volume_type: Option<String>,
    source: Source,
    metadata: BTreeMap<String, String>,
}

fn parse_create(body: &Value) -> ApiResult<CreateRequest> {
    let obj = wrapped(body, "volume")?;
    let name = match opt_string(obj, "name")? {
        Some(n) => Some(n),
        None => opt_string(obj, "display_name")?,
    };
    let description = match opt_string(obj, "description")? {
        Some(d) => Some(d),
        None => opt_string(obj, "display_description")?,
    };
    let size = match obj.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(common::size_value("size", v)?),
    };
    let volume_type = opt_string(obj, "volume_type")?;
    if let Some(az) = opt_string(obj, "availability_zone")? {
        if az != AVAILABILITY_ZONE {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{az}' is invalid."
            )));
        }
    }
    if opt_bool(obj, "multiattach")? == Some(true) {
        return Err(ApiError::bad_request(
            "Invalid input received: multiattach volumes are not supported.",
        ));
    }
    for (field, what) in [
        ("backup_id", "Backup"),
        ("consistencygroup_id", "ConsistencyGroup"),
        ("group_id", "Group"),
    ] {
        if let Some(id) = opt_string(obj, field)? {
            return Err(ApiError::not_found(format!(
                "{what} {id} could not be found."
            )));
        }
    }
    let image = match opt_string(obj, "imageRef")? {
        Some(i) => Some(i),
        None => opt_string(obj, "image_id")?,
    };
    let snapshot = opt_string(obj, "snapshot_id")?;
    let source_vol = opt_string(obj, "source_volid")?;
    let source = match (image, snapshot, source_vol) {
        (None, None, None) => Source::Blank,
        (Some(i), None, None) => Source::Image(i),
        (None, Some(s), None) => Source::Snapshot(s),
        (None, None, Some(v)) => Source::Volume(v),
        _ => {
            return Err(ApiError::bad_request(
                "Invalid input received: only one of imageRef, snapshot_id and source_volid \
                 may be given.",
            ))
        }
    };
    if size.is_none() && matches!(source, Source::Blank | Source::Image(_)) {
        return Err(ApiError::bad_request(
            "Invalid input received: Volume size '' must be an integer and greater than 0",
        ));
    }
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(m) => common::metadata_value("metadata", m)?,
    };
    Ok(CreateRequest {
        name,
        description,
        size,
        volume_type,
        source,
        metadata,
    })
}

/// What the source of a new volume contributes.
struct FromSource {
    size: u64,
    type_id: Option<String>,
    bootable: bool,
    image_metadata: BTreeMap<String, String>,
}

/// Checks the source the caller named; the volume/snapshot checks are repeated
/// inside the transaction by [`recheck_source`].
async fn check_source(
    svc: &Volumes,
    caller: &Principal,
    source: &Source,
) -> ApiResult<Option<FromSource>> {
    Ok(match source {
        Source::Blank => None,
        Source::Image(id) => {
            // An image the caller cannot see is a bad reference (400, as Cinder);
            // anything else (the store failing) stays what it is.
            let image = svc.images.visible_image(caller, id).await.map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    ApiError::bad_request(format!(
                        "Invalid image identifier or unable to access requested image. \
                         (image {id})"
                    ))
                } else {
                    e
                }
            })?;
            if image.status != nimbus_image::types::Status::Active {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Image {id} is not active."
                )));
            }
            crate::storage::backing_format(image.disk_format.as_deref())
                .map_err(|e| ApiError::bad_request(format!("Invalid input received: {e}")))?;
            let virtual_gib = image
                .virtual_size
                .or(image.size)
                .unwrap_or(0)
                .div_ceil(1 << 30);
            let mut meta = BTreeMap::new();
            meta.insert("image_id".to_string(), image.id.clone());
            if let Some(n) = &image.name {
                meta.insert("image_name".into(), n.clone());
            }
            for (k, v) in [
                ("disk_format", image.disk_format.clone()),
                ("container_format", image.container_format.clone()),
                ("checksum", image.checksum.clone()),
                ("size", image.size.map(|s| s.to_string())),
                ("min_disk", Some(image.min_disk.to_string())),
                ("min_ram", Some(image.min_ram.to_string())),
            ] {
                if let Some(v) = v {
                    meta.insert(k.into(), v);
                }
            }
            for (k, v) in &image.properties {
                meta.insert(k.clone(), v.clone());
            }
            Some(FromSource {
                size: virtual_gib.max(image.min_disk),
                type_id: None,
                bootable: true,
                image_metadata: meta,
            })
        }
        Source::Snapshot(id) => {
            let s = access::snapshot(&svc.store, caller, "volume:get_snapshot", id).await?;
            let vol = svc.store.get::<Volume>(&s.value.volume_id).await?;
            Some(FromSource {
                size: s.value.size,
                type_id: vol.as_ref().map(|v| v.value.volume_type_id.clone()),
                bootable: vol.as_ref().is_some_and(|v| v.value.bootable),
                image_metadata: vol.map(|v| v.value.image_metadata).unwrap_or_default(),
            })
        }
        Source::Volume(id) => {
            let v = access::volume(&svc.store, caller, "volume:get", id).await?;
            Some(FromSource {
                size: v.value.size,
                type_id: Some(v.value.volume_type_id.clone()),
                bootable: v.value.bootable,
                image_metadata: v.value.image_metadata.clone(),
            })
        }
    })
}

/// Inside the creating transaction: the source snapshot or volume is still there
/// and ready.
async fn recheck_source(tx: &mut nimbus_store::Tx<'_>, source: &Source) -> ApiResult<()> {
    match source {
        Source::Snapshot(id) => {
            let s = tx
                .get::<Snapshot>(id)
                .await?
                .ok_or_else(|| access::snapshot_not_found(id))?;
            if s.value.status != SnapshotStatus::Available {
                return Err(ApiError::bad_request(format!(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' \
                     values (snapshot {id} is {}).",
                    s.value.status.as_str()
                )));
            }
        }
        Source::Volume(id) => {
            let v = tx
                .get::<Volume>(id)
                .await?
                .ok_or_else(|| access::volume_not_found(id))?;
            if v.value.status != VolumeStatus::Available {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Source volume status must be 'available' (volume {id} is {}).",
                    v.value.status.as_str()
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `POST /volumes` → 202 with the volume in `creating`.
pub async fn create(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = parse_create(&body)?;
    let Some(project) = caller.project_id().map(str::to_string) else {
        return Err(ApiError::bad_request(
            "Invalid input received: volumes are created with a project-scoped token.",
        ));
    };
    access::authorize(
        &caller,
        "volume:create",
        &common::owned("volume", "", &project),
        || ApiError::not_found("The resource could not be found."),
    )?;
    let from = check_source(&svc, &caller, &req.source).await?;
    let types = all_types(&svc.store).await?;
    let own_default = access::project_default(&svc.store, &caller).await?;
    let own_default = own_default.as_deref();
    let vtype = match (
        &req.volume_type,
        from.as_ref().and_then(|f| f.type_id.as_ref()),
    ) {
        (Some(t), _) => find_type(&types, &caller, t, own_default)?,
        (None, Some(src)) => types
            .get(src)
            .or_else(|| default_type(&types, own_default))
            .ok_or_else(|| access::type_not_found(src))?,
        (None, None) => {
            default_type(&types, own_default).ok_or_else(|| access::type_not_found("default"))?
        }
    };
    if let Some(src_type) = from.as_ref().and_then(|f| f.type_id.as_ref()) {
        let src_encrypted = types.get(src_type).is_some_and(|t| t.encryption.is_some());
        if src_encrypted != vtype.encryption.is_some() {
            return Err(ApiError::bad_request(
                "Invalid input received: the volume type must match the source's encryption.",
            ));
        }
    }
    let size = match (req.size, &from) {
        (Some(s), Some(f)) if s < f.size => {
            let what = match req.source {
                Source::Image(_) => "image",
                Source::Snapshot(_) => "snapshot",
                _ => "source volume",
            };
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Volume size {s}GB cannot be smaller than the {what} \
                 size {}GB.",
                f.size
            )));
        }
        (Some(s), _) => s,
        (None, Some(f)) => f.size,
        (None, None) => unreachable_size()?,
    };
    let now = chrono::Utc::now();
    let volume = Volume {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        user_id: caller.user_id.clone(),
        name: req.name,
        description: req.description,
        size,
        status: VolumeStatus::Creating,
        volume_type_id: vtype.id.clone(),
        bootable: from.as_ref().is_some_and(|f| f.bootable),
        metadata: req.metadata,
        source: req.source.clone(),
        availability_zone: AVAILABILITY_ZONE.into(),
        error: None,
        target_size: None,
        image_metadata: from.map(|f| f.image_metadata).unwrap_or_default(),
        top: None,
        chain: Vec::new(),
        base_image: None,
        generation: 0,
        encryption_key_id: vtype
            .encryption
            .as_ref()
            .map(|_| uuid::Uuid::new_v4().to_string()),
        created_at: now,
        updated_at: now,
    };
    let type_names = type_names(&types);
    let mut tx = svc.store.begin().await?;
    recheck_source(&mut tx, &req.source).await?;
    let set = tx
        .get::<crate::types::QuotaSet>(&project)
        .await?
        .map(|s| s.value);
    quota::check_per_volume(set.as_ref(), size)?;
    let usage = quota::usage(&mut tx, &project, &type_names).await?;
    let gib = i64::try_from(size).unwrap_or(i64::MAX);
    quota::check(
        set.as_ref(),
        &usage,
        &[
            ("volumes".into(), 1),
            ("gigabytes".into(), gib),
            (format!("volumes_{}", vtype.name), 1),
            (format!("gigabytes_{}", vtype.name), gib),
        ],
    )?;
    tx.create(&volume).await?;
    commit_audited(tx, &caller, "volume.volume.create", "volume", &volume.id).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": views::volume(&ctx, &volume, Some(vtype))})),
    ))
}

fn unreachable_size() -> ApiResult<u64> {
    Err(ApiError::bad_request(
        "Invalid input received: Volume size '' must be an integer and greater than 0",
    ))
}

/// Type ids to names, for per-type quota keys.
pub fn type_names(types: &BTreeMap<String, VolumeType>) -> BTreeMap<String, String> {
    types
        .iter()
        .map(|(id, t)| (id.clone(), t.name.clone()))
        .collect()
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
    let mut v = found.value;
    if !(DELETABLE.contains(&v.status) || force && v.status != VolumeStatus::Deleting) {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume status must be available or error or error_restoring or \
             error_extending or error_managing and must not be migrating, attached, belong to \
             a group, have snapshots, awaiting a transfer, or be disassociated from snapshots \
             after volume transfer. (volume {id} is {})",
            v.status.as_str()
        )));
    }
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

/// `/{project_id}` when the request URL carried one (for the next links).
pub fn url_project(up: &Option<Extension<UrlProject>>) -> String {
    up.as_ref()
        .map(|p| format!("/{}", p.0 .0))
        .unwrap_or_default()
}
