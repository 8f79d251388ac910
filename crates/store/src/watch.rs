//! Watches: every change after a revision, first from the stored history, then live.
//!
//! The live feed is subscribed *before* the history is read, and events already
//! delivered from history are skipped by revision, so nothing falls between the two.
//! A watcher too slow for the live buffer gets `Expired` and must re-list, exactly
//! as a Kubernetes client does on 410.

use crate::resource::{Event, Op};
use crate::{Result, Store, StoreError};
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// Which events a watch wants.
#[derive(Clone, Debug, Default)]
pub struct WatchFilter {
    /// Kinds to deliver; empty means all.
    pub kinds: Vec<String>,
    /// Only objects with this parent.
    pub parent: Option<String>,
}

impl WatchFilter {
    fn accepts(&self, e: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self.parent.as_ref().is_none_or(|p| *p == e.parent)
    }
}

/// A running watch; ends when dropped.
pub struct Watch {
    rx: mpsc::Receiver<Result<Arc<Event>>>,
}

impl Watch {
    /// The next event; `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        self.rx.recv().await
    }
}

impl Store {
    /// Watches every change with a revision greater than `after`.
    /// Fails at once with `Expired` if that history has been compacted.
    pub async fn watch(&self, filter: WatchFilter, after: i64) -> Result<Watch> {
        let mut live = self.inner.events.subscribe();
        let compacted: i64 = sqlx::query("SELECT compacted FROM meta WHERE id = 1")
            .fetch_one(&self.inner.pool)
            .await?
            .try_get(0)?;
        if after < compacted {
            return Err(StoreError::Expired {
                requested: after,
                oldest: compacted,
            });
        }
        let rows = sqlx::query(
            "SELECT revision, kind, id, parent, op, body FROM events WHERE revision > $1 \
             ORDER BY revision, kind, id",
        )
        .bind(after)
        .fetch_all(&self.inner.pool)
        .await?;
        let mut history = Vec::with_capacity(rows.len());
        for row in rows {
            let body: String = row.try_get("body")?;
            history.push(Event {
                revision: row.try_get("revision")?,
                kind: row.try_get("kind")?,
                id: row.try_get("id")?,
                parent: row.try_get("parent")?,
                op: Op::parse(&row.try_get::<String, _>("op")?)?,
                body: serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("event body: {e}")))?,
            });
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut last = after;
            for e in history {
                last = last.max(e.revision);
                if filter.accepts(&e) && tx.send(Ok(Arc::new(e))).await.is_err() {
                    return;
                }
            }
            loop {
                let e = match live.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx
                            .send(Err(StoreError::Expired {
                                requested: last,
                                oldest: last + 1,
                            }))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                // Anything at or below `last` was delivered from history (or is older
                // than the watch). `last` stays fixed: one revision may bring several events.
                if e.revision <= last {
                    continue;
                }
                if filter.accepts(&e) && tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Watch { rx })
    }
}
