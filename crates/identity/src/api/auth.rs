//! `/v3/auth/*`: issuing tokens (password, token and application-credential methods;
//! unscoped, project, domain or system scope), validating, checking and revoking them,
//! and the caller's own catalog, projects, domains and system access.

use super::views;
use crate::directory::Snapshot;
use crate::tokens::TokenRequest;
use crate::types::*;
use crate::Identity;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use nimbus_api::audit::AuditRecord;
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
pub struct AuthRequest {
    auth: AuthBody,
}

#[derive(Deserialize)]
struct AuthBody {
    identity: IdentityBody,
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentityBody {
    methods: Vec<String>,
    password: Option<PasswordBody>,
    token: Option<TokenBody>,
    application_credential: Option<AppCredBody>,
    totp: Option<super::mfa::TotpBody>,
}

#[derive(Deserialize)]
struct PasswordBody {
    user: UserRef,
}

/// A user as an auth method names her, with her secret for that method.
#[derive(Deserialize)]
pub struct UserRef {
    id: Option<String>,
    name: Option<String>,
    password: Option<String>,
    /// The `totp` method's passcode.
    pub(crate) passcode: Option<String>,
    domain: Option<NameOrId>,
}

#[derive(Deserialize)]
struct NameOrId {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct TokenBody {
    id: String,
}

#[derive(Deserialize)]
struct AppCredBody {
    id: Option<String>,
    name: Option<String>,
    secret: String,
    user: Option<UserRef>,
}

fn unauthorized() -> ApiError {
    ApiError::authentication_required()
}

/// `POST /v3/auth/tokens`
pub async fn issue(
    State(id): State<Arc<Identity>>,
    Query(_q): Query,
    headers: HeaderMap,
    JsonBody(req): JsonBody<AuthRequest>,
) -> ApiResult<Response> {
    let AuthBody { identity, scope } = req.auth;
    if identity.methods.is_empty() {
        return Err(ApiError::bad_request(
            "identity.methods must name at least one method.",
        ));
    }
    let snap = id.directory.snapshot().await?;
    let method = identity.methods[0].as_str();
    let mut methods = identity.methods.clone();
    let (user_id, mut requested_scope, expires_at, audit_id, app_cred) = match method {
        "password" | "totp" => {
            let receipt = match headers.get("openstack-auth-receipt") {
                Some(v) => Some(
                    v.to_str()
                        .ok()
                        .and_then(|r| id.receipts.take(r))
                        .ok_or_else(|| ApiError::unauthorized("The auth receipt is not valid."))?,
                ),
                None => None,
            };
            let (user_id, done) = factors(
                &id,
                &snap,
                identity.password,
                identity.totp,
                &identity.methods,
                receipt,
            )
            .await?;
            let user = snap.users.get(&user_id).ok_or_else(unauthorized)?;
            let rules = super::mfa::rules(&id, user).await?;
            if !super::mfa::satisfied(&rules, &done) {
                return super::mfa::receipt_response(&id, user, &done, &rules);
            }
            methods = done;
            (user_id, None, None, None, None)
        }
        "token" => {
            let body = identity.token.ok_or_else(|| {
                ApiError::bad_request("identity.token is required for the token method.")
            })?;
            let record = id.find_token(&body.id).await?.ok_or_else(unauthorized)?;
            id.validate(&record).await?;
            if record.application_credential_id.is_some() {
                return Err(ApiError::forbidden(
                    "A token created from an application credential cannot be rescoped.",
                ));
            }
            (
                record.user_id.clone(),
                None,
                Some(record.expires_at),
                Some(record.audit_id.clone()),
                None,
            )
        }
        "application_credential" => {
            let body = identity.application_credential.ok_or_else(|| {
                ApiError::bad_request(
                    "identity.application_credential is required for that method.",
                )
            })?;
            let cred = app_cred_login(&id, &snap, body).await?;
            (
                cred.user_id.clone(),
                Some(TokenScope::Project(cred.project_id.clone())),
                cred.expires_at,
                None,
                Some(cred),
            )
        }
        other => {
            return Err(ApiError::unauthorized(format!(
                "Attempted to authenticate with an unsupported method: {other}."
            )))
        }
    };
    let user = snap.users.get(&user_id).ok_or_else(unauthorized)?;
    if app_cred.is_none() {
        requested_scope = match scope {
            Some(s) => Some(parse_scope(&snap, &s)?),
            None => user
                .default_project_id
                .as_ref()
                .filter(|p| {
                    let s = TokenScope::Project((*p).clone());
                    snap.scope_enabled(&s) && !snap.effective_roles(&user_id, &s).is_empty()
                })
                .map(|p| TokenScope::Project(p.clone())),
        };
    }
    let scope = requested_scope.unwrap_or(TokenScope::Unscoped);
    let roles: Vec<String> = match (&scope, &app_cred) {
        (TokenScope::Unscoped, _) => vec![],
        (_, Some(cred)) => {
            let held = snap.effective_roles(&user_id, &scope);
            cred.roles
                .iter()
                .filter(|r| held.contains(*r))
                .cloned()
                .collect()
        }
        _ => {
            if !snap.scope_enabled(&scope) {
                return Err(unauthorized());
            }
            snap.effective_roles(&user_id, &scope)
                .iter()
                .cloned()
                .collect()
        }
    };
    if scope != TokenScope::Unscoped && roles.is_empty() {
        return Err(ApiError::unauthorized(format!(
            "User {user_id} has no access to the requested scope."
        )));
    }
    let (token, record) = id
        .issue_token(TokenRequest {
            user_id,
            scope,
            roles,
            methods,
            expires_at,
            audit_id,
            application_credential_id: app_cred.map(|c| c.id.clone()),
        })
        .await?;
    let principal = id.validate_uncached(&record).await?;
    let body = token_body(&id, &snap, &record, &principal, true);
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&token).map_err(|_| ApiError::internal("token encoding"))?,
    );
    Ok(resp)
}

/// The password and TOTP factors of a login (with what a receipt already
/// proved): every method named must succeed, all for the same user. Returns
/// the user and the methods done.
async fn factors(
    id: &Identity,
    snap: &Snapshot,
    password: Option<PasswordBody>,
    totp: Option<super::mfa::TotpBody>,
    methods: &[String],
    receipt: Option<super::mfa::Receipt>,
) -> ApiResult<(String, Vec<String>)> {
    let (mut user, mut done) = match receipt {
        Some(r) => (Some(r.user_id), r.methods),
        None => (None, Vec::new()),
    };
    let (mut password, mut totp) = (password, totp);
    for m in methods {
        let who = match m.as_str() {
            "password" => {
                let body = password.take().ok_or_else(|| {
                    ApiError::bad_request("identity.password is required for the password method.")
                })?;
                password_login(id, snap, body.user).await?
            }
            "totp" => {
                let body = totp.take().ok_or_else(|| {
                    ApiError::bad_request("identity.totp is required for the totp method.")
                })?;
                super::mfa::totp_login(id, snap, body).await?
            }
            other => {
                return Err(ApiError::unauthorized(format!(
                    "Attempted to authenticate with an unsupported method: {other}."
                )))
            }
        };
        if user.as_ref().is_some_and(|u| *u != who) {
            return Err(unauthorized());
        }
        user = Some(who);
        if !done.contains(m) {
            done.push(m.clone());
        }
    }
    Ok((user.ok_or_else(unauthorized)?, done))
}

/// The user an auth method names (by id, or by name in a domain).
pub fn find_user<'s>(snap: &'s Snapshot, user: &UserRef) -> ApiResult<Option<&'s User>> {
    Ok(match (&user.id, &user.name) {
        (Some(uid), _) => snap.users.get(uid),
        (None, Some(name)) => {
            let domain = user.domain.as_ref().ok_or_else(|| {
                ApiError::bad_request("A user named by name needs a domain (id or name).")
            })?;
            let domain_id = resolve_domain(snap, domain).ok_or_else(unauthorized)?;
            snap.user_by_name(&domain_id, name)
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "identity.password.user needs an id or a name.",
            ))
        }
    })
}

/// Counts a failed login of a known user (locking her after too many) and
/// audits it.
pub async fn record_failure(id: &Identity, user_id: &str, reason: &str) -> ApiResult<()> {
    let mut state = id
        .store
        .get::<LoginState>(user_id)
        .await?
        .map(|s| s.value)
        .unwrap_or_else(|| LoginState {
            id: user_id.to_string(),
            ..Default::default()
        });
    state.failures += 1;
    if id.config.lockout_failures > 0 && state.failures >= id.config.lockout_failures {
        state.failures = 0;
        state.locked_until = Some(Utc::now() + id.config.lockout_duration);
    }
    audit_failed_login(id, Some(&state), user_id, reason).await
}

/// Checks a password, counting failures and locking the user after too many.
async fn password_login(id: &Identity, snap: &Snapshot, user: UserRef) -> ApiResult<String> {
    let found = find_user(snap, &user)?;
    let supplied = user.password.unwrap_or_default();
    let Some(found) = found.cloned() else {
        audit_failed_login(
            id,
            None,
            user.name.as_deref().or(user.id.as_deref()).unwrap_or("?"),
            "unknown user",
        )
        .await?;
        return Err(unauthorized());
    };
    let mut state = id
        .store
        .get::<LoginState>(&found.id)
        .await?
        .map(|s| s.value)
        .unwrap_or_else(|| LoginState {
            id: found.id.clone(),
            ..Default::default()
        });
    let now = Utc::now();
    if state.locked_until.is_some_and(|t| t > now) {
        audit_failed_login(id, Some(&state), &found.id, "account locked").await?;
        return Err(ApiError::unauthorized(format!(
            "The account is locked for user: {}.",
            found.id
        )));
    }
    let ok = match &found.password_hash {
        Some(h) => id.passwords.verify(&found.id, supplied, h).await,
        None => false,
    };
    let domain_enabled = snap
        .domains
        .get(&found.domain_id)
        .is_some_and(|d| d.enabled);
    if ok && found.enabled && domain_enabled {
        if state.failures > 0 || state.locked_until.is_some() {
            state.failures = 0;
            state.locked_until = None;
            let mut tx = id.store.begin().await?;
            tx.update(&state, None).await?;
            tx.commit().await?;
        }
        return Ok(found.id);
    }
    if !ok {
        record_failure(id, &found.id, "wrong password").await?;
    } else {
        audit_failed_login(id, Some(&state), &found.id, "user or domain disabled").await?;
    }
    Err(unauthorized())
}

/// Records a failed login (and the updated failure count) in one transaction.
async fn audit_failed_login(
    id: &Identity,
    state: Option<&LoginState>,
    who: &str,
    why: &str,
) -> ApiResult<()> {
    let mut tx = id.store.begin().await?;
    if let Some(state) = state {
        if tx.get::<LoginState>(&state.id).await?.is_some() {
            tx.update(state, None).await?;
        } else {
            tx.create(state).await?;
        }
    }
    let mut record = AuditRecord::new(None, "identity.login", "user", who, false).with_detail(why);
    record.user_id = Some(who.to_string());
    record.write(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn app_cred_login(
    id: &Identity,
    snap: &Snapshot,
    body: AppCredBody,
) -> ApiResult<ApplicationCredential> {
    let cred = match (&body.id, &body.name, &body.user) {
        (Some(cid), _, _) => snap.application_credentials.get(cid),
        (None, Some(name), Some(user)) => {
            let user_id = match (&user.id, &user.name, &user.domain) {
                (Some(uid), _, _) => Some(uid.clone()),
                (None, Some(uname), Some(d)) => resolve_domain(snap, d)
                    .and_then(|did| snap.user_by_name(&did, uname).map(|u| u.id.clone())),
                _ => None,
            };
            snap.application_credentials
                .values()
                .find(|c| Some(&c.user_id) == user_id.as_ref() && &c.name == name)
        }
        _ => {
            return Err(ApiError::bad_request(
                "An application credential needs an id, or a name and a user.",
            ))
        }
    };
    let cred = cred.cloned().ok_or_else(unauthorized)?;
    if cred.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Err(unauthorized());
    }
    if !id
        .passwords
        .verify(&cred.id, body.secret, &cred.secret_hash)
        .await
    {
        return Err(unauthorized());
    }
    Ok(cred)
}

fn resolve_domain(snap: &Snapshot, d: &NameOrId) -> Option<String> {
    match (&d.id, &d.name) {
        (Some(id), _) => snap.domains.contains_key(id).then(|| id.clone()),
        (None, Some(name)) => snap.domain_by_name(name).map(|d| d.id.clone()),
        _ => None,
    }
}

/// Reads `auth.scope`: `{"project":{...}}`, `{"domain":{...}}`, `{"system":{"all":true}}`
/// or `"unscoped"`.
fn parse_scope(snap: &Snapshot, scope: &Value) -> ApiResult<TokenScope> {
    let bad = |m: &str| ApiError::bad_request(format!("Invalid auth.scope: {m}"));
    if scope.as_str() == Some("unscoped") {
        return Ok(TokenScope::Unscoped);
    }
    let obj = scope.as_object().ok_or_else(|| bad("expected an object"))?;
    if let Some(p) = obj.get("project") {
        let p: NameOrIdWithDomain =
            serde_json::from_value(p.clone()).map_err(|e| bad(&e.to_string()))?;
        let project_id = match (p.id, p.name) {
            (Some(pid), _) => pid,
            (None, Some(name)) => {
                let d = p
                    .domain
                    .ok_or_else(|| bad("a project named by name needs a domain"))?;
                let did = resolve_domain(snap, &d).ok_or_else(unauthorized)?;
                snap.project_by_name(&did, &name)
                    .map(|p| p.id.clone())
                    .ok_or_else(unauthorized)?
            }
            _ => return Err(bad("project needs an id or a name")),
        };
        if !snap.projects.contains_key(&project_id) {
            return Err(unauthorized());
        }
        return Ok(TokenScope::Project(project_id));
    }
    if let Some(d) = obj.get("domain") {
        let d: NameOrId = serde_json::from_value(d.clone()).map_err(|e| bad(&e.to_string()))?;
        return resolve_domain(snap, &d)
            .map(TokenScope::Domain)
            .ok_or_else(unauthorized);
    }
    if let Some(s) = obj.get("system") {
        if s.get("all").and_then(Value::as_bool) == Some(true) {
            return Ok(TokenScope::System);
        }
        return Err(bad("system scope must be {\"all\": true}"));
    }
    if obj.contains_key("OS-TRUST:trust") {
        return Err(ApiError::forbidden("Trusts are not supported."));
    }
    Err(bad("expected project, domain or system"))
}

#[derive(Deserialize)]
struct NameOrIdWithDomain {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NameOrId>,
}

/// The token document (`{"token": {...}}`) for a validated record.
pub fn token_body(
    id: &Identity,
    snap: &Snapshot,
    record: &TokenRecord,
    p: &Principal,
    with_catalog: bool,
) -> Value {
    let mut t = json!({
        "methods": record.methods,
        "user": {
            "id": p.user_id, "name": p.user_name, "password_expires_at": null,
            "domain": {"id": p.user_domain_id, "name": p.user_domain_name},
        },
        "audit_ids": [record.audit_id],
        "issued_at": views::time(&record.issued_at),
        "expires_at": views::time(&record.expires_at),
    });
    let roles: Vec<Value> = p
        .roles
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name}))
        .collect();
    match &p.scope {
        nimbus_api::auth::Scope::Unscoped => {}
        nimbus_api::auth::Scope::Project {
            id: pid,
            name,
            domain_id,
            domain_name,
        } => {
            t["project"] =
                json!({"id": pid, "name": name, "domain": {"id": domain_id, "name": domain_name}});
            t["is_domain"] = json!(false);
            t["roles"] = json!(roles);
        }
        nimbus_api::auth::Scope::Domain { id: did, name } => {
            t["domain"] = json!({"id": did, "name": name});
            t["roles"] = json!(roles);
        }
        nimbus_api::auth::Scope::System => {
            t["system"] = json!({"all": true});
            t["roles"] = json!(roles);
        }
    }
    if let Some(ac) = &record.application_credential_id {
        let name = snap.application_credentials.get(ac).map(|c| c.name.clone());
        let restricted = snap
            .application_credentials
            .get(ac)
            .is_some_and(|c| !c.unrestricted);
        t["application_credential"] = json!({"id": ac, "name": name, "restricted": restricted});
    }
    if with_catalog && record.scope != TokenScope::Unscoped {
        t["catalog"] = views::catalog(snap);
    }
    let _ = id;
    json!({ "token": t })
}

/// Resolves `X-Subject-Token` for the check/validate/revoke calls (404 if unusable).
async fn subject(
    id: &Identity,
    headers: &HeaderMap,
) -> ApiResult<(Arc<TokenRecord>, Arc<Principal>)> {
    let token = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("X-Subject-Token header is required."))?;
    let not_found = || ApiError::not_found(format!("Could not find token: {token}"));
    let record = id.find_token(token).await?.ok_or_else(not_found)?;
    let principal = id.validate(&record).await.map_err(|_| not_found())?;
    Ok((record, principal))
}

/// `GET /v3/auth/tokens`
pub async fn validate(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    headers: HeaderMap,
    q: Query,
) -> ApiResult<Response> {
    q.only(&["nocatalog", "allow_expired"])?;
    let (record, principal) = subject(&id, &headers).await?;
    authorize(
        &caller,
        "identity:validate_token",
        &Target::new("token", "subject").user(&record.user_id),
    )?;
    let snap = id.directory.snapshot().await?;
    let with_catalog = !q.flag("nocatalog")?;
    let key = format!("token|{}|{with_catalog}", record.id);
    let body = id.rendered(key, snap.revision, || -> ApiResult<Value> {
        Ok(token_body(&id, &snap, &record, &principal, with_catalog))
    })?;
    let mut resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(v) = headers.get("x-subject-token") {
        resp.headers_mut().insert("x-subject-token", v.clone());
    }
    Ok(resp)
}

/// `HEAD /v3/auth/tokens`
pub async fn check(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let (record, _) = subject(&id, &headers).await?;
    authorize(
        &caller,
        "identity:validate_token",
        &Target::new("token", "subject").user(&record.user_id),
    )?;
    Ok(StatusCode::OK)
}

/// `DELETE /v3/auth/tokens`
pub async fn revoke(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let (record, _) = subject(&id, &headers).await?;
    authorize(
        &caller,
        "identity:revoke_token",
        &Target::new("token", "subject").user(&record.user_id),
    )?;
    id.revoke_token(&record).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn self_url(url: &PublicUrl, path: &str) -> Value {
    json!({"self": url.join(path), "previous": null, "next": null})
}

/// `GET /v3/auth/catalog`
pub async fn catalog(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "identity:get_auth_catalog",
        &Target::new("catalog", ""),
    )?;
    let snap = id.directory.snapshot().await?;
    Ok(Json(
        json!({"catalog": views::catalog(&snap), "links": self_url(&url, "/identity/v3/auth/catalog")}),
    ))
}

/// `GET /v3/auth/projects`: enabled projects where the caller holds a role.
pub async fn projects(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "identity:get_auth_projects",
        &Target::new("project", ""),
    )?;
    let snap = id.directory.snapshot().await?;
    let mut list: Vec<&Project> = snap
        .projects
        .values()
        .filter(|p| p.enabled)
        .filter(|p| {
            !snap
                .effective_roles(&caller.user_id, &TokenScope::Project(p.id.clone()))
                .is_empty()
        })
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<Value> = list.into_iter().map(|p| views::project(&url, p)).collect();
    Ok(Json(
        json!({"projects": items, "links": self_url(&url, "/identity/v3/auth/projects")}),
    ))
}

/// `GET /v3/auth/domains`: enabled domains where the caller holds a role.
pub async fn domains(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "identity:get_auth_domains",
        &Target::new("domain", ""),
    )?;
    let snap = id.directory.snapshot().await?;
    let mut list: Vec<&Domain> = snap
        .domains
        .values()
        .filter(|d| d.enabled)
        .filter(|d| {
            !snap
                .effective_roles(&caller.user_id, &TokenScope::Domain(d.id.clone()))
                .is_empty()
        })
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<Value> = list.into_iter().map(|d| views::domain(&url, d)).collect();
    Ok(Json(
        json!({"domains": items, "links": self_url(&url, "/identity/v3/auth/domains")}),
    ))
}

/// `GET /v3/auth/system`
pub async fn system(
    State(id): State<Arc<Identity>>,
    Auth(caller): Auth,
    url: PublicUrl,
) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "identity:get_auth_system",
        &Target::new("system", "all"),
    )?;
    let snap = id.directory.snapshot().await?;
    let has = !snap
        .effective_roles(&caller.user_id, &TokenScope::System)
        .is_empty();
    let system: Vec<Value> = if has {
        vec![json!({"all": true})]
    } else {
        vec![]
    };
    Ok(Json(
        json!({"system": system, "links": self_url(&url, "/identity/v3/auth/system")}),
    ))
}

/// Parses an RFC 3339 timestamp from a request field.
pub fn parse_time(field: &str, v: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| ApiError::bad_request(format!("Invalid timestamp {v:?} for {field}.")))
}
