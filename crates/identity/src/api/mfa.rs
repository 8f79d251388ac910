//! Multi-factor logins: Keystone's `totp` method, MFA rules and auth receipts.
//!
//! A user's rules are her options' `multi_factor_auth_rules` when
//! `multi_factor_auth_enabled` is set (as in Keystone); otherwise, in Nimbus,
//! enrolling a TOTP credential turns on the rule `[password, totp]` by itself
//! (ADR 0013: "required once enrolled" without an admin having to set options).
//! A login that satisfies no rule gets 401 with an `Openstack-Auth-Receipt`
//! header: presenting the receipt with the missing method finishes the login
//! within five minutes.

use super::auth::{find_user, record_failure, UserRef};
use crate::directory::Snapshot;
use crate::totp;
use crate::types::{Credential, User};
use crate::Identity;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use nimbus_api::dialect::ErrorExtra;
use nimbus_api::{ApiError, ApiResult};
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// How long a receipt may finish its login.
const RECEIPT_TTL_MINUTES: i64 = 5;
/// Receipts kept at most (the oldest go first when more arrive).
const MAX_RECEIPTS: usize = 10_000;

/// `identity.totp`.
#[derive(Deserialize)]
pub struct TotpBody {
    user: UserRef,
}

/// A partly finished login.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub user_id: String,
    pub methods: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The receipts handed out and not yet used.
#[derive(Default)]
pub struct Receipts(Mutex<HashMap<String, Receipt>>);

impl Receipts {
    fn issue(&self, user_id: &str, methods: &[String]) -> (String, Receipt) {
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let now = Utc::now();
        let r = Receipt {
            user_id: user_id.to_string(),
            methods: methods.to_vec(),
            issued_at: now,
            expires_at: now + Duration::minutes(RECEIPT_TTL_MINUTES),
        };
        let mut all = self.0.lock();
        all.retain(|_, r| r.expires_at > now);
        if all.len() >= MAX_RECEIPTS {
            if let Some(oldest) = all
                .iter()
                .min_by_key(|(_, r)| r.issued_at)
                .map(|(k, _)| k.clone())
            {
                all.remove(&oldest);
            }
        }
        all.insert(id.clone(), r.clone());
        (id, r)
    }

    /// The receipt `id` if it is still valid (each receipt is used once).
    pub fn take(&self, id: &str) -> Option<Receipt> {
        let r = self.0.lock().remove(id)?;
        (r.expires_at > Utc::now()).then_some(r)
    }
}

/// The MFA rules of a user (empty: a password alone is enough).
pub async fn rules(id: &Identity, user: &User) -> ApiResult<Vec<Vec<String>>> {
    let options = user.extra.get("options");
    let enabled = options
        .and_then(|o| o.get("multi_factor_auth_enabled"))
        .and_then(Value::as_bool);
    if enabled == Some(true) {
        let rules: Vec<Vec<String>> = options
            .and_then(|o| o.get("multi_factor_auth_rules"))
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_default();
        return Ok(rules.into_iter().filter(|r| !r.is_empty()).collect());
    }
    if enabled == Some(false) {
        return Ok(Vec::new());
    }
    Ok(if totp_credentials(id, &user.id).await?.is_empty() {
        Vec::new()
    } else {
        vec![vec!["password".into(), "totp".into()]]
    })
}

/// Whether the methods done satisfy one of the rules.
pub fn satisfied(rules: &[Vec<String>], done: &[String]) -> bool {
    rules.is_empty()
        || rules
            .iter()
            .any(|rule| rule.iter().all(|m| done.contains(m)))
}

async fn totp_credentials(id: &Identity, user_id: &str) -> ApiResult<Vec<Credential>> {
    Ok(id
        .store
        .list::<Credential>(Some(user_id))
        .await?
        .into_iter()
        .map(|c| c.value)
        .filter(|c| c.kind == "totp")
        .collect())
}

/// The `totp` method: the user's passcode against her TOTP credentials (each
/// 30 s step once). Wrong passcodes count towards the lockout as wrong
/// passwords do.
pub async fn totp_login(id: &Identity, snap: &Snapshot, body: TotpBody) -> ApiResult<String> {
    let passcode = body.user.passcode.clone().unwrap_or_default();
    let Some(user) = find_user(snap, &body.user)?.cloned() else {
        return Err(ApiError::authentication_required());
    };
    let locked = id
        .store
        .get::<crate::types::LoginState>(&user.id)
        .await?
        .and_then(|s| s.value.locked_until)
        .is_some_and(|t| t > Utc::now());
    if locked {
        return Err(ApiError::unauthorized(format!(
            "The account is locked for user: {}.",
            user.id
        )));
    }
    let now = Utc::now().timestamp().max(0) as u64;
    for c in totp_credentials(id, &user.id).await? {
        if let Some(step) = totp::matching_step(&c.blob, &passcode, now) {
            if id.totp_steps.take(&c.id, step) && user.enabled {
                return Ok(user.id);
            }
        }
    }
    record_failure(id, &user.id, "wrong or reused TOTP passcode").await?;
    Err(ApiError::authentication_required())
}

/// 401 with a receipt for the factors done so far and the rules still open.
pub fn receipt_response(
    id: &Identity,
    user: &User,
    done: &[String],
    rules: &[Vec<String>],
) -> ApiResult<Response> {
    let (receipt_id, r) = id.receipts.issue(&user.id, done);
    let extra = json!({
        "receipt": {
            "methods": r.methods,
            "user": {"id": user.id, "name": user.name, "domain": {"id": user.domain_id}},
            "issued_at": r.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "expires_at": r.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        },
        "required_auth_methods": rules,
    });
    let error = ApiError::unauthorized("Additional authentications steps required.");
    let mut resp = error.into_response();
    if let Value::Object(members) = extra {
        resp.extensions_mut().insert(ErrorExtra(members));
    }
    resp.headers_mut().insert(
        "openstack-auth-receipt",
        HeaderValue::from_str(&receipt_id).map_err(|_| ApiError::internal("receipt encoding"))?,
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(rules: &[&[&str]]) -> Vec<Vec<String>> {
        rules
            .iter()
            .map(|r| r.iter().map(|m| m.to_string()).collect())
            .collect()
    }

    #[test]
    fn a_rule_is_satisfied_when_all_its_methods_are_done() {
        let rules = v(&[&["password", "totp"]]);
        assert!(!satisfied(&rules, &["password".into()]));
        assert!(satisfied(&rules, &["password".into(), "totp".into()]));
        assert!(satisfied(&v(&[]), &["password".into()]));
        let either = v(&[&["password", "totp"], &["totp", "token"]]);
        assert!(satisfied(&either, &["token".into(), "totp".into()]));
    }

    #[test]
    fn receipts_are_used_once() {
        let receipts = Receipts::default();
        let (id, _) = receipts.issue("u", &["password".into()]);
        assert_eq!(receipts.take(&id).unwrap().methods, vec!["password"]);
        assert!(receipts.take(&id).is_none());
        assert!(receipts.take("nope").is_none());
    }
}
