//! One structured log line per request: request id, user, project, method, path,
//! status and duration. The request id is also returned to the caller as
//! `X-Openstack-Request-Id`, so a user's report can be matched to the log.

use crate::auth::Principal;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Filled in while the request runs; read when it ends.
#[derive(Default)]
pub struct RequestLog {
    pub id: String,
    user: OnceLock<String>,
    project: OnceLock<String>,
}

impl RequestLog {
    pub fn set_principal(&self, p: &Principal) {
        let _ = self.user.set(p.user_id.clone());
        if let Some(project) = p.project_id() {
            let _ = self.project.set(project.to_string());
        }
    }
}

/// Middleware: wrap the whole app with `axum::middleware::from_fn(log::requests)`.
pub async fn requests(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let log = Arc::new(RequestLog {
        id: format!("req-{}", uuid::Uuid::new_v4()),
        ..Default::default()
    });
    req.extensions_mut().insert(log.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&log.id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    tracing::info!(
        target: "nimbus::request",
        request_id = %log.id,
        user = log.user.get().map(String::as_str).unwrap_or("-"),
        project = log.project.get().map(String::as_str).unwrap_or("-"),
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    resp
}
