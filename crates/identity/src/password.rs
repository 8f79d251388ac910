//! Password hashing with Argon2id.
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane: the first of OWASP's recommended
//! Argon2id configurations. Every guess costs an attacker that memory and time, which
//! defeats GPU cracking far better than bcrypt's cost 12 for a fraction of its CPU
//! time per login. Hashing runs on the blocking pool so it never stalls the API.
//!
//! [`Verifier`] remembers, in memory only, that a password was verified against a
//! given hash (as a keyed MAC, never the password): every CLI command and Ansible
//! task logs in again with the same password, and those repeat logins then cost
//! microseconds. A wrong or new password always pays the full Argon2 check, so
//! online guessing is as slow as ever, and the stored hashes are as strong as ever.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Parallel lanes.
pub const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most one hash per core at a time: more would only queue on the CPU while
/// each holds its 19 MiB.
fn permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> String {
    let _permit = permits().acquire().await.expect("semaphore never closes");
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 hashing cannot fail with valid parameters")
            .to_string()
    })
    .await
    .expect("hashing task")
}

/// Checks a password against a PHC string (parameters are read from the string).
pub async fn verify(password: String, phc: String) -> bool {
    let _permit = permits().acquire().await.expect("semaphore never closes");
    tokio::task::spawn_blocking(move || match PasswordHash::new(&phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    })
    .await
    .unwrap_or(false)
}

/// Password checks with a memory of successful verifications (see the module doc).
pub struct Verifier {
    key: [u8; 32],
    verified: parking_lot::RwLock<std::collections::HashMap<String, Vec<u8>>>,
}

/// Bound on remembered verifications; the memory starts over when full.
const MAX_REMEMBERED: usize = 10_000;

type Mac = hmac::Hmac<sha2::Sha256>;

impl Default for Verifier {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
        Verifier {
            key,
            verified: Default::default(),
        }
    }
}

impl Verifier {
    fn mac(&self, subject: &str, password: &str, phc: &str) -> Mac {
        use hmac::Mac as _;
        let mut mac = Mac::new_from_slice(&self.key).expect("any key length");
        for part in [subject, phc, password] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// Whether `password` matches `phc`, for `subject` (a user or credential id).
    pub async fn verify(&self, subject: &str, password: String, phc: &str) -> bool {
        use hmac::Mac as _;
        let mac = self.mac(subject, &password, phc);
        if let Some(known) = self.verified.read().get(subject) {
            if mac.clone().verify_slice(known).is_ok() {
                return true;
            }
        }
        if !verify(password, phc.to_string()).await {
            return false;
        }
        let mut verified = self.verified.write();
        if verified.len() >= MAX_REMEMBERED {
            verified.clear();
        }
        verified.insert(subject.to_string(), mac.finalize().into_bytes().to_vec());
        true
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn remembered_verifications_follow_the_hash() {
        let v = super::Verifier::default();
        let old = super::hash("one".into()).await;
        assert!(v.verify("u", "one".into(), &old).await);
        assert!(v.verify("u", "one".into(), &old).await, "remembered");
        assert!(!v.verify("u", "two".into(), &old).await, "other password");
        let new = super::hash("two".into()).await;
        assert!(!v.verify("u", "one".into(), &new).await, "password changed");
        assert!(v.verify("u", "two".into(), &new).await);
        assert!(!v.verify("v", "x".into(), &new).await, "other subject");
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = super::hash("s3cret".into()).await;
        let b = super::hash("s3cret".into()).await;
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(super::verify("s3cret".into(), a.clone()).await);
        assert!(!super::verify("wrong".into(), a).await);
        assert!(!super::verify("x".into(), "not a hash".into()).await);
    }
}
