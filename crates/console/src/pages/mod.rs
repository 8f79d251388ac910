//! The console's pages: one module per group, each with its routes. Handlers
//! take a [`Session`] (pages) or a [`crate::form::Form`] (state changes), call
//! the APIs through [`Ctx::api`], and render with [`layout::page`]. After a
//! change they redirect back with a notice (`?done=` / `?error=` carrying the
//! API's own message), so reloading never repeats a change.

pub mod assets;
pub mod compute;
pub mod identity;
pub mod layout;
pub mod login;
pub mod mfa;
pub mod network;
pub mod overview;
pub mod status;
pub mod volumes;

use crate::api_client::{Api, ApiFailure};
use crate::form::csrf_token;
use crate::session::Session;
use crate::Console;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use nimbus_api::policy::{self, Target};
use std::sync::Arc;

/// Every console route.
pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .merge(assets::routes())
        .merge(login::routes())
        .merge(overview::routes())
        .merge(mfa::routes())
        .merge(identity::routes())
        .merge(compute::routes())
        .merge(network::routes())
        .merge(volumes::routes())
        .merge(status::routes())
}

/// What a page handler works with.
pub struct Ctx<'a> {
    pub console: &'a Console,
    pub session: &'a Session,
}

impl<'a> Ctx<'a> {
    pub fn new(console: &'a Console, session: &'a Session) -> Ctx<'a> {
        Ctx { console, session }
    }

    /// The APIs, as this user.
    pub fn api(&self) -> Api<'a> {
        Api::new(self.console, Some(&self.session.token))
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        csrf_token(self.console, &self.session.token)
    }

    /// Whether the policy lets this user do `action` on `target`: controls the
    /// user may not use are not shown (the API would refuse them anyway).
    pub fn can(&self, action: &str, target: &Target) -> bool {
        policy::authorize(&self.session.principal, action, target).is_ok()
    }

    /// The domain the user acts in (her token's), for new users, groups, projects.
    pub fn domain_id(&self) -> String {
        self.session
            .principal
            .scope_domain_id()
            .unwrap_or(&self.session.principal.user_domain_id)
            .to_string()
    }
}

/// A target in the user's domain (for create controls).
pub fn in_domain<'t>(kind: &'t str, domain_id: &'t str) -> Target<'t> {
    Target {
        kind,
        id: "",
        domain_id: Some(domain_id),
        ..Default::default()
    }
}

/// A notice shown on the page a change redirected to.
#[derive(Default, serde::Deserialize)]
pub struct Notice {
    pub done: Option<String>,
    pub error: Option<String>,
}

/// Back to `path` with the outcome of a change.
pub fn back(path: &str, outcome: Result<String, ApiFailure>) -> Response {
    let (key, text) = match outcome {
        Ok(done) => ("done", done),
        Err(e) => ("error", e.message),
    };
    let query = serde_urlencoded::to_string([(key, text)]).unwrap_or_default();
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}{query}")).into_response()
}

/// The one shape of every "delete this" button: checks the id from the URL,
/// DELETEs `{api_collection}/{id}` as the user, and goes back to `to` with
/// `done` or the API's refusal.
pub async fn delete_and_back(
    console: &Console,
    form: &crate::form::Form,
    id: &str,
    api_collection: &str,
    done: &str,
    to: &str,
) -> Response {
    let id = match id_segment(id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let outcome = Ctx::new(console, &form.session)
        .api()
        .delete(&format!("{api_collection}/{id}"))
        .await
        .map(|_| done.to_string());
    back(to, outcome)
}

/// A link between two objects (a group's member, a role's implied role), at
/// `{api_collection}/{id}/{link}/{other}`: PUT adds it, DELETE removes it, as
/// the user; then back to `{page}/{id}`. Both ids are checked; no `other` (an
/// empty select) is a notice to choose one.
pub struct Link {
    pub api_collection: &'static str,
    pub link: &'static str,
    pub page: &'static str,
    pub choose: &'static str,
}

impl Link {
    pub async fn change(
        &self,
        console: &Console,
        form: &crate::form::Form,
        add: bool,
        id: &str,
        other: Option<&str>,
        done: &str,
    ) -> Response {
        let id = match id_segment(id) {
            Ok(id) => id,
            Err(r) => return r.into_response(),
        };
        let to = format!("{}/{id}", self.page);
        let Some(other) = other else {
            return back(&to, Ok(self.choose.to_string()));
        };
        let other = match id_segment(other) {
            Ok(other) => other,
            Err(r) => return r.into_response(),
        };
        let path = format!("{}/{id}/{}/{other}", self.api_collection, self.link);
        let api = Ctx::new(console, &form.session).api();
        let outcome = if add {
            api.put(&path, None).await.map(|_| ())
        } else {
            api.delete(&path).await
        };
        back(&to, outcome.map(|_| done.to_string()))
    }
}

/// A page for a request the console refuses (bad form, forged request).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Nimbus: " (status.as_u16()) }
                   link rel="stylesheet" href="/assets/console.css"; }
            body { main class="narrow" {
                h1 { (status.canonical_reason().unwrap_or("Error")) }
                p role="alert" { (message) }
                p { a href="/" { "Back to the console" } }
            } }
        }
    };
    (status, Html(body.into_string())).into_response()
}

/// A request the console refuses before calling any API.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error_page(self.status, self.message)
    }
}

/// A path segment from a URL, checked to be an id (no slashes or dots), so it
/// can be put into an API path as is.
pub fn id_segment(id: &str) -> Result<&str, Refusal> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(id)
    } else {
        Err(Refusal {
            status: StatusCode::NOT_FOUND,
            message: "No such object.",
        })
    }
}
