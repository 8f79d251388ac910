//! What the identity service stores: one struct per Keystone resource, each a store
//! [`Resource`] with its parent (for listing) and unique keys (for names).

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kinds the in-memory [`crate::directory::Directory`] mirrors.
pub const DIRECTORY_KINDS: &[&str] = &[
    Domain::KIND,
    Project::KIND,
    User::KIND,
    Group::KIND,
    Membership::KIND,
    Role::KIND,
    RoleImplication::KIND,
    Assignment::KIND,
    ApplicationCredential::KIND,
    Region::KIND,
    Service::KIND,
    Endpoint::KIND,
];

/// A new random id in Keystone's style (32 hex digits).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Resource for Domain {
    const KIND: &'static str = "domain";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![self.name.to_lowercase()]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub parent_id: Option<String>,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Resource for Project {
    const KIND: &'static str = "project";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.domain_id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("{}/{}", self.domain_id, self.name.to_lowercase())]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    #[serde(default)]
    pub description: String,
    pub email: Option<String>,
    /// Argon2id PHC string; `None` for users who cannot log in with a password.
    pub password_hash: Option<String>,
    pub password_changed_at: Option<DateTime<Utc>>,
    /// Tokens issued at or before this store revision are revoked (disable,
    /// password change).
    #[serde(default)]
    pub tokens_revoked_at: i64,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Resource for User {
    const KIND: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.domain_id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("{}/{}", self.domain_id, self.name.to_lowercase())]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl Resource for Group {
    const KIND: &'static str = "group";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.domain_id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("{}/{}", self.domain_id, self.name.to_lowercase())]
    }
}

/// A user in a group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Membership {
    pub id: String,
    pub group_id: String,
    pub user_id: String,
}

impl Membership {
    pub fn new(group_id: &str, user_id: &str) -> Self {
        Membership {
            id: Self::key(group_id, user_id),
            group_id: group_id.into(),
            user_id: user_id.into(),
        }
    }
    pub fn key(group_id: &str, user_id: &str) -> String {
        format!("{group_id}:{user_id}")
    }
}

impl Resource for Membership {
    const KIND: &'static str = "membership";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.group_id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    /// Domain-specific roles belong to a domain; global roles have none.
    pub domain_id: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: Map<String, Value>,
}

impl Resource for Role {
    const KIND: &'static str = "role";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!(
            "{}/{}",
            self.domain_id.as_deref().unwrap_or(""),
            self.name.to_lowercase()
        )]
    }
}

/// `prior` implies `implied`: whoever holds the first holds the second.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleImplication {
    pub id: String,
    pub prior_role_id: String,
    pub implied_role_id: String,
}

impl RoleImplication {
    pub fn new(prior: &str, implied: &str) -> Self {
        RoleImplication {
            id: Self::key(prior, implied),
            prior_role_id: prior.into(),
            implied_role_id: implied.into(),
        }
    }
    pub fn key(prior: &str, implied: &str) -> String {
        format!("{prior}:{implied}")
    }
}

impl Resource for RoleImplication {
    const KIND: &'static str = "role_implication";
    fn id(&self) -> &str {
        &self.id
    }
}

/// Who holds a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    User,
    Group,
}

/// Where a role is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Project,
    Domain,
    System,
}

/// The system scope's only target id.
pub const SYSTEM_ALL: &str = "all";

/// A role grant: actor holds role on target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub actor: Actor,
    pub actor_id: String,
    pub target: TargetType,
    pub target_id: String,
    pub role_id: String,
}

impl Assignment {
    pub fn new(
        actor: Actor,
        actor_id: &str,
        target: TargetType,
        target_id: &str,
        role_id: &str,
    ) -> Self {
        Assignment {
            id: Self::key(actor, actor_id, target, target_id, role_id),
            actor,
            actor_id: actor_id.into(),
            target,
            target_id: target_id.into(),
            role_id: role_id.into(),
        }
    }
    pub fn key(
        actor: Actor,
        actor_id: &str,
        target: TargetType,
        target_id: &str,
        role_id: &str,
    ) -> String {
        format!("{actor:?}:{actor_id}:{target:?}:{target_id}:{role_id}").to_lowercase()
    }
}

impl Resource for Assignment {
    const KIND: &'static str = "assignment";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.actor_id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApplicationCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    #[serde(default)]
    pub description: String,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// Role ids the credential may use (a subset of the user's roles on the project).
    pub roles: Vec<String>,
    pub unrestricted: bool,
}

impl Resource for ApplicationCredential {
    const KIND: &'static str = "application_credential";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.user_id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("{}/{}", self.user_id, self.name)]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub parent_region_id: Option<String>,
}

impl Resource for Region {
    const KIND: &'static str = "region";
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    #[serde(rename = "type")]
    pub service_type: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
}

impl Resource for Service {
    const KIND: &'static str = "service";
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub url: String,
    pub region_id: Option<String>,
    pub enabled: bool,
}

impl Resource for Endpoint {
    const KIND: &'static str = "endpoint";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.service_id
    }
}

/// What a token is scoped to, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum TokenScope {
    Unscoped,
    Project(String),
    Domain(String),
    System,
}

/// An issued token. Stored under the SHA-256 of the token string, never the token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: String,
    pub scope: TokenScope,
    /// Role ids the token carries; it stops working when the user loses one.
    pub roles: Vec<String>,
    pub methods: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub audit_id: String,
    /// The store revision the token was issued at (see `User::tokens_revoked_at`).
    pub issued_revision: i64,
    pub application_credential_id: Option<String>,
    pub revoked: bool,
}

impl Resource for TokenRecord {
    const KIND: &'static str = "token";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.user_id
    }
}

/// Failed password logins of a user, kept apart from the user so that counting
/// them does not invalidate the directory.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoginState {
    pub id: String,
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Resource for LoginState {
    const KIND: &'static str = "login_state";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A credential (`/v3/credentials`). Nimbus reads those of type `totp`: the
/// blob is the user's base32 TOTP secret, her second factor (see [`crate::totp`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub project_id: Option<String>,
    /// `totp`, `ec2`, `cert`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub blob: String,
}

impl Resource for Credential {
    const KIND: &'static str = "credential";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed per user (a login reads its user's TOTP credentials).
    fn parent(&self) -> &str {
        &self.user_id
    }
}
