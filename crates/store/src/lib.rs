//! The Nimbus store: every piece of Nimbus state lives here as a revisioned object.
//!
//! - One table of objects keyed by `(kind, id)`, each with a *parent* (the scope a
//!   list is asked for: a domain, a project, a namespace), the revision of its last
//!   change and a JSON body.
//! - One global revision, bumped once per committed transaction; every change in that
//!   transaction carries it (as etcd does), so a revision names a consistent state.
//! - Unique keys that keep names unique where an API demands it.
//! - An event history that watches resume from. It is compacted to a window: a watch
//!   from before the window gets [`StoreError::Expired`] (Kubernetes' 410 Gone).
//!
//! SQLite in WAL mode is the default; PostgreSQL runs the very same SQL through sqlx's
//! `Any` driver. Writers are serialised inside the process, which keeps revisions
//! gap-free and in commit order (what a watch needs) without database-specific locking.

mod error;
mod modify;
mod resource;
mod shared;
pub mod testing;
mod tx;
mod watch;

pub use error::StoreError;
pub use modify::Change;
pub use resource::{Event, Op, RawObject, Resource, Versioned};
pub use tx::Tx;
pub use watch::{Watch, WatchFilter};

use parking_lot::RwLock;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How many revisions of event history are kept for watches to resume from.
pub const DEFAULT_HISTORY: i64 = 100_000;

/// Which database is behind the pool; only connection set-up differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    writer: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Arc<Event>>,
    revision: AtomicI64,
    kind_revisions: RwLock<HashMap<String, i64>>,
    history: i64,
    shared: shared::SharedLists,
}

static SQLX_DRIVERS: std::sync::Once = std::sync::Once::new();

impl Store {
    /// Opens (creating if needed) the database at `url` and runs the migrations.
    /// `sqlite:///path/file.db` or `postgres://user@host:port/db`.
    pub async fn open(url: &str) -> Result<Store> {
        SQLX_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://FILE or postgres://…"
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // busy_timeout first: switching to WAL takes a lock that
                        // another new connection may hold for a moment.
                        for pragma in [
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let revision: i64 = sqlx::query("SELECT revision FROM meta WHERE id = 1")
            .fetch_one(&pool)
            .await?
            .try_get(0)?;
        let (events, _) = broadcast::channel(4096);
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                writer: tokio::sync::Mutex::new(()),
                events,
                revision: AtomicI64::new(revision),
                kind_revisions: RwLock::new(HashMap::new()),
                history: DEFAULT_HISTORY,
                shared: Default::default(),
            }),
        })
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The last committed revision.
    pub fn revision(&self) -> i64 {
        self.inner.revision.load(Ordering::Acquire)
    }

    /// Whether any object of these kinds changed after `revision` (through this
    /// process). Caches built from the store use it to know when to rebuild.
    pub fn changed_since(&self, kinds: &[&str], revision: i64) -> bool {
        let map = self.inner.kind_revisions.read();
        kinds
            .iter()
            .any(|k| map.get(*k).is_some_and(|r| *r > revision))
    }

    /// Reads one object.
    pub async fn get<T: Resource>(&self, id: &str) -> Result<Option<Versioned<T>>> {
        match self.get_raw(T::KIND, id).await? {
            Some(raw) => Ok(Some(raw.decode()?)),
            None => Ok(None),
        }
    }

    /// Lists the objects of a kind, ordered by id, optionally only those of one parent.
    pub async fn list<T: Resource>(&self, parent: Option<&str>) -> Result<Vec<Versioned<T>>> {
        self.list_raw(T::KIND, parent)
            .await?
            .into_iter()
            .map(|raw| raw.decode())
            .collect()
    }

    /// Reads one object of any kind as JSON.
    pub async fn get_raw(&self, kind: &str, id: &str) -> Result<Option<Versioned<RawObject>>> {
        if !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(SELECT_ONE)
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.inner.pool)
            .await?;
        row.map(|r| raw_from_row(kind, &r)).transpose()
    }

    /// Lists objects of any kind as JSON, ordered by id.
    pub async fn list_raw(
        &self,
        kind: &str,
        parent: Option<&str>,
    ) -> Result<Vec<Versioned<RawObject>>> {
        if parent.is_some_and(|p| !storable(p)) {
            return Ok(Vec::new());
        }
        let rows = match parent {
            Some(parent) => {
                sqlx::query(SELECT_BY_PARENT)
                    .bind(kind)
                    .bind(parent)
                    .fetch_all(&self.inner.pool)
                    .await?
            }
            None => {
                sqlx::query(SELECT_ALL)
                    .bind(kind)
                    .fetch_all(&self.inner.pool)
                    .await?
            }
        };
        rows.iter().map(|r| raw_from_row(kind, r)).collect()
    }

    /// Starts a write transaction. Writers queue behind each other; readers never wait.
    pub async fn begin(&self) -> Result<Tx<'_>> {
        let guard = self.inner.writer.lock().await;
        let tx = self.inner.pool.begin().await?;
        Ok(Tx::new(self, guard, tx))
    }

    /// The connection pool, for maintenance queries outside the object model.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    fn publish(&self, revision: i64, events: Vec<Event>) {
        {
            let mut map = self.inner.kind_revisions.write();
            for e in &events {
                map.insert(e.kind.clone(), revision);
            }
        }
        self.inner.revision.store(revision, Ordering::Release);
        for e in events {
            // No receivers is fine: nobody is watching.
            let _ = self.inner.events.send(Arc::new(e));
        }
    }
}

/// Whether a key can be stored at all: PostgreSQL text cannot hold NUL, so such a
/// key names nothing on reads and is refused on writes, on both backends alike.
pub(crate) fn storable(key: &str) -> bool {
    !key.contains('\0')
}

const SELECT_ONE: &str =
    "SELECT id, parent, revision, created_revision, body FROM objects WHERE kind = $1 AND id = $2";
const SELECT_ALL: &str =
    "SELECT id, parent, revision, created_revision, body FROM objects WHERE kind = $1 ORDER BY id";
const SELECT_BY_PARENT: &str = "SELECT id, parent, revision, created_revision, body FROM objects \
     WHERE kind = $1 AND parent = $2 ORDER BY id";

fn raw_from_row(kind: &str, row: &AnyRow) -> Result<Versioned<RawObject>> {
    let body: String = row.try_get("body")?;
    Ok(Versioned {
        revision: row.try_get("revision")?,
        created_revision: row.try_get("created_revision")?,
        value: RawObject {
            kind: kind.to_string(),
            id: row.try_get("id")?,
            parent: row.try_get("parent")?,
            body: serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("{kind}: {e}")))?,
            unique_keys: Vec::new(),
        },
    })
}
