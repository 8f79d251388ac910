//! Private flavors' access lists: `GET /flavors/{id}/os-flavor-access` and the
//! `addTenantAccess` / `removeTenantAccess` actions on `POST /flavors/{id}/action`
//! (cloud admins). From 2.7 on, adding access to a public flavor is a 409.

use super::flavors::load_for_update;
use crate::types::Flavor;
use crate::Compute;
use axum::extract::{Path, State};
use axum::Json;
use nimbus_api::audit::commit_audited;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::{ApiError, ApiResult};
use nimbus_identity::types::Project;
use serde_json::{json, Value};
use std::sync::Arc;

fn access_list(f: &Flavor) -> Value {
    let items: Vec<Value> = f
        .projects
        .iter()
        .map(|p| json!({"flavor_id": f.id, "tenant_id": p}))
        .collect();
    json!({ "flavor_access": items })
}

/// `GET /flavors/{id}/os-flavor-access`
pub async fn list(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-flavor-access",
        &Target::new("flavor", &id),
    )?;
    let f = c.flavor(&caller, &id).await?;
    if f.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public flavors.",
        ));
    }
    Ok(Json(access_list(&f)))
}

/// The tenant named by an access action body.
fn tenant(v: &Value) -> ApiResult<String> {
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid input: the action must be an object."))?;
    super::common::check_keys(obj, &["tenant"], &["tenant"])?;
    match obj["tenant"].as_str() {
        Some(t) if (1..=255).contains(&t.chars().count()) => Ok(t.to_string()),
        _ => Err(super::common::invalid(
            "tenant",
            &obj["tenant"],
            "Must be a string of 1 to 255 characters.",
        )),
    }
}

/// `POST /flavors/{id}/action`
pub async fn action(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (name, args) = match body.as_object() {
        Some(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.clone(), v.clone())),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_request("Malformed request body"))?;
    let add = match name.as_str() {
        "addTenantAccess" => true,
        "removeTenantAccess" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    let policy = if add {
        "compute:os-flavor-access:add_tenant_access"
    } else {
        "compute:os-flavor-access:remove_tenant_access"
    };
    authorize(&caller, policy, &Target::new("flavor", &id))?;
    let project = tenant(&args)?;
    if add && c.store.get::<Project>(&project).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Project ID {project} is not a valid project."
        )));
    }
    let mut tx = c.store.begin().await?;
    let (mut f, revision) = load_for_update(&mut tx, &id).await?;
    if add {
        if mv.at_least(2, 7) && f.is_public {
            return Err(ApiError::conflict("Can not add access to a public flavor."));
        }
        if !f.projects.insert(project.clone()) {
            return Err(ApiError::conflict(format!(
                "Flavor access already exists for flavor {id} and project {project} combination."
            )));
        }
    } else if !f.projects.remove(&project) {
        return Err(ApiError::not_found(format!(
            "Flavor access not found for {id} / {project} combination."
        )));
    }
    tx.update(&f, Some(revision)).await?;
    let audit = if add {
        "compute.flavor.access.add"
    } else {
        "compute.flavor.access.remove"
    };
    commit_audited(tx, &caller, audit, "flavor", &id).await?;
    Ok(Json(access_list(&f)))
}
