//! Projects: the hierarchy as an indented list, create (with a parent), delete.

use super::{domain_choices, list};
use crate::form::Form;
use crate::pages::layout::{button_form, csrf_field, page, s};
use crate::pages::{back, delete_and_back, in_domain, Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use nimbus_api::policy::Target;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/projects", get(index).post(create))
        .route("/console/projects/{id}/delete", post(delete))
}

/// Projects in tree order with their depth (children under their parent; a
/// project whose parent is not listed starts a tree of its own).
fn tree(projects: &[Value]) -> Vec<(usize, &Value)> {
    fn walk<'a>(all: &'a [Value], parent: &str, depth: usize, out: &mut Vec<(usize, &'a Value)>) {
        for p in all
            .iter()
            .filter(|p| s(p, "parent_id") == parent && s(p, "id") != parent)
        {
            out.push((depth, p));
            walk(all, s(p, "id"), depth + 1, out);
        }
    }
    let ids: Vec<&str> = projects.iter().map(|p| s(p, "id")).collect();
    let mut out = Vec::new();
    for root in projects
        .iter()
        .filter(|p| !ids.contains(&s(p, "parent_id")))
    {
        out.push((0, root));
        walk(projects, s(root, "id"), 1, &mut out);
    }
    out
}

async fn index(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let projects = list(&api, "/identity/v3/projects", "projects").await;
    let domain = ctx.domain_id();
    let can_create = ctx.can("identity:create_project", &in_domain("domain", &domain));
    let domains = if can_create {
        domain_choices(&api, &domain).await
    } else {
        Vec::new()
    };
    let csrf = ctx.csrf();
    let content = html! {
        table {
            thead { tr { th { "Project" } th { "Domain" } th { "Enabled" } th { span class="skip" { "Actions" } } } }
            tbody { @for (depth, p) in tree(&projects) { tr {
                td style={ "padding-left:" (0.5 + 1.5 * depth as f32) "rem" } { (s(p, "name")) }
                td { (s(p, "domain_id")) }
                td { @if p["enabled"].as_bool().unwrap_or(true) { "yes" } @else { "no" } }
                td { @if ctx.can("identity:delete_project", &Target { kind: "project", id: s(p, "id"),
                        domain_id: Some(s(p, "domain_id")), project_id: Some(s(p, "id")), ..Default::default() }) {
                    (button_form(&format!("/console/projects/{}/delete", s(p, "id")), &csrf, "Delete", true))
                } }
            } } }
        }
        @if can_create {
            h2 { "New project" }
            form method="post" action="/console/projects" class="stacked" {
                (csrf_field(&csrf))
                label for="p-name" { "Name" } input id="p-name" name="name" required;
                label for="p-domain" { "Domain" }
                select id="p-domain" name="domain_id" {
                    @for (id, name) in &domains { option value=(id) selected[*id == domain] { (name) } }
                }
                label for="p-parent" { "Parent project" }
                select id="p-parent" name="parent_id" {
                    option value="" { "(none: top level of the domain)" }
                    @for p in &projects { option value=(s(p, "id")) { (s(p, "name")) } }
                }
                label for="p-description" { "Description" } input id="p-description" name="description";
                button type="submit" { "Create project" }
            }
        }
    };
    page(&ctx, "Projects", &notice, content).await
}

async fn create(State(console): State<Arc<Console>>, form: Form) -> Response {
    let f = &form.fields;
    let mut project = json!({
        "name": f.get("name"),
        "domain_id": f.get("domain_id"),
        "description": f.get("description").unwrap_or(""),
    });
    if let Some(parent) = f.get("parent_id") {
        project["parent_id"] = json!(parent);
    }
    let outcome = Ctx::new(&console, &form.session)
        .api()
        .post("/identity/v3/projects", &json!({ "project": project }))
        .await
        .map(|v| format!("Project {} created.", s(&v["project"], "name")));
    back("/console/projects", outcome)
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
        "/identity/v3/projects",
        "Project deleted.",
        "/console/projects",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_follow_their_parent_one_level_deeper() {
        let ps = vec![
            json!({"id": "c", "name": "child", "parent_id": "a"}),
            json!({"id": "a", "name": "root", "parent_id": "d"}),
            json!({"id": "g", "name": "grandchild", "parent_id": "c"}),
            json!({"id": "b", "name": "other", "parent_id": "d"}),
        ];
        let t: Vec<(usize, &str)> = tree(&ps)
            .into_iter()
            .map(|(d, p)| (d, s(p, "id")))
            .collect();
        assert_eq!(t, vec![(0, "a"), (1, "c"), (2, "g"), (0, "b")]);
    }
}
