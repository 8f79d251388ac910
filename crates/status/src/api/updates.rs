//! `/incidents/{incidentId}/updates`: the ordered updates of an incident. Each
//! gets the next `order` of its incident (`201 {"order": n}`); orders are never
//! reused, so a link to update 3 never shows another text after a delete. The
//! updates live inside the incident object, so an update and the incident change
//! in one write. A missing `createdAt` means now.

use super::common::{
    authorize, description, name, no_content, now, nullable, parse_date, present, uuid_param,
};
use super::common::{required_display_name, ObjectBody};
use super::incidents::not_found;
use super::views;
use crate::types::{Incident, IncidentUpdate};
use crate::StatusPage;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const KIND: &str = "status_incident";
/// Most updates one incident may have.
pub const MAX_UPDATES: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    created_at: Option<Option<String>>,
}

fn order_param(raw: &str) -> ApiResult<u64> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid format for parameter updateOrder: {raw:?} is not a non-negative integer."
        ))
    })
}

fn update_not_found(id: &str, order: u64) -> ApiError {
    ApiError::not_found(format!("Incident {id} has no update {order}."))
}

/// `GET /incidents/{incidentId}/updates`, in order.
pub async fn list(
    State(svc): State<Arc<StatusPage>>,
    Path(raw): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[])?;
    let id = uuid_param("incidentId", &raw)?;
    let i = svc
        .store
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(views::data(
        i.value.updates.iter().map(views::update).collect(),
    ))
}

/// `GET /incidents/{incidentId}/updates/{updateOrder}`.
pub async fn show(
    State(svc): State<Arc<StatusPage>>,
    Path((raw, order)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = uuid_param("incidentId", &raw)?;
    let order = order_param(&order)?;
    let i = svc
        .store
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let u = i
        .value
        .updates
        .iter()
        .find(|u| u.order == order)
        .ok_or_else(|| update_not_found(&id, order))?;
    Ok(views::data(views::update(u)))
}

/// `POST /incidents/{incidentId}/updates` (admins).
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    ObjectBody(body): ObjectBody<UpdateBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incident_updates:create", KIND, &raw)?;
    let id = uuid_param("incidentId", &raw)?;
    let display_name = required_display_name(body.display_name.as_deref())?;
    let desc = description("description", body.description.as_deref().unwrap_or(""))?;
    let created_at = match body.created_at.flatten() {
        Some(raw) => parse_date("createdAt", &raw)?,
        None => now(),
    };
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut i = found.value;
    if i.updates.len() >= MAX_UPDATES {
        return Err(ApiError::bad_request(format!(
            "Incident {id} already has {MAX_UPDATES} updates."
        )));
    }
    let order = i.next_update_order;
    i.updates.push(IncidentUpdate {
        order,
        display_name,
        description: desc,
        created_at,
    });
    i.next_update_order += 1;
    tx.update(&i, Some(found.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "status.incident_update.create",
        KIND,
        &format!("{id}/{order}"),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"order": order}))).into_response())
}

/// `PATCH /incidents/{incidentId}/updates/{updateOrder}` (admins).
pub async fn update(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path((raw, order)): Path<(String, String)>,
    ObjectBody(body): ObjectBody<UpdateBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incident_updates:update", KIND, &raw)?;
    let id = uuid_param("incidentId", &raw)?;
    let order = order_param(&order)?;
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
    let created_at = match body.created_at {
        None => None,
        Some(None) => return Err(ApiError::bad_request("createdAt cannot be cleared.")),
        Some(Some(raw)) => Some(parse_date("createdAt", &raw)?),
    };
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut i = found.value;
    let u = i
        .updates
        .iter_mut()
        .find(|u| u.order == order)
        .ok_or_else(|| update_not_found(&id, order))?;
    if let Some(n) = display_name {
        u.display_name = n;
    }
    if let Some(d) = desc {
        u.description = d;
    }
    if let Some(c) = created_at {
        u.created_at = c;
    }
    tx.update(&i, Some(found.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "status.incident_update.update",
        KIND,
        &format!("{id}/{order}"),
    )
    .await?;
    Ok(no_content())
}

/// `DELETE /incidents/{incidentId}/updates/{updateOrder}` (admins).
pub async fn delete(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path((raw, order)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incident_updates:delete", KIND, &raw)?;
    let id = uuid_param("incidentId", &raw)?;
    let order = order_param(&order)?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut i = found.value;
    let before = i.updates.len();
    i.updates.retain(|u| u.order != order);
    if i.updates.len() == before {
        return Err(update_not_found(&id, order));
    }
    tx.update(&i, Some(found.revision)).await?;
    commit_audited(
        tx,
        &caller,
        "status.incident_update.delete",
        KIND,
        &format!("{id}/{order}"),
    )
    .await?;
    Ok(no_content())
}
