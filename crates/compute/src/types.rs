//! What the compute service stores: flavors (with their extra specs and access
//! list) and keypairs, each a store [`Resource`]. Servers will live here too.

use chrono::{DateTime, Utc};
use nimbus_api::auth::Principal;
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A flavor. `id` is Nova's `flavorid`: the string the API shows and takes
/// (`SCS-1V-4`, a UUID, or whatever the admin chose).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    /// MiB.
    pub ram: u64,
    pub vcpus: u64,
    /// Root disk, GiB (0: boot from volume or the image's size).
    pub disk: u64,
    /// GiB.
    #[serde(default)]
    pub ephemeral: u64,
    /// MiB.
    #[serde(default)]
    pub swap: u64,
    #[serde(default = "one")]
    pub rxtx_factor: f64,
    pub is_public: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
    /// Projects that may use a private flavor.
    #[serde(default)]
    pub projects: BTreeSet<String>,
    pub created_at: DateTime<Utc>,
}

fn one() -> f64 {
    1.0
}

impl Resource for Flavor {
    const KIND: &'static str = "flavor";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("name/{}", self.name)]
    }
}

impl Flavor {
    /// Whether `p` may see (and so boot) this flavor: public ones everybody; private
    /// ones cloud admins, system readers and the projects on the access list.
    pub fn visible_to(&self, p: &Principal) -> bool {
        self.is_public
            || p.is_cloud_admin()
            || p.is_system_reader()
            || p.project_id().is_some_and(|id| self.projects.contains(id))
    }

    /// The flavor as a server embeds it from microversion 2.47 on (Nova copies the
    /// flavor into the server at create time; store this copy with the server).
    pub fn embedded(&self, include_extra_specs: bool) -> Value {
        let mut v = json!({
            "vcpus": self.vcpus,
            "ram": self.ram,
            "disk": self.disk,
            "ephemeral": self.ephemeral,
            "swap": self.swap,
            "original_name": self.name,
        });
        if include_extra_specs {
            v["extra_specs"] = json!(self.extra_specs);
        }
        v
    }
}

/// A keypair's type (microversion 2.2 on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Ssh,
    X509,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ssh => "ssh",
            KeyType::X509 => "x509",
        }
    }
}

/// A keypair: named per user, holding only the public half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypair {
    /// The store id, `{user_id}/{name}` ([`Keypair::store_id`]); never shown.
    pub id: String,
    pub user_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub public_key: String,
    pub fingerprint: String,
    /// Nova's integer id: the store revision the keypair was created at.
    pub serial: i64,
    pub created_at: DateTime<Utc>,
}

impl Keypair {
    /// The store id: names are unique per user and cannot contain `/`.
    pub fn store_id(user_id: &str, name: &str) -> String {
        format!("{user_id}/{name}")
    }
}

impl Resource for Keypair {
    const KIND: &'static str = "keypair";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.user_id
    }
}

/// Marks that the first start seeded the standard flavors, so that flavors an
/// admin deleted later are not brought back on the next start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedMarker {
    pub id: String,
    pub at: DateTime<Utc>,
}

impl Resource for SeedMarker {
    const KIND: &'static str = "compute_seed";
    fn id(&self) -> &str {
        &self.id
    }
}
