//! Test support for service crates: drive a service router in-process with tokens
//! that stand for fixed personas, without running identity. The router is wrapped
//! exactly as `nimbus serve` wraps it ([`crate::app::wrap`]); only the token check is
//! replaced by a [`StaticAuthenticator`] (identity's own tests cover tokens).
//!
//! ```ignore
//! let mut auth = StaticAuthenticator::default();
//! auth.add("admin-token", cloud_admin("admin-project"));
//! auth.add("alice-token", project_user("alice", "p1", &["member", "reader"]));
//! let client = TestClient::new(my_service::api::router(state), auth);
//! let r = client.call("GET", "/image/v2/images", Some("alice-token"), None).await;
//! ```

use crate::auth::{Authenticator, Principal, RoleRef, Scope};
use crate::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::{Duration, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The public URL test routers pretend to live at.
pub const PUBLIC_URL: &str = "http://127.0.0.1:1";

/// Tokens mapped to principals; any other token is refused with 401.
#[derive(Default)]
pub struct StaticAuthenticator {
    tokens: HashMap<String, Arc<Principal>>,
}

impl StaticAuthenticator {
    pub fn add(&mut self, token: &str, principal: Principal) {
        self.tokens.insert(token.to_string(), Arc::new(principal));
    }
}

#[async_trait::async_trait]
impl Authenticator for StaticAuthenticator {
    async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, ApiError> {
        self.tokens
            .get(token)
            .cloned()
            .ok_or_else(ApiError::authentication_required)
    }
}

/// A user with `roles` (implied roles included, as identity computes them) on a
/// project of the `default` domain.
pub fn project_user(user_id: &str, project_id: &str, roles: &[&str]) -> Principal {
    principal(
        user_id,
        Scope::Project {
            id: project_id.to_string(),
            name: project_id.to_string(),
            domain_id: "default".into(),
            domain_name: "Default".into(),
        },
        roles,
        false,
    )
}

/// The bootstrap admin, scoped to the admin project: a cloud admin.
pub fn cloud_admin(admin_project_id: &str) -> Principal {
    let mut p = project_user(
        "admin",
        admin_project_id,
        &["admin", "manager", "member", "reader"],
    );
    p.is_admin_project = true;
    p
}

/// A principal with any scope.
pub fn principal(user_id: &str, scope: Scope, roles: &[&str], admin_project: bool) -> Principal {
    let now = Utc::now();
    Principal {
        user_id: user_id.to_string(),
        user_name: user_id.to_string(),
        user_domain_id: "default".into(),
        user_domain_name: "Default".into(),
        scope,
        roles: roles
            .iter()
            .map(|r| RoleRef {
                id: format!("role-{r}"),
                name: r.to_string(),
            })
            .collect(),
        is_admin_project: admin_project,
        methods: vec!["password".into()],
        issued_at: now,
        expires_at: now + Duration::hours(1),
        audit_id: format!("audit-{user_id}"),
        application_credential_id: None,
    }
}

/// The personas the service test harnesses share: a cloud admin, members of two
/// projects, a reader, a system reader; tokens named after them.
pub mod personas {
    use super::{cloud_admin, principal, project_user, StaticAuthenticator};
    use crate::auth::Scope;

    pub const ADMIN_PROJECT: &str = "adminproject";
    pub const PROJECT_A: &str = "projecta";
    pub const PROJECT_B: &str = "projectb";

    pub const ADMIN: &str = "admin-token";
    /// alice: member of project A.
    pub const ALICE: &str = "alice-token";
    /// bob: member of project B.
    pub const BOB: &str = "bob-token";
    /// carol: reader of project A.
    pub const CAROL: &str = "carol-token";
    /// A system-scoped reader.
    pub const AUDITOR: &str = "auditor-token";

    /// An authenticator that knows every persona's token.
    pub fn authenticator() -> StaticAuthenticator {
        let mut auth = StaticAuthenticator::default();
        auth.add(ADMIN, cloud_admin(ADMIN_PROJECT));
        auth.add(
            ALICE,
            project_user("alice", PROJECT_A, &["member", "reader"]),
        );
        auth.add(BOB, project_user("bob", PROJECT_B, &["member", "reader"]));
        auth.add(CAROL, project_user("carol", PROJECT_A, &["reader"]));
        auth.add(
            AUDITOR,
            principal("auditor", Scope::System, &["reader"], false),
        );
        auth
    }
}

/// A service router inside the shared application layers, called in-process.
#[derive(Clone)]
pub struct TestClient {
    pub router: Router,
}

/// An answer, body read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text, cut to a length that fits in an assertion message.
    pub fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        t.chars().take(600).collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl TestClient {
    /// Wraps `services` as `nimbus serve` does, with `auth` deciding who tokens are.
    pub fn new(services: Router, auth: StaticAuthenticator) -> Self {
        TestClient {
            router: crate::app::wrap(services, Arc::new(auth), PUBLIC_URL),
        }
    }

    /// Sends a request as it is.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("response body")
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Sends `method path` with a token, extra headers and a raw body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(body.into()).expect("request")).await
    }

    /// Sends a JSON body (`application/json`), or none.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        match body {
            Some(b) => {
                let ct = [(header::CONTENT_TYPE.as_str(), "application/json")];
                self.raw(method, path, token, &ct, b.to_string()).await
            }
            None => self.raw(method, path, token, &[], Body::empty()).await,
        }
    }
}
