//! `/v3/users`: create, list, show, update, delete, change password, and a user's
//! groups and projects. Disabling a user, deleting her or changing her password
//! revokes her tokens (through `User::tokens_revoked_at`).

use super::common::*;
use super::views;
use crate::password;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nimbus_api::auth::Auth;
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateUser {
    user: NewUser,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    domain_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    default_project_id: Option<String>,
    description: Option<String>,
    email: Option<String>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct UpdateUser {
    user: UserPatch,
}

#[derive(Deserialize)]
struct UserPatch {
    name: Option<String>,
    domain_id: Option<String>,
    password: Option<String>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::nullable")]
    default_project_id: Option<Option<String>>,
    description: Option<String>,
    #[serde(default, deserialize_with = "super::nullable")]
    email: Option<Option<String>>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct ChangePassword {
    user: PasswordChange,
}

#[derive(Deserialize)]
struct PasswordChange {
    password: String,
    original_password: String,
}

/// Loads a user the caller may see under `action`.
async fn load(
    id: &Identity,
    caller: &nimbus_api::auth::Principal,
    action: &str,
    user_id: &str,
) -> ApiResult<User> {
    let user = id
        .store
        .get::<User>(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Could not find user: {user_id}.")))?
        .value;
    authorize(
        caller,
        action,
        &Target::new("user", user_id)
            .domain(&user.domain_id)
            .user(&user.id),
    )?;
    Ok(user)
}

fn check_password(pw: &str) -> ApiResult<()> {
    if pw.is_empty() || pw.len() > 4096 {
        return Err(ApiError::bad_request(
            "Invalid input for field 'password': must be 1 to 4096 bytes.",
        ));
    }
    Ok(())
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Response> {
    q.only(
        &[
            PAGING,
            &[
                "name",
                "domain_id",
                "enabled",
                "idp_id",
                "protocol_id",
                "unique_id",
                "password_expires_at",
            ],
        ]
        .concat(),
    )?;
    // Which users the caller may list: every user, a domain's, or only herself
    // (members and readers may not list users, but see themselves: this is what
    // lets `--user <own name>` resolve in the CLI).
    let scope = match list_domain(&caller, "identity:list_users", "user", q.get("domain_id")) {
        Ok(None) => "all".to_string(),
        Ok(Some(domain)) => format!("domain:{domain}"),
        Err(e) if e.status == StatusCode::FORBIDDEN => format!("self:{}", caller.user_id),
        Err(e) => return Err(e),
    };
    let enabled = q.bool("enabled")?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/identity/v3/users");
    // Served from the directory snapshot, rendered once per directory revision.
    let snap = id.directory.snapshot().await?;
    let body = id.rendered(format!("users|{scope}|{path}"), snap.revision, || {
        let users: Vec<&User> = snap
            .users
            .values()
            .filter(|u| match scope.split_once(':') {
                Some(("domain", d)) => u.domain_id == d,
                Some(("self", me)) => u.id == me,
                _ => true,
            })
            .filter(|u| {
                matches(q.get("name"), &u.name)
                    && matches_bool(enabled, u.enabled)
                    && matches(q.get("domain_id"), &u.domain_id)
            })
            .collect();
        collection(
            "users",
            users,
            |u| &u.id,
            |u| views::user(&url, u),
            &url,
            path,
            &q,
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let u = body.user;
    let name = check_name("name", &u.name)?;
    let domain_id = u
        .domain_id
        .or_else(|| caller.scope_domain_id().map(str::to_string))
        .unwrap_or_else(|| caller.user_domain_id.clone());
    authorize(
        &caller,
        "identity:create_user",
        &Target::new("domain", &domain_id).domain(&domain_id),
    )?;
    let snap = id.directory.snapshot().await?;
    if !snap.domains.contains_key(&domain_id) {
        return Err(ApiError::bad_request(format!(
            "Domain {domain_id} does not exist."
        )));
    }
    if let Some(p) = &u.default_project_id {
        if !snap.projects.contains_key(p) {
            return Err(ApiError::bad_request(format!(
                "Project {p} does not exist."
            )));
        }
    }
    let password_hash = match u.password {
        Some(pw) => {
            check_password(&pw)?;
            Some(password::hash(pw).await)
        }
        None => None,
    };
    let user = User {
        id: new_id(),
        name,
        domain_id,
        enabled: u.enabled.unwrap_or(true),
        default_project_id: u.default_project_id,
        description: u.description.unwrap_or_default(),
        email: u.email,
        password_changed_at: password_hash.as_ref().map(|_| chrono::Utc::now()),
        password_hash,
        tokens_revoked_at: 0,
        extra: super::clean_extra(u.extra, u.options),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&user).await?;
    commit_audited(tx, &caller, "identity.user.create", "user", &user.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": views::user(&url, &user)})),
    ))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = load(&id, &caller, "identity:get_user", &user_id).await?;
    Ok(Json(json!({"user": views::user(&url, &user)})))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> ApiResult<Json<Value>> {
    let mut user = load(&id, &caller, "identity:update_user", &user_id).await?;
    let p = body.user;
    if p.domain_id.as_ref().is_some_and(|d| *d != user.domain_id) {
        return Err(ApiError::bad_request(
            "A user cannot be moved to another domain.",
        ));
    }
    let mut revoke = false;
    if let Some(name) = p.name {
        user.name = check_name("name", &name)?;
    }
    if let Some(enabled) = p.enabled {
        revoke |= user.enabled && !enabled;
        user.enabled = enabled;
    }
    if let Some(dp) = p.default_project_id {
        user.default_project_id = dp;
    }
    if let Some(d) = p.description {
        user.description = d;
    }
    if let Some(e) = p.email {
        user.email = e;
    }
    if let Some(pw) = p.password {
        check_password(&pw)?;
        user.password_hash = Some(password::hash(pw).await);
        user.password_changed_at = Some(chrono::Utc::now());
        revoke = true;
    }
    for (k, v) in super::clean_extra(p.extra, p.options) {
        user.extra.insert(k, v);
    }
    let mut tx = id.store.begin().await?;
    if revoke {
        user.tokens_revoked_at = tx.revision().await?;
    }
    tx.update(&user, None).await?;
    commit_audited(tx, &caller, "identity.user.update", "user", &user.id).await?;
    Ok(Json(json!({"user": views::user(&url, &user)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = load(&id, &caller, "identity:delete_user", &user_id).await?;
    let mut tx = id.store.begin().await?;
    tx.delete::<User>(&user.id, None).await?;
    super::grants::delete_references(&mut tx, std::slice::from_ref(&user.id)).await?;
    commit_audited(tx, &caller, "identity.user.delete", "user", &user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{id}/password`: the user herself, proving the old password.
pub async fn change_password(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<ChangePassword>,
) -> ApiResult<StatusCode> {
    let mut user = load(&id, &caller, "identity:change_password", &user_id).await?;
    check_password(&body.user.password)?;
    let ok = match &user.password_hash {
        Some(h) => password::verify(body.user.original_password, h.clone()).await,
        None => false,
    };
    if !ok {
        let mut tx = id.store.begin().await?;
        nimbus_api::audit::AuditRecord::new(
            Some(&caller),
            "identity.user.change_password",
            "user",
            &user.id,
            false,
        )
        .with_detail("wrong original password")
        .write(&mut tx)
        .await?;
        tx.commit().await?;
        return Err(ApiError::unauthorized(
            "The original password is not correct.",
        ));
    }
    user.password_hash = Some(password::hash(body.user.password).await);
    user.password_changed_at = Some(chrono::Utc::now());
    let mut tx = id.store.begin().await?;
    user.tokens_revoked_at = tx.revision().await?;
    tx.update(&user, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.user.change_password",
        "user",
        &user.id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/users/{id}/groups`
pub async fn groups(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path(user_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name", "domain_id"]].concat())?;
    let user = load(&id, &caller, "identity:list_groups_for_user", &user_id).await?;
    let snap = id.directory.snapshot().await?;
    let groups: Vec<Group> = snap
        .groups_of_user
        .get(&user.id)
        .into_iter()
        .flatten()
        .filter_map(|g| snap.groups.get(g).cloned())
        .filter(|g| matches(q.get("name"), &g.name) && matches(q.get("domain_id"), &g.domain_id))
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

/// `GET /v3/users/{id}/projects`: projects where the user holds any role.
pub async fn projects(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path(user_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name", "domain_id", "enabled"]].concat())?;
    let user = load(&id, &caller, "identity:list_user_projects", &user_id).await?;
    let snap = id.directory.snapshot().await?;
    let enabled = q.bool("enabled")?;
    let projects: Vec<Project> = snap
        .projects
        .values()
        .filter(|p| {
            !snap
                .effective_roles(&user.id, &TokenScope::Project(p.id.clone()))
                .is_empty()
        })
        .filter(|p| matches(q.get("name"), &p.name) && matches(q.get("domain_id"), &p.domain_id))
        .filter(|p| matches_bool(enabled, p.enabled))
        .cloned()
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "projects",
        projects,
        |p| &p.id,
        |p| views::project(&url, p),
        &url,
        path,
        &q,
    )?))
}
