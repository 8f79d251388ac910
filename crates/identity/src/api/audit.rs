//! `GET /v3/audit_records` (admins and system readers): the audit trail, newest
//! first, filtered by `action`, `outcome`, `user_id` and `since`, cut by `limit`.

use super::auth::parse_time;
use crate::Identity;
use axum::extract::State;
use axum::Json;
use nimbus_api::audit::AuditRecord;
use nimbus_api::auth::Auth;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::ApiResult;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&["action", "outcome", "user_id", "since", "limit"])?;
    authorize(
        &caller,
        "identity:list_audit_records",
        &Target::new("audit", ""),
    )?;
    let since = q.get("since").map(|s| parse_time("since", s)).transpose()?;
    let limit = q.usize("limit")?.unwrap_or(1000);
    let records = recent(&id.store, limit, |r| {
        q.get("action").is_none_or(|a| r.action.starts_with(a))
            && q.get("outcome").is_none_or(|o| r.outcome == o)
            && q.get("user_id")
                .is_none_or(|u| r.user_id.as_deref() == Some(u))
            && since.is_none_or(|s| r.at >= s)
    })
    .await?;
    Ok(Json(json!({ "audit_records": records })))
}

/// The newest `limit` records that pass `keep`, newest first.
pub async fn recent(
    store: &nimbus_store::Store,
    limit: usize,
    keep: impl Fn(&AuditRecord) -> bool,
) -> nimbus_store::Result<Vec<AuditRecord>> {
    let mut all: Vec<AuditRecord> = store
        .list::<AuditRecord>(None)
        .await?
        .into_iter()
        .map(|r| r.value)
        .filter(|r| keep(r))
        .collect();
    all.reverse();
    all.truncate(limit);
    Ok(all)
}
