//! What every status page handler shares: the admin check for writes, path ids,
//! RFC 3339 dates, text checks, and the spec's small answers (`{"id"}`, 204).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use nimbus_api::auth::Principal;
use nimbus_api::body::JsonBody;
use nimbus_api::policy::{self, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;

/// Longest display name (and label key or value) accepted.
pub const MAX_NAME: usize = 255;
/// Longest description accepted.
pub const MAX_DESCRIPTION: usize = 16 * 1024;

/// Writes are for whom the policy table allows (cloud admins).
pub fn authorize(caller: &Principal, action: &str, kind: &str, id: &str) -> ApiResult<()> {
    policy::authorize(caller, action, &Target::new(kind, id))
}

/// A path id: the spec says UUID; anything else is a 400 naming the parameter.
/// Returned in the canonical lowercase form the store keys by.
pub fn uuid_param(name: &str, raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid format for parameter {name}: {raw:?} is not a UUID."
            ))
        })
}

/// A query parameter's value; present but empty (`?at=`) is a 400, since the
/// spec's types (date-time, integer) have no empty value.
pub fn query_value<'a>(q: &'a Query, key: &str) -> ApiResult<Option<&'a str>> {
    match q.get(key) {
        None if q.has(key) => Err(ApiError::bad_request(format!(
            "Query parameter {key} is empty."
        ))),
        v => Ok(v),
    }
}

/// A UUID inside a request body (an impact's `reference` or `type`).
pub fn uuid_field(name: &str, raw: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_request(format!("{name} {raw:?} is not a UUID.")))
}

/// An RFC 3339 point in time, in UTC.
pub fn parse_date(name: &str, raw: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(format!("{name} {raw:?} is not an RFC 3339 date-time: {e}."))
        })
}

/// Now, to the millisecond: defaults (`beganAt`, `createdAt`) read back as
/// `…T10:00:00.123Z` like the times clients send, not with nanoseconds.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// A point in time as answered: RFC 3339, UTC, milliseconds when there are any.
pub fn date(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A display name: not blank, no control characters, at most [`MAX_NAME`] chars.
pub fn name(field: &str, raw: &str) -> ApiResult<String> {
    if raw.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be empty.")));
    }
    short_text(field, raw)
}

/// The `displayName` every create requires, checked as [`name`].
pub fn required_display_name(raw: Option<&str>) -> ApiResult<String> {
    let raw = raw.ok_or_else(|| ApiError::bad_request("displayName is required."))?;
    name("displayName", raw)
}

/// A short text (label key or value): no control characters, at most [`MAX_NAME`].
pub fn short_text(field: &str, raw: &str) -> ApiResult<String> {
    if raw.chars().count() > MAX_NAME {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_NAME} characters."
        )));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters."
        )));
    }
    Ok(raw.to_string())
}

/// A description: line breaks and tabs allowed, other control characters not.
pub fn description(field: &str, raw: &str) -> ApiResult<String> {
    if raw.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_DESCRIPTION} characters."
        )));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters other than line breaks and tabs."
        )));
    }
    Ok(raw.to_string())
}

/// A severity value: 0 to 100.
pub fn severity_value(field: &str, v: i64) -> ApiResult<u8> {
    u8::try_from(v)
        .ok()
        .filter(|v| *v <= 100)
        .ok_or_else(|| ApiError::bad_request(format!("{field} {v} is outside 0..100.")))
}

/// `201 {"id": ...}`.
pub fn created_id(id: &str) -> Response {
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

/// `204 No Content`.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A request body that must be a JSON object (serde would also fill a struct
/// from an array, so `[]` would pass as "change nothing"), decoded into `T`.
pub struct ObjectBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ObjectBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBody(v) = JsonBody::<serde_json::Value>::from_request(req, state).await?;
        if !v.is_object() {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object.",
            ));
        }
        serde_json::from_value(v)
            .map(ObjectBody)
            .map_err(|e| ApiError::bad_request(format!("Invalid input for request body: {e}")))
    }
}

/// For fields the spec does not make nullable: absent is `None`, `null` a 400
/// (serde's "invalid type: null"), so `"labels": null` is not taken for "no change".
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// For fields where `null` and absence differ (`"endedAt": null` reopens an
/// incident; no `endedAt` leaves it): `Some(None)` is an explicit null.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
