//! `/flavors/{id}/os-extra_specs`: read by anyone who sees the flavor, changed by
//! cloud admins. Keys match `^[a-zA-Z0-9-_:. ]{1,255}$`; values are strings or
//! numbers of at most 255 characters (stored as strings; create and update echo the
//! request body, as Nova does). Delete answers 200 with no body, as Nova does.

use super::flavors::load_for_update;
use crate::Compute;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn valid_key(k: &str) -> bool {
    let len = k.chars().count();
    (1..=255).contains(&len)
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:. ".contains(&b))
}

/// The specs of a request body, checked and turned into strings.
fn specs(obj: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if !valid_key(k) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute extra_specs. Value: {k}. Additional \
                 properties are not allowed (keys must match '^[a-zA-Z0-9-_:. ]{{1,255}}$')."
            )));
        }
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. \
                     {other} is not of type 'string', 'number'."
                )))
            }
        };
        if s.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. The value is longer than 255 characters."
            )));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

/// `GET /flavors/{id}/os-extra_specs`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-extra-specs:index",
        &Target::new("flavor", &id),
    )?;
    let f = c.flavor(&caller, &id).await?;
    Ok(Json(json!({"extra_specs": f.extra_specs})))
}

fn no_such_key(id: &str, key: &str) -> ApiError {
    ApiError::not_found(format!("Flavor {id} has no extra specs with key {key}."))
}

/// `GET /flavors/{id}/os-extra_specs/{key}`
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-extra-specs:show",
        &Target::new("flavor", &id),
    )?;
    let f = c.flavor(&caller, &id).await?;
    let value = f
        .extra_specs
        .get(&key)
        .ok_or_else(|| no_such_key(&id, &key))?;
    Ok(Json(json!({ key: value })))
}

/// Merges `new` into the flavor's specs in one audited transaction.
async fn merge(
    c: &Compute,
    caller: &nimbus_api::auth::Principal,
    id: &str,
    new: BTreeMap<String, String>,
) -> ApiResult<()> {
    let mut tx = c.store.begin().await?;
    let (mut f, revision) = load_for_update(&mut tx, id).await?;
    f.extra_specs.extend(new);
    tx.update(&f, Some(revision)).await?;
    commit_audited(
        tx,
        caller,
        "compute.flavor.extra_specs.update",
        "flavor",
        id,
    )
    .await
}

/// `POST /flavors/{id}/os-extra_specs` `{"extra_specs": {...}}`: 200, echoing the body.
pub async fn create(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-extra-specs:create",
        &Target::new("flavor", &id),
    )?;
    let obj = super::common::wrapped(&body, "extra_specs")?;
    let new = specs(obj)?;
    merge(&c, &caller, &id, new).await?;
    Ok(Json(body))
}

/// `PUT /flavors/{id}/os-extra_specs/{key}` `{key: value}`: 200, echoing the body.
pub async fn update(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-extra-specs:update",
        &Target::new("flavor", &id),
    )?;
    let obj = body.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        ApiError::bad_request("Invalid input: the body must hold exactly one extra spec.")
    })?;
    let new = specs(obj)?;
    if !new.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    merge(&c, &caller, &id, new).await?;
    Ok(Json(body))
}

/// `DELETE /flavors/{id}/os-extra_specs/{key}`: 200 with no body.
pub async fn delete(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    authorize(
        &caller,
        "compute:os-flavor-extra-specs:delete",
        &Target::new("flavor", &id),
    )?;
    let mut tx = c.store.begin().await?;
    let (mut f, revision) = load_for_update(&mut tx, &id).await?;
    if f.extra_specs.remove(&key).is_none() {
        return Err(no_such_key(&id, &key));
    }
    tx.update(&f, Some(revision)).await?;
    commit_audited(
        tx,
        &caller,
        "compute.flavor.extra_specs.delete",
        "flavor",
        &id,
    )
    .await?;
    Ok(StatusCode::OK)
}
