//! `/incidents`: what happened (or is planned) and what it affects. Everyone
//! reads; the list needs the time frame `start`/`end` (RFC 3339, both required as
//! in the spec) and holds the incidents overlapping it. Admins create (`201
//! {"id"}`), patch (fields given replace; `"endedAt": null` reopens) and delete.
//!
//! Checked on every write, before anything is stored: each impact names an
//! existing component (once) and impact type, with a severity 0..100; the phase
//! names an existing generation and a position in it; `endedAt` is not before
//! `beganAt`. A missing `beganAt` on create means now; a missing phase (or a
//! phase without `generation`) means the newest phase list, order 0 (the SCS
//! reference server accepts `"phase": {}` the same way).

use super::common::{
    authorize, created_id, description, name, no_content, now, nullable, parse_date, present,
    query_value, severity_value, uuid_field, uuid_param,
};
use super::common::{required_display_name, ObjectBody};
use super::phases::latest;
use super::views;
use crate::types::{Component, Impact, ImpactType, Incident, PhaseList, PhaseRef};
use crate::StatusPage;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

const KIND: &str = "status_incident";
/// Most impacts one incident may list.
pub const MAX_IMPACTS: usize = 500;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    affects: Option<Vec<ImpactBody>>,
    #[serde(default, deserialize_with = "nullable")]
    began_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    ended_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    phase: Option<PhaseRefBody>,
}

#[derive(Deserialize)]
pub struct ImpactBody {
    #[serde(default, deserialize_with = "present")]
    reference: Option<String>,
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "present")]
    impact_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    severity: Option<i64>,
}

#[derive(Deserialize)]
pub struct PhaseRefBody {
    #[serde(default, deserialize_with = "present")]
    generation: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    order: Option<u64>,
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Incident {id} not found."))
}

/// The impacts of a request, checked against the stored components and types.
async fn affects(tx: &mut Tx<'_>, raw: Vec<ImpactBody>) -> ApiResult<Vec<Impact>> {
    if raw.len() > MAX_IMPACTS {
        return Err(ApiError::bad_request(format!(
            "affects lists at most {MAX_IMPACTS} impacts."
        )));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for imp in raw {
        let reference = uuid_field(
            "affects.reference",
            imp.reference
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("Every impact needs a reference."))?,
        )?;
        let impact_type = uuid_field(
            "affects.type",
            imp.impact_type
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("Every impact needs a type."))?,
        )?;
        let severity = imp
            .severity
            .map(|s| severity_value("affects.severity", s))
            .transpose()?;
        if !seen.insert(reference.clone()) {
            return Err(ApiError::bad_request(format!(
                "Component {reference} is listed more than once in affects."
            )));
        }
        if tx.get::<Component>(&reference).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "affects.reference: component {reference} does not exist."
            )));
        }
        if tx.get::<ImpactType>(&impact_type).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "affects.type: impact type {impact_type} does not exist."
            )));
        }
        out.push(Impact {
            reference,
            impact_type,
            severity,
        });
    }
    Ok(out)
}

/// The phase a request names; a missing generation is `default_generation`
/// (or the newest list when that is `None`), a missing order 0.
async fn phase(
    tx: &mut Tx<'_>,
    raw: Option<PhaseRefBody>,
    default_generation: Option<u64>,
) -> ApiResult<PhaseRef> {
    let raw = raw.unwrap_or(PhaseRefBody {
        generation: None,
        order: None,
    });
    let list = match raw.generation.or(default_generation) {
        Some(g) => tx.get::<PhaseList>(&g.to_string()).await?.map(|v| v.value),
        None => latest(tx).await?,
    };
    let list = list.ok_or_else(|| {
        ApiError::bad_request(format!(
            "phase.generation {} does not exist.",
            raw.generation.or(default_generation).unwrap_or(0)
        ))
    })?;
    let order = raw.order.unwrap_or(0);
    if order as usize >= list.phases.len() {
        return Err(ApiError::bad_request(format!(
            "phase.order {order} is not a phase of generation {} (it has {} phases).",
            list.generation,
            list.phases.len()
        )));
    }
    Ok(PhaseRef {
        generation: list.generation,
        order,
    })
}

fn check_frame(began: DateTime<Utc>, ended: Option<DateTime<Utc>>) -> ApiResult<()> {
    match ended {
        Some(e) if e < began => Err(ApiError::bad_request("endedAt is before beganAt.")),
        _ => Ok(()),
    }
}

/// `GET /incidents?start=&end=`: incidents overlapping the frame, oldest first.
pub async fn list(State(svc): State<Arc<StatusPage>>, q: Query) -> ApiResult<Json<Value>> {
    q.only(&["start", "end"])?;
    let bound = |key: &str| {
        query_value(&q, key)?
            .ok_or_else(|| {
                ApiError::bad_request(format!("Query parameter {key} (RFC 3339) is required."))
            })
            .and_then(|raw| parse_date(key, raw))
    };
    let (start, end) = (bound("start")?, bound("end")?);
    if start > end {
        return Err(ApiError::bad_request("start is after end."));
    }
    let mut all: Vec<Incident> = svc
        .store
        .list::<Incident>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|i| i.overlaps(start, end))
        .collect();
    all.sort_by(|a, b| a.began_at.cmp(&b.began_at).then(a.id.cmp(&b.id)));
    Ok(views::data(all.iter().map(views::incident).collect()))
}

/// `GET /incidents/{incidentId}`.
pub async fn show(
    State(svc): State<Arc<StatusPage>>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = uuid_param("incidentId", &raw)?;
    let i = svc
        .store
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(views::data(views::incident(&i.value)))
}

/// `POST /incidents` (admins).
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    ObjectBody(body): ObjectBody<IncidentBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incidents:create", KIND, "")?;
    let display_name = required_display_name(body.display_name.as_deref())?;
    let desc = description("description", body.description.as_deref().unwrap_or(""))?;
    let began_at = match body.began_at.flatten() {
        Some(raw) => parse_date("beganAt", &raw)?,
        None => now(),
    };
    let ended_at = body
        .ended_at
        .flatten()
        .map(|raw| parse_date("endedAt", &raw))
        .transpose()?;
    check_frame(began_at, ended_at)?;
    let mut tx = svc.store.begin().await?;
    let affects = affects(&mut tx, body.affects.unwrap_or_default()).await?;
    let phase = phase(&mut tx, body.phase, None).await?;
    let now = Utc::now();
    let i = Incident {
        id: uuid::Uuid::new_v4().to_string(),
        display_name,
        description: desc,
        affects,
        began_at,
        ended_at,
        phase,
        updates: Vec::new(),
        next_update_order: 0,
        created_at: now,
    };
    tx.create(&i).await?;
    commit_audited(tx, &caller, "status.incident.create", KIND, &i.id).await?;
    Ok(created_id(&i.id))
}

/// `PATCH /incidents/{incidentId}` (admins).
pub async fn update(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    ObjectBody(body): ObjectBody<IncidentBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incidents:update", KIND, &raw)?;
    let id = uuid_param("incidentId", &raw)?;
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
    let began_at = match body.began_at {
        None => None,
        Some(None) => return Err(ApiError::bad_request("beganAt cannot be cleared.")),
        Some(Some(raw)) => Some(parse_date("beganAt", &raw)?),
    };
    let ended_at = match body.ended_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(parse_date("endedAt", &raw)?)),
    };
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let mut i = found.value;
    if let Some(n) = display_name {
        i.display_name = n;
    }
    if let Some(d) = desc {
        i.description = d;
    }
    if let Some(b) = began_at {
        i.began_at = b;
    }
    if let Some(e) = ended_at {
        i.ended_at = e;
    }
    check_frame(i.began_at, i.ended_at)?;
    if let Some(raw) = body.affects {
        i.affects = affects(&mut tx, raw).await?;
    }
    if body.phase.is_some() {
        i.phase = phase(&mut tx, body.phase, Some(i.phase.generation)).await?;
    }
    tx.update(&i, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.incident.update", KIND, &id).await?;
    Ok(no_content())
}

/// `DELETE /incidents/{incidentId}` (admins), with its updates.
pub async fn delete(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, "status:incidents:delete", KIND, &raw)?;
    let id = uuid_param("incidentId", &raw)?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Incident>(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    tx.delete::<Incident>(&id, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.incident.delete", KIND, &id).await?;
    Ok(no_content())
}
