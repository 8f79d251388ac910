//! `/v3/roles` and implied roles (`/v3/roles/{prior}/implies/{implied}`,
//! `/v3/role_inferences`). Implications may not form a cycle.

use super::common::*;
use super::views;
use crate::directory::Snapshot;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::Json;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateRole {
    role: NewRole,
}

#[derive(Deserialize)]
struct NewRole {
    name: String,
    domain_id: Option<String>,
    description: Option<String>,
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
pub struct UpdateRole {
    role: RolePatch,
}

#[derive(Deserialize)]
struct RolePatch {
    name: Option<String>,
    description: Option<String>,
    options: Option<Map<String, Value>>,
}

async fn load(id: &Identity, caller: &Principal, action: &str, role_id: &str) -> ApiResult<Role> {
    let r = id
        .store
        .get::<Role>(role_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find role: {role_id}.")))?
        .value;
    let mut target = Target::new("role", role_id);
    if let Some(d) = &r.domain_id {
        target = target.domain(d);
    }
    authorize(caller, action, &target)?;
    Ok(r)
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name", "domain_id"]].concat())?;
    authorize(&caller, "identity:list_roles", &Target::new("role", ""))?;
    let roles: Vec<Role> = id
        .store
        .list::<Role>(None)
        .await?
        .into_iter()
        .map(|r| r.value)
        .filter(|r| matches(q.get("name"), &r.name))
        .filter(|r| r.domain_id.as_deref() == q.get("domain_id"))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "roles",
        roles,
        |r| &r.id,
        |r| views::role(&url, r),
        &url,
        path,
        &q,
    )?))
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CreateRole>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&caller, "identity:create_role", &Target::new("role", ""))?;
    let r = body.role;
    if let Some(d) = &r.domain_id {
        if id.store.get::<Domain>(d).await?.is_none() {
            return Err(ApiError::bad_request(format!("Domain {d} does not exist.")));
        }
    }
    let role = Role {
        id: new_id(),
        name: check_name("name", &r.name)?,
        domain_id: r.domain_id,
        description: r.description.unwrap_or_default(),
        options: r.options.unwrap_or_default(),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&role).await?;
    commit_audited(tx, &caller, "identity.role.create", "role", &role.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": views::role(&url, &role)})),
    ))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(role_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = load(&id, &caller, "identity:get_role", &role_id).await?;
    Ok(Json(json!({"role": views::role(&url, &r)})))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(role_id): Path<String>,
    JsonBody(body): JsonBody<UpdateRole>,
) -> ApiResult<Json<Value>> {
    let mut r = load(&id, &caller, "identity:update_role", &role_id).await?;
    let p = body.role;
    if let Some(name) = p.name {
        if crate::bootstrap::PERSONA_ROLES.contains(&r.name.as_str()) && name != r.name {
            return Err(ApiError::forbidden("The persona roles cannot be renamed."));
        }
        r.name = check_name("name", &name)?;
    }
    if let Some(d) = p.description {
        r.description = d;
    }
    if let Some(o) = p.options {
        r.options = o;
    }
    let mut tx = id.store.begin().await?;
    tx.update(&r, None).await?;
    commit_audited(tx, &caller, "identity.role.update", "role", &r.id).await?;
    Ok(Json(json!({"role": views::role(&url, &r)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(role_id): Path<String>,
) -> ApiResult<StatusCode> {
    let r = load(&id, &caller, "identity:delete_role", &role_id).await?;
    if r.domain_id.is_none() && crate::bootstrap::PERSONA_ROLES.contains(&r.name.as_str()) {
        return Err(ApiError::forbidden("The persona roles cannot be deleted."));
    }
    let mut tx = id.store.begin().await?;
    tx.delete::<Role>(&r.id, None).await?;
    for i in tx.list::<RoleImplication>(None).await? {
        if i.value.prior_role_id == r.id || i.value.implied_role_id == r.id {
            tx.delete::<RoleImplication>(&i.value.id, None).await?;
        }
    }
    for a in tx.list::<Assignment>(None).await? {
        if a.value.role_id == r.id {
            tx.delete::<Assignment>(&a.value.id, None).await?;
        }
    }
    commit_audited(tx, &caller, "identity.role.delete", "role", &r.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn inference(url: &PublicUrl, prior: &Role, implied: &Role) -> Value {
    json!({
        "role_inference": {"prior_role": views::role_ref(url, prior), "implies": views::role_ref(url, implied)},
        "links": {"self": url.join(&format!("/identity/v3/roles/{}/implies/{}", prior.id, implied.id))},
    })
}

async fn pair(
    id: &Identity,
    caller: &Principal,
    action: &str,
    prior: &str,
    implied: &str,
) -> ApiResult<(Role, Role)> {
    Ok((
        load(id, caller, action, prior).await?,
        load(id, caller, action, implied).await?,
    ))
}

/// `PUT /v3/roles/{prior}/implies/{implied}`
pub async fn create_implied(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path((prior_id, implied_id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_implied_role",
        &Target::new("role", &prior_id),
    )?;
    let (prior, implied) = pair(&id, &caller, "identity:get_role", &prior_id, &implied_id).await?;
    let snap = id.directory.snapshot().await?;
    let mut reach = BTreeSet::new();
    snap.expand_role(&implied.id, &mut reach);
    if reach.contains(&prior.id) {
        return Err(ApiError::bad_request(format!(
            "Implying {} from {} would create a cycle.",
            implied.name, prior.name
        )));
    }
    let key = RoleImplication::key(&prior.id, &implied.id);
    let mut tx = id.store.begin().await?;
    if tx.get::<RoleImplication>(&key).await?.is_none() {
        tx.create(&RoleImplication::new(&prior.id, &implied.id))
            .await?;
        commit_audited(
            tx,
            &caller,
            "identity.implied_role.create",
            "role_implication",
            &key,
        )
        .await?;
    }
    Ok((StatusCode::CREATED, Json(inference(&url, &prior, &implied))))
}

async fn existing_implication(
    id: &Identity,
    caller: &Principal,
    action: &str,
    prior_id: &str,
    implied_id: &str,
) -> ApiResult<(Role, Role)> {
    authorize(caller, action, &Target::new("role", prior_id))?;
    let (prior, implied) = pair(id, caller, "identity:get_role", prior_id, implied_id).await?;
    if id
        .store
        .get::<RoleImplication>(&RoleImplication::key(&prior.id, &implied.id))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "{prior_id} does not imply {implied_id}."
        )));
    }
    Ok((prior, implied))
}

/// `GET /v3/roles/{prior}/implies/{implied}`
pub async fn show_implied(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path((prior_id, implied_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (prior, implied) = existing_implication(
        &id,
        &caller,
        "identity:get_implied_role",
        &prior_id,
        &implied_id,
    )
    .await?;
    Ok(Json(inference(&url, &prior, &implied)))
}

/// `HEAD /v3/roles/{prior}/implies/{implied}`
pub async fn check_implied(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((prior_id, implied_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    existing_implication(
        &id,
        &caller,
        "identity:get_implied_role",
        &prior_id,
        &implied_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v3/roles/{prior}/implies/{implied}`
pub async fn delete_implied(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((prior_id, implied_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (prior, implied) = existing_implication(
        &id,
        &caller,
        "identity:delete_implied_role",
        &prior_id,
        &implied_id,
    )
    .await?;
    let key = RoleImplication::key(&prior.id, &implied.id);
    let mut tx = id.store.begin().await?;
    tx.delete::<RoleImplication>(&key, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.implied_role.delete",
        "role_implication",
        &key,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn implied_by(url: &PublicUrl, snap: &Snapshot, prior: &Role) -> Value {
    let mut implied: Vec<&Role> = snap
        .implications
        .iter()
        .filter(|i| i.prior_role_id == prior.id)
        .filter_map(|i| snap.roles.get(&i.implied_role_id))
        .collect();
    implied.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "prior_role": views::role_ref(url, prior),
        "implies": implied.into_iter().map(|r| views::role_ref(url, r)).collect::<Vec<_>>(),
    })
}

/// `GET /v3/roles/{prior}/implies`
pub async fn list_implied(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(prior_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let prior = load(&id, &caller, "identity:list_implied_roles", &prior_id).await?;
    let snap = id.directory.snapshot().await?;
    Ok(Json(json!({
        "role_inference": implied_by(&url, &snap, &prior),
        "links": {"self": url.join(&format!("/identity/v3/roles/{}/implies", prior.id))},
    })))
}

/// `GET /v3/role_inferences`
pub async fn inferences(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "identity:list_role_inference_rules",
        &Target::new("role", ""),
    )?;
    let snap = id.directory.snapshot().await?;
    let mut priors: Vec<&Role> = snap
        .roles
        .values()
        .filter(|r| snap.implications.iter().any(|i| i.prior_role_id == r.id))
        .collect();
    priors.sort_by(|a, b| a.id.cmp(&b.id));
    let list: Vec<Value> = priors
        .into_iter()
        .map(|r| implied_by(&url, &snap, r))
        .collect();
    Ok(Json(json!({
        "role_inferences": list,
        "links": {"self": url.join("/identity/v3/role_inferences"), "previous": null, "next": null},
    })))
}
