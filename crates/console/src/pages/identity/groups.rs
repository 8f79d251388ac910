//! Groups: list, create, delete; a group's page adds and removes members.

use super::{domain_choices, list};
use crate::form::Form;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, id_segment, in_domain, Ctx, Link, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use nimbus_api::policy::Target;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/groups", get(index).post(create))
        .route("/console/groups/{id}", get(show))
        .route("/console/groups/{id}/members", post(add_member))
        .route(
            "/console/groups/{id}/members/{user}/remove",
            post(remove_member),
        )
        .route("/console/groups/{id}/delete", post(delete))
}

/// A group's members.
const MEMBERS: Link = Link {
    api_collection: "/identity/v3/groups",
    link: "users",
    page: "/console/groups",
    choose: "Choose a user.",
};

fn group_target(g: &Value) -> Target<'_> {
    Target {
        kind: "group",
        id: s(g, "id"),
        domain_id: Some(s(g, "domain_id")),
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
    let groups = list(&api, "/identity/v3/groups", "groups").await;
    let domain = ctx.domain_id();
    let can_create = ctx.can("identity:create_group", &in_domain("group", &domain));
    let domains = if can_create {
        domain_choices(&api, &domain).await
    } else {
        Vec::new()
    };
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "Domain" } th { "Description" } th { span class="skip" { "Actions" } } } }
            tbody { @for g in &groups { tr {
                td { a href={ "/console/groups/" (s(g, "id")) } { (s(g, "name")) } }
                td { (s(g, "domain_id")) }
                td { (s(g, "description")) }
                td { @if ctx.can("identity:delete_group", &group_target(g)) {
                    (button_form(&format!("/console/groups/{}/delete", s(g, "id")), &csrf, "Delete", true))
                } }
            } } }
        }
        @if can_create {
            h2 { "New group" }
            form method="post" action="/console/groups" class="stacked" {
                (csrf_field(&csrf))
                label for="g-name" { "Name" } input id="g-name" name="name" required;
                label for="g-domain" { "Domain" }
                select id="g-domain" name="domain_id" {
                    @for (id, name) in &domains { option value=(id) selected[*id == domain] { (name) } }
                }
                label for="g-description" { "Description" } input id="g-description" name="description";
                button type="submit" { "Create group" }
            }
        }
    };
    page(&ctx, "Groups", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let f = &form.fields;
    let body = json!({"group": {
        "name": f.get("name"),
        "domain_id": f.get("domain_id"),
        "description": f.get("description").unwrap_or(""),
    }});
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/identity/v3/groups", &body)
        .await
        .map(|v| format!("Group {} created.", s(&v["group"], "name")));
    back("/console/groups", outcome)
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
    let group = match api.get(&format!("/identity/v3/groups/{id}")).await {
        Ok(v) => v["group"].clone(),
        Err(e) => return back("/console/groups", Err(e)),
    };
    let members = list(&api, &format!("/identity/v3/groups/{id}/users"), "users").await;
    let can_manage = ctx.can("identity:add_user_to_group", &group_target(&group));
    let users = if can_manage {
        list(&api, "/identity/v3/users", "users").await
    } else {
        Vec::new()
    };
    let csrf = ctx.csrf();
    let content = html! {
        p { (s(&group, "description")) }
        h2 { "Members" }
        table {
            thead { tr { th { "User" } th { span class="skip" { "Actions" } } } }
            tbody { @for u in &members { tr {
                td { a href={ "/console/users/" (s(u, "id")) } { (s(u, "name")) } }
                td { @if can_manage {
                    (button_form(&format!("/console/groups/{id}/members/{}/remove", s(u, "id")), &csrf, "Remove", true))
                } }
            } } }
        }
        @if can_manage {
            form method="post" action={ "/console/groups/" (id) "/members" } class="row" {
                (csrf_field(&csrf))
                label for="m-user" { "User" }
                select id="m-user" name="user_id" {
                    @for u in &users { option value=(s(u, "id")) { (s(u, "name")) } }
                }
                button type="submit" { "Add member" }
            }
        }
    };
    page(
        &ctx,
        &format!("Group {}", s(&group, "name")),
        &notice,
        content,
    )
    .await
}

async fn add_member(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let user = form.fields.get("user_id");
    MEMBERS
        .change(&console, &form, true, &id, user, "Member added.")
        .await
}

async fn remove_member(
    State(console): State<Arc<Console>>,
    Path((id, user)): Path<(String, String)>,
    form: Form,
) -> Response {
    MEMBERS
        .change(&console, &form, false, &id, Some(&user), "Member removed.")
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
        "/identity/v3/groups",
        "Group deleted.",
        "/console/groups",
    )
    .await
}
