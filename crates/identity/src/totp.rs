//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps),
//! the second factor of Keystone's `totp` method. A credential of type `totp`
//! holds the user's secret in base32 as its blob; a passcode is accepted for the
//! current step and one step either side (clock skew), and each step only once
//! per credential (a code seen by a shoulder-surfer cannot be replayed).

use parking_lot::Mutex;
use std::collections::HashMap;
use totp_rs::{Algorithm, Secret, TOTP};

const DIGITS: usize = 6;
const STEP: u64 = 30;
/// Steps accepted either side of now.
const SKEW: u8 = 1;

fn totp(secret_b32: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.trim().to_uppercase())
        .to_bytes()
        .ok()?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        SKEW,
        STEP,
        bytes,
        Some("Nimbus".to_string()),
        account.replace(':', "_"),
    )
    .ok()
}

/// Whether `secret_b32` is a usable TOTP secret (base32, at least 128 bits).
pub fn valid_secret(secret_b32: &str) -> bool {
    totp(secret_b32, "check").is_some()
}

/// A new random secret (160 bits, base32), as authenticator apps expect.
pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

/// The `otpauth://` URI an authenticator app imports.
pub fn otpauth_url(secret_b32: &str, account: &str) -> Option<String> {
    Some(totp(secret_b32, account)?.get_url())
}

/// The passcode of `secret_b32` at unix time `now` (tests, the console's own check).
pub fn passcode_at(secret_b32: &str, now: u64) -> Option<String> {
    Some(totp(secret_b32, "x")?.generate(now))
}

/// The step a passcode matches at unix time `now`, if any.
pub fn matching_step(secret_b32: &str, passcode: &str, now: u64) -> Option<u64> {
    let t = totp(secret_b32, "x")?;
    let current = now / STEP;
    (current.saturating_sub(u64::from(SKEW))..=current + u64::from(SKEW))
        .find(|step| t.generate(step * STEP) == passcode.trim())
}

/// The last step used per credential, so that a code works once.
#[derive(Default)]
pub struct UsedSteps(Mutex<HashMap<String, u64>>);

impl UsedSteps {
    /// Records `step` for `credential_id`; false if it (or a later one) was used.
    pub fn take(&self, credential_id: &str, step: u64) -> bool {
        let mut used = self.0.lock();
        match used.get(credential_id) {
            Some(last) if *last >= step => false,
            _ => {
                used.insert(credential_id.to_string(), step);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA1, secret "12345678901234567890" (base32 below),
    // truncated to 6 digits.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_vectors() {
        assert_eq!(passcode_at(RFC_SECRET, 59).unwrap(), "287082");
        assert_eq!(passcode_at(RFC_SECRET, 1111111109).unwrap(), "081804");
        assert_eq!(passcode_at(RFC_SECRET, 2000000000).unwrap(), "279037");
    }

    #[test]
    fn one_step_of_skew_either_side_and_no_more() {
        let now = 1_700_000_000;
        let code = passcode_at(RFC_SECRET, now - 30).unwrap();
        assert_eq!(matching_step(RFC_SECRET, &code, now), Some(now / 30 - 1));
        let old = passcode_at(RFC_SECRET, now - 90).unwrap();
        assert_eq!(matching_step(RFC_SECRET, &old, now), None);
        assert!(matching_step(RFC_SECRET, "000000x", now).is_none());
    }

    #[test]
    fn a_step_is_used_once() {
        let used = UsedSteps::default();
        assert!(used.take("c", 10));
        assert!(!used.take("c", 10));
        assert!(!used.take("c", 9));
        assert!(used.take("c", 11));
        assert!(used.take("other", 10));
    }

    #[test]
    fn secrets_are_checked() {
        assert!(valid_secret(&new_secret()));
        assert!(!valid_secret("not base32!"));
        assert!(!valid_secret("GEZDGNBV")); // 40 bits: too short
        assert!(otpauth_url(RFC_SECRET, "alice")
            .unwrap()
            .starts_with("otpauth://totp/"));
    }
}
