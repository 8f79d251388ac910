//! `PUT` and `DELETE /v2/images/{id}/tags/{tag}`: add a tag (204, idempotent; 413
//! beyond the tag limit) and remove one (204; 404 when the image lacks it).

use super::attrs;
use super::common::{load, save};
use crate::Images;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nimbus_api::auth::Auth;
use nimbus_api::{ApiError, ApiResult};
use serde_json::Value;
use std::sync::Arc;

pub async fn add(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (mut image, revision, _) = load(&svc, &caller, "image:modify_image", &id).await?;
    let tag = Value::String(tag);
    attrs::tag(&tag)?;
    if image.tags.iter().any(|t| Some(t.as_str()) == tag.as_str()) {
        return Ok(StatusCode::NO_CONTENT);
    }
    attrs::add_tag(&mut image, &tag)?;
    attrs::check_limits(&image)?;
    save(&svc, &caller, "image.image.tag.add", &mut image, revision).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(svc): State<Arc<Images>>,
    Auth(caller): Auth,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (mut image, revision, _) = load(&svc, &caller, "image:modify_image", &id).await?;
    let Some(at) = image.tags.iter().position(|t| *t == tag) else {
        return Err(ApiError::not_found(format!("Tag {tag} not found.")));
    };
    image.tags.remove(at);
    save(
        &svc,
        &caller,
        "image.image.tag.remove",
        &mut image,
        revision,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
