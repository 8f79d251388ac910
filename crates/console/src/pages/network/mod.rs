//! Networking in the browser, over Neutron as the user: networks (with a
//! subnet), routers, security groups and their rules, floating IPs.

pub mod floatingips;
pub mod networks;
pub mod routers;
pub mod secgroups;

use crate::Console;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .merge(networks::routes())
        .merge(routers::routes())
        .merge(secgroups::routes())
        .merge(floatingips::routes())
}
