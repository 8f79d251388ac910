//! The error every handler returns. It carries a status and a message; how it looks
//! on the wire is decided by the [`crate::dialect`] layer of the service it came from.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_store::StoreError;

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// A failed request: status and a message safe to show the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// The standard answer when the caller needs (another) token.
    pub fn authentication_required() -> Self {
        Self::unauthorized("The request you have made requires authentication.")
    }
    /// The standard answer when policy refuses.
    pub fn policy_denied(action: &str) -> Self {
        Self::forbidden(format!(
            "You are not authorized to perform the requested action: {action}."
        ))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is rendered by the service's dialect layer from this extension.
        let mut resp = (self.status, self.message.clone()).into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => {
                ApiError::not_found(format!("Could not find {kind}: {id}."))
            }
            StoreError::Conflict { kind, detail } => ApiError::conflict(format!(
                "Conflict occurred attempting to store {kind} - {detail}."
            )),
            StoreError::RevisionMismatch { kind, id, .. } => ApiError::conflict(format!(
                "{kind} {id} was changed by another request; retry."
            )),
            StoreError::Invalid { what, detail } => {
                ApiError::bad_request(format!("Invalid {what}: {detail}."))
            }
            StoreError::Expired { requested, oldest } => ApiError::new(
                StatusCode::GONE,
                format!("too old resource version: {requested} ({oldest})"),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal(
                    "An unexpected error prevented the server from fulfilling your request.",
                )
            }
        }
    }
}
