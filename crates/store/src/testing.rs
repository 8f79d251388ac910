//! Test support: a fresh, empty store for each test, on SQLite by default or on the
//! PostgreSQL server named by `NIMBUS_TEST_DATABASE_URL` (a new database per call),
//! so every store and identity test runs unchanged against both backends.

use crate::{Result, Store};
use sqlx::Executor;

/// The variable that switches the test suites to PostgreSQL.
pub const TEST_DATABASE_ENV: &str = "NIMBUS_TEST_DATABASE_URL";

/// A store for one test; the temporary directory (SQLite) lives as long as this.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Opens a new empty store.
pub async fn test_store() -> Result<TestStore> {
    match std::env::var(TEST_DATABASE_ENV) {
        Ok(admin_url) if !admin_url.is_empty() => {
            let admin = Store::open(&admin_url).await?;
            let name = format!("nimbus_t_{}", uuid_like());
            admin
                .pool()
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url);
            let url = format!("{base}/{name}");
            let store = Store::open(&url).await?;
            Ok(TestStore {
                store,
                url,
                _dir: None,
            })
        }
        _ => {
            let dir = tempfile::tempdir().map_err(|e| crate::StoreError::Config(e.to_string()))?;
            let url = format!("sqlite://{}/nimbus.db", dir.path().display());
            let store = Store::open(&url).await?;
            Ok(TestStore {
                store,
                url,
                _dir: Some(dir),
            })
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}_{:x}_{}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
