//! `/v3/groups` and membership (`PUT/HEAD/DELETE /v3/groups/{g}/users/{u}`). Users
//! and groups must share a domain, as a domain manager manages only her own.

use super::common::*;
use super::views;
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
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateGroup {
    group: NewGroup,
}

#[derive(Deserialize)]
struct NewGroup {
    name: String,
    domain_id: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct UpdateGroup {
    group: GroupPatch,
}

#[derive(Deserialize)]
struct GroupPatch {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn load(id: &Identity, caller: &Principal, action: &str, group_id: &str) -> ApiResult<Group> {
    let g = id
        .store
        .get::<Group>(group_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find group: {group_id}.")))?
        .value;
    authorize(
        caller,
        action,
        &Target::new("group", group_id).domain(&g.domain_id),
    )?;
    Ok(g)
}

async fn load_member(
    id: &Identity,
    caller: &Principal,
    group: &Group,
    user_id: &str,
) -> ApiResult<User> {
    let u = id
        .store
        .get::<User>(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find user: {user_id}.")))?
        .value;
    authorize(
        caller,
        "identity:get_user",
        &Target::new("user", user_id)
            .domain(&u.domain_id)
            .user(&u.id),
    )
    .or_else(|e| {
        if e.status == StatusCode::FORBIDDEN {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    if u.domain_id != group.domain_id && !caller.is_cloud_admin() {
        return Err(ApiError::forbidden(
            "A user can only join a group of her own domain.",
        ));
    }
    Ok(u)
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name", "domain_id"]].concat())?;
    let domain = list_domain(&caller, "identity:list_groups", "group", q.get("domain_id"))?;
    let groups: Vec<Group> = id
        .store
        .list::<Group>(domain.as_deref())
        .await?
        .into_iter()
        .map(|g| g.value)
        .filter(|g| matches(q.get("name"), &g.name))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "groups",
        groups,
        |g| &g.id,
        |g| views::group(&url, g),
        &url,
        path,
        &q,
    )?))
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CreateGroup>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let g = body.group;
    let domain_id = g
        .domain_id
        .or_else(|| caller.scope_domain_id().map(str::to_string))
        .unwrap_or_else(|| caller.user_domain_id.clone());
    authorize(
        &caller,
        "identity:create_group",
        &Target::new("domain", &domain_id).domain(&domain_id),
    )?;
    if id.store.get::<Domain>(&domain_id).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "Domain {domain_id} does not exist."
        )));
    }
    let group = Group {
        id: new_id(),
        name: check_name("name", &g.name)?,
        domain_id,
        description: g.description.unwrap_or_default(),
        extra: super::clean_extra(g.extra, None),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&group).await?;
    commit_audited(tx, &caller, "identity.group.create", "group", &group.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"group": views::group(&url, &group)})),
    ))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(group_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = load(&id, &caller, "identity:get_group", &group_id).await?;
    Ok(Json(json!({"group": views::group(&url, &g)})))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(group_id): Path<String>,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> ApiResult<Json<Value>> {
    let mut g = load(&id, &caller, "identity:update_group", &group_id).await?;
    let p = body.group;
    if p.domain_id.as_ref().is_some_and(|d| *d != g.domain_id) {
        return Err(ApiError::bad_request(
            "A group cannot be moved to another domain.",
        ));
    }
    if let Some(name) = p.name {
        g.name = check_name("name", &name)?;
    }
    if let Some(d) = p.description {
        g.description = d;
    }
    for (k, v) in super::clean_extra(p.extra, None) {
        g.extra.insert(k, v);
    }
    let mut tx = id.store.begin().await?;
    tx.update(&g, None).await?;
    commit_audited(tx, &caller, "identity.group.update", "group", &g.id).await?;
    Ok(Json(json!({"group": views::group(&url, &g)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(group_id): Path<String>,
) -> ApiResult<StatusCode> {
    let g = load(&id, &caller, "identity:delete_group", &group_id).await?;
    let mut tx = id.store.begin().await?;
    tx.delete::<Group>(&g.id, None).await?;
    super::grants::delete_references(&mut tx, std::slice::from_ref(&g.id)).await?;
    commit_audited(tx, &caller, "identity.group.delete", "group", &g.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/groups/{g}/users`
pub async fn members(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path(group_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(
        &[
            PAGING,
            &["name", "domain_id", "enabled", "password_expires_at"],
        ]
        .concat(),
    )?;
    let g = load(&id, &caller, "identity:list_users_in_group", &group_id).await?;
    let snap = id.directory.snapshot().await?;
    let enabled = q.bool("enabled")?;
    let users: Vec<User> = snap
        .users_of_group
        .get(&g.id)
        .into_iter()
        .flatten()
        .filter_map(|u| snap.users.get(u).cloned())
        .filter(|u| matches(q.get("name"), &u.name) && matches(q.get("domain_id"), &u.domain_id))
        .filter(|u| matches_bool(enabled, u.enabled))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "users",
        users,
        |u| &u.id,
        |u| views::user(&url, u),
        &url,
        path,
        &q,
    )?))
}

/// `PUT /v3/groups/{g}/users/{u}`
pub async fn add_member(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((group_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let g = load(&id, &caller, "identity:add_user_to_group", &group_id).await?;
    let u = load_member(&id, &caller, &g, &user_id).await?;
    let key = Membership::key(&g.id, &u.id);
    let mut tx = id.store.begin().await?;
    if tx.get::<Membership>(&key).await?.is_none() {
        tx.create(&Membership::new(&g.id, &u.id)).await?;
        commit_audited(tx, &caller, "identity.group.add_user", "membership", &key).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `HEAD /v3/groups/{g}/users/{u}`: 204 if a member, 404 if not.
pub async fn check_member(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((group_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let g = load(&id, &caller, "identity:check_user_in_group", &group_id).await?;
    match id
        .store
        .get::<Membership>(&Membership::key(&g.id, &user_id))
        .await?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found(format!(
            "User {user_id} is not a member of group {group_id}."
        ))),
    }
}

/// `DELETE /v3/groups/{g}/users/{u}`
pub async fn remove_member(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((group_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let g = load(&id, &caller, "identity:remove_user_from_group", &group_id).await?;
    let key = Membership::key(&g.id, &user_id);
    let mut tx = id.store.begin().await?;
    if tx.get::<Membership>(&key).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "User {user_id} is not a member of group {group_id}."
        )));
    }
    tx.delete::<Membership>(&key, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.group.remove_user",
        "membership",
        &key,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
