//! The Keystone v3 routes. Each resource has its own file with the same shape:
//! request types, then handlers that authenticate (`Auth`), authorize against the
//! policy table, validate, write in one transaction with an audit record, answer.

pub mod app_creds;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod common;
pub mod credentials;
pub mod discovery;
pub mod domains;
pub mod grants;
pub mod groups;
pub mod mfa;
pub mod projects;
pub mod roles;
pub mod users;
pub mod views;

use crate::Identity;
use axum::middleware::map_response;
use axum::routing::{get, post, put};
use axum::Router;
use nimbus_api::dialect;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Every identity route, rendering errors in Keystone's format.
pub fn router(identity: Arc<Identity>) -> Router {
    const V3: &str = "/identity/v3";
    let r = |path: &str| format!("{V3}{path}");
    Router::new()
        .route("/identity", get(discovery::versions))
        .route("/identity/", get(discovery::versions))
        .route(V3, get(discovery::version))
        .route(&r("/"), get(discovery::version))
        .route(
            &r("/auth/tokens"),
            post(auth::issue)
                .get(auth::validate)
                .head(auth::check)
                .delete(auth::revoke),
        )
        .route(&r("/auth/catalog"), get(auth::catalog))
        .route(&r("/auth/projects"), get(auth::projects))
        .route(&r("/auth/domains"), get(auth::domains))
        .route(&r("/auth/system"), get(auth::system))
        .route(&r("/users"), get(users::list).post(users::create))
        .route(
            &r("/users/{user_id}"),
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route(
            &r("/users/{user_id}/password"),
            post(users::change_password),
        )
        .route(&r("/users/{user_id}/groups"), get(users::groups))
        .route(&r("/users/{user_id}/projects"), get(users::projects))
        .route(
            &r("/users/{user_id}/application_credentials"),
            get(app_creds::list).post(app_creds::create),
        )
        .route(
            &r("/users/{user_id}/application_credentials/{cred_id}"),
            get(app_creds::show).delete(app_creds::delete),
        )
        .route(&r("/domains"), get(domains::list).post(domains::create))
        .route(
            &r("/domains/{domain_id}"),
            get(domains::show)
                .patch(domains::update)
                .delete(domains::delete),
        )
        .route(&r("/projects"), get(projects::list).post(projects::create))
        .route(
            &r("/projects/{project_id}"),
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(&r("/groups"), get(groups::list).post(groups::create))
        .route(
            &r("/groups/{group_id}"),
            get(groups::show)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route(&r("/groups/{group_id}/users"), get(groups::members))
        .route(
            &r("/groups/{group_id}/users/{user_id}"),
            put(groups::add_member)
                .head(groups::check_member)
                .delete(groups::remove_member),
        )
        .route(&r("/roles"), get(roles::list).post(roles::create))
        .route(
            &r("/roles/{role_id}"),
            get(roles::show).patch(roles::update).delete(roles::delete),
        )
        .route(&r("/roles/{prior_id}/implies"), get(roles::list_implied))
        .route(
            &r("/roles/{prior_id}/implies/{implied_id}"),
            put(roles::create_implied)
                .get(roles::show_implied)
                .head(roles::check_implied)
                .delete(roles::delete_implied),
        )
        .route(&r("/role_inferences"), get(roles::inferences))
        .route(&r("/role_assignments"), get(assignments::list))
        .route(
            &r("/{target}/{target_id}/{actor}/{actor_id}/roles"),
            get(grants::list),
        )
        .route(
            &r("/{target}/{target_id}/{actor}/{actor_id}/roles/{role_id}"),
            put(grants::grant)
                .head(grants::check)
                .get(grants::check)
                .delete(grants::revoke),
        )
        .route(
            &r("/system/{actor}/{actor_id}/roles"),
            get(grants::list_system),
        )
        .route(
            &r("/system/{actor}/{actor_id}/roles/{role_id}"),
            put(grants::grant_system)
                .head(grants::check_system)
                .get(grants::check_system)
                .delete(grants::revoke_system),
        )
        .route(
            &r("/regions"),
            get(catalog::list_regions).post(catalog::create_region),
        )
        .route(
            &r("/regions/{region_id}"),
            get(catalog::show_region)
                .patch(catalog::update_region)
                .delete(catalog::delete_region),
        )
        .route(
            &r("/services"),
            get(catalog::list_services).post(catalog::create_service),
        )
        .route(
            &r("/services/{service_id}"),
            get(catalog::show_service)
                .patch(catalog::update_service)
                .delete(catalog::delete_service),
        )
        .route(
            &r("/endpoints"),
            get(catalog::list_endpoints).post(catalog::create_endpoint),
        )
        .route(
            &r("/endpoints/{endpoint_id}"),
            get(catalog::show_endpoint)
                .patch(catalog::update_endpoint)
                .delete(catalog::delete_endpoint),
        )
        .route(
            &r("/credentials"),
            get(credentials::list).post(credentials::create),
        )
        .route(
            &r("/credentials/{credential_id}"),
            get(credentials::show)
                .patch(credentials::update)
                .delete(credentials::delete),
        )
        .route(&r("/audit_records"), get(audit::list))
        .with_state(identity)
        .layer(map_response(dialect::keystone))
}

/// Deserializes a field that may be absent (`None`), null (`Some(None)`) or a value.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Keys a client may not set as free-form attributes.
const RESERVED: &[&str] = &[
    "id",
    "links",
    "name",
    "domain_id",
    "enabled",
    "password",
    "password_hash",
    "description",
    "email",
    "default_project_id",
    "parent_id",
    "is_domain",
    "tags",
    "password_expires_at",
    "tokens_revoked_at",
    "extra",
    "options",
];

/// The free-form attributes Keystone keeps on users, projects, groups and domains.
pub fn clean_extra(
    mut extra: Map<String, Value>,
    options: Option<Map<String, Value>>,
) -> Map<String, Value> {
    extra.retain(|k, _| !RESERVED.contains(&k.as_str()));
    if let Some(o) = options {
        extra.insert("options".into(), Value::Object(o));
    }
    extra
}
