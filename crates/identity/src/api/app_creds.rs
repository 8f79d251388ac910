//! `/v3/users/{id}/application_credentials`: credentials for automation, bound to
//! the project of the token that made them, with a subset of its roles and an
//! optional expiry. The secret is shown once, at creation, and stored hashed.

use super::auth::parse_time;
use super::common::*;
use super::views;
use crate::password;
use crate::types::*;
use crate::Identity;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use nimbus_api::auth::{Auth, Principal};
use nimbus_api::body::JsonBody;
use nimbus_api::links::PublicUrl;
use nimbus_api::policy::{authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateAppCred {
    application_credential: NewAppCred,
}

#[derive(Deserialize)]
struct NewAppCred {
    name: String,
    description: Option<String>,
    secret: Option<String>,
    expires_at: Option<String>,
    roles: Option<Vec<RoleSel>>,
    unrestricted: Option<bool>,
    access_rules: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct RoleSel {
    id: Option<String>,
    name: Option<String>,
}

fn owner_target(user_id: &str) -> Target<'_> {
    Target::new("user", user_id).user(user_id)
}

async fn load(
    id: &Identity,
    caller: &Principal,
    action: &str,
    user_id: &str,
    cred_id: &str,
) -> ApiResult<ApplicationCredential> {
    authorize(caller, action, &owner_target(user_id))?;
    match id.store.get::<ApplicationCredential>(cred_id).await? {
        Some(c) if c.value.user_id == user_id => Ok(c.value),
        _ => Err(ApiError::not_found(format!(
            "Could not find application credential: {cred_id}."
        ))),
    }
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<CreateAppCred>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(
        &caller,
        "identity:create_application_credential",
        &owner_target(&user_id),
    )?;
    let project_id = caller
        .project_id()
        .ok_or_else(|| {
            ApiError::forbidden("Application credentials are created with a project-scoped token.")
        })?
        .to_string();
    if let Some(ac) = &caller.application_credential_id {
        let snap = id.directory.snapshot().await?;
        if !snap
            .application_credentials
            .get(ac)
            .is_some_and(|c| c.unrestricted)
        {
            return Err(ApiError::forbidden(
                "A restricted application credential cannot create application credentials.",
            ));
        }
    }
    let c = body.application_credential;
    if c.access_rules.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request("Access rules are not supported."));
    }
    let snap = id.directory.snapshot().await?;
    let held: Vec<String> = caller.roles.iter().map(|r| r.id.clone()).collect();
    // No roles, or an empty list, means the roles of the creating token, fixed now.
    let roles = match c.roles.filter(|r| !r.is_empty()) {
        None => held.clone(),
        Some(sel) => {
            let mut ids = Vec::new();
            for s in sel {
                let role = match (&s.id, &s.name) {
                    (Some(rid), _) => snap.roles.get(rid),
                    (None, Some(name)) => snap.role_by_name(name),
                    _ => None,
                }
                .ok_or_else(|| ApiError::bad_request("Each role needs an existing id or name."))?;
                if !held.contains(&role.id) {
                    return Err(ApiError::forbidden(format!(
                        "You do not hold the role {} on this project.",
                        role.name
                    )));
                }
                ids.push(role.id.clone());
            }
            ids
        }
    };
    let expires_at = c
        .expires_at
        .as_deref()
        .map(|t| parse_time("expires_at", t))
        .transpose()?;
    if expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
        return Err(ApiError::bad_request("expires_at is in the past."));
    }
    let secret = match c.secret {
        Some(s) if !s.is_empty() => s,
        _ => {
            let mut bytes = [0u8; 48];
            rand::thread_rng().fill_bytes(&mut bytes);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        }
    };
    let cred = ApplicationCredential {
        id: new_id(),
        name: check_name("name", &c.name)?,
        user_id: user_id.clone(),
        project_id,
        description: c.description.unwrap_or_default(),
        secret_hash: password::hash(secret.clone()).await,
        expires_at,
        roles,
        unrestricted: c.unrestricted.unwrap_or(false),
    };
    let mut tx = id.store.begin().await?;
    tx.create(&cred).await?;
    commit_audited(
        tx,
        &caller,
        "identity.application_credential.create",
        "application_credential",
        &cred.id,
    )
    .await?;
    let snap = id.directory.snapshot().await?;
    let mut v = views::application_credential(&url, &snap, &cred);
    v["secret"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": v})),
    ))
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    Path(user_id): Path<String>,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["name"]].concat())?;
    authorize(
        &caller,
        "identity:list_application_credentials",
        &owner_target(&user_id),
    )?;
    let creds: Vec<ApplicationCredential> = id
        .store
        .list::<ApplicationCredential>(Some(&user_id))
        .await?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| matches(q.get("name"), &c.name))
        .collect();
    let snap = id.directory.snapshot().await?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "application_credentials",
        creds,
        |c| &c.id,
        |c| views::application_credential(&url, &snap, c),
        &url,
        path,
        &q,
    )?))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path((user_id, cred_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let c = load(
        &id,
        &caller,
        "identity:get_application_credential",
        &user_id,
        &cred_id,
    )
    .await?;
    let snap = id.directory.snapshot().await?;
    Ok(Json(
        json!({"application_credential": views::application_credential(&url, &snap, &c)}),
    ))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path((user_id, cred_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = load(
        &id,
        &caller,
        "identity:delete_application_credential",
        &user_id,
        &cred_id,
    )
    .await?;
    let mut tx = id.store.begin().await?;
    tx.delete::<ApplicationCredential>(&c.id, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.application_credential.delete",
        "application_credential",
        &c.id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
