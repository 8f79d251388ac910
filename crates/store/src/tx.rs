//! Write transactions: read, create, update with optimistic concurrency, delete,
//! then commit everything at one new revision and publish the events to watchers.

use crate::resource::{Event, Op, RawObject, Resource, Versioned};
use crate::{
    raw_from_row, storable, Result, Store, StoreError, SELECT_ALL, SELECT_BY_PARENT, SELECT_ONE,
};
use sqlx::{Any, Row, Transaction};
use tokio::sync::MutexGuard;

/// How often (in revisions) old events are trimmed from the history.
const COMPACT_EVERY: i64 = 1024;

/// An open write transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx<'a> {
    store: &'a Store,
    _writer: MutexGuard<'a, ()>,
    tx: Transaction<'static, Any>,
    revision: Option<i64>,
    events: Vec<Event>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(
        store: &'a Store,
        writer: MutexGuard<'a, ()>,
        tx: Transaction<'static, Any>,
    ) -> Self {
        Tx {
            store,
            _writer: writer,
            tx,
            revision: None,
            events: Vec::new(),
        }
    }

    /// The revision this transaction commits at (allocated on first use).
    pub async fn revision(&mut self) -> Result<i64> {
        if let Some(r) = self.revision {
            return Ok(r);
        }
        let r: i64 =
            sqlx::query("UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision")
                .fetch_one(&mut *self.tx)
                .await?
                .try_get(0)?;
        self.revision = Some(r);
        Ok(r)
    }

    /// Reads one object inside the transaction.
    pub async fn get<T: Resource>(&mut self, id: &str) -> Result<Option<Versioned<T>>> {
        match self.get_raw(T::KIND, id).await? {
            Some(raw) => Ok(Some(raw.decode()?)),
            None => Ok(None),
        }
    }

    /// Reads one object of any kind inside the transaction.
    pub async fn get_raw(&mut self, kind: &str, id: &str) -> Result<Option<Versioned<RawObject>>> {
        if !storable(id) {
            return Ok(None);
        }
        let row = sqlx::query(SELECT_ONE)
            .bind(kind)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| raw_from_row(kind, &r)).transpose()
    }

    /// Lists objects inside the transaction.
    pub async fn list<T: Resource>(&mut self, parent: Option<&str>) -> Result<Vec<Versioned<T>>> {
        if parent.is_some_and(|p| !storable(p)) {
            return Ok(Vec::new());
        }
        let rows = match parent {
            Some(p) => {
                sqlx::query(SELECT_BY_PARENT)
                    .bind(T::KIND)
                    .bind(p)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
            None => {
                sqlx::query(SELECT_ALL)
                    .bind(T::KIND)
                    .fetch_all(&mut *self.tx)
                    .await?
            }
        };
        rows.iter()
            .map(|r| raw_from_row(T::KIND, r).and_then(|raw| raw.decode()))
            .collect()
    }

    /// Creates an object; `Conflict` if the id or one of its unique keys is taken.
    pub async fn create<T: Resource>(&mut self, obj: &T) -> Result<i64> {
        self.create_raw(obj.to_raw()?).await
    }

    /// Replaces an object. With `expected`, fails with `RevisionMismatch` unless the
    /// stored revision is that one.
    pub async fn update<T: Resource>(&mut self, obj: &T, expected: Option<i64>) -> Result<i64> {
        self.update_raw(obj.to_raw()?, expected).await
    }

    /// Deletes an object; `NotFound` if absent.
    pub async fn delete<T: Resource>(&mut self, id: &str, expected: Option<i64>) -> Result<i64> {
        self.delete_raw(T::KIND, id, expected).await
    }

    /// Creates a raw object.
    pub async fn create_raw(&mut self, obj: RawObject) -> Result<i64> {
        check_keys(&obj)?;
        if self.get_raw(&obj.kind, &obj.id).await?.is_some() {
            return Err(StoreError::Conflict {
                kind: obj.kind,
                detail: format!("id {} exists", obj.id),
            });
        }
        let rev = self.revision().await?;
        self.claim_keys(&obj).await?;
        let body = obj.body.to_string();
        sqlx::query(
            "INSERT INTO objects (kind, id, parent, revision, created_revision, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&obj.kind)
        .bind(&obj.id)
        .bind(&obj.parent)
        .bind(rev)
        .bind(rev)
        .bind(&body)
        .execute(&mut *self.tx)
        .await?;
        self.record(rev, Op::Created, obj).await?;
        Ok(rev)
    }

    /// Replaces a raw object.
    pub async fn update_raw(&mut self, obj: RawObject, expected: Option<i64>) -> Result<i64> {
        check_keys(&obj)?;
        let current =
            self.get_raw(&obj.kind, &obj.id)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    kind: obj.kind.clone(),
                    id: obj.id.clone(),
                })?;
        check_expected(&obj.kind, &obj.id, expected, current.revision)?;
        let rev = self.revision().await?;
        self.release_keys(&obj.kind, &obj.id).await?;
        self.claim_keys(&obj).await?;
        sqlx::query(
            "UPDATE objects SET parent = $1, revision = $2, body = $3 WHERE kind = $4 AND id = $5",
        )
        .bind(&obj.parent)
        .bind(rev)
        .bind(obj.body.to_string())
        .bind(&obj.kind)
        .bind(&obj.id)
        .execute(&mut *self.tx)
        .await?;
        self.record(rev, Op::Updated, obj).await?;
        Ok(rev)
    }

    /// Deletes a raw object.
    pub async fn delete_raw(&mut self, kind: &str, id: &str, expected: Option<i64>) -> Result<i64> {
        let current = self
            .get_raw(kind, id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                kind: kind.to_string(),
                id: id.to_string(),
            })?;
        check_expected(kind, id, expected, current.revision)?;
        let rev = self.revision().await?;
        self.release_keys(kind, id).await?;
        sqlx::query("DELETE FROM objects WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        self.record(rev, Op::Deleted, current.value).await?;
        Ok(rev)
    }

    /// Commits; returns the revision written (the current one if nothing changed).
    pub async fn commit(mut self) -> Result<i64> {
        let Some(rev) = self.revision else {
            self.tx.commit().await?;
            return Ok(self.store.revision());
        };
        if rev % COMPACT_EVERY == 0 {
            let oldest = rev - self.store.inner.history;
            if oldest > 0 {
                sqlx::query("DELETE FROM events WHERE revision <= $1")
                    .bind(oldest)
                    .execute(&mut *self.tx)
                    .await?;
                sqlx::query("UPDATE meta SET compacted = $1 WHERE id = 1")
                    .bind(oldest)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        self.tx.commit().await?;
        let events = std::mem::take(&mut self.events);
        self.store.publish(rev, events);
        Ok(rev)
    }

    async fn claim_keys(&mut self, obj: &RawObject) -> Result<()> {
        for key in &obj.unique_keys {
            let taken = sqlx::query("SELECT id FROM unique_keys WHERE kind = $1 AND ukey = $2")
                .bind(&obj.kind)
                .bind(key)
                .fetch_optional(&mut *self.tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict {
                    kind: obj.kind.clone(),
                    detail: format!("{key} is taken"),
                });
            }
            sqlx::query("INSERT INTO unique_keys (kind, ukey, id) VALUES ($1, $2, $3)")
                .bind(&obj.kind)
                .bind(key)
                .bind(&obj.id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    async fn release_keys(&mut self, kind: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM unique_keys WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn record(&mut self, rev: i64, op: Op, obj: RawObject) -> Result<()> {
        let body = obj.body.to_string();
        // A second change to the same object in one transaction replaces the first.
        sqlx::query("DELETE FROM events WHERE revision = $1 AND kind = $2 AND id = $3")
            .bind(rev)
            .bind(&obj.kind)
            .bind(&obj.id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO events (revision, kind, id, parent, op, body) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(rev)
        .bind(&obj.kind)
        .bind(&obj.id)
        .bind(&obj.parent)
        .bind(op.as_str())
        .bind(&body)
        .execute(&mut *self.tx)
        .await?;
        self.events
            .retain(|e| !(e.kind == obj.kind && e.id == obj.id));
        self.events.push(Event {
            revision: rev,
            kind: obj.kind,
            id: obj.id,
            parent: obj.parent,
            op,
            body: obj.body,
        });
        Ok(())
    }
}

/// Refuses ids, parents and unique keys that a database cannot store.
fn check_keys(obj: &RawObject) -> Result<()> {
    let bad = [("id", &obj.id), ("parent", &obj.parent)]
        .into_iter()
        .chain(obj.unique_keys.iter().map(|k| ("name", k)))
        .find(|(_, v)| !storable(v));
    match bad {
        Some((what, _)) => Err(StoreError::Invalid {
            what: format!("{} {what}", obj.kind),
            detail: "NUL characters are not allowed".into(),
        }),
        None => Ok(()),
    }
}

fn check_expected(kind: &str, id: &str, expected: Option<i64>, found: i64) -> Result<()> {
    match expected {
        Some(expected) if expected != found => Err(StoreError::RevisionMismatch {
            kind: kind.to_string(),
            id: id.to_string(),
            expected,
            found,
        }),
        _ => Ok(()),
    }
}
