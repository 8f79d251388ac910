//! `/v3/credentials` (Keystone's Credentials API): a user's own credentials, or
//! anyone's for a cloud admin. Type `totp` enrols a TOTP second factor: its blob
//! must be a base32 secret of at least 128 bits, and from then on the user's
//! password logins need a passcode too (see `super::mfa`).

use super::common::*;
use crate::totp;
use crate::types::Credential;
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
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    credential: CredentialFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    blob: Option<String>,
    user_id: Option<String>,
    project_id: Option<String>,
}

fn owner(user_id: &str) -> Target<'_> {
    Target::new("credential", user_id).user(user_id)
}

fn view(url: &PublicUrl, c: &Credential) -> Value {
    json!({
        "id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.kind,
        "blob": c.blob,
        "links": {"self": url.join(&format!("/identity/v3/credentials/{}", c.id))},
    })
}

fn not_found(cred_id: &str) -> ApiError {
    ApiError::not_found(format!("Could not find credential: {cred_id}."))
}

/// Checks a credential's type and blob (a `totp` blob must be a usable secret).
fn check(kind: &str, blob: &str) -> ApiResult<()> {
    if kind.is_empty() || kind.len() > 255 {
        return Err(ApiError::bad_request("Invalid input for field 'type'."));
    }
    if blob.len() > 65_536 {
        return Err(ApiError::bad_request(
            "Invalid input for field 'blob': too long.",
        ));
    }
    if kind == "totp" && !totp::valid_secret(blob) {
        return Err(ApiError::bad_request(
            "Invalid input for field 'blob': a totp blob is a base32 secret of at least 128 bits.",
        ));
    }
    Ok(())
}

async fn load(
    id: &Identity,
    caller: &Principal,
    action: &str,
    cred_id: &str,
) -> ApiResult<Credential> {
    let c = id
        .store
        .get::<Credential>(cred_id)
        .await?
        .ok_or_else(|| not_found(cred_id))?
        .value;
    // Somebody else's credential is not there for the caller (404, not 403).
    authorize(caller, action, &owner(&c.user_id)).map_err(|_| not_found(cred_id))?;
    Ok(c)
}

pub async fn create(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    JsonBody(body): JsonBody<CredentialBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let f = body.credential;
    let (Some(kind), Some(blob), Some(user_id)) = (f.kind, f.blob, f.user_id) else {
        return Err(ApiError::bad_request(
            "A credential needs 'type', 'blob' and 'user_id'.",
        ));
    };
    authorize(&caller, "identity:create_credential", &owner(&user_id))?;
    check(&kind, &blob)?;
    let snap = id.directory.snapshot().await?;
    if !snap.users.contains_key(&user_id) {
        return Err(ApiError::not_found(format!(
            "Could not find user: {user_id}."
        )));
    }
    let cred = Credential {
        id: uuid::Uuid::new_v4().simple().to_string(),
        user_id,
        project_id: f.project_id,
        kind,
        blob,
    };
    let mut tx = id.store.begin().await?;
    tx.create(&cred).await?;
    commit_audited(
        tx,
        &caller,
        "identity.credential.create",
        "credential",
        &cred.id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": view(&url, &cred)})),
    ))
}

pub async fn list(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    OriginalUri(uri): OriginalUri,
    q: Query,
) -> ApiResult<Json<Value>> {
    q.only(&[PAGING, &["user_id", "type"]].concat())?;
    // Admins may list anyone's; others see their own (a filter for another user
    // is refused as Keystone does).
    let user = match q.get("user_id") {
        Some(u) => {
            authorize(&caller, "identity:list_credentials", &owner(u))?;
            Some(u.to_string())
        }
        None if caller.is_cloud_admin() || caller.is_system_reader() => None,
        None => Some(caller.user_id.clone()),
    };
    let creds: Vec<Credential> = id
        .store
        .list::<Credential>(user.as_deref())
        .await?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| matches(q.get("type"), &c.kind))
        .collect();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok(Json(collection(
        "credentials",
        creds,
        |c| &c.id,
        |c| view(&url, c),
        &url,
        path,
        &q,
    )?))
}

pub async fn show(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(cred_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = load(&id, &caller, "identity:get_credential", &cred_id).await?;
    Ok(Json(json!({"credential": view(&url, &c)})))
}

pub async fn update(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
    Path(cred_id): Path<String>,
    JsonBody(body): JsonBody<CredentialBody>,
) -> ApiResult<Json<Value>> {
    let mut c = load(&id, &caller, "identity:update_credential", &cred_id).await?;
    let f = body.credential;
    if f.user_id.as_ref().is_some_and(|u| *u != c.user_id) {
        return Err(ApiError::bad_request(
            "A credential cannot change its user.",
        ));
    }
    if let Some(k) = f.kind {
        c.kind = k;
    }
    if let Some(b) = f.blob {
        c.blob = b;
    }
    if f.project_id.is_some() {
        c.project_id = f.project_id;
    }
    check(&c.kind, &c.blob)?;
    let mut tx = id.store.begin().await?;
    tx.update(&c, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.credential.update",
        "credential",
        &c.id,
    )
    .await?;
    Ok(Json(json!({"credential": view(&url, &c)})))
}

pub async fn delete(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    Path(cred_id): Path<String>,
) -> ApiResult<StatusCode> {
    let c = load(&id, &caller, "identity:delete_credential", &cred_id).await?;
    let mut tx = id.store.begin().await?;
    tx.delete::<Credential>(&c.id, None).await?;
    commit_audited(
        tx,
        &caller,
        "identity.credential.delete",
        "credential",
        &c.id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
