//! `os-volume_upload_image`: a new Glance image (queued, owned by the volume's
//! project) filled from the volume by the storage controller, which flattens the
//! volume's chain with `qemu-img convert` and hands the file to the image
//! service. The volume is `uploading` meanwhile. Encrypted volumes are refused
//! for now (Cinder uploads their LUKS data as raw; that needs the key handling of
//! the backup work).

use super::access;
use super::common::{self, opt_bool, opt_string};
use crate::types::{Upload, Volume, VolumeStatus, VolumeType};
use crate::Volumes;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::Principal;
use nimbus_api::policy::{allowed, Target};
use nimbus_api::{ApiError, ApiResult};
use nimbus_image::types::{Image, Visibility, CONTAINER_FORMATS};
use serde_json::{json, Value};

/// Disk formats a volume can be uploaded as.
const DISK_FORMATS: &[&str] = &["qcow2", "raw"];

/// Checks the request, writes the queued image and the `uploading` volume in one
/// transaction; returns Cinder's answer document.
pub async fn upload(svc: &Volumes, caller: &Principal, id: &str, args: &Value) -> ApiResult<Value> {
    let obj = args
        .as_object()
        .ok_or_else(|| common::invalid("os-volume_upload_image", args, "Must be an object."))?;
    let image_name = opt_string(obj, "image_name")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute os-volume_upload_image. 'image_name' is a \
             required property",
        )
    })?;
    let disk_format = opt_string(obj, "disk_format")?.unwrap_or_else(|| "raw".into());
    if !DISK_FORMATS.contains(&disk_format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: disk_format {disk_format} is not supported for volume \
             uploads (qcow2 or raw)."
        )));
    }
    let container_format = opt_string(obj, "container_format")?.unwrap_or_else(|| "bare".into());
    if !CONTAINER_FORMATS.contains(&container_format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: container_format {container_format} is not valid."
        )));
    }
    let visibility = match opt_string(obj, "visibility")? {
        None => Visibility::Private,
        Some(v) => Visibility::parse(&v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input received: visibility {v} is not valid."
            ))
        })?,
    };
    let protected = opt_bool(obj, "protected")?.unwrap_or(false);
    opt_bool(obj, "force")?;
    access::volume(&svc.store, caller, "volume:upload_image", id).await?;
    if visibility == Visibility::Public
        && !allowed(caller, "image:publicize_image", &Target::default())
    {
        return Err(access::denied("image:publicize_image"));
    }

    let mut tx = svc.store.begin().await?;
    let found = access::reload_volume(&mut tx, id).await?;
    let mut v: Volume = found.value;
    if v.status != VolumeStatus::Available {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: Volume status must be available to upload it to an image, but \
             current status is: {}.",
            v.status.as_str()
        )));
    }
    let vtype = tx
        .get::<VolumeType>(&v.volume_type_id)
        .await?
        .map(|t| t.value);
    if vtype.as_ref().is_some_and(|t| t.encryption.is_some()) {
        return Err(ApiError::bad_request(
            "Invalid volume: uploading encrypted volumes to images is not supported yet.",
        ));
    }
    let mut image = Image::new(uuid::Uuid::new_v4().to_string(), Some(v.project_id.clone()));
    image.name = Some(image_name.clone());
    image.disk_format = Some(disk_format.clone());
    image.container_format = Some(container_format.clone());
    image.visibility = visibility;
    image.protected = protected;
    image.min_disk = v.size;
    tx.create(&image).await?;
    v.status = VolumeStatus::Uploading;
    v.upload = Some(Upload {
        image_id: image.id.clone(),
        disk_format: disk_format.clone(),
    });
    v.updated_at = chrono::Utc::now();
    tx.update(&v, Some(found.revision)).await?;
    AuditRecord::new(Some(caller), "image.image.create", "image", &image.id, true)
        .with_detail(format!("upload of volume {id}"))
        .write(&mut tx)
        .await?;
    nimbus_api::audit::commit_audited(tx, caller, "volume.volume.upload_image", "volume", id)
        .await?;
    Ok(json!({"os-volume_upload_image": {
        "id": v.id,
        "updated_at": super::views::timestamp(&v.updated_at),
        "status": "uploading",
        "display_description": v.description,
        "size": v.size,
        "volume_type": vtype.map(|t| json!({"id": t.id, "name": t.name})),
        "image_id": image.id,
        "image_name": image_name,
        "container_format": container_format,
        "disk_format": disk_format,
        "visibility": visibility.as_str(),
        "protected": protected,
    }}))
}
