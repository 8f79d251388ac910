//! Who sees which network object, expressed as policy targets so that
//! `nimbus_api::policy` decides (and answers 404 for what the caller may not know
//! exists):
//!
//! - a project sees its own networks, subnets, ports and security groups;
//! - shared and external networks, and their subnets, are seen by every project;
//! - cloud admins and system readers see everything.

use crate::error::{Fault, Kind, NResult};
use crate::types::{Network, Subnet};
use axum::http::StatusCode;
use nimbus_api::auth::Principal;
use nimbus_api::policy::{authorize, Target};

/// Whether the network is open to every project.
pub fn network_open(n: &Network) -> bool {
    n.shared || n.external
}

/// The policy target of an object owned by `project_id`, hidden (404) from other
/// projects unless `open`.
pub fn target<'a>(kind: &'a str, id: &'a str, project_id: &'a str, open: bool) -> Target<'a> {
    let mut t = Target::new(kind, id).project(project_id);
    t.hidden_outside_project = !open;
    t
}

/// Whether the caller sees an object of `project_id` (`open`: shared with all).
pub fn sees(p: &Principal, project_id: &str, open: bool) -> bool {
    open || p.is_cloud_admin() || p.is_system_reader() || p.project_id() == Some(project_id)
}

/// Whether the caller sees the network.
pub fn sees_network(p: &Principal, n: &Network) -> bool {
    sees(p, &n.project_id, network_open(n))
}

/// Whether the caller sees the subnet (`network`: its network, when known).
pub fn sees_subnet(p: &Principal, s: &Subnet, network: Option<&Network>) -> bool {
    sees(p, &s.project_id, network.is_some_and(network_open))
}

/// Authorizes `action` on an object; a hidden object answers Neutron's 404 for it.
pub fn authorize_on(
    p: &Principal,
    action: &str,
    kind: Kind,
    id: &str,
    project_id: &str,
    open: bool,
) -> NResult<()> {
    authorize(p, action, &target(kind.title(), id, project_id, open)).map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            Fault::not_found(kind, id)
        } else {
            Fault::new(e.status, "PolicyNotAuthorized", e.message)
        }
    })
}
