//! Users: list, create, edit (name, email, description, enabled), set a
//! password, delete; a user's page shows her groups and her effective roles.

use super::{domain_choices, list};
use crate::form::Form;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, id_segment, in_domain, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use nimbus_api::policy::Target;
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/users", get(index).post(create))
        .route("/console/users/{id}", get(show).post(update))
        .route("/console/users/{id}/password", post(password))
        .route("/console/users/{id}/delete", post(delete))
}

fn user_target<'a>(u: &'a Value) -> Target<'a> {
    Target {
        kind: "user",
        id: s(u, "id"),
        domain_id: Some(s(u, "domain_id")),
        user_id: Some(s(u, "id")),
        ..Default::default()
    }
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let users = list(&api, "/identity/v3/users", "users").await;
    let domain = ctx.domain_id();
    let can_create = ctx.can("identity:create_user", &in_domain("user", &domain));
    let domains = if can_create {
        domain_choices(&api, &domain).await
    } else {
        Vec::new()
    };
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Domain" } th { "Enabled" } th { "Email" } th { span class="skip" { "Actions" } } } }
            tbody {
                @for u in &users {
                    tr {
                        td { a href={ "/console/users/" (s(u, "id")) } { (s(u, "name")) } }
                        td { (s(u, "domain_id")) }
                        td { @if u["enabled"].as_bool().unwrap_or(true) { "yes" } @else { "no" } }
                        td { (s(u, "email")) }
                        td { @if ctx.can("identity:delete_user", &user_target(u)) {
                            (button_form(&format!("/console/users/{}/delete", s(u, "id")), &csrf, "Delete", true))
                        } }
                    }
                }
            }
        }
        @if can_create {
            h2 { "New user" }
            form method="post" action="/console/users" class="stacked" {
                (csrf_field(&csrf))
                label for="u-name" { "Name" } input id="u-name" name="name" required;
                label for="u-domain" { "Domain" }
                select id="u-domain" name="domain_id" {
                    @for (id, name) in &domains { option value=(id) selected[*id == domain] { (name) } }
                }
                label for="u-password" { "Password" } input id="u-password" name="password" type="password" autocomplete="new-password";
                label for="u-email" { "Email" } input id="u-email" name="email" type="email";
                label for="u-description" { "Description" } input id="u-description" name="description";
                label { input type="checkbox" name="enabled" checked; " Enabled" }
                button type="submit" { "Create user" }
            }
        }
    };
    page(&ctx, "Users", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let f = &form.fields;
    let mut user = Map::new();
    for key in ["name", "domain_id", "email", "description", "password"] {
        if let Some(v) = f.get(key) {
            user.insert(key.into(), json!(v));
        }
    }
    user.insert("enabled".into(), json!(f.checked("enabled")));
    let ctx = Ctx::new(&console, &form.session);
    let outcome = ctx
        .api()
        .post("/identity/v3/users", &json!({ "user": user }))
        .await
        .map(|v| format!("User {} created.", s(&v["user"], "name")));
    back("/console/users", outcome)
}

async fn show(
    State(console): State<Arc<Console>>,
    session: Session,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let user = match api.get(&format!("/identity/v3/users/{id}")).await {
        Ok(v) => v["user"].clone(),
        Err(e) => return back("/console/users", Err(e)),
    };
    let groups = list(&api, &format!("/identity/v3/users/{id}/groups"), "groups").await;
    let roles = list(
        &api,
        &format!("/identity/v3/role_assignments?user.id={id}&effective&include_names"),
        "role_assignments",
    )
    .await;
    let can_edit = ctx.can("identity:update_user", &user_target(&user));
    let csrf = ctx.csrf();
    let path = format!("/console/users/{id}");
    let content = html! {
        @if can_edit {
            form method="post" action=(path) class="stacked" {
                (csrf_field(&csrf))
                label for="e-name" { "Name" } input id="e-name" name="name" value=(s(&user, "name")) required;
                label for="e-email" { "Email" } input id="e-email" name="email" type="email" value=(s(&user, "email"));
                label for="e-description" { "Description" } input id="e-description" name="description" value=(s(&user, "description"));
                label { input type="checkbox" name="enabled" checked[user["enabled"].as_bool().unwrap_or(true)]; " Enabled" }
                button type="submit" { "Save" }
            }
            h2 { "Set a password" }
            form method="post" action={ (path) "/password" } class="stacked" {
                (csrf_field(&csrf))
                label for="p-new" { "New password" } input id="p-new" name="password" type="password" required autocomplete="new-password";
                button type="submit" { "Set password" }
            }
        } @else {
            p { "Name: " (s(&user, "name")) " · enabled: " (user["enabled"].as_bool().unwrap_or(true)) }
        }
        h2 { "Groups" }
        ul { @for g in &groups { li { a href={ "/console/groups/" (s(g, "id")) } { (s(g, "name")) } } } }
        h2 { "Effective roles" }
        table {
            thead { tr { th { "Role" } th { "On" } th { "Through" } } }
            tbody { @for a in &roles {
                tr {
                    td { (a["role"]["name"].as_str().unwrap_or("")) }
                    td { (scope_text(&a["scope"])) }
                    td { @if a["links"]["membership"].is_string() { "a group" } @else { "directly" } }
                }
            } }
        }
    };
    page(
        &ctx,
        &format!("User {}", s(&user, "name")),
        &notice,
        content,
    )
    .await
}

/// "project demo (Default)", "domain Default", "system".
pub fn scope_text(scope: &Value) -> String {
    if let Some(p) = scope.get("project") {
        return format!(
            "project {}",
            p["name"].as_str().or(p["id"].as_str()).unwrap_or("")
        );
    }
    if let Some(d) = scope.get("domain") {
        return format!(
            "domain {}",
            d["name"].as_str().or(d["id"].as_str()).unwrap_or("")
        );
    }
    if scope.get("system").is_some() {
        return "the system".into();
    }
    String::new()
}

async fn update(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let f = &form.fields;
    let user = json!({"user": {
        "name": f.get("name"),
        "email": f.get("email").unwrap_or(""),
        "description": f.get("description").unwrap_or(""),
        "enabled": f.checked("enabled"),
    }});
    let ctx = Ctx::new(&console, &form.session);
    let outcome = ctx
        .api()
        .patch(&format!("/identity/v3/users/{id}"), &user)
        .await
        .map(|_| "Saved.".to_string());
    back(&format!("/console/users/{id}"), outcome)
}

async fn password(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx::new(&console, &form.session);
    let body = json!({"user": {"password": form.fields.raw("password")}});
    let outcome = ctx
        .api()
        .patch(&format!("/identity/v3/users/{id}"), &body)
        .await
        .map(|_| "Password set.".to_string());
    back(&format!("/console/users/{id}"), outcome)
}

async fn delete(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let id = match id_segment(&id) {
        Ok(id) => id.to_string(),
        Err(r) => return r.into_response(),
    };
    let ctx = Ctx::new(&console, &form.session);
    let outcome = ctx
        .api()
        .delete(&format!("/identity/v3/users/{id}"))
        .await
        .map(|_| "User deleted.".to_string());
    back("/console/users", outcome)
}
