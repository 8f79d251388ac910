//! Roles: list, create, delete; a role's page adds and removes implied roles
//! (holding the role then grants the implied ones too).

use super::list;
use crate::form::Form;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, id_segment, Ctx, Link, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use nimbus_api::policy::Target;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/roles", get(index).post(create))
        .route("/console/roles/{id}", get(show))
        .route("/console/roles/{id}/implies", post(add_implied))
        .route(
            "/console/roles/{id}/implies/{implied}/remove",
            post(remove_implied),
        )
        .route("/console/roles/{id}/delete", post(delete))
}

/// The roles a role implies.
const IMPLIES: Link = Link {
    api_collection: "/identity/v3/roles",
    link: "implies",
    page: "/console/roles",
    choose: "Choose a role.",
};

fn role(id: &str) -> Target<'_> {
    Target {
        kind: "role",
        id,
        ..Default::default()
    }
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let roles = list(&ctx.api(), "/identity/v3/roles", "roles").await;
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Description" } th { span class="skip" { "Actions" } } } }
            tbody { @for r in &roles { tr {
                td { a href={ "/console/roles/" (s(r, "id")) } { (s(r, "name")) } }
                td { (s(r, "description")) }
                td { @if ctx.can("identity:delete_role", &role(s(r, "id"))) {
                    (button_form(&format!("/console/roles/{}/delete", s(r, "id")), &csrf, "Delete", true))
                } }
            } } }
        }
        @if ctx.can("identity:create_role", &role("")) {
            h2 { "New role" }
            form method="post" action="/console/roles" class="stacked" {
                (csrf_field(&csrf))
                label for="r-name" { "Name" } input id="r-name" name="name" required;
                label for="r-description" { "Description" } input id="r-description" name="description";
                button type="submit" { "Create role" }
            }
        }
    };
    page(&ctx, "Roles", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let f = &form.fields;
    let body =
        json!({"role": {"name": f.get("name"), "description": f.get("description").unwrap_or("")}});
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/identity/v3/roles", &body)
        .await
        .map(|v| format!("Role {} created.", s(&v["role"], "name")));
    back("/console/roles", outcome)
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
    let this = match api.get(&format!("/identity/v3/roles/{id}")).await {
        Ok(v) => v["role"].clone(),
        Err(e) => return back("/console/roles", Err(e)),
    };
    let implied = api
        .get(&format!("/identity/v3/roles/{id}/implies"))
        .await
        .ok()
        .and_then(|v| v["role_inference"]["implies"].as_array().cloned())
        .unwrap_or_default();
    let can_manage = ctx.can("identity:create_implied_role", &role(id));
    let all = if can_manage {
        list(&api, "/identity/v3/roles", "roles").await
    } else {
        Vec::new()
    };
    let csrf = ctx.csrf();
    let content = html! {
        p { (s(&this, "description")) }
        h2 { "Implies" }
        table {
            thead { tr { th { "Role" } th { span class="skip" { "Actions" } } } }
            tbody { @for r in &implied { tr {
                td { (s(r, "name")) }
                td { @if can_manage {
                    (button_form(&format!("/console/roles/{id}/implies/{}/remove", s(r, "id")), &csrf, "Remove", true))
                } }
            } } }
        }
        @if can_manage {
            form method="post" action={ "/console/roles/" (id) "/implies" } class="row" {
                (csrf_field(&csrf))
                label for="i-role" { "Role it implies" }
                select id="i-role" name="implied" {
                    @for r in all.iter().filter(|r| s(r, "id") != id) { option value=(s(r, "id")) { (s(r, "name")) } }
                }
                button type="submit" { "Add implied role" }
            }
        }
    };
    page(
        &ctx,
        &format!("Role {}", s(&this, "name")),
        &notice,
        content,
    )
    .await
}

async fn add_implied(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let implied = form.fields.get("implied");
    IMPLIES
        .change(&console, &form, true, &id, implied, "Implied role added.")
        .await
}

async fn remove_implied(
    State(console): State<Arc<Console>>,
    Path((id, implied)): Path<(String, String)>,
    form: Form,
) -> Response {
    IMPLIES
        .change(
            &console,
            &form,
            false,
            &id,
            Some(&implied),
            "Implied role removed.",
        )
        .await
}

async fn delete(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    delete_and_back(
        &console,
        &form,
        &id,
        "/identity/v3/roles",
        "Role deleted.",
        "/console/roles",
    )
    .await
}
