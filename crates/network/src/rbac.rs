//! Network sharing through RBAC policies (`access_as_shared`): a network shared
//! with a project (or `*`) is, for that project, a shared network: it is listed,
//! shown with `shared: true` (as Neutron computes `shared` per caller), and its
//! subnets and ports may be used. Only read paths apply this; the stored
//! network keeps its own `shared` flag.

use crate::l3_types::RbacPolicy;
use crate::types::Network;
use nimbus_api::auth::Principal;
use nimbus_store::{Result as StoreResult, Store};
use std::collections::HashSet;

pub const ACCESS_AS_SHARED: &str = "access_as_shared";
pub const ACCESS_AS_EXTERNAL: &str = "access_as_external";

/// Whether a policy shares its object with `project` (`*` means everyone).
pub fn targets(p: &RbacPolicy, project: Option<&str>) -> bool {
    p.target_tenant == "*" || Some(p.target_tenant.as_str()) == project
}

/// The ids of the networks shared with the caller's project.
pub async fn shared_with(store: &Store, caller: &Principal) -> StoreResult<HashSet<String>> {
    let project = caller.project_id();
    Ok(store
        .list::<RbacPolicy>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|p| p.object_type == "network" && p.action == ACCESS_AS_SHARED)
        .filter(|p| targets(p, project))
        .map(|p| p.object_id)
        .collect())
}

/// Marks `n` shared when a policy shares it with the caller.
pub fn apply(shared: &HashSet<String>, n: &mut Network) {
    if shared.contains(&n.id) {
        n.shared = true;
    }
}

/// [`apply`] for one network (reads the policies of that network only).
pub async fn apply_one(store: &Store, caller: &Principal, n: &mut Network) -> StoreResult<()> {
    if n.shared {
        return Ok(());
    }
    let project = caller.project_id();
    let hit = store
        .list::<RbacPolicy>(Some(&n.id))
        .await?
        .into_iter()
        .any(|p| p.value.action == ACCESS_AS_SHARED && targets(&p.value, project));
    if hit {
        n.shared = true;
    }
    Ok(())
}
