//! The overview (`/`): who the user is, where she is working, with which roles,
//! and every project and domain she can reach (workflow 9.4's last step).

use super::layout::{page, s};
use super::{Ctx, Notice};
use crate::session::Session;
use crate::Console;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/", get(overview))
}

async fn overview(
    State(console): State<Arc<Console>>,
    session: Session,
    Query(notice): Query<Notice>,
) -> Response {
    let ctx = Ctx::new(&console, &session);
    let api = ctx.api();
    let p = &session.principal;
    let projects = api.get("/identity/v3/auth/projects").await.ok();
    let domains = api.get("/identity/v3/auth/domains").await.ok();
    let content = html! {
        p { "Logged in as " strong { (p.user_name) } " (domain " (p.user_domain_name) ")." }
        h2 { "Roles here" }
        @if p.roles.is_empty() { p { "None: choose a project or domain above." } }
        @else { ul id="my-roles" { @for r in &p.roles { li { (r.name) } } } }
        h2 { "Projects you can reach" }
        ul id="my-projects" {
            @for pr in projects.iter().flat_map(|v| v["projects"].as_array()).flatten() {
                li { (s(pr, "name")) }
            }
        }
        h2 { "Domains you can manage" }
        ul id="my-domains" {
            @for d in domains.iter().flat_map(|v| v["domains"].as_array()).flatten() {
                li { (s(d, "name")) }
            }
        }
    };
    page(&ctx, "Overview", &notice, content).await
}
