//! Role assignments: every assignment the user may see, revoke buttons, and a
//! grant form (a user or group, a role, a project or domain). Each user's page
//! shows her effective roles (`users.rs`).

use super::list;
use super::users::scope_text;
use crate::form::{Fields, Form};
use crate::pages::layout::{csrf_field, page, s};
use crate::pages::{back, id_segment, in_domain, Ctx, Notice, Refusal};
use crate::session::Session;
use crate::Console;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde_json::Value;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/assignments", get(index).post(grant))
        .route("/console/assignments/revoke", post(revoke))
}

/// `kind:id` of the actor and the target of an assignment, and the role id.
fn parts(a: &Value) -> Option<(String, String, String)> {
    let actor = if let Some(u) = a.get("user") {
        format!("user:{}", u["id"].as_str()?)
    } else {
        format!("group:{}", a["group"]["id"].as_str()?)
    };
    let scope = &a["scope"];
    let target = if let Some(p) = scope.get("project") {
        format!("project:{}", p["id"].as_str()?)
    } else {
        format!("domain:{}", scope["domain"]["id"].as_str()?)
    };
    Some((actor, target, a["role"]["id"].as_str()?.to_string()))
}

fn name_of(v: &Value) -> &str {
    v["name"].as_str().or(v["id"].as_str()).unwrap_or("")
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let assignments = list(
        &api,
        "/identity/v3/role_assignments?include_names",
        "role_assignments",
    )
    .await;
    let domain = ctx.domain_id();
    let can_grant = ctx.can("identity:create_grant", &in_domain("target", &domain));
    let (users, groups, roles, projects, domains) = if can_grant {
        (
            list(&api, "/identity/v3/users", "users").await,
            list(&api, "/identity/v3/groups", "groups").await,
            list(&api, "/identity/v3/roles", "roles").await,
            list(&api, "/identity/v3/projects", "projects").await,
            list(&api, "/identity/v3/domains", "domains").await,
        )
    } else {
        Default::default()
    };
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Role" } th { "Who" } th { "On" } th { span class="skip" { "Actions" } } } }
            tbody { @for a in &assignments { tr {
                td { (name_of(&a["role"])) }
                td { @if let Some(u) = a.get("user") { "user " (name_of(u)) } @else { "group " (name_of(&a["group"])) } }
                td { (scope_text(&a["scope"])) }
                td { @if let (true, Some((actor, target, role))) = (can_grant, parts(a)) {
                    form method="post" action="/console/assignments/revoke" class="inline" {
                        (csrf_field(&csrf))
                        input type="hidden" name="actor" value=(actor);
                        input type="hidden" name="target" value=(target);
                        input type="hidden" name="role" value=(role);
                        button type="submit" class="danger" { "Revoke" }
                    }
                } }
            } } }
        }
        @if can_grant {
            h2 { "Grant a role" }
            form method="post" action="/console/assignments" class="row" {
                (csrf_field(&csrf))
                label for="g-actor" { "Who" } select id="g-actor" name="actor" {
                    optgroup label="Users" { @for u in &users { option value={ "user:" (s(u, "id")) } { (s(u, "name")) } } }
                    optgroup label="Groups" { @for g in &groups { option value={ "group:" (s(g, "id")) } { (s(g, "name")) } } }
                }
                label for="g-role" { "Role" } select id="g-role" name="role" {
                    @for r in &roles { option value=(s(r, "id")) { (s(r, "name")) } }
                }
                label for="g-target" { "On" } select id="g-target" name="target" {
                    optgroup label="Projects" { @for p in &projects { option value={ "project:" (s(p, "id")) } { (s(p, "name")) } } }
                    optgroup label="Domains" { @for d in &domains { option value={ "domain:" (s(d, "id")) } { (s(d, "name")) } } }
                }
                button type="submit" { "Grant" }
            }
        }
    };
    page(&ctx, "Role assignments", &notice, content).await
}

/// The Keystone grant path of a form (`/identity/v3/projects/P/users/U/roles/R`).
fn grant_path(f: &Fields) -> Result<String, Refusal> {
    let bad = || Refusal {
        status: StatusCode::BAD_REQUEST,
        message: "Choose who, which role and on what.",
    };
    let (actor_kind, actor) = f
        .get("actor")
        .and_then(|a| a.split_once(':'))
        .ok_or_else(bad)?;
    let (target_kind, target) = f
        .get("target")
        .and_then(|t| t.split_once(':'))
        .ok_or_else(bad)?;
    let role = id_segment(f.get("role").ok_or_else(bad)?)?;
    let actors = match actor_kind {
        "user" => "users",
        "group" => "groups",
        _ => return Err(bad()),
    };
    let targets = match target_kind {
        "project" => "projects",
        "domain" => "domains",
        _ => return Err(bad()),
    };
    Ok(format!(
        "/identity/v3/{targets}/{}/{actors}/{}/roles/{role}",
        id_segment(target)?,
        id_segment(actor)?
    ))
}

async fn grant(State(console): State<Arc<Console>>, form: Form) -> Response {
    let path = match grant_path(&form.fields) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .put(&path, None)
        .await
        .map(|_| "Role granted.".to_string());
    back("/console/assignments", outcome)
}

async fn revoke(State(console): State<Arc<Console>>, form: Form) -> Response {
    let path = match grant_path(&form.fields) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .delete(&path)
        .await
        .map(|_| "Role revoked.".to_string());
    back("/console/assignments", outcome)
}
