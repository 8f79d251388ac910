//! `/default-types` (3.62): a project's own default volume type, used by volume
//! creates that name none and by `GET /types/default`. Cloud admins set, list and
//! unset them; a project's readers see their own.

use super::access::{self, all_types, find_type};
use super::common::{opt_string, param, wrapped, Params};
use crate::types::DefaultType;
use crate::Volumes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::Target;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::sync::Arc;

fn view(d: &DefaultType) -> Value {
    json!({"project_id": d.id, "volume_type_id": d.volume_type_id})
}

fn not_found(project: &str) -> ApiError {
    ApiError::not_found(format!(
        "Default type for project {project} could not be found."
    ))
}

fn target(project: &str) -> Target<'_> {
    super::common::owned("default_type", project, project)
}

/// `GET /default-types` (admins).
pub async fn list(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
) -> ApiResult<Json<Value>> {
    mv.require(3, 62)?;
    access::authorize(
        &caller,
        "volume:default_types:get_all",
        &Target::default(),
        || ApiError::not_found("The resource could not be found."),
    )?;
    let all: Vec<Value> = svc
        .store
        .list::<DefaultType>(None)
        .await?
        .iter()
        .map(|d| view(&d.value))
        .collect();
    Ok(Json(json!({"default_types": all})))
}

/// `GET /default-types/{project_id}`
pub async fn show(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
) -> ApiResult<Json<Value>> {
    mv.require(3, 62)?;
    let project = param(&p, "default_project")?;
    access::authorize(
        &caller,
        "volume:default_types:get",
        &target(project),
        || not_found(project),
    )?;
    let d = svc
        .store
        .get::<DefaultType>(project)
        .await?
        .ok_or_else(|| not_found(project))?;
    Ok(Json(json!({"default_type": view(&d.value)})))
}

/// `PUT /default-types/{project_id}` `{"default_type": {"volume_type": name-or-id}}`
/// (admins) → 200.
pub async fn set(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    mv.require(3, 62)?;
    let project = param(&p, "default_project")?.to_string();
    let obj = wrapped(&body, "default_type")?;
    let wanted = opt_string(obj, "volume_type")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute default_type. 'volume_type' is a required property",
        )
    })?;
    access::authorize(
        &caller,
        "volume:default_types:set",
        &target(&project),
        || not_found(&project),
    )?;
    let types = all_types(&svc.store).await?;
    let vtype = find_type(&types, &caller, &wanted, None)?;
    let d = DefaultType {
        id: project.clone(),
        volume_type_id: vtype.id.clone(),
    };
    let mut tx = svc.store.begin().await?;
    match tx.get::<DefaultType>(&project).await? {
        Some(old) => tx.update(&d, Some(old.revision)).await?,
        None => tx.create(&d).await?,
    };
    commit_audited(
        tx,
        &caller,
        "volume.default_type.set",
        "default_type",
        &project,
    )
    .await?;
    Ok(Json(json!({"default_type": view(&d)})))
}

/// `DELETE /default-types/{project_id}` (admins) → 204.
pub async fn delete(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(p): Path<Params>,
) -> ApiResult<StatusCode> {
    mv.require(3, 62)?;
    let project = param(&p, "default_project")?;
    access::authorize(
        &caller,
        "volume:default_types:delete",
        &target(project),
        || not_found(project),
    )?;
    let mut tx = svc.store.begin().await?;
    match tx.delete::<DefaultType>(project, None).await {
        Ok(_) => {}
        Err(nimbus_store::StoreError::NotFound { .. }) => return Err(not_found(project)),
        Err(e) => return Err(e.into()),
    }
    commit_audited(
        tx,
        &caller,
        "volume.default_type.delete",
        "default_type",
        project,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
