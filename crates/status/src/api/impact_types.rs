//! `/impacttypes`: the types of impact an incident can have on a component
//! ("Performance Degradation", ...). Everyone reads; admins create (`201
//! {"id"}`), patch and delete (204). A type still used by an incident cannot be
//! deleted (409): the incident would point at nothing.

use super::common::{authorize, created_id, description, name, no_content, present, uuid_param};
use super::common::{required_display_name, ObjectBody};
use super::views;
use crate::types::{ImpactType, Incident};
use crate::StatusPage;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

const KIND: &str = "status_impact_type";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImpactTypeBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Impact type {id} not found."))
}

/// `GET /impacttypes`.
pub async fn list(State(svc): State<Arc<StatusPage>>, q: Query) -> ApiResult<Json<Value>> {
    q.only(&[])?;
    let mut types: Vec<ImpactType> = svc
        .store
        .list::<ImpactType>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    types.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
    Ok(views::data(types.iter().map(views::impact_type).collect()))
}

/// `GET /impacttypes/{impactTypeId}`.
pub async fn show(
    State(svc): State<Arc<StatusPage>>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid_param("impactTypeId", &raw)?;
    let t = svc
        .store
        .get::<ImpactType>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(views::data(views::impact_type(&t.value)))
}

/// `POST /impacttypes` (admins).
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    ObjectBody(body): ObjectBody<ImpactTypeBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:impact_types:create", KIND, "")?;
    let display_name = required_display_name(body.display_name.as_deref())?;
    let t = ImpactType {
        id: uuid::Uuid::new_v4().to_string(),
        display_name,
        description: description("description", body.description.as_deref().unwrap_or(""))?,
    };
    let mut tx = svc.store.begin().await?;
    tx.create(&t).await?;
    commit_audited(tx, &caller, "status.impact_type.create", KIND, &t.id).await?;
    Ok(created_id(&t.id))
}

/// `PATCH /impacttypes/{impactTypeId}` (admins): the fields given replace.
pub async fn update(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    ObjectBody(body): ObjectBody<ImpactTypeBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:impact_types:update", KIND, &raw)?;
    let id = uuid_param("impactTypeId", &raw)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| name("displayName", n))
        .transpose()?;
    let desc = body
        .description
        .as_deref()
        .map(|d| description("description", d))
        .transpose()?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<ImpactType>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut t = found.value;
    if let Some(n) = display_name {
        t.display_name = n;
    }
    if let Some(d) = desc {
        t.description = d;
    }
    tx.update(&t, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.impact_type.update", KIND, &id).await?;
    Ok(no_content())
}

/// `DELETE /impacttypes/{impactTypeId}` (admins); 409 while incidents use it.
pub async fn delete(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, "status:impact_types:delete", KIND, &raw)?;
    let id = uuid_param("impactTypeId", &raw)?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<ImpactType>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let users: Vec<String> = tx
        .list::<Incident>(None)
        .await?
        .into_iter()
        .filter(|i| i.value.affects.iter().any(|a| a.impact_type == id))
        .map(|i| i.value.id)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "Impact type {id} is used by incidents {}; change them first.",
            users.join(", ")
        )));
    }
    tx.delete::<ImpactType>(&id, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.impact_type.delete", KIND, &id).await?;
    Ok(no_content())
}
