//! Tokens: opaque random strings, stored only as their SHA-256, checked on every
//! request against the current directory. A token stops working when it expires,
//! is revoked, its user is disabled or deleted or changes password (the user's
//! `tokens_revoked_at` revision), its project or domain goes away or is disabled,
//! or its user no longer holds one of the roles it carries.

use crate::types::*;
use crate::Identity;
use base64::Engine;
use chrono::{DateTime, Utc};
use nimbus_api::auth::{Authenticator, Principal, RoleRef, Scope};
use nimbus_api::ApiError;
use nimbus_store::StoreError;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Bound on cached token records and principals; the caches start over when full
/// (the store still has every token).
const MAX_CACHED_TOKENS: usize = 50_000;

/// The stored id of a token string.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token_string() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What to put in a new token.
pub struct TokenRequest {
    pub user_id: String,
    pub scope: TokenScope,
    pub roles: Vec<String>,
    pub methods: Vec<String>,
    /// Never later than now + the configured lifetime.
    pub expires_at: Option<DateTime<Utc>>,
    pub audit_id: Option<String>,
    pub application_credential_id: Option<String>,
}

impl Identity {
    /// Issues and stores a token; returns the token string and its record.
    pub async fn issue_token(
        &self,
        req: TokenRequest,
    ) -> Result<(String, Arc<TokenRecord>), StoreError> {
        let token = new_token_string();
        let now = Utc::now();
        let max = now + self.config.token_ttl;
        let expires_at = req.expires_at.map_or(max, |e| e.min(max));
        let mut tx = self.store.begin().await?;
        let issued_revision = tx.revision().await?;
        let record = TokenRecord {
            id: token_hash(&token),
            user_id: req.user_id,
            scope: req.scope,
            roles: req.roles,
            methods: req.methods,
            issued_at: now,
            expires_at,
            audit_id: req.audit_id.unwrap_or_else(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(&uuid::Uuid::new_v4().as_bytes()[..16])
            }),
            issued_revision,
            application_credential_id: req.application_credential_id,
            revoked: false,
        };
        tx.create(&record).await?;
        tx.commit().await?;
        // Not cached here: a token enters the caches on first use, so clients that
        // log in for every command do not fill memory with tokens never used.
        Ok((token, Arc::new(record)))
    }

    /// Finds a token's record (cache first, then the store).
    pub async fn find_token(&self, token: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        let id = token_hash(token);
        if let Some(hit) = self.tokens.read().get(&id) {
            return Ok(Some(hit.clone()));
        }
        let Some(stored) = self.store.get::<TokenRecord>(&id).await? else {
            return Ok(None);
        };
        let record = Arc::new(stored.value);
        let mut tokens = self.tokens.write();
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        tokens.insert(id, record.clone());
        Ok(Some(record))
    }

    /// Revokes one token.
    pub async fn revoke_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let mut revoked = record.clone();
        revoked.revoked = true;
        let mut tx = self.store.begin().await?;
        tx.update(&revoked, None).await?;
        tx.commit().await?;
        self.tokens
            .write()
            .insert(revoked.id.clone(), Arc::new(revoked));
        Ok(())
    }

    /// Checks a token record against the current state; the principal it stands for.
    pub async fn validate(&self, record: &TokenRecord) -> Result<Arc<Principal>, ApiError> {
        self.check(record, true).await
    }

    /// Like [`Identity::validate`], without remembering the result (a new token's
    /// first answer).
    pub async fn validate_uncached(
        &self,
        record: &TokenRecord,
    ) -> Result<Arc<Principal>, ApiError> {
        self.check(record, false).await
    }

    async fn check(
        &self,
        record: &TokenRecord,
        remember: bool,
    ) -> Result<Arc<Principal>, ApiError> {
        let invalid =
            || ApiError::unauthorized("The request you have made requires authentication.");
        if record.revoked || record.expires_at <= Utc::now() {
            return Err(invalid());
        }
        let snap = self.directory.snapshot().await?;
        if let Some((revision, p)) = self.principals.read().get(&record.id) {
            if *revision == snap.revision {
                return Ok(p.clone());
            }
        }
        let user = snap.users.get(&record.user_id).ok_or_else(invalid)?;
        let user_domain = snap.domains.get(&user.domain_id).ok_or_else(invalid)?;
        if !user.enabled || !user_domain.enabled || record.issued_revision <= user.tokens_revoked_at
        {
            return Err(invalid());
        }
        if !snap.scope_enabled(&record.scope) {
            return Err(invalid());
        }
        if let Some(ac) = &record.application_credential_id {
            let cred = snap.application_credentials.get(ac).ok_or_else(invalid)?;
            if cred.expires_at.is_some_and(|e| e <= Utc::now()) {
                return Err(invalid());
            }
        }
        if record.scope != TokenScope::Unscoped {
            let held = snap.effective_roles(&record.user_id, &record.scope);
            if record.roles.is_empty() || !record.roles.iter().all(|r| held.contains(r)) {
                return Err(invalid());
            }
        }
        let scope = match &record.scope {
            TokenScope::Unscoped => Scope::Unscoped,
            TokenScope::System => Scope::System,
            TokenScope::Domain(id) => Scope::Domain {
                id: id.clone(),
                name: snap
                    .domains
                    .get(id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
            },
            TokenScope::Project(id) => {
                let p = snap.projects.get(id).ok_or_else(invalid)?;
                Scope::Project {
                    id: id.clone(),
                    name: p.name.clone(),
                    domain_id: p.domain_id.clone(),
                    domain_name: snap
                        .domains
                        .get(&p.domain_id)
                        .map(|d| d.name.clone())
                        .unwrap_or_default(),
                }
            }
        };
        let roles = record
            .roles
            .iter()
            .filter_map(|r| snap.roles.get(r))
            .map(|r| RoleRef {
                id: r.id.clone(),
                name: r.name.clone(),
            })
            .collect();
        let principal = Arc::new(Principal {
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            user_domain_id: user.domain_id.clone(),
            user_domain_name: user_domain.name.clone(),
            is_admin_project: record.scope == TokenScope::Project(self.admin_project_id.clone()),
            scope,
            roles,
            methods: record.methods.clone(),
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            audit_id: record.audit_id.clone(),
            application_credential_id: record.application_credential_id.clone(),
        });
        if remember {
            let mut principals = self.principals.write();
            if principals.len() >= MAX_CACHED_TOKENS {
                principals.clear();
            }
            principals.insert(record.id.clone(), (snap.revision, principal.clone()));
        }
        Ok(principal)
    }

    /// Drops expired tokens from the cache and the store; returns how many.
    pub async fn sweep_expired_tokens(&self) -> Result<usize, StoreError> {
        let now = Utc::now();
        self.tokens.write().retain(|_, t| t.expires_at > now);
        self.rendered.write().clear();
        self.principals
            .write()
            .retain(|_, (_, p)| p.expires_at > now);
        let expired: Vec<String> = self
            .store
            .list::<TokenRecord>(None)
            .await?
            .into_iter()
            .filter(|t| t.value.expires_at <= now)
            .map(|t| t.value.id)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.begin().await?;
        for id in &expired {
            tx.delete::<TokenRecord>(id, None).await?;
        }
        tx.commit().await?;
        Ok(expired.len())
    }
}

#[async_trait::async_trait]
impl Authenticator for Identity {
    async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, ApiError> {
        let record = self
            .find_token(token)
            .await?
            .ok_or_else(ApiError::authentication_required)?;
        self.validate(&record).await
    }
}
