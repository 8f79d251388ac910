//! Two-factor login for the logged-in user: enrol a TOTP authenticator (the
//! console draws the secret, shows it and its `otpauth://` link, and stores it
//! as a Keystone `totp` credential only after a correct passcode proves the app
//! has it), or remove it (again only with a current passcode). Once enrolled,
//! every password login needs a passcode too (Keystone's MFA rules).

use crate::api_client::failure;
use crate::form::Form;
use crate::pages::identity::list;
use crate::pages::layout::{csrf_field, page, s};
use crate::pages::{back, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use nimbus_identity::totp;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/mfa", get(index).post(enrol))
        .route("/console/mfa/remove", post(remove))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn own_totp(ctx: &Ctx<'_>) -> Vec<Value> {
    let user = &ctx.session.principal.user_id;
    list(
        &ctx.api(),
        &format!("/identity/v3/credentials?user_id={user}&type=totp"),
        "credentials",
    )
    .await
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    show(&ctx, &notice, &totp::new_secret()).await
}

/// The page, offering `secret` for enrolment (the same one again after a wrong
/// passcode, since the user's app has it already).
async fn show(ctx: &Ctx<'_>, notice: &Notice, secret: &str) -> Response {
    let session = ctx.session;
    let enrolled = own_totp(ctx).await;
    let csrf = ctx.csrf();
    let url = totp::otpauth_url(secret, &session.principal.user_name).unwrap_or_default();
    let content = html! {
        @if enrolled.is_empty() {
            p { "Your logins need only your password. Add an authenticator app (any TOTP app) so that they also need a passcode from it." }
            ol {
                li { "In the app, add an account with this secret: " code id="totp-secret" { (secret) }
                     " (or open " a href=(url) { "this otpauth link" } " on the device with the app)." }
                li { "Enter the passcode the app shows now." }
            }
            form method="post" action="/console/mfa" class="stacked" {
                (csrf_field(&csrf))
                input type="hidden" name="secret" value=(secret);
                label for="code" { "Passcode" }
                input id="code" name="passcode" required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}";
                button type="submit" { "Turn on two-factor login" }
            }
        } @else {
            p id="mfa-on" { "Two-factor login is on: your password logins also need a passcode from your authenticator app." }
            form method="post" action="/console/mfa/remove" class="stacked" {
                (csrf_field(&csrf))
                label for="code" { "Current passcode" }
                input id="code" name="passcode" required inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}";
                button type="submit" class="danger" { "Turn off two-factor login" }
            }
        }
    };
    page(ctx, "Two-factor login", notice, content).await
}

async fn enrol(State(console): State<Arc<Console>>, form: Form) -> Response {
    let ctx = Ctx::new(&console, &form.session);
    let secret = form.fields.raw("secret");
    if !totp::valid_secret(secret) {
        return back(
            "/console/mfa",
            Err(failure(
                StatusCode::BAD_REQUEST,
                "The form is broken: reload the page.".into(),
            )),
        );
    }
    if totp::matching_step(secret, form.fields.raw("passcode"), now()).is_none() {
        let notice = Notice {
            done: None,
            error: Some(
                "That passcode does not match: check the secret in your app and try again.".into(),
            ),
        };
        return show(&ctx, &notice, secret).await;
    }
    let body = json!({"credential": {"type": "totp", "blob": secret,
        "user_id": form.session.principal.user_id}});
    let outcome = ctx
        .api()
        .post("/identity/v3/credentials", &body)
        .await
        .map(|_| "Two-factor login is on.".to_string());
    back("/console/mfa", outcome)
}

async fn remove(State(console): State<Arc<Console>>, form: Form) -> Response {
    let ctx = Ctx::new(&console, &form.session);
    let passcode = form.fields.raw("passcode");
    let creds = own_totp(&ctx).await;
    if !creds
        .iter()
        .any(|c| totp::matching_step(s(c, "blob"), passcode, now()).is_some())
    {
        return back(
            "/console/mfa",
            Err(failure(
                StatusCode::BAD_REQUEST,
                "That passcode does not match.".into(),
            )),
        );
    }
    let api = ctx.api();
    for c in &creds {
        if let Err(e) = api
            .delete(&format!("/identity/v3/credentials/{}", s(c, "id")))
            .await
        {
            return back("/console/mfa", Err(e));
        }
    }
    back("/console/mfa", Ok("Two-factor login is off.".into()))
}
