//! The page shell: header with the scope switcher and logout, the navigation,
//! the notice of the last change, and the page's own content. Plain HTML that
//! works without JavaScript; `console.js` only refreshes live parts.

use super::{Ctx, Notice};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use nimbus_api::auth::Scope;
use serde_json::Value;

/// The navigation: (section, [(path, label)]).
const NAV: &[(&str, &[(&str, &str)])] = &[
    (
        "Overview",
        &[("/", "Overview"), ("/console/mfa", "Two-factor login")],
    ),
    (
        "Identity",
        &[
            ("/console/users", "Users"),
            ("/console/groups", "Groups"),
            ("/console/roles", "Roles"),
            ("/console/projects", "Projects"),
            ("/console/assignments", "Role assignments"),
        ],
    ),
    (
        "Compute",
        &[
            ("/console/servers", "Servers"),
            ("/console/keypairs", "Key pairs"),
            ("/console/images", "Images"),
        ],
    ),
    (
        "Network",
        &[
            ("/console/networks", "Networks"),
            ("/console/routers", "Routers"),
            ("/console/security-groups", "Security groups"),
            ("/console/floating-ips", "Floating IPs"),
        ],
    ),
    ("Storage", &[("/console/volumes", "Volumes")]),
    ("Operations", &[("/console/status", "Service status")]),
];

/// What the user's token is scoped to, for the header.
fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::Project {
            name, domain_name, ..
        } => format!("project {name} ({domain_name})"),
        Scope::Domain { name, .. } => format!("domain {name}"),
        Scope::System => "the whole cloud (system)".into(),
        Scope::Unscoped => "nothing (unscoped)".into(),
    }
}

/// The scopes the user may switch to: (value, label, current).
async fn scopes(ctx: &Ctx<'_>) -> Vec<(String, String, bool)> {
    let api = ctx.api();
    let current = &ctx.session.principal.scope;
    let mut out = Vec::new();
    if let Ok(v) = api.get("/identity/v3/auth/projects").await {
        for p in v["projects"].as_array().into_iter().flatten() {
            let id = p["id"].as_str().unwrap_or_default();
            let is = matches!(current, Scope::Project { id: c, .. } if c == id);
            out.push((
                format!("project:{id}"),
                format!("Project {}", p["name"].as_str().unwrap_or(id)),
                is,
            ));
        }
    }
    if let Ok(v) = api.get("/identity/v3/auth/domains").await {
        for d in v["domains"].as_array().into_iter().flatten() {
            let id = d["id"].as_str().unwrap_or_default();
            let is = matches!(current, Scope::Domain { id: c, .. } if c == id);
            out.push((
                format!("domain:{id}"),
                format!("Domain {}", d["name"].as_str().unwrap_or(id)),
                is,
            ));
        }
    }
    if let Ok(v) = api.get("/identity/v3/auth/system").await {
        if v["system"].as_array().is_some_and(|s| !s.is_empty()) {
            out.push((
                "system".into(),
                "System (whole cloud)".into(),
                *current == Scope::System,
            ));
        }
    }
    out
}

/// A full page.
pub async fn page(ctx: &Ctx<'_>, title: &str, notice: &Notice, content: Markup) -> Response {
    let p = &ctx.session.principal;
    let csrf = ctx.csrf();
    let scopes = scopes(ctx).await;
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Nimbus" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    a class="brand" href="/" { "Nimbus" }
                    form method="post" action="/switch" class="switch" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="scope" { "Working in" }
                        select id="scope" name="scope" {
                            @for (value, label, current) in &scopes {
                                option value=(value) selected[*current] { (label) }
                            }
                        }
                        button type="submit" { "Switch" }
                    }
                    span class="who" { (p.user_name) " · " (scope_label(&p.scope)) }
                    form method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Log out" }
                    }
                }
                nav aria-label="Console" {
                    @for (section, links) in NAV {
                        h2 { (section) }
                        ul { @for (href, label) in *links { li { a href=(href) { (label) } } } }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    @if let Some(done) = &notice.done { p class="notice" role="status" { (done) } }
                    @if let Some(error) = &notice.error { p class="error" role="alert" { (error) } }
                    (content)
                }
            }
        }
    };
    Html(body.into_string()).into_response()
}

/// A hidden CSRF field for a form.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A one-button form that posts to `action` (delete, remove, revoke...).
pub fn button_form(action: &str, csrf: &str, label: &str, danger: bool) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            (csrf_field(csrf))
            button type="submit" class=[danger.then_some("danger")] { (label) }
        }
    }
}

/// A string field of an API object ("" when absent).
pub fn s<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or("")
}
