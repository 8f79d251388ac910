//! The Neutron v2.0 routes under `/network` (the catalog URL is unversioned; clients
//! append `/v2.0`). Each resource has its own file with the shape of the other
//! services: authenticate (`Auth`), authorize against the policy table (through
//! [`crate::access`]), validate, write in one transaction with an audit record,
//! answer. Every error under `/network`, unknown paths included, is rendered in
//! Neutron's format.

pub mod common;
pub mod discovery;
pub mod floatingips;
pub mod list;
pub mod networks;
pub mod port_attrs;
pub mod ports;
pub mod quotas;
pub mod rbac;
pub mod routers;
pub mod rules;
pub mod security_groups;
pub mod subnet_attrs;
pub mod subnets;
pub mod tags;
pub mod views;

use crate::types::{Network, Port, SecurityGroup, Subnet};
use crate::Networking;
use axum::middleware::map_response;
use axum::routing::{any, get, put};
use axum::Router;
use common::PREFIX;
use nimbus_api::{dialect, ApiError};
use std::sync::Arc;

/// Every network route.
pub fn router(net: Arc<Networking>) -> Router {
    let r = |path: &str| format!("{PREFIX}{path}");
    let mut router = Router::new()
        .route("/network", get(discovery::versions))
        .route("/network/", get(discovery::versions))
        .route(PREFIX, get(discovery::resources))
        .route(&r("/"), get(discovery::resources))
        .route(&r("/extensions"), get(discovery::extensions))
        .route(&r("/extensions/{alias}"), get(discovery::show_extension))
        .route(&r("/networks"), get(networks::index).post(networks::create))
        .route(
            &r("/networks/{id}"),
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route(&r("/subnets"), get(subnets::index).post(subnets::create))
        .route(
            &r("/subnets/{id}"),
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route(&r("/ports"), get(ports::index).post(ports::create))
        .route(
            &r("/ports/{id}"),
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route(
            &r("/security-groups"),
            get(security_groups::index).post(security_groups::create),
        )
        .route(
            &r("/security-groups/{id}"),
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            &r("/security-group-rules"),
            get(rules::index).post(rules::create),
        )
        .route(
            &r("/security-group-rules/{id}"),
            get(rules::show).delete(rules::delete),
        );
    router = router
        .route(&r("/quotas"), get(quotas::index))
        .route(
            &r("/quotas/{project_id}"),
            get(quotas::show).put(quotas::update).delete(quotas::reset),
        )
        .route(&r("/quotas/{project_id}/default"), get(quotas::defaults))
        .route(&r("/quotas/{project_id}/details"), get(quotas::details));
    router = router
        .route(&r("/routers"), get(routers::index).post(routers::create))
        .route(
            &r("/routers/{id}"),
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            &r("/routers/{id}/add_router_interface"),
            put(routers::add_interface),
        )
        .route(
            &r("/routers/{id}/remove_router_interface"),
            put(routers::remove_interface),
        )
        .route(
            &r("/floatingips"),
            get(floatingips::index).post(floatingips::create),
        )
        .route(
            &r("/floatingips/{id}"),
            get(floatingips::show)
                .put(floatingips::update)
                .delete(floatingips::delete),
        );
    router = router
        .route(&r("/rbac-policies"), get(rbac::index).post(rbac::create))
        .route(
            &r("/rbac-policies/{id}"),
            get(rbac::show).put(rbac::update).delete(rbac::delete),
        );
    router = tag_routes::<Network>(router, &r("/networks"));
    router = tag_routes::<Subnet>(router, &r("/subnets"));
    router = tag_routes::<Port>(router, &r("/ports"));
    router = tag_routes::<SecurityGroup>(router, &r("/security-groups"));
    router
        .route("/network/{*rest}", any(not_found))
        .with_state(net)
        .layer(map_response(dialect::neutron))
}

fn tag_routes<T: tags::Tagged + 'static>(
    router: Router<Arc<Networking>>,
    collection: &str,
) -> Router<Arc<Networking>> {
    router
        .route(
            &format!("{collection}/{{id}}/tags"),
            get(tags::list::<T>)
                .put(tags::replace::<T>)
                .delete(tags::clear::<T>),
        )
        .route(
            &format!("{collection}/{{id}}/tags/{{tag}}"),
            get(tags::check::<T>)
                .put(tags::add::<T>)
                .delete(tags::remove::<T>),
        )
}

async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}
