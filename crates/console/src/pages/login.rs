//! Login, scope switching and logout. Login is Keystone's password method with
//! the domain, user and password from the form; the session then holds a token
//! scoped to the user's default project (or the first project, or domain, she
//! has a role on). Switching asks Keystone for a token of the other scope with
//! the token method and revokes the old one; logout revokes the token.

use super::error_page;
use crate::api_client::{failure, Api, ApiFailure};
use crate::form::{Form, LoginForm};
use crate::session::{cookie, set_cookie, LOGIN_COOKIE, SESSION_COOKIE};
use crate::Console;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, DOCTYPE};
use rand::RngCore;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/totp", post(login_totp))
        .route("/logout", post(logout))
        .route("/switch", post(switch))
}

/// The login form (with a fresh double-submit token when the browser has none).
fn login_form(csrf: &str, domain: &str, user: &str, error: Option<&str>) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Log in · Nimbus" }
                    link rel="stylesheet" href="/assets/console.css";
                }
                body { main class="narrow" id="main" {
                    h1 { "Nimbus" }
                    @if let Some(e) = error { p class="error" role="alert" { (e) } }
                    form method="post" action="/login" class="stacked" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="domain" { "Domain" }
                        input id="domain" name="domain" value=(domain) required autocomplete="organization";
                        label for="user" { "User name" }
                        input id="user" name="user" value=(user) required autocomplete="username" autofocus;
                        label for="password" { "Password" }
                        input id="password" name="password" type="password" required autocomplete="current-password";
                        button type="submit" { "Log in" }
                    }
                    p { a href="/status" { "Service status" } }
                } }
            }
        }
        .into_string(),
    )
}

async fn login_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (token, fresh) = match cookie(&headers, LOGIN_COOKIE).filter(|c| c.len() >= 32) {
        Some(t) => (t, false),
        None => {
            let mut raw = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut raw);
            (hex::encode(raw), true)
        }
    };
    let mut resp = login_form(&token, "Default", "", None).into_response();
    if fresh {
        resp.headers_mut().append(
            SET_COOKIE,
            set_cookie(LOGIN_COOKIE, Some(&token), console.secure_cookies),
        );
    }
    resp
}

/// A new token from Keystone (`X-Subject-Token`), with extra request headers.
async fn issue_with(
    console: &Console,
    body: Value,
    headers: &[(&str, &str)],
) -> Result<String, ApiFailure> {
    let answer = Api::new(console, None)
        .call(
            Method::POST,
            "/identity/v3/auth/tokens",
            Some(&json!({ "auth": body })),
            headers,
        )
        .await?;
    answer
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            failure(
                StatusCode::BAD_GATEWAY,
                "Keystone answered without a token.".into(),
            )
        })
}

/// A new token from Keystone.
async fn issue(console: &Console, body: Value) -> Result<String, ApiFailure> {
    issue_with(console, body, &[]).await
}

/// The token method: the same user, another scope.
async fn rescope(console: &Console, token: &str, scope: Value) -> Result<String, ApiFailure> {
    issue(
        console,
        json!({"identity": {"methods": ["token"], "token": {"id": token}}, "scope": scope}),
    )
    .await
}

async fn revoke(console: &Console, token: &str) {
    let _ = Api::new(console, Some(token))
        .call(
            Method::DELETE,
            "/identity/v3/auth/tokens",
            None,
            &[("x-subject-token", token)],
        )
        .await;
}

/// The scope a fresh login starts in: the user's default project, else her first
/// project, else her first domain (domain managers), else none.
async fn first_scope(console: &Console, unscoped: &str) -> Option<Value> {
    let api = Api::new(console, Some(unscoped));
    let projects = api.get("/identity/v3/auth/projects").await.ok()?;
    let projects = projects["projects"].as_array().cloned().unwrap_or_default();
    let me = api
        .call(
            Method::GET,
            "/identity/v3/auth/tokens",
            None,
            &[("x-subject-token", unscoped)],
        )
        .await
        .ok();
    let user_id = me.and_then(|m| m.body["token"]["user"]["id"].as_str().map(str::to_string));
    let default = match user_id {
        Some(id) => api
            .get(&format!("/identity/v3/users/{id}"))
            .await
            .ok()
            .and_then(|u| u["user"]["default_project_id"].as_str().map(str::to_string)),
        None => None,
    };
    if let Some(p) = default
        .and_then(|d| projects.iter().find(|p| p["id"] == d.as_str()).cloned())
        .or_else(|| projects.first().cloned())
    {
        return Some(json!({"project": {"id": p["id"]}}));
    }
    let domains = api.get("/identity/v3/auth/domains").await.ok()?;
    let d = domains["domains"].as_array()?.first()?;
    Some(json!({"domain": {"id": d["id"]}}))
}

async fn login(State(console): State<Arc<Console>>, LoginForm(f): LoginForm) -> Response {
    let domain = f.get("domain").unwrap_or("Default").to_string();
    let user = f.get("user").unwrap_or("").to_string();
    let password = f.raw("password").to_string();
    let failed = |message: &str| {
        let mut resp = login_form(f.raw("csrf"), &domain, &user, Some(message)).into_response();
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        resp
    };
    if user.is_empty() || password.is_empty() {
        return failed("Enter your user name and password.");
    }
    let unscoped = match issue(
        &console,
        json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": domain}, "password": password}}}}),
    )
    .await
    {
        Ok(t) => t,
        Err(e) => {
            return match second_factor(&e) {
                Some((receipt, user_id)) => {
                    totp_form(f.raw("csrf"), &receipt, &user_id, None).into_response()
                }
                None if e.status == StatusCode::UNAUTHORIZED => {
                    failed("The domain, user name or password is not right.")
                }
                None => failed(&e.message),
            }
        }
    };
    start_session(&console, unscoped).await
}

/// The receipt and user of a login that needs its TOTP passcode.
fn second_factor(e: &ApiFailure) -> Option<(String, String)> {
    let receipt = e.headers.get("openstack-auth-receipt")?.to_str().ok()?;
    let wants_totp = e.body["required_auth_methods"]
        .as_array()?
        .iter()
        .any(|rule| {
            rule.as_array()
                .is_some_and(|r| r.iter().any(|m| m == "totp"))
        });
    let user = e.body["receipt"]["user"]["id"].as_str()?;
    wants_totp.then(|| (receipt.to_string(), user.to_string()))
}

/// The second step of a login: the passcode of the user's authenticator app.
fn totp_form(csrf: &str, receipt: &str, user_id: &str, error: Option<&str>) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Second factor · Nimbus" }
                    link rel="stylesheet" href="/assets/console.css";
                }
                body { main class="narrow" id="main" {
                    h1 { "Nimbus" }
                    @if let Some(e) = error { p class="error" role="alert" { (e) } }
                    form method="post" action="/login/totp" class="stacked" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="receipt" value=(receipt);
                        input type="hidden" name="user_id" value=(user_id);
                        label for="passcode" { "Passcode from your authenticator app" }
                        input id="passcode" name="passcode" required autofocus
                            inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}";
                        button type="submit" { "Verify" }
                    }
                    p { a href="/login" { "Start again" } }
                } }
            }
        }
        .into_string(),
    )
}

async fn login_totp(State(console): State<Arc<Console>>, LoginForm(f): LoginForm) -> Response {
    let body = json!({"identity": {"methods": ["totp"], "totp": {"user": {
        "id": f.raw("user_id"), "passcode": f.raw("passcode")}}}});
    match issue_with(
        &console,
        body,
        &[("openstack-auth-receipt", f.raw("receipt"))],
    )
    .await
    {
        Ok(unscoped) => start_session(&console, unscoped).await,
        Err(_) => {
            // A receipt is good for one try: a wrong passcode starts the login again.
            let mut resp = login_form(
                f.raw("csrf"),
                "Default",
                "",
                Some("The passcode was not right (or came too late). Log in again."),
            )
            .into_response();
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
            resp
        }
    }
}

/// After a login: a token of the user's first scope in the session cookie.
async fn start_session(console: &Console, unscoped: String) -> Response {
    let token = match first_scope(console, &unscoped).await {
        Some(scope) => match rescope(console, &unscoped, scope).await {
            Ok(t) => {
                revoke(console, &unscoped).await;
                t
            }
            Err(_) => unscoped,
        },
        None => unscoped,
    };
    let mut resp = Redirect::to("/").into_response();
    let h = resp.headers_mut();
    h.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, Some(&token), console.secure_cookies),
    );
    h.append(
        SET_COOKIE,
        set_cookie(LOGIN_COOKIE, None, console.secure_cookies),
    );
    resp
}

async fn switch(State(console): State<Arc<Console>>, form: Form) -> Response {
    let scope = match form
        .fields
        .get("scope")
        .map(|s| s.split_once(':').unwrap_or((s, "")))
    {
        Some(("project", id)) if !id.is_empty() => json!({"project": {"id": id}}),
        Some(("domain", id)) if !id.is_empty() => json!({"domain": {"id": id}}),
        Some(("system", _)) => json!({"system": {"all": true}}),
        _ => return error_page(StatusCode::BAD_REQUEST, "Choose a project or domain."),
    };
    match rescope(&console, &form.session.token, scope).await {
        Ok(token) => {
            revoke(&console, &form.session.token).await;
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut().append(
                SET_COOKIE,
                set_cookie(SESSION_COOKIE, Some(&token), console.secure_cookies),
            );
            resp
        }
        Err(e) => super::back("/", Err(e)),
    }
}

async fn logout(State(console): State<Arc<Console>>, form: Form) -> Response {
    revoke(&console, &form.session.token).await;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, None, console.secure_cookies),
    );
    resp
}
