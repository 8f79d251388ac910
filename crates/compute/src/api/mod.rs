//! The Nova v2.1 routes under `/compute`. Each resource has its own file with the
//! same shape as identity's: authenticate (`Auth`), authorize against the policy
//! table, validate, write in one transaction with an audit record, answer in the
//! requested [`Microversion`](nimbus_api::microversion::Microversion).
//!
//! Every route sits behind microversion negotiation ([`crate::NOVA`]) and renders
//! its errors in Nova's format, unknown paths under `/compute` included. Servers
//! live in `servers.rs` and `server_*.rs`.

pub mod bdm;
pub mod common;
pub mod discovery;
pub mod extra_specs;
pub mod flavor_access;
pub mod flavors;
pub mod hypervisors;
pub mod instance_actions;
pub mod interfaces;
pub mod keypairs;
pub mod quotas;
pub mod server_actions;
pub mod server_create;
pub mod server_groups;
pub mod server_input;
pub mod server_parts;
pub mod server_view;
pub mod server_volumes;
pub mod servers;
pub mod views;
pub mod volume_attachments;

use crate::{Compute, NOVA};
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{any, get, post};
use axum::Router;
use nimbus_api::{dialect, microversion, ApiError};
use std::sync::Arc;

/// Every compute route.
pub fn router(compute: Arc<Compute>) -> Router {
    let r = |path: &str| format!("{}{path}", common::PREFIX);
    Router::new()
        .route("/compute", get(discovery::versions))
        .route("/compute/", get(discovery::versions))
        .route(common::PREFIX, get(discovery::version))
        .route(&r("/"), get(discovery::version))
        .route(&r("/flavors"), get(flavors::index).post(flavors::create))
        .route(&r("/flavors/detail"), get(flavors::detail))
        .route(
            &r("/flavors/{flavor_id}"),
            get(flavors::show)
                .put(flavors::update)
                .delete(flavors::delete),
        )
        .route(
            &r("/flavors/{flavor_id}/action"),
            post(flavor_access::action),
        )
        .route(
            &r("/flavors/{flavor_id}/os-flavor-access"),
            get(flavor_access::list),
        )
        .route(
            &r("/flavors/{flavor_id}/os-extra_specs"),
            get(extra_specs::index).post(extra_specs::create),
        )
        .route(
            &r("/flavors/{flavor_id}/os-extra_specs/{key}"),
            get(extra_specs::show)
                .put(extra_specs::update)
                .delete(extra_specs::delete),
        )
        .route(
            &r("/os-keypairs"),
            get(keypairs::index).post(keypairs::create),
        )
        .route(
            &r("/os-keypairs/{name}"),
            get(keypairs::show).delete(keypairs::delete),
        )
        .route(
            &r("/servers"),
            get(servers::index).post(server_create::create),
        )
        .route(&r("/servers/detail"), get(servers::detail))
        .route(
            &r("/servers/{server_id}"),
            get(servers::show)
                .put(servers::update)
                .delete(servers::delete),
        )
        .route(
            &r("/servers/{server_id}/action"),
            post(server_actions::action),
        )
        .route(
            &r("/servers/{server_id}/metadata"),
            get(server_parts::metadata_index)
                .post(server_parts::metadata_update)
                .put(server_parts::metadata_replace),
        )
        .route(
            &r("/servers/{server_id}/metadata/{key}"),
            get(server_parts::metadata_show)
                .put(server_parts::metadata_put)
                .delete(server_parts::metadata_delete),
        )
        .route(
            &r("/servers/{server_id}/tags"),
            get(server_parts::tags_index)
                .put(server_parts::tags_replace)
                .delete(server_parts::tags_clear),
        )
        .route(
            &r("/servers/{server_id}/tags/{tag}"),
            get(server_parts::tag_check)
                .put(server_parts::tag_add)
                .delete(server_parts::tag_delete),
        )
        .route(&r("/servers/{server_id}/ips"), get(server_parts::ips))
        .route(
            &r("/servers/{server_id}/ips/{network}"),
            get(server_parts::ips_of),
        )
        .route(
            &r("/servers/{server_id}/os-interface"),
            get(server_parts::interfaces).post(interfaces::attach),
        )
        .route(
            &r("/servers/{server_id}/os-interface/{port_id}"),
            get(server_parts::interface_show).delete(interfaces::detach),
        )
        .route(
            &r("/servers/{server_id}/os-volume_attachments"),
            get(volume_attachments::index).post(volume_attachments::create),
        )
        .route(
            &r("/servers/{server_id}/os-volume_attachments/{volume_id}"),
            get(volume_attachments::show)
                .put(volume_attachments::update)
                .delete(volume_attachments::delete),
        )
        .route(
            &r("/servers/{server_id}/os-security-groups"),
            get(server_parts::security_groups),
        )
        .route(
            &r("/servers/{server_id}/os-instance-actions"),
            get(instance_actions::index),
        )
        .route(
            &r("/servers/{server_id}/os-instance-actions/{request_id}"),
            get(instance_actions::show),
        )
        .route(
            &r("/os-server-groups"),
            get(server_groups::index).post(server_groups::create),
        )
        .route(
            &r("/os-server-groups/{group_id}"),
            get(server_groups::show).delete(server_groups::delete),
        )
        .route(
            &r("/os-quota-sets/{project_id}"),
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            &r("/os-quota-sets/{project_id}/defaults"),
            get(quotas::defaults),
        )
        .route(
            &r("/os-quota-sets/{project_id}/detail"),
            get(quotas::detail),
        )
        .route(&r("/limits"), get(quotas::limits))
        .route(&r("/os-hypervisors"), get(hypervisors::index))
        .route(&r("/os-hypervisors/detail"), get(hypervisors::detail))
        .route(
            &r("/os-hypervisors/statistics"),
            get(hypervisors::statistics),
        )
        .route(&r("/os-hypervisors/{id}"), get(hypervisors::show))
        .route(&r("/os-services"), get(hypervisors::services))
        .route(&r("/os-availability-zone"), get(hypervisors::zones))
        .route(
            &r("/os-availability-zone/detail"),
            get(hypervisors::zones_detail),
        )
        .route("/compute/{*rest}", any(not_found))
        .with_state(compute)
        .layer(from_fn_with_state(&NOVA, microversion::negotiate))
        .layer(map_response(dialect::nova))
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}
