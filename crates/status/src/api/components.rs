//! `/components`: the parts of the cloud the status page shows. Everyone reads;
//! `activelyAffectedBy` lists the impacts of the incidents going on at `?at=`
//! (default: now), each naming its incident. Admins create (`201 {"id"}`), patch
//! (fields given replace; `labels` replaces all labels) and delete (204; 409 while
//! an incident names the component, so incidents never point at nothing).

use super::common::{
    authorize, created_id, name, no_content, parse_date, present, query_value, short_text,
    uuid_param,
};
use super::common::{required_display_name, ObjectBody};
use super::views;
use crate::types::{Component, Incident};
use crate::StatusPage;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const KIND: &str = "status_component";
/// Most labels a component may carry.
pub const MAX_LABELS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    labels: Option<BTreeMap<String, String>>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Component {id} not found."))
}

fn labels(raw: BTreeMap<String, String>) -> ApiResult<BTreeMap<String, String>> {
    if raw.len() > MAX_LABELS {
        return Err(ApiError::bad_request(format!(
            "A component has at most {MAX_LABELS} labels."
        )));
    }
    raw.into_iter()
        .map(|(k, v)| Ok((name("label key", &k)?, short_text("label value", &v)?)))
        .collect()
}

/// The reference time of a component read: `?at=` or now.
fn at(q: &Query) -> ApiResult<DateTime<Utc>> {
    q.only(&["at"])?;
    query_value(q, "at")?
        .map(|raw| parse_date("at", raw))
        .transpose()
        .map(|at| at.unwrap_or_else(Utc::now))
}

async fn incidents(svc: &StatusPage) -> ApiResult<Vec<Incident>> {
    let mut all: Vec<Incident> = svc
        .store
        .list::<Incident>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    all.sort_by(|a, b| a.began_at.cmp(&b.began_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// `GET /components[?at=]`, by display name.
pub async fn list(State(svc): State<Arc<StatusPage>>, q: Query) -> ApiResult<Json<Value>> {
    let at = at(&q)?;
    let incidents = incidents(&svc).await?;
    let mut all: Vec<Component> = svc
        .store
        .list::<Component>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    all.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
    Ok(views::data(
        all.iter()
            .map(|c| views::component(c, &incidents, at))
            .collect(),
    ))
}

/// `GET /components/{componentId}[?at=]`.
pub async fn show(
    State(svc): State<Arc<StatusPage>>,
    Path(raw): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    let id = uuid_param("componentId", &raw)?;
    let at = at(&q)?;
    let c = svc
        .store
        .get::<Component>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let incidents = incidents(&svc).await?;
    Ok(views::data(views::component(&c.value, &incidents, at)))
}

/// `POST /components` (admins).
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    ObjectBody(body): ObjectBody<ComponentBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:components:create", KIND, "")?;
    let display_name = required_display_name(body.display_name.as_deref())?;
    let c = Component {
        id: uuid::Uuid::new_v4().to_string(),
        display_name,
        labels: labels(body.labels.unwrap_or_default())?,
        created_at: Utc::now(),
    };
    let mut tx = svc.store.begin().await?;
    tx.create(&c).await?;
    commit_audited(tx, &caller, "status.component.create", KIND, &c.id).await?;
    Ok(created_id(&c.id))
}

/// `PATCH /components/{componentId}` (admins).
pub async fn update(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    ObjectBody(body): ObjectBody<ComponentBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:components:update", KIND, &raw)?;
    let id = uuid_param("componentId", &raw)?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| name("displayName", n))
        .transpose()?;
    let new_labels = body.labels.map(labels).transpose()?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Component>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut c = found.value;
    if let Some(n) = display_name {
        c.display_name = n;
    }
    if let Some(l) = new_labels {
        c.labels = l;
    }
    tx.update(&c, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.component.update", KIND, &id).await?;
    Ok(no_content())
}

/// `DELETE /components/{componentId}` (admins); 409 while incidents name it.
pub async fn delete(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, "status:components:delete", KIND, &raw)?;
    let id = uuid_param("componentId", &raw)?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Component>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let users: Vec<String> = tx
        .list::<Incident>(None)
        .await?
        .into_iter()
        .filter(|i| i.value.affects.iter().any(|a| a.reference == id))
        .map(|i| i.value.id)
        .collect();
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "Component {id} is affected by incidents {}; change or delete them first.",
            users.join(", ")
        )));
    }
    tx.delete::<Component>(&id, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.component.delete", KIND, &id).await?;
    Ok(no_content())
}
