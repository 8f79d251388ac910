//! `POST /volumes`: a blank volume, one from an image (bootable, with the image's
//! properties as `volume_image_metadata`), from a snapshot, or a clone of a
//! volume. The request is checked for form here; [`crate::create`] (shared with
//! Nova's boot from volume) checks the source, type and quota and writes the
//! volume `creating` in one transaction; the storage controller does the rest.

use super::access;
use super::common::{self, opt_bool, opt_string, wrapped};
use super::views::{self, Ctx};
use crate::create::{self, VolumeSpec};
use crate::types::Source;
use crate::{Volumes, AVAILABILITY_ZONE};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
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
    let spec = VolumeSpec {
        name: req.name,
        description: req.description,
        size: req.size,
        volume_type: req.volume_type,
        source: req.source,
        metadata: req.metadata,
    };
    let planned = create::plan(&svc.store, &svc.images, &caller, &project, spec).await?;
    let mut tx = svc.store.begin().await?;
    let volume = create::new_volume_in(&mut tx, &planned).await?;
    commit_audited(tx, &caller, "volume.volume.create", "volume", &volume.id).await?;
    let ctx = Ctx {
        url: &url,
        mv,
        admin: caller.is_cloud_admin(),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": views::volume(&ctx, &volume, Some(&planned.volume_type))})),
    ))
}

/// Kept here for the quota routes.
pub use crate::create::type_names;
