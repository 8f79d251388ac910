//! Form bodies. Every state change the console accepts is a POST whose body is
//! read by [`Form`] (behind the login) or [`LoginForm`] (the login itself), and
//! both refuse the request (403) unless its `csrf` field is right, before any
//! handler runs: so no handler can forget the check.
//!
//! - behind the login, the token is an HMAC of the session's token under a key
//!   the process drew at start ([`csrf_token`]);
//! - the login form has no session yet: its token is also set as a cookie
//!   (`nimbus_login`), and both must agree (double submit), so another site
//!   cannot log a browser in to an account of its choosing.
//!
//! The session cookie is SameSite=Strict as well; the token is the second wall.

use crate::pages::error_page;
use crate::session::{cookie, Session, LOGIN_COOKIE};
use crate::Console;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// The largest form body accepted.
const MAX_FORM: usize = 256 << 10;

/// The CSRF token of forms shown to the holder of `session_token`.
pub fn csrf_token(console: &Console, session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&console.csrf_key).expect("any key size");
    mac.update(session_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn csrf_ok(console: &Console, session_token: &str, given: &str) -> bool {
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&console.csrf_key).expect("any key size");
    mac.update(session_token.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// The fields of a urlencoded body, in order (repeated names kept).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; None when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name` exactly as sent (passwords), empty when absent.
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every non-empty value of `name` (checkbox groups, multiple selects).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

async fn read_fields(req: Request) -> Result<Fields, Response> {
    let urlencoded = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err(error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Forms must be sent as application/x-www-form-urlencoded.",
        ));
    }
    let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM)
        .await
        .map_err(|_| error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .map(Fields)
        .map_err(|_| error_page(StatusCode::BAD_REQUEST, "The form could not be read."))
}

fn forged() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from this console. Go back, reload the \
         page and try again.",
    )
}

/// A form posted by a logged-in user, its CSRF token checked.
pub struct Form {
    pub session: Session,
    pub fields: Fields,
}

impl FromRequest<Arc<Console>> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, console).await?;
        let fields = read_fields(Request::from_parts(parts, body)).await?;
        if !csrf_ok(console, &session.token, fields.raw("csrf")) {
            return Err(forged());
        }
        Ok(Form { session, fields })
    }
}

/// The login form, its double-submit token checked.
pub struct LoginForm(pub Fields);

impl FromRequest<Arc<Console>> for LoginForm {
    type Rejection = Response;

    async fn from_request(req: Request, _: &Arc<Console>) -> Result<Self, Response> {
        let expected = cookie(req.headers(), LOGIN_COOKIE);
        let fields = read_fields(req).await?;
        match expected {
            Some(e) if e.len() >= 32 && e == fields.raw("csrf") => Ok(LoginForm(fields)),
            _ => Err(forged()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_session_and_to_this_process() {
        let console = Console::new(false);
        let t = csrf_token(&console, "session-a");
        assert!(csrf_ok(&console, "session-a", &t));
        assert!(!csrf_ok(&console, "session-b", &t));
        assert!(!csrf_ok(&Console::new(false), "session-a", &t));
        assert!(!csrf_ok(&console, "session-a", ""));
        assert!(!csrf_ok(&console, "session-a", "zz"));
    }
}
