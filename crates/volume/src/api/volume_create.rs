//! `POST /volumes`: a blank volume, one from an image (bootable, with the image's
//! properties as `volume_image_metadata`), from a snapshot, or a clone of a
//! volume. The request is checked for form, the source for sight and state, the
//! type (asked for, the source's, or the default) for encryption matching the
//! source; the quota is checked and the volume written `creating` in one
//! transaction; the storage controller does the rest.

use super::access::{self, all_types, default_type, find_type};
use super::common::{self, opt_bool, opt_string, wrapped};
use super::views::{self, Ctx};
use crate::types::{Snapshot, SnapshotStatus, Source, Volume, VolumeStatus, VolumeType};
use crate::{quota, Volumes, AVAILABILITY_ZONE};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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
        upload: None,
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
