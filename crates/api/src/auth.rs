//! Who is calling: the [`Principal`] behind a token, and the [`Auth`] extractor that
//! every protected handler takes. Tokens are checked on every request (revocation
//! included) by the [`Authenticator`] the identity service installs.

use crate::log::RequestLog;
use crate::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The header OpenStack clients send their token in.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// What a token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Unscoped,
    Project {
        id: String,
        name: String,
        domain_id: String,
        domain_name: String,
    },
    Domain {
        id: String,
        name: String,
    },
    System,
}

/// A role as a token carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

/// The caller of a request, as established from a valid token.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    pub scope: Scope,
    /// Effective roles on the scope, implied roles included.
    pub roles: Vec<RoleRef>,
    /// The bootstrap `admin` project: an admin scoped to it is a cloud admin.
    pub is_admin_project: bool,
    pub methods: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub audit_id: String,
    /// Set when the token came from an application credential.
    pub application_credential_id: Option<String>,
}

impl Principal {
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// The project of a project-scoped token.
    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The domain a token acts in: the domain of a domain-scoped token, or the
    /// domain of the project of a project-scoped one.
    pub fn scope_domain_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { domain_id, .. } => Some(domain_id),
            Scope::Domain { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Role `admin` on the system, or on the bootstrap admin project.
    pub fn is_cloud_admin(&self) -> bool {
        self.has_role("admin") && (self.scope == Scope::System || self.is_admin_project)
    }

    /// Role `reader` (or more) on the system scope.
    pub fn is_system_reader(&self) -> bool {
        self.scope == Scope::System && self.has_role("reader")
    }
}

/// Turns a token into a principal, or refuses it (401).
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, ApiError>;
}

/// The authenticator every router shares, installed as a request extension.
#[derive(Clone)]
pub struct SharedAuthenticator(pub Arc<dyn Authenticator>);

/// The token a request carries: `X-Auth-Token`, or `Authorization: Bearer` (Kubernetes).
pub fn request_token(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(AUTH_TOKEN_HEADER) {
        return v.to_str().ok().filter(|s| !s.is_empty());
    }
    let v = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let v = v.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Extractor for handlers that need a caller: 401 without a valid token.
pub struct Auth(pub Arc<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let token = request_token(parts).ok_or_else(ApiError::authentication_required)?;
        let auth = parts
            .extensions
            .get::<SharedAuthenticator>()
            .cloned()
            .ok_or_else(|| ApiError::internal("no authenticator installed"))?;
        let principal = auth.0.authenticate(token).await?;
        if let Some(log) = parts.extensions.get::<Arc<RequestLog>>() {
            log.set_principal(&principal);
        }
        Ok(Auth(principal))
    }
}
