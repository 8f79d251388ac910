//! Query strings as the real clients write them: repeated keys (`fields=a&fields=b`),
//! Python spellings of booleans and None (`True`, `False`, `None`), and a check that
//! rejects parameters an endpoint does not know with a 400.

use crate::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The decoded query string, in order.
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        Query::parse(raw)
    }
}

impl Query {
    /// Decodes `a=1&b=2`.
    pub fn parse(raw: &str) -> Result<Query, ApiError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("Invalid query string: {e}")))
    }

    /// Answers 400 naming the first parameter not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::bad_request(format!(
                "Unknown query parameter {k:?}; this endpoint accepts: {}.",
                allowed.join(", ")
            ))),
            None => Ok(self),
        }
    }

    /// The last value of `key`, if present (empty values count as absent).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` appears at all, even without a value (Keystone's `?scope.system`).
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// A boolean: `true/True/1/yes` or `false/False/0/no`; `None` and absence are `None`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map_err(|_| ApiError::bad_request(format!("Invalid boolean {v:?} for {key}."))),
        }
    }

    /// A flag that counts as set when present without a value (`?effective`).
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        if !self.has(key) {
            return Ok(false);
        }
        Ok(self.bool(key)?.unwrap_or(true))
    }

    /// A positive integer.
    pub fn usize(&self, key: &str) -> Result<Option<usize>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("Invalid integer {v:?} for {key}."))),
        }
    }
}

/// Parses the boolean spellings clients use; `Ok(None)` means "no filter"
/// (Python's `None`), `Err` an unknown spelling.
pub fn parse_bool(v: &str) -> Result<Option<bool>, UnknownBool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" => Ok(Some(false)),
        "none" | "null" => Ok(None),
        _ => Err(UnknownBool),
    }
}

/// A value that is no spelling of a boolean.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownBool;
