//! Compute: Nova v2.1 for Nimbus. Version discovery, microversions, flavors (with
//! extra specs and access lists), keypairs, servers, server groups, quotas,
//! hypervisors and the scheduler.
//!
//! - [`types`] and [`server`]: what is stored; [`keys`]: SSH/X.509 key checks,
//!   fingerprints and generation; [`seed`]: the SCS standard flavors a first start
//!   creates; [`quota`]: quota sets and usage;
//! - [`api`]: the HTTP routes (one file per resource), in Nova's error dialect,
//!   behind microversion negotiation ([`NOVA`]);
//! - [`scheduler::run`]: the controller binding new servers to hypervisors;
//! - [`lifecycle::finish_delete`]: what the node agent calls once a deleted
//!   server's guest is gone;
//! - [`Compute::flavor`] and [`Compute::keypair`]: lookups for other crates.

pub mod api;
pub mod keys;
pub mod lifecycle;
pub mod quota;
pub mod scheduler;
pub mod seed;
pub mod server;
pub mod types;

use nimbus_api::auth::Principal;
use nimbus_api::microversion::{Service, Version};
use nimbus_api::{ApiError, ApiResult};
use nimbus_image::Images;
use nimbus_network::Networking;
use nimbus_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use types::{Flavor, Keypair};

/// The oldest microversion served (and the default when a client asks for none).
pub const MIN_MICROVERSION: Version = Version::new(2, 1);
/// The newest microversion served: raise it only together with the behaviour it
/// brings for *every* Nova resource served here.
pub const MAX_MICROVERSION: Version = Version::new(2, 79);

/// Nova's microversion range and headers.
pub static NOVA: Service = Service {
    name: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: MIN_MICROVERSION,
    max: MAX_MICROVERSION,
};

/// The compute service, shared by its routes.
pub struct Compute {
    pub store: Store,
    /// Glance, for `imageRef` and `createImage`.
    pub images: Arc<Images>,
    /// Neutron, for the servers' ports.
    pub networking: Arc<Networking>,
    /// The server's data directory (console logs live under `instances/`).
    pub data_dir: PathBuf,
    /// What server documents refer to, shared by list requests.
    pub lookup: api::server_view::SharedLookup,
}

impl Compute {
    pub fn new(
        store: Store,
        images: Arc<Images>,
        networking: Arc<Networking>,
        data_dir: PathBuf,
    ) -> Arc<Self> {
        Arc::new(Compute {
            store,
            images,
            networking,
            data_dir,
            lookup: Default::default(),
        })
    }

    /// The flavor `id` as `caller` may use it: 404 (Nova's "Flavor X could not be
    /// found.") when it does not exist or is private and not shared with the caller.
    pub async fn flavor(&self, caller: &Principal, id: &str) -> ApiResult<Flavor> {
        match self.store.get::<Flavor>(id).await? {
            Some(f) if f.value.visible_to(caller) => Ok(f.value),
            _ => Err(flavor_not_found(id)),
        }
    }

    /// The keypair `name` of `user_id`: 404 when there is none.
    pub async fn keypair(&self, user_id: &str, name: &str) -> ApiResult<Keypair> {
        self.store
            .get::<Keypair>(&Keypair::store_id(user_id, name))
            .await?
            .map(|k| k.value)
            .ok_or_else(|| keypair_not_found(user_id, name))
    }
}

/// Nova's 404 for a flavor.
pub fn flavor_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Flavor {id} could not be found."))
}

/// Nova's 404 for a keypair.
pub fn keypair_not_found(user_id: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("Keypair {name} not found for user {user_id}"))
}
