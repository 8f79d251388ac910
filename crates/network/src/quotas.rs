//! Per-project quotas on networks, subnets, ports, security groups and rules, with
//! Neutron's defaults; checked inside the transaction that creates an object, so
//! the count cannot change between the check and the write (writers are
//! serialised). Over quota is Neutron's 409 `OverQuota`.

use crate::error::{Fault, NResult};
use crate::types::{Network, NetworkQuota, Port, SecurityGroup, SecurityGroupRule, Subnet};
use nimbus_store::{Resource, Tx};

/// The resources with a quota, in Neutron's names, and their default limits.
pub const DEFAULTS: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("security_group", 10),
    ("security_group_rule", 100),
];

/// The limit of `resource` for a project (`-1`: unlimited).
pub fn limit(q: Option<&NetworkQuota>, resource: &str) -> i64 {
    let set = q.and_then(|q| match resource {
        "network" => q.network,
        "subnet" => q.subnet,
        "port" => q.port,
        "security_group" => q.security_group,
        "security_group_rule" => q.security_group_rule,
        _ => None,
    });
    set.unwrap_or_else(|| {
        DEFAULTS
            .iter()
            .find(|(r, _)| *r == resource)
            .map_or(-1, |(_, d)| *d)
    })
}

/// Sets a limit (`None`: back to the default); false for an unknown resource.
pub fn set(q: &mut NetworkQuota, resource: &str, value: Option<i64>) -> bool {
    let slot = match resource {
        "network" => &mut q.network,
        "subnet" => &mut q.subnet,
        "port" => &mut q.port,
        "security_group" => &mut q.security_group,
        "security_group_rule" => &mut q.security_group_rule,
        _ => return false,
    };
    *slot = value;
    true
}

async fn count<T: Resource>(
    tx: &mut Tx<'_>,
    project_of: impl Fn(&T) -> &str,
    project: &str,
) -> NResult<i64> {
    Ok(tx
        .list::<T>(None)
        .await?
        .iter()
        .filter(|v| project_of(&v.value) == project)
        .count() as i64)
}

/// How many objects of `resource` the project has.
pub async fn usage(tx: &mut Tx<'_>, resource: &str, project: &str) -> NResult<i64> {
    match resource {
        "network" => count::<Network>(tx, |n| &n.project_id, project).await,
        "subnet" => count::<Subnet>(tx, |s| &s.project_id, project).await,
        "port" => count::<Port>(tx, |p| &p.project_id, project).await,
        "security_group" => count::<SecurityGroup>(tx, |g| &g.project_id, project).await,
        "security_group_rule" => count::<SecurityGroupRule>(tx, |r| &r.project_id, project).await,
        _ => Ok(0),
    }
}

/// 409 `OverQuota` unless the project may create `adding` more of `resource`.
pub async fn check(
    tx: &mut Tx<'_>,
    resource: &'static str,
    project: &str,
    adding: i64,
) -> NResult<()> {
    let q = tx.get::<NetworkQuota>(project).await?.map(|v| v.value);
    let max = limit(q.as_ref(), resource);
    if max < 0 {
        return Ok(());
    }
    if usage(tx, resource, project).await? + adding > max {
        return Err(Fault::conflict(
            "OverQuota",
            format!("Quota exceeded for resources: ['{resource}']."),
        ));
    }
    Ok(())
}
