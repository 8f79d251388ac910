//! Identity: Keystone v3 for Nimbus. Domains, projects, users, groups, roles with
//! implications, grants, application credentials, the service catalog and tokens.
//!
//! - [`types`]: what is stored; [`directory`]: the in-memory view the hot paths read;
//! - [`tokens`]: issuing and validating tokens (the [`nimbus_api::auth::Authenticator`]
//!   every API uses); [`password`]: Argon2id;
//! - [`api`]: the HTTP routes; [`bootstrap`]: what a first start creates.

pub mod api;
pub mod bootstrap;
pub mod directory;
pub mod password;
pub mod tokens;
pub mod totp;
pub mod types;

use chrono::Duration;
use directory::Directory;
use nimbus_api::links::PublicUrl;
use nimbus_store::Store;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use types::TokenRecord;

/// Settings of the identity service.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    pub public_url: PublicUrl,
    /// Token lifetime (default 1 h, at most 24 h).
    pub token_ttl: Duration,
    /// Failed password logins before the user is locked; 0 disables lockout.
    pub lockout_failures: u32,
    pub lockout_duration: Duration,
}

/// The longest token lifetime Nimbus allows (the specification's one day).
pub const MAX_TOKEN_TTL_SECS: i64 = 24 * 3600;

impl IdentityConfig {
    pub fn new(public_url: &str) -> Self {
        IdentityConfig {
            public_url: PublicUrl::new(public_url),
            token_ttl: Duration::hours(1),
            lockout_failures: 5,
            lockout_duration: Duration::minutes(5),
        }
    }
}

/// The identity service: shared by its routes and by every API's authentication.
pub struct Identity {
    pub store: Store,
    pub directory: Directory,
    pub config: IdentityConfig,
    /// The bootstrap admin project: `admin` on it makes a cloud admin.
    pub admin_project_id: String,
    /// Password checks (Argon2id, with repeat logins remembered).
    pub passwords: password::Verifier,
    tokens: RwLock<HashMap<String, Arc<TokenRecord>>>,
    /// Validated principals by token id, with the directory revision they were
    /// checked against: a token is re-checked only when the directory changed.
    principals: RwLock<HashMap<String, (i64, Arc<nimbus_api::auth::Principal>)>>,
    /// Rendered response documents by key, with the directory revision they were
    /// rendered from (see [`Identity::rendered`]).
    rendered: RwLock<HashMap<String, (i64, axum::body::Bytes)>>,
    /// Logins waiting for their second factor.
    pub receipts: api::mfa::Receipts,
    /// TOTP steps already used, per credential.
    pub totp_steps: totp::UsedSteps,
}

impl Identity {
    /// Opens the service on a bootstrapped store (see [`bootstrap::run`]).
    pub fn new(store: Store, config: IdentityConfig, admin_project_id: String) -> Arc<Self> {
        Arc::new(Identity {
            directory: Directory::new(store.clone()),
            store,
            config,
            admin_project_id,
            passwords: password::Verifier::default(),
            tokens: RwLock::new(HashMap::new()),
            principals: RwLock::new(HashMap::new()),
            rendered: RwLock::new(HashMap::new()),
            receipts: Default::default(),
            totp_steps: Default::default(),
        })
    }
}

impl Identity {
    /// A rendered response document, rendered once per directory revision: the
    /// directory changes rarely and reads (token validation, user lists) are hot.
    /// `key` must name everything the document depends on besides the directory.
    pub fn rendered<E>(
        &self,
        key: String,
        revision: i64,
        render: impl FnOnce() -> Result<serde_json::Value, E>,
    ) -> Result<axum::body::Bytes, E> {
        if let Some((rev, body)) = self.rendered.read().get(&key) {
            if *rev == revision {
                return Ok(body.clone());
            }
        }
        let body = axum::body::Bytes::from(render()?.to_string());
        let mut cache = self.rendered.write();
        if cache.len() >= MAX_RENDERED {
            cache.clear();
        }
        cache.insert(key, (revision, body.clone()));
        Ok(body)
    }
}

/// Bound on the rendered-document cache; it starts over when full.
const MAX_RENDERED: usize = 10_000;
