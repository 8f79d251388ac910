//! `/phases`: the list of incident phases, in generations. `GET` answers the
//! newest generation (or `?generation=N`); `POST` stores a whole new list as the
//! next generation and answers `201 {"generation": N}`. Old generations stay, so
//! an incident's `{generation, order}` keeps naming the phase it was given.

use super::common::ObjectBody;
use super::common::{authorize, name, present, query_value};
use super::views;
use crate::types::PhaseList;
use crate::StatusPage;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Most phases a list may have.
pub const MAX_PHASES: usize = 100;

#[derive(Deserialize)]
pub struct PhaseListBody {
    #[serde(default, deserialize_with = "present")]
    phases: Option<Vec<String>>,
}

/// The newest generation, if any.
pub async fn latest(tx: &mut Tx<'_>) -> ApiResult<Option<PhaseList>> {
    Ok(tx
        .list::<PhaseList>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .max_by_key(|p| p.generation))
}

/// `GET /phases[?generation=N]`.
pub async fn show(State(svc): State<Arc<StatusPage>>, q: Query) -> ApiResult<Json<Value>> {
    q.only(&["generation"])?;
    let mut tx = svc.store.begin().await?;
    let list = match query_value(&q, "generation")? {
        Some(raw) => {
            let generation: u64 = raw.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid format for parameter generation: {raw:?} is not a non-negative integer."
                ))
            })?;
            tx.get::<PhaseList>(&generation.to_string())
                .await?
                .map(|v| v.value)
                .ok_or_else(|| {
                    ApiError::not_found(format!("Phase generation {generation} not found."))
                })?
        }
        None => latest(&mut tx)
            .await?
            .ok_or_else(|| ApiError::not_found("No phase list has been created yet."))?,
    };
    Ok(views::data(views::phase_list(&list)))
}

/// `POST /phases` (admins).
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    ObjectBody(body): ObjectBody<PhaseListBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:phases:create", "phases", "")?;
    let raw = body
        .phases
        .ok_or_else(|| ApiError::bad_request("phases is required."))?;
    if raw.is_empty() || raw.len() > MAX_PHASES {
        return Err(ApiError::bad_request(format!(
            "phases must list 1 to {MAX_PHASES} phases."
        )));
    }
    let phases = raw
        .iter()
        .map(|p| name("phase", p))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut tx = svc.store.begin().await?;
    let generation = latest(&mut tx).await?.map_or(1, |p| p.generation + 1);
    let list = PhaseList::new(generation, phases);
    tx.create(&list).await?;
    commit_audited(
        tx,
        &caller,
        "status.phases.create",
        "status_phases",
        &list.id,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"generation": generation}))).into_response())
}
