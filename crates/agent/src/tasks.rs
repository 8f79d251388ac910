//! Task plumbing the agent's loops share: tasks that stop with their owner, and
//! wake-ups on store changes.

use nimbus_store::{Store, WatchFilter};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Aborts its task when dropped, so dropping the agent stops everything it spawned.
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Follows the store and notifies `wake` on every change of `kinds`; runs until
/// aborted. After a gap in the watch (history expired, store error) it notifies
/// once more, since the woken loop re-lists everything anyway.
pub async fn wake_on_changes(store: Store, kinds: &'static [&'static str], wake: Arc<Notify>) {
    let filter = WatchFilter {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        parent: None,
    };
    loop {
        let from = store.revision();
        match store.watch(filter.clone(), from).await {
            Ok(mut w) => loop {
                match w.next().await {
                    Some(Ok(_)) => wake.notify_one(),
                    Some(Err(e)) => {
                        tracing::debug!(?kinds, "watch: {e}");
                        break;
                    }
                    None => break,
                }
            },
            Err(e) => {
                tracing::warn!(?kinds, "watch: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        wake.notify_one();
    }
}
