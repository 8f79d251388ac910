//! Making a new volume record: the one path Cinder's `POST /volumes` and Nova's
//! `block_device_mapping_v2` (boot from volume, blank and snapshot volumes made
//! for a server) share.
//!
//! [`plan`] runs before the writing transaction: it checks the source for sight
//! and state, picks the type (asked for, the source's, or the default) and checks
//! it against the source's encryption, and works out the size. [`new_volume_in`]
//! runs inside the caller's transaction: it checks the source again (it may have
//! changed since), checks the quota against what the transaction sees (so two
//! creates cannot both take the last unit, and several volumes made in one
//! transaction count each other) and writes the volume `creating`. The storage
//! controller makes the files.

use crate::api::access::{self, all_types, default_type, find_type};
use crate::types::{QuotaSet, Snapshot, SnapshotStatus, Source, Volume, VolumeStatus, VolumeType};
use crate::{quota, AVAILABILITY_ZONE};
use axum::http::StatusCode;
use nimbus_api::auth::Principal;
use nimbus_api::{ApiError, ApiResult};
use nimbus_image::Images;
use nimbus_store::{Store, Tx};
use std::collections::BTreeMap;

/// What a new volume is asked to be (checked for form by the caller).
#[derive(Clone, Debug, Default)]
pub struct VolumeSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB; None takes the source's size (a blank volume needs one).
    pub size: Option<u64>,
    /// A type id, a name, or `default`.
    pub volume_type: Option<String>,
    pub source: Source,
    pub metadata: BTreeMap<String, String>,
}

/// A checked volume, ready to be written by [`new_volume_in`].
#[derive(Clone, Debug)]
pub struct Planned {
    pub volume: Volume,
    /// Its type (for views and the per-type quota keys).
    pub volume_type: VolumeType,
    /// Type ids to names, for per-type usage.
    type_names: BTreeMap<String, String>,
}

/// What the source of a new volume contributes.
struct FromSource {
    size: u64,
    type_id: Option<String>,
    bootable: bool,
    image_metadata: BTreeMap<String, String>,
}

/// Cinder's 400 for a missing or zero size.
fn size_required() -> ApiError {
    ApiError::bad_request(
        "Invalid input received: Volume size '' must be an integer and greater than 0",
    )
}

/// Checks `spec` for `caller` (the source it may see and its state, the type it
/// may use, the size against the source's) and builds the volume for `project`.
pub async fn plan(
    store: &Store,
    images: &Images,
    caller: &Principal,
    project: &str,
    spec: VolumeSpec,
) -> ApiResult<Planned> {
    if spec.size.is_none() && matches!(spec.source, Source::Blank | Source::Image(_)) {
        return Err(size_required());
    }
    let from = check_source(store, images, caller, &spec.source).await?;
    let types = all_types(store).await?;
    let own_default = access::project_default(store, caller).await?;
    let own_default = own_default.as_deref();
    let vtype = match (
        &spec.volume_type,
        from.as_ref().and_then(|f| f.type_id.as_ref()),
    ) {
        (Some(t), _) => find_type(&types, caller, t, own_default)?,
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
    let size = match (spec.size, &from) {
        (Some(s), Some(f)) if s < f.size => {
            let what = match spec.source {
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
        (None, None) => return Err(size_required()),
    };
    let now = chrono::Utc::now();
    let volume = Volume {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.to_string(),
        user_id: caller.user_id.clone(),
        name: spec.name,
        description: spec.description,
        size,
        status: VolumeStatus::Creating,
        volume_type_id: vtype.id.clone(),
        bootable: from.as_ref().is_some_and(|f| f.bootable),
        metadata: spec.metadata,
        source: spec.source,
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
    Ok(Planned {
        volume,
        volume_type: vtype.clone(),
        type_names: type_names(&types),
    })
}

/// Writes a planned volume in `tx` (status `creating`): the source is checked
/// again and the project's quota against what `tx` sees; 413 with Cinder's
/// message when a limit would be passed.
pub async fn new_volume_in(tx: &mut Tx<'_>, planned: &Planned) -> ApiResult<Volume> {
    let volume = &planned.volume;
    recheck_source(tx, &volume.source).await?;
    let project = volume.project_id.as_str();
    let set = tx.get::<QuotaSet>(project).await?.map(|s| s.value);
    quota::check_per_volume(set.as_ref(), volume.size)?;
    let usage = quota::usage(tx, project, &planned.type_names).await?;
    let gib = i64::try_from(volume.size).unwrap_or(i64::MAX);
    let tname = &planned.volume_type.name;
    quota::check(
        set.as_ref(),
        &usage,
        &[
            ("volumes".into(), 1),
            ("gigabytes".into(), gib),
            (format!("volumes_{tname}"), 1),
            (format!("gigabytes_{tname}"), gib),
        ],
    )?;
    tx.create(volume).await?;
    Ok(volume.clone())
}

/// Checks the source the caller named; the volume/snapshot checks are repeated
/// inside the transaction by [`recheck_source`].
async fn check_source(
    store: &Store,
    images: &Images,
    caller: &Principal,
    source: &Source,
) -> ApiResult<Option<FromSource>> {
    Ok(match source {
        Source::Blank => None,
        Source::Image(id) => {
            // An image the caller cannot see is a bad reference (400, as Cinder);
            // anything else (the store failing) stays what it is.
            let image = images.visible_image(caller, id).await.map_err(|e| {
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
            let s = access::snapshot(store, caller, "volume:get_snapshot", id).await?;
            let vol = store.get::<Volume>(&s.value.volume_id).await?;
            Some(FromSource {
                size: s.value.size,
                type_id: vol.as_ref().map(|v| v.value.volume_type_id.clone()),
                bootable: vol.as_ref().is_some_and(|v| v.value.bootable),
                image_metadata: vol.map(|v| v.value.image_metadata).unwrap_or_default(),
            })
        }
        Source::Volume(id) => {
            let v = access::volume(store, caller, "volume:get", id).await?;
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
async fn recheck_source(tx: &mut Tx<'_>, source: &Source) -> ApiResult<()> {
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

/// Type ids to names, for per-type quota keys.
pub fn type_names(types: &BTreeMap<String, VolumeType>) -> BTreeMap<String, String> {
    types
        .iter()
        .map(|(id, t)| (id.clone(), t.name.clone()))
        .collect()
}
