//! Decoded lists shared between readers until their kind changes. Hot list
//! paths (Nova's server list and what its documents refer to) would otherwise
//! decode every object of a kind on every request; with 1,000 servers that is
//! most of a request's time. A list is rebuilt on the first read after any
//! change to its kind (the store knows the last revision per kind, and there is
//! one writer process: ADR 0001), so readers never see a stale list.

use crate::{Resource, Result, Store, Versioned};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// Lists kept at most; the cache starts over when full (a few kinds, a few
/// parents each, in practice).
const MAX_LISTS: usize = 256;

/// The cache: (kind, parent) → (revision read before listing, the list).
pub(crate) type SharedLists =
    parking_lot::RwLock<HashMap<(&'static str, Option<String>), (i64, Arc<dyn Any + Send + Sync>)>>;

impl Store {
    /// [`Store::list`], shared: the same `Arc` until an object of the kind
    /// changes. For read paths that only look (the objects are immutable).
    pub async fn list_shared<T>(&self, parent: Option<&str>) -> Result<Arc<Vec<Versioned<T>>>>
    where
        T: Resource + Send + Sync + 'static,
    {
        let key = (T::KIND, parent.map(str::to_string));
        let cached = self.inner.shared.read().get(&key).cloned();
        if let Some((revision, list)) = cached {
            if !self.changed_since(&[T::KIND], revision) {
                if let Ok(list) = list.downcast::<Vec<Versioned<T>>>() {
                    return Ok(list);
                }
            }
        }
        // The revision is read before the list: a change committed meanwhile
        // makes the next read rebuild (never the other way round).
        let revision = self.revision();
        let list = Arc::new(self.list::<T>(parent).await?);
        let mut all = self.inner.shared.write();
        if all.len() >= MAX_LISTS {
            all.clear();
        }
        all.insert(key, (revision, list.clone()));
        Ok(list)
    }
}
