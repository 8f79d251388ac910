//! The session: the cookie `nimbus_session` holds the user's Keystone token
//! (HttpOnly, SameSite=Strict, Secure under TLS), so a session is exactly as
//! valid as its token: revoked on logout, on a password change, when the user
//! is disabled or loses the roles it carries. [`Session`] is the extractor of
//! every page behind the login; without a valid token it sends the browser to
//! the login page.

use crate::Console;
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use nimbus_api::auth::{Principal, SharedAuthenticator};
use nimbus_api::log::RequestLog;
use std::sync::Arc;

/// The session cookie.
pub const SESSION_COOKIE: &str = "nimbus_session";
/// The login form's CSRF cookie (before there is a session to bind a token to).
pub const LOGIN_COOKIE: &str = "nimbus_login";

/// A logged-in user.
pub struct Session {
    pub token: String,
    pub principal: Arc<Principal>,
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for one of the console's cookies (`None` clears it).
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> HeaderValue {
    let mut c = match value {
        Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are tokens and hex")
}

/// To the login page, dropping a session cookie that no longer works.
fn to_login(secure: bool) -> Response {
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, None, secure));
    resp
}

impl FromRequestParts<Arc<Console>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/login").into_response());
        };
        let Some(auth) = parts.extensions.get::<SharedAuthenticator>().cloned() else {
            return Err(to_login(console.secure_cookies));
        };
        match auth.0.authenticate(&token).await {
            Ok(principal) => {
                if let Some(log) = parts.extensions.get::<Arc<RequestLog>>() {
                    log.set_principal(&principal);
                }
                Ok(Session { token, principal })
            }
            Err(_) => Err(to_login(console.secure_cookies)),
        }
    }
}
