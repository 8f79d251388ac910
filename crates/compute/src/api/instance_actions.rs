//! `/servers/{id}/os-instance-actions`: what was done to a server (newest first)
//! and, per action, its events (admins always; others from 2.51, without
//! tracebacks). From 2.58 the list pages (`limit`/`marker` = request id) and
//! filters on `changes-since` (and `changes-before` from 2.66).

use super::common::*;
use super::server_view::ts_micro;
use super::servers::load;
use crate::server::InstanceAction;
use crate::Compute;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{allowed, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::sync::Arc;

fn updated_at(a: &InstanceAction) -> DateTime<Utc> {
    a.events
        .iter()
        .filter_map(|e| e.finish_time.or(Some(e.start_time)))
        .max()
        .unwrap_or(a.start_time)
}

fn brief(mv: Microversion, a: &InstanceAction) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.server_id,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": ts_micro(&a.start_time),
        "user_id": a.user_id,
    });
    if mv.at_least(2, 58) {
        v["updated_at"] = json!(ts_micro(&updated_at(a)));
    }
    v
}

fn time_param(q: &Query, key: &str) -> ApiResult<Option<DateTime<Utc>>> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|t| Some(t.and_utc()))
            })
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters {key}. Value: {v}."
                ))
            }),
    }
}

async fn actions_of(c: &Compute, id: &str) -> ApiResult<Vec<InstanceAction>> {
    let mut list: Vec<InstanceAction> = c
        .store
        .list::<InstanceAction>(Some(id))
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    list.sort_by(|a, b| b.start_time.cmp(&a.start_time).then(b.id.cmp(&a.id)));
    Ok(list)
}

/// `GET /servers/{id}/os-instance-actions`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    url: PublicUrl,
    q: Query,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&c, &caller, &id, "compute:os-instance-actions:index").await?;
    let mut list = actions_of(&c, &id).await?;
    if !mv.at_least(2, 58) {
        let items: Vec<Value> = list.iter().map(|a| brief(mv, a)).collect();
        return Ok(Json(json!({ "instanceActions": items })));
    }
    if let Some(t) = time_param(&q, "changes-since")? {
        list.retain(|a| updated_at(a) >= t);
    }
    if mv.at_least(2, 66) {
        if let Some(t) = time_param(&q, "changes-before")? {
            list.retain(|a| updated_at(a) <= t);
        }
    }
    let paging = Paging::from_query(&q)?;
    let page = paging.page(list, |a| &a.request_id).map_err(|_| {
        ApiError::bad_request(format!(
            "Marker {} could not be found.",
            q.get("marker").unwrap_or_default()
        ))
    })?;
    let items: Vec<Value> = page.iter().map(|a| brief(mv, a)).collect();
    let mut doc = json!({ "instanceActions": items });
    let last = page.last().map(|a| a.request_id.as_str());
    let collection = format!("servers/{id}/os-instance-actions");
    if let Some(l) = paging.next_links(&url, &collection, &q, page.len(), last) {
        doc["links"] = l;
    }
    Ok(Json(doc))
}

fn may_see_details(caller: &Principal) -> bool {
    allowed(
        caller,
        "compute:os-instance-actions:events:details",
        &Target::default(),
    )
}

/// `GET /servers/{id}/os-instance-actions/{request_id}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path((id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    load(&c, &caller, &id, "compute:os-instance-actions:index").await?;
    let a = actions_of(&c, &id)
        .await?
        .into_iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Action for request_id {request_id} on instance {id} not found"
            ))
        })?;
    let mut v = brief(mv, &a);
    let details = may_see_details(&caller);
    if details || mv.at_least(2, 51) {
        let events: Vec<Value> = a
            .events
            .iter()
            .map(|e| {
                let mut ev = json!({
                    "event": e.event,
                    "start_time": ts_micro(&e.start_time),
                    "finish_time": e.finish_time.as_ref().map(ts_micro),
                    "result": e.result,
                });
                if details {
                    ev["traceback"] = json!(e.traceback);
                }
                if mv.at_least(2, 62) {
                    if details {
                        ev["host"] = json!(e.host);
                    }
                    ev["hostId"] = json!(e
                        .host
                        .as_ref()
                        .map(|h| super::server_view::host_id_of(&a.project_id, h))
                        .unwrap_or_default());
                }
                ev
            })
            .collect();
        v["events"] = json!(events);
    }
    Ok(Json(json!({ "instanceAction": v })))
}
