//! Nova quotas: per-project limits ([`QuotaSet`], only what an admin changed is
//! stored; the rest are Nova's defaults) and what a project uses, counted from the
//! store inside the caller's transaction so that two creates cannot both take the
//! last unit.

use crate::server::{Server, ServerGroup};
use crate::types::Keypair;
use nimbus_api::ApiError;
use nimbus_store::{Resource, Tx};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nova's default limits (`-1`: unlimited), in the order Nova lists them.
pub const DEFAULTS: &[(&str, i64)] = &[
    ("instances", 10),
    ("cores", 20),
    ("ram", 51200),
    ("key_pairs", 100),
    ("metadata_items", 128),
    ("server_groups", 10),
    ("server_group_members", 10),
    ("injected_files", 5),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    // Shown below 2.36 only (proxies of Neutron's quotas in Nova).
    ("floating_ips", 10),
    ("fixed_ips", -1),
    ("security_groups", 10),
    ("security_group_rules", 20),
];

/// The network-proxy quotas Nova stopped showing at 2.36.
pub const NETWORK_PROXIES: &[&str] = &[
    "floating_ips",
    "fixed_ips",
    "security_groups",
    "security_group_rules",
];
/// The file-injection quotas Nova stopped showing at 2.57.
pub const INJECTION: &[&str] = &[
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

/// A project's limits as an admin set them (keys missing here are defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaSet {
    /// The project id.
    pub id: String,
    pub limits: BTreeMap<String, i64>,
}

impl Resource for QuotaSet {
    const KIND: &'static str = "compute_quota";
    fn id(&self) -> &str {
        &self.id
    }
}

impl QuotaSet {
    /// The limit of `resource` (the default when not set).
    pub fn limit(&self, resource: &str) -> i64 {
        self.limits.get(resource).copied().unwrap_or_else(|| {
            DEFAULTS
                .iter()
                .find(|(k, _)| *k == resource)
                .map(|(_, v)| *v)
                .unwrap_or(-1)
        })
    }
}

/// What a project uses now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    pub server_groups: i64,
}

impl Usage {
    pub fn get(&self, resource: &str) -> i64 {
        match resource {
            "instances" => self.instances,
            "cores" => self.cores,
            "ram" => self.ram,
            "server_groups" => self.server_groups,
            _ => 0,
        }
    }
}

/// The limits of `project` read in `tx`.
pub async fn limits(tx: &mut Tx<'_>, project: &str) -> nimbus_store::Result<QuotaSet> {
    Ok(tx
        .get::<QuotaSet>(project)
        .await?
        .map(|q| q.value)
        .unwrap_or_else(|| QuotaSet {
            id: project.to_string(),
            limits: BTreeMap::new(),
        }))
}

/// What `project` uses, read in `tx` (servers being deleted still count, as in Nova
/// until they are gone).
pub async fn usage(tx: &mut Tx<'_>, project: &str) -> nimbus_store::Result<Usage> {
    let mut u = Usage::default();
    for s in tx.list::<Server>(Some(project)).await? {
        u.instances += 1;
        u.cores += s.value.flavor.vcpus as i64;
        u.ram += s.value.flavor.ram as i64;
    }
    u.server_groups = tx.list::<ServerGroup>(Some(project)).await?.len() as i64;
    Ok(u)
}

/// Keypairs of one user (Nova counts key_pairs per user).
pub async fn keypairs_of(tx: &mut Tx<'_>, user: &str) -> nimbus_store::Result<i64> {
    Ok(tx.list::<Keypair>(Some(user)).await?.len() as i64)
}

/// How many servers of (`vcpus`, `ram`) fit: between `min` and `max`, or Nova's 403
/// naming the resources that are over.
pub fn fit_servers(
    q: &QuotaSet,
    used: &Usage,
    vcpus: u64,
    ram: u64,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let per = [
        ("instances", 1i64),
        ("cores", vcpus as i64),
        ("ram", ram as i64),
    ];
    let mut fits = i64::from(max);
    for (res, each) in per {
        let limit = q.limit(res);
        if limit < 0 || each == 0 {
            continue;
        }
        fits = fits.min((limit - used.get(res)).max(0) / each);
    }
    if fits >= i64::from(min) {
        return Ok(fits as u32);
    }
    let over: Vec<&str> = per
        .iter()
        .filter(|(res, each)| {
            let limit = q.limit(res);
            limit >= 0 && used.get(res) + each * i64::from(min) > limit
        })
        .map(|(r, _)| *r)
        .collect();
    let req: Vec<String> = per
        .iter()
        .filter(|(r, _)| over.contains(r))
        .map(|(_, each)| (each * i64::from(min)).to_string())
        .collect();
    let used_s: Vec<String> = over.iter().map(|r| used.get(r).to_string()).collect();
    let allowed: Vec<String> = over.iter().map(|r| q.limit(r).to_string()).collect();
    let names = over.join(", ");
    Err(ApiError::forbidden(format!(
        "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
        req.join(", "),
        used_s.join(", "),
        allowed.join(", "),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_as_many_as_the_tightest_limit_allows() {
        let q = QuotaSet::default();
        let used = Usage {
            instances: 8,
            cores: 2,
            ram: 0,
            server_groups: 0,
        };
        assert_eq!(fit_servers(&q, &used, 1, 512, 1, 5), Ok(2));
        let e = fit_servers(&q, &used, 1, 512, 3, 5).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e
            .message
            .starts_with("Quota exceeded for instances: Requested 3"));
        let e = fit_servers(&q, &used, 19, 512, 1, 1).unwrap_err();
        assert!(e.message.contains("cores"), "{}", e.message);
    }
}
