//! Calls into the application in process: a request with the user's token goes
//! through the same routers, layers and policy as one from the CLI (and gets its
//! own request log line). Errors come back as the API's own message.

use crate::Console;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The most a console page reads from one API answer.
const MAX_ANSWER: usize = 64 << 20;

/// An API call that did not succeed: its status and the API's message (and the
/// whole answer, for the few callers that read more, like an MFA receipt).
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub message: String,
    pub body: Value,
    pub headers: axum::http::HeaderMap,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status.as_u16())
    }
}

/// A successful answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

/// The API as one user (or, without a token, as anybody).
pub struct Api<'a> {
    console: &'a Console,
    token: Option<&'a str>,
}

impl<'a> Api<'a> {
    pub fn new(console: &'a Console, token: Option<&'a str>) -> Api<'a> {
        Api { console, token }
    }

    /// One call, with extra `headers` (e.g. `OpenStack-API-Version: compute 2.79`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ApiFailure> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = self.token {
            req = req.header("x-auth-token", t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .map_err(|e| failure(StatusCode::BAD_REQUEST, e.to_string()))?;
        let resp = self
            .console
            .api()
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| failure(StatusCode::BAD_GATEWAY, e.to_string()))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(ApiFailure {
                status,
                message: message_of(&body, status),
                body,
                headers,
            });
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        Ok(self.call(Method::GET, path, None, &[]).await?.body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiFailure> {
        Ok(self.call(Method::POST, path, Some(body), &[]).await?.body)
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiFailure> {
        Ok(self.call(Method::PATCH, path, Some(body), &[]).await?.body)
    }

    pub async fn put(&self, path: &str, body: Option<&Value>) -> Result<Value, ApiFailure> {
        Ok(self.call(Method::PUT, path, body, &[]).await?.body)
    }

    pub async fn delete(&self, path: &str) -> Result<(), ApiFailure> {
        self.call(Method::DELETE, path, None, &[]).await.map(|_| ())
    }
}

/// A failure the console itself reports (no API answer behind it).
pub fn failure(status: StatusCode, message: String) -> ApiFailure {
    ApiFailure {
        status,
        message,
        body: Value::Null,
        headers: Default::default(),
    }
}

/// The message of an error body in any of the OpenStack dialects: Keystone
/// `{"error": {"message"}}`, Nova/Cinder `{"badRequest": {"message"}}`, Neutron
/// `{"NeutronError": {"message"}}`, Glance `{"message"}`.
fn message_of(body: &Value, status: StatusCode) -> String {
    let from = |v: &Value| v.get("message").and_then(Value::as_str).map(str::to_string);
    if let Some(m) = body.get("error").and_then(from) {
        return m;
    }
    if let Some(obj) = body.as_object() {
        for v in obj.values() {
            if let Some(m) = from(v) {
                return m;
            }
        }
    }
    from(body).unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_of_every_dialect() {
        let s = StatusCode::BAD_REQUEST;
        assert_eq!(message_of(&json!({"error": {"message": "k"}}), s), "k");
        assert_eq!(message_of(&json!({"badRequest": {"message": "n"}}), s), "n");
        assert_eq!(
            message_of(&json!({"NeutronError": {"message": "q"}}), s),
            "q"
        );
        assert_eq!(message_of(&json!({"message": "g"}), s), "g");
        assert_eq!(message_of(&Value::Null, s), "Bad Request");
    }
}
