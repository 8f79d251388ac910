//! Workflow 9.4 without the CLI: users, groups, roles, projects and role
//! assignments, each page over Keystone's v3 API as the logged-in user.

pub mod assignments;
pub mod groups;
pub mod projects;
pub mod roles;
pub mod users;

use crate::api_client::Api;
use crate::Console;
use axum::Router;
use serde_json::Value;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(roles::routes())
        .merge(projects::routes())
        .merge(assignments::routes())
}

/// A Keystone list (`key` of the answer), empty when the user may not see it.
pub async fn list(api: &Api<'_>, path: &str, key: &str) -> Vec<Value> {
    api.get(path)
        .await
        .ok()
        .and_then(|v| v[key].as_array().cloned())
        .unwrap_or_default()
}

/// The domains the user may pick for a new object: all she can list (cloud
/// admins), else her own.
pub async fn domain_choices(api: &Api<'_>, own: &str) -> Vec<(String, String)> {
    let listed: Vec<(String, String)> = list(api, "/identity/v3/domains", "domains")
        .await
        .iter()
        .map(|d| (s(d, "id").to_string(), s(d, "name").to_string()))
        .collect();
    if listed.is_empty() {
        vec![(own.to_string(), own.to_string())]
    } else {
        listed
    }
}

use super::layout::s;
