//! Read-change-write with optimistic concurrency, retried: how several writers
//! (API handlers, controllers, agents) share one object without losing updates.

use crate::{Resource, Result, Store, StoreError, Tx, Versioned};

/// What a change function decided.
pub enum Change<R> {
    /// Write the changed object; the value is handed back to the caller.
    Write(R),
    /// Nothing to write (the object already is as wanted).
    Keep(R),
}

/// How often a write is retried after a concurrent change before giving up.
const ATTEMPTS: usize = 20;

impl Store {
    /// Reads `id`, lets `change` edit it, and writes it back only if nobody wrote it
    /// in between; otherwise reads again and repeats. `Ok(None)` when the object
    /// does not exist. `change` may run several times, so it must only edit the
    /// object it is given (and may return an error to give up).
    pub async fn modify<T, R, F>(
        &self,
        id: &str,
        mut change: F,
    ) -> Result<Option<(Versioned<T>, R)>>
    where
        T: Resource + Clone,
        F: FnMut(&mut T) -> Result<Change<R>>,
    {
        self.modify_with(id, |value, _tx| change(value)).await
    }

    /// [`Store::modify`] with the transaction at hand, for writes that must land
    /// together with the change (an audit record, a dependent object).
    pub async fn modify_with<T, R, F>(
        &self,
        id: &str,
        mut change: F,
    ) -> Result<Option<(Versioned<T>, R)>>
    where
        T: Resource + Clone,
        F: FnMut(&mut T, &mut Tx<'_>) -> Result<Change<R>>,
    {
        for _ in 0..ATTEMPTS {
            // Read inside the transaction: writers are serialised, so in one process
            // nothing can come in between; the retry covers other processes.
            let mut tx = self.begin().await?;
            let Some(current) = tx.get::<T>(id).await? else {
                return Ok(None);
            };
            let mut value = current.value.clone();
            match change(&mut value, &mut tx)? {
                Change::Keep(r) => return Ok(Some((current, r))),
                Change::Write(r) => match tx.update(&value, Some(current.revision)).await {
                    Ok(_) => {
                        let revision = tx.commit().await?;
                        let written = Versioned {
                            revision,
                            created_revision: current.created_revision,
                            value,
                        };
                        return Ok(Some((written, r)));
                    }
                    Err(StoreError::RevisionMismatch { .. }) => continue,
                    Err(StoreError::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                },
            }
        }
        Err(StoreError::Conflict {
            kind: T::KIND.to_string(),
            detail: format!("{id} kept changing under {ATTEMPTS} attempts to write it"),
        })
    }
}
