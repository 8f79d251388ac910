//! The status page (spec 8.7): `/status` for everybody, without a login, and
//! `/console/status` where cloud admins open incidents, post updates, end them
//! and add components. Both read and write the SCS Status Page API at
//! `/status-api` (ADR 0012), the public page without a token.

use crate::api_client::{failure, Api};
use crate::form::Form;
use crate::pages::layout::{csrf_field, page, s};
use crate::pages::{back, id_segment, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{Duration, SecondsFormat, Utc};
use maud::{html, Markup, DOCTYPE};
use nimbus_api::policy::Target;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/status", get(public))
        .route("/console/status", get(admin).post(open_incident))
        .route("/console/status/components", post(add_component))
        .route("/console/status/incidents/{id}/updates", post(add_update))
        .route("/console/status/incidents/{id}/end", post(end_incident))
}

/// How far back the page shows ended incidents.
const HISTORY_DAYS: i64 = 14;

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{"data": [...]}` of a status API list (empty on failure).
async fn data(api: &Api<'_>, path: &str) -> Vec<Value> {
    api.get(path)
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}

/// Everything both pages show.
struct Board {
    components: Vec<Value>,
    incidents: Vec<Value>,
    severities: Vec<Value>,
}

async fn board(api: &Api<'_>) -> Board {
    let end = Utc::now() + Duration::days(3650);
    let start = Utc::now() - Duration::days(HISTORY_DAYS);
    let q = serde_urlencoded::to_string([
        ("start", start.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ("end", end.to_rfc3339_opts(SecondsFormat::Millis, true)),
    ])
    .unwrap_or_default();
    let mut severities = data(api, "/status-api/severities").await;
    severities.sort_by_key(|s| s["value"].as_u64().unwrap_or(0));
    Board {
        components: data(api, "/status-api/components").await,
        incidents: data(api, &format!("/status-api/incidents?{q}")).await,
        severities,
    }
}

/// The severity name of an impact's value: the first severity whose upper end
/// reaches it (the SCS convention).
fn severity_name(severities: &[Value], value: u64) -> String {
    severities
        .iter()
        .find(|s| s["value"].as_u64().unwrap_or(0) >= value)
        .map(|sv| s(sv, "displayName").to_string())
        .unwrap_or_else(|| value.to_string())
}

fn open(incident: &Value) -> bool {
    incident["endedAt"].is_null()
}

fn board_markup(b: &Board) -> Markup {
    let component_name = |id: &str| {
        b.components
            .iter()
            .find(|c| s(c, "id") == id)
            .map(|c| s(c, "displayName").to_string())
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        h2 { "Components" }
        table id="components" {
            thead { tr { th { "Component" } th { "State" } } }
            tbody { @for c in &b.components {
                @let worst = c["activelyAffectedBy"].as_array().into_iter().flatten()
                    .filter_map(|i| i["severity"].as_u64()).max();
                tr {
                    td { (s(c, "displayName")) }
                    td { @match worst {
                        Some(v) => { (severity_name(&b.severities, v)) }
                        None => { "operational" }
                    } }
                }
            } }
        }
        h2 { "Incidents" }
        @let (current, past): (Vec<&Value>, Vec<&Value>) = b.incidents.iter().partition(|i| open(i));
        @if current.is_empty() { p id="no-incidents" { "No open incidents." } }
        @for i in current.iter().chain(past.iter()) {
            article class="incident" {
                h3 { (s(i, "displayName")) @if !open(i) { " (resolved)" } }
                p { "Since " (s(i, "beganAt")) @if !open(i) { ", until " (s(i, "endedAt")) } }
                p { (s(i, "description")) }
                p { "Affects: " @for a in i["affects"].as_array().into_iter().flatten() {
                    (component_name(s(a, "reference"))) " (" (severity_name(&b.severities, a["severity"].as_u64().unwrap_or(0))) ") "
                } }
            }
        }
    }
}

/// `/status`: public.
async fn public(State(console): State<Arc<Console>>) -> Response {
    let api = Api::new(&console, None);
    let b = board(&api).await;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Service status · Nimbus" }
                    link rel="stylesheet" href="/assets/console.css";
                }
                body { main class="narrow wide" id="main" {
                    h1 { "Service status" }
                    (board_markup(&b))
                    p { a href="/login" { "Log in to the console" } }
                } }
            }
        }
        .into_string(),
    )
    .into_response()
}

fn admin_target() -> Target<'static> {
    Target {
        kind: "incident",
        id: "",
        ..Default::default()
    }
}

/// `/console/status`: the board with the admin's controls.
async fn admin(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let b = board(&api).await;
    let types = data(&api, "/status-api/impacttypes").await;
    let can = ctx.can("status:incidents:create", &admin_target());
    let csrf = ctx.csrf();
    let content = html! {
        p { "The public page: " a href="/status" { "/status" } }
        (board_markup(&b))
        @if can {
            @for i in b.incidents.iter().filter(|i| open(i)) {
                h3 { "Update " (s(i, "displayName")) }
                form method="post" action={ "/console/status/incidents/" (s(i, "id")) "/updates" } class="row" {
                    (csrf_field(&csrf))
                    label for={ "u-" (s(i, "id")) } { "Update" }
                    input id={ "u-" (s(i, "id")) } name="text" required size="50";
                    button type="submit" { "Post update" }
                }
                form method="post" action={ "/console/status/incidents/" (s(i, "id")) "/end" } class="inline" {
                    (csrf_field(&csrf)) button type="submit" { "End incident" }
                }
            }
            h2 { "Open an incident" }
            form method="post" action="/console/status" class="stacked" {
                (csrf_field(&csrf))
                label for="i-title" { "Title" } input id="i-title" name="title" required;
                label for="i-description" { "Description" } textarea id="i-description" name="description" rows="3" {}
                fieldset { legend { "Affected components" }
                    @for c in &b.components {
                        label { input type="checkbox" name="component" value=(s(c, "id")); " " (s(c, "displayName")) }
                    }
                }
                label for="i-severity" { "Severity" }
                select id="i-severity" name="severity" {
                    @for sv in &b.severities { option value=(sv["value"]) { (s(sv, "displayName")) } }
                }
                label for="i-type" { "Impact" }
                select id="i-type" name="impact_type" {
                    @for t in &types { option value=(s(t, "id")) { (s(t, "displayName")) } }
                }
                button type="submit" { "Open incident" }
            }
            h2 { "Add a component" }
            form method="post" action="/console/status/components" class="row" {
                (csrf_field(&csrf))
                label for="c-name" { "Name" } input id="c-name" name="name" required;
                button type="submit" { "Add component" }
            }
        }
    };
    page(&ctx, "Service status", &notice, content).await
}

/// The current phase list: (generation, number of phases).
async fn phases(api: &Api<'_>) -> (u64, usize) {
    let v = api.get("/status-api/phases").await.unwrap_or_default();
    (
        v["data"]["generation"].as_u64().unwrap_or(1),
        v["data"]["phases"].as_array().map_or(1, Vec::len),
    )
}

async fn open_incident(State(console): State<Arc<Console>>, form: Form) -> Response {
    let ctx = Ctx::new(&console, &form.session);
    let api = ctx.api();
    let f = &form.fields;
    let severity: u64 = match f.get("severity").and_then(|v| v.parse().ok()) {
        Some(v) => v,
        None => {
            return back(
                "/console/status",
                Err(failure(
                    StatusCode::BAD_REQUEST,
                    "Choose a severity.".into(),
                )),
            )
        }
    };
    let affects: Vec<Value> = f
        .all("component")
        .into_iter()
        .map(|c| json!({"reference": c, "type": f.get("impact_type"), "severity": severity}))
        .collect();
    let (generation, _) = phases(&api).await;
    let body = json!({
        "displayName": f.get("title"),
        "description": f.get("description").unwrap_or(""),
        "affects": affects,
        "beganAt": now(),
        "endedAt": null,
        "phase": {"generation": generation, "order": 0},
    });
    let outcome = api
        .post("/status-api/incidents", &body)
        .await
        .map(|_| "Incident opened.".to_string());
    back("/console/status", outcome)
}

async fn add_update(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let text = form.fields.get("text").unwrap_or("");
    let body = json!({"displayName": text, "description": text, "createdAt": now()});
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post(&format!("/status-api/incidents/{id}/updates"), &body)
        .await
        .map(|_| "Update posted.".to_string());
    back("/console/status", outcome)
}

async fn end_incident(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx::new(&console, &form.session);
    let api = ctx.api();
    let (generation, count) = phases(&api).await;
    let body = json!({"endedAt": now(), "phase": {"generation": generation, "order": count.saturating_sub(1)}});
    let outcome = api
        .patch(&format!("/status-api/incidents/{id}"), &body)
        .await
        .map(|_| "Incident ended.".to_string());
    back("/console/status", outcome)
}

async fn add_component(State(console): State<Arc<Console>>, form: Form) -> Response {
    let body = json!({"displayName": form.fields.get("name"), "labels": {}});
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/status-api/components", &body)
        .await
        .map(|_| "Component added.".to_string());
    back("/console/status", outcome)
}
