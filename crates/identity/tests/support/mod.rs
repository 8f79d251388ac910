//! Shared by the identity integration tests: the identity router assembled as the
//! server assembles it, driven in-process with `tower::ServiceExt::oneshot`, on a
//! fresh store (SQLite, or PostgreSQL when `NIMBUS_TEST_DATABASE_URL` is set).

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use nimbus_identity::{Identity, IdentityConfig};
use nimbus_store::testing::TestStore;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

/// The bootstrap admin's password.
pub const ADMIN_PASSWORD: &str = "adminpw";
/// The public URL the test server pretends to live at.
pub const PUBLIC_URL: &str = "http://127.0.0.1:1";
/// Every identity route starts with this.
pub const V3: &str = "/identity/v3";

/// The identity API inside the layers `nimbus serve` wraps every service in
/// (`nimbus_api::app::wrap`: Keystone 404s for unknown paths, the authenticator,
/// the public URL, the body limit, the panic guard and the request log).
pub fn router(identity: Arc<Identity>) -> Router {
    nimbus_api::app::wrap(
        nimbus_identity::api::router(identity.clone()),
        identity,
        PUBLIC_URL,
    )
}

/// A bootstrapped identity service on its own store.
pub struct App {
    pub store: TestStore,
    pub identity: Arc<Identity>,
    pub router: Router,
    pub admin_user_id: String,
    pub admin_project_id: String,
    /// A token of the admin, scoped to the bootstrap `admin` project (cloud admin).
    pub admin_token: String,
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

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text, cut to a length that fits in an assertion message.
    pub fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        if t.chars().count() > 400 {
            format!("{}…", t.chars().take(400).collect::<String>())
        } else {
            t.into_owned()
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// What is wrong with this answer as a Keystone error of its own status, if anything:
    /// `{"error": {"code": <status>, "message": "...", "title": "..."}}` and nothing else.
    pub fn keystone_error_problem(&self) -> Option<String> {
        let Some(body) = self.json() else {
            return Some(format!("error body is not JSON: {:?}", self.text()));
        };
        let Some(obj) = body.as_object() else {
            return Some(format!("error body is not an object: {body}"));
        };
        if obj.len() != 1 || !obj.contains_key("error") {
            return Some(format!("error body must hold only \"error\": {body}"));
        }
        let e = &body["error"];
        if e["code"].as_u64() != Some(u64::from(self.code())) {
            return Some(format!("error.code is not {}: {body}", self.code()));
        }
        for field in ["message", "title"] {
            if e[field].as_str().is_none_or(str::is_empty) {
                return Some(format!("error.{field} is not a non-empty string: {body}"));
            }
        }
        None
    }
}

/// A name nobody used before in this process.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Keystone v3 password authentication body for a user id.
pub fn password_auth(user_id: &str, password: &str, scope: Option<Value>) -> Value {
    let mut auth = json!({
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": user_id, "password": password}},
            }
        }
    });
    if let Some(scope) = scope {
        auth["auth"]["scope"] = scope;
    }
    auth
}

pub fn project_scope(project_id: &str) -> Option<Value> {
    Some(json!({"project": {"id": project_id}}))
}

pub fn domain_scope(domain_id: &str) -> Option<Value> {
    Some(json!({"domain": {"id": domain_id}}))
}

impl App {
    /// Bootstraps a new store and logs the admin in.
    pub async fn new() -> App {
        let store = nimbus_store::testing::test_store()
            .await
            .expect("test store");
        let b = nimbus_identity::bootstrap::run(&store.store, Some(ADMIN_PASSWORD.into()))
            .await
            .expect("bootstrap");
        nimbus_identity::bootstrap::ensure_service(
            &store.store,
            "identity",
            "keystone",
            &format!("{PUBLIC_URL}/identity"),
        )
        .await
        .expect("catalog");
        let identity = Identity::new(
            store.store.clone(),
            IdentityConfig::new(PUBLIC_URL),
            b.admin_project_id.clone(),
        );
        let mut app = App {
            router: router(identity.clone()),
            identity,
            store,
            admin_user_id: b.admin_user_id,
            admin_project_id: b.admin_project_id,
            admin_token: String::new(),
        };
        app.admin_token = app
            .login(&password_auth(
                &app.admin_user_id,
                ADMIN_PASSWORD,
                project_scope(&app.admin_project_id),
            ))
            .await;
        app
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

    /// Sends `method path` (relative to `/identity/v3` unless it starts with
    /// `/identity`) with a token, extra headers and raw body bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let uri = if path.starts_with("/identity") {
            path.to_string()
        } else {
            format!("{V3}{path}")
        };
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(uri);
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        let has_content_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_content_type {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        self.send(req).await
    }

    /// Sends a JSON request.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        self.raw(
            method,
            path,
            token,
            &[],
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Sends a request as the cloud admin and insists on a 2xx; returns the JSON body
    /// (`null` when there is none).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self
            .call(method, path, Some(&self.admin_token), body.as_ref())
            .await;
        assert!(
            r.status.is_success(),
            "admin {method} {path}: {} {}",
            r.code(),
            r.text()
        );
        r.json().unwrap_or(Value::Null)
    }

    /// Issues a token (201 required); returns the `X-Subject-Token`.
    pub async fn login(&self, auth: &Value) -> String {
        let r = self.call("POST", "/auth/tokens", None, Some(auth)).await;
        assert_eq!(r.code(), 201, "login failed: {}", r.text());
        r.header("x-subject-token").expect("X-Subject-Token header")
    }

    pub async fn create_domain(&self, name: &str) -> String {
        let v = self
            .admin("POST", "/domains", Some(json!({"domain": {"name": name}})))
            .await;
        v["domain"]["id"].as_str().expect("domain id").to_string()
    }

    pub async fn create_project(&self, domain_id: &str, name: &str) -> String {
        let body = json!({"project": {"name": name, "domain_id": domain_id}});
        let v = self.admin("POST", "/projects", Some(body)).await;
        v["project"]["id"].as_str().expect("project id").to_string()
    }

    /// Creates a user; without a password she cannot log in (and costs no hashing).
    pub async fn create_user(&self, domain_id: &str, name: &str, password: Option<&str>) -> String {
        let mut user = json!({"name": name, "domain_id": domain_id});
        if let Some(pw) = password {
            user["password"] = json!(pw);
        }
        let v = self
            .admin("POST", "/users", Some(json!({ "user": user })))
            .await;
        v["user"]["id"].as_str().expect("user id").to_string()
    }

    pub async fn create_group(&self, domain_id: &str, name: &str) -> String {
        let body = json!({"group": {"name": name, "domain_id": domain_id}});
        let v = self.admin("POST", "/groups", Some(body)).await;
        v["group"]["id"].as_str().expect("group id").to_string()
    }

    /// The id of a global role.
    pub async fn role_id(&self, name: &str) -> String {
        let v = self
            .admin("GET", &format!("/roles?name={name}"), None)
            .await;
        v["roles"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {name}: {v}"))
            .to_string()
    }

    /// How many objects of the countable identity kinds are stored, by kind.
    pub async fn counts(&self) -> Vec<(&'static str, usize)> {
        use nimbus_identity::types::*;
        let s = &self.store.store;
        vec![
            ("domain", s.list::<Domain>(None).await.expect("list").len()),
            (
                "project",
                s.list::<Project>(None).await.expect("list").len(),
            ),
            ("user", s.list::<User>(None).await.expect("list").len()),
            ("group", s.list::<Group>(None).await.expect("list").len()),
            (
                "membership",
                s.list::<Membership>(None).await.expect("list").len(),
            ),
            ("role", s.list::<Role>(None).await.expect("list").len()),
            (
                "role_implication",
                s.list::<RoleImplication>(None).await.expect("list").len(),
            ),
            (
                "assignment",
                s.list::<Assignment>(None).await.expect("list").len(),
            ),
            (
                "application_credential",
                s.list::<ApplicationCredential>(None)
                    .await
                    .expect("list")
                    .len(),
            ),
            ("region", s.list::<Region>(None).await.expect("list").len()),
            (
                "service",
                s.list::<Service>(None).await.expect("list").len(),
            ),
            (
                "endpoint",
                s.list::<Endpoint>(None).await.expect("list").len(),
            ),
        ]
    }
}
