//! `/severities`: named severity values. A severity's value is the upper end of
//! the range of impact severities it names (operational ≤ 25 < maintenance ≤ 50
//! …), so names and values are both unique. Addressed by name; `POST` answers
//! 204 as the spec says; `PATCH` may rename (the name stays unique).

use super::common::{authorize, name, no_content, present, severity_value};
use super::common::{required_display_name, ObjectBody};
use super::views;
use crate::types::Severity;
use crate::StatusPage;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

const KIND: &str = "status_severity";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeverityBody {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<i64>,
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Severity {name:?} not found."))
}

/// 409 when another severity than `except` already has `value`.
async fn check_value_free(tx: &mut Tx<'_>, value: u8, except: Option<&str>) -> ApiResult<()> {
    let taken = tx
        .list::<Severity>(None)
        .await?
        .into_iter()
        .find(|s| s.value.value == value && Some(s.value.display_name.as_str()) != except);
    match taken {
        Some(s) => Err(ApiError::conflict(format!(
            "Severity {:?} already has value {value}.",
            s.value.display_name
        ))),
        None => Ok(()),
    }
}

/// `GET /severities`, by value.
pub async fn list(State(svc): State<Arc<StatusPage>>, q: Query) -> ApiResult<Json<Value>> {
    q.only(&[])?;
    let mut all: Vec<Severity> = svc
        .store
        .list::<Severity>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    all.sort_by_key(|s| s.value);
    Ok(views::data(all.iter().map(views::severity).collect()))
}

/// `GET /severities/{severityName}`.
pub async fn show(
    State(svc): State<Arc<StatusPage>>,
    Path(severity): Path<String>,
) -> ApiResult<Json<Value>> {
    let name = name("severityName", &severity)?;
    let s = svc
        .store
        .get::<Severity>(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    Ok(views::data(views::severity(&s.value)))
}

/// `POST /severities` (admins): both fields required; 204.
pub async fn create(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    ObjectBody(body): ObjectBody<SeverityBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:severities:create", KIND, "")?;
    let display_name = required_display_name(body.display_name.as_deref())?;
    let value = severity_value(
        "value",
        body.value
            .ok_or_else(|| ApiError::bad_request("value is required."))?,
    )?;
    let mut tx = svc.store.begin().await?;
    if tx.get::<Severity>(&display_name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "Severity {display_name:?} already exists."
        )));
    }
    check_value_free(&mut tx, value, None).await?;
    let s = Severity {
        display_name,
        value,
    };
    tx.create(&s).await?;
    commit_audited(tx, &caller, "status.severity.create", KIND, &s.display_name).await?;
    Ok(no_content())
}

/// `PATCH /severities/{severityName}` (admins): rename and/or new value.
pub async fn update(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(severity): Path<String>,
    ObjectBody(body): ObjectBody<SeverityBody>,
) -> ApiResult<Response> {
    authorize(&caller, "status:severities:update", KIND, &severity)?;
    let current_name = name("severityName", &severity)?;
    let new_name = body
        .display_name
        .as_deref()
        .map(|n| name("displayName", n))
        .transpose()?;
    let new_value = body.value.map(|v| severity_value("value", v)).transpose()?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Severity>(&current_name)
        .await?
        .ok_or_else(|| not_found(&current_name))?;
    let mut s = found.value;
    if let Some(v) = new_value {
        check_value_free(&mut tx, v, Some(&current_name)).await?;
        s.value = v;
    }
    match new_name {
        // The name is the store id: a rename is a delete and a create, in one
        // transaction.
        Some(n) if n != current_name => {
            if tx.get::<Severity>(&n).await?.is_some() {
                return Err(ApiError::conflict(format!(
                    "Severity {n:?} already exists."
                )));
            }
            tx.delete::<Severity>(&current_name, Some(found.revision))
                .await?;
            s.display_name = n;
            tx.create(&s).await?;
        }
        _ => {
            tx.update(&s, Some(found.revision)).await?;
        }
    }
    commit_audited(tx, &caller, "status.severity.update", KIND, &s.display_name).await?;
    Ok(no_content())
}

/// `DELETE /severities/{severityName}` (admins). Impacts carry their numeric
/// severity, not the name, so nothing points at a severity.
pub async fn delete(
    State(svc): State<Arc<StatusPage>>,
    Auth(caller): Auth,
    Path(severity): Path<String>,
) -> ApiResult<Response> {
    authorize(&caller, "status:severities:delete", KIND, &severity)?;
    let name = name("severityName", &severity)?;
    let mut tx = svc.store.begin().await?;
    let found = tx
        .get::<Severity>(&name)
        .await?
        .ok_or_else(|| not_found(&name))?;
    tx.delete::<Severity>(&name, Some(found.revision)).await?;
    commit_audited(tx, &caller, "status.severity.delete", KIND, &name).await?;
    Ok(no_content())
}
