//! What can go wrong in the store, in terms an API can turn into a status code.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },
    /// An object with this id exists already, or a unique key is taken.
    #[error("{kind} conflict: {detail}")]
    Conflict { kind: String, detail: String },
    /// Optimistic concurrency: the object changed since it was read.
    #[error("{kind} {id} was modified concurrently (expected revision {expected}, found {found})")]
    RevisionMismatch {
        kind: String,
        id: String,
        expected: i64,
        found: i64,
    },
    /// A watch asked for history that has been compacted away.
    #[error("revision {requested} is older than the oldest retained revision {oldest}")]
    Expired { requested: i64, oldest: i64 },
    /// An id, parent or unique key the databases cannot hold (a NUL character).
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    /// A stored body does not decode into its type.
    #[error("stored object does not decode: {0}")]
    Corrupt(String),
    /// The store was configured wrongly (e.g. an unknown database URL).
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
