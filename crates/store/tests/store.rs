//! Store behaviour on whichever backend the environment selects (SQLite by default,
//! PostgreSQL with NIMBUS_TEST_DATABASE_URL): revisions, unique keys, optimistic
//! concurrency, rollback, watch from a revision, and expiry.

use nimbus_store::testing::test_store;
use nimbus_store::{Op, Resource, StoreError, WatchFilter};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Thing {
    id: String,
    scope: String,
    name: String,
}

impl Resource for Thing {
    const KIND: &'static str = "thing";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.scope
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("{}/{}", self.scope, self.name)]
    }
}

fn thing(id: &str, scope: &str, name: &str) -> Thing {
    Thing {
        id: id.into(),
        scope: scope.into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn create_read_update_delete_bump_one_revision_each() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let r0 = s.revision();
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("a", "p1", "alpha")).await.unwrap();
    tx.create(&thing("b", "p2", "beta")).await.unwrap();
    let r1 = tx.commit().await.unwrap();
    assert_eq!(r1, r0 + 1, "one transaction is one revision");

    let a = s.get::<Thing>("a").await.unwrap().unwrap();
    assert_eq!(a.revision, r1);
    assert_eq!(a.created_revision, r1);
    assert_eq!(s.list::<Thing>(None).await.unwrap().len(), 2);
    assert_eq!(s.list::<Thing>(Some("p1")).await.unwrap().len(), 1);

    let mut tx = s.begin().await.unwrap();
    tx.update(&thing("a", "p1", "alpha2"), Some(r1))
        .await
        .unwrap();
    let r2 = tx.commit().await.unwrap();
    let a = s.get::<Thing>("a").await.unwrap().unwrap();
    assert_eq!(
        (a.revision, a.created_revision, a.value.name.as_str()),
        (r2, r1, "alpha2")
    );

    let mut tx = s.begin().await.unwrap();
    tx.delete::<Thing>("a", None).await.unwrap();
    tx.commit().await.unwrap();
    assert!(s.get::<Thing>("a").await.unwrap().is_none());
}

#[tokio::test]
async fn unique_keys_and_ids_conflict_and_are_released() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("a", "p1", "same")).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.begin().await.unwrap();
    let err = tx.create(&thing("b", "p1", "same")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    drop(tx);
    let mut tx = s.begin().await.unwrap();
    let err = tx.create(&thing("a", "p9", "other")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    drop(tx);

    // Same name in another scope is fine; renaming frees the old name.
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("c", "p2", "same")).await.unwrap();
    tx.update(&thing("a", "p1", "renamed"), None).await.unwrap();
    tx.create(&thing("d", "p1", "same")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(s.list::<Thing>(None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn stale_revision_is_refused_and_nothing_is_written() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let mut tx = s.begin().await.unwrap();
    let r1 = tx.create(&thing("a", "p", "one")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.update(&thing("a", "p", "two"), Some(r1)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.begin().await.unwrap();
    let err = tx
        .update(&thing("a", "p", "three"), Some(r1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RevisionMismatch { .. }), "{err}");
    drop(tx);
    assert_eq!(
        s.get::<Thing>("a").await.unwrap().unwrap().value.name,
        "two"
    );
}

#[tokio::test]
async fn dropped_transaction_rolls_back() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let before = s.revision();
    {
        let mut tx = s.begin().await.unwrap();
        tx.create(&thing("a", "p", "x")).await.unwrap();
    }
    assert!(s.get::<Thing>("a").await.unwrap().is_none());
    assert_eq!(s.revision(), before);
    // The name is still free.
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("b", "p", "x")).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn watch_replays_history_then_follows_live_changes() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let start = s.revision();
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("a", "p1", "a")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("b", "p2", "b")).await.unwrap();
    tx.commit().await.unwrap();

    let mut all = s.watch(WatchFilter::default(), start).await.unwrap();
    let mut p1 = s
        .watch(
            WatchFilter {
                kinds: vec!["thing".into()],
                parent: Some("p1".into()),
            },
            start,
        )
        .await
        .unwrap();
    let e1 = all.next().await.unwrap().unwrap();
    let e2 = all.next().await.unwrap().unwrap();
    assert_eq!((e1.id.as_str(), e1.op), ("a", Op::Created));
    assert_eq!(e2.id, "b");
    assert!(e2.revision > e1.revision);

    let mut tx = s.begin().await.unwrap();
    tx.delete::<Thing>("a", None).await.unwrap();
    let r = tx.commit().await.unwrap();
    let e3 = all.next().await.unwrap().unwrap();
    assert_eq!((e3.id.as_str(), e3.op, e3.revision), ("a", Op::Deleted, r));
    assert_eq!(e3.body["name"], "a", "a deletion carries the last body");

    let seen: Vec<_> = [p1.next().await, p1.next().await]
        .into_iter()
        .map(|e| e.unwrap().unwrap().op)
        .collect();
    assert_eq!(seen, vec![Op::Created, Op::Deleted], "parent filter");

    // Resuming from the last seen revision delivers nothing old.
    let mut resumed = s.watch(WatchFilter::default(), r).await.unwrap();
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("c", "p1", "c")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(resumed.next().await.unwrap().unwrap().id, "c");
}

#[tokio::test]
async fn state_survives_reopening() {
    let t = test_store().await.unwrap();
    let mut tx = t.store.begin().await.unwrap();
    tx.create(&thing("a", "p", "kept")).await.unwrap();
    let rev = tx.commit().await.unwrap();
    let reopened = nimbus_store::Store::open(&t.url).await.unwrap();
    assert_eq!(reopened.revision(), rev);
    assert_eq!(
        reopened
            .get::<Thing>("a")
            .await
            .unwrap()
            .unwrap()
            .value
            .name,
        "kept"
    );
}

#[tokio::test]
async fn concurrent_writers_get_distinct_ordered_revisions() {
    let t = test_store().await.unwrap();
    let s = t.store.clone();
    let mut handles = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            tx.create(&thing(&format!("t{i}"), "p", &format!("n{i}")))
                .await
                .unwrap();
            tx.commit().await.unwrap()
        }));
    }
    let mut revs = Vec::new();
    for h in handles {
        revs.push(h.await.unwrap());
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 20);
    assert_eq!(s.list::<Thing>(None).await.unwrap().len(), 20);
}

#[tokio::test]
async fn nul_keys_name_nothing_and_are_refused_on_write() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    assert!(s.get::<Thing>("a\0b").await.unwrap().is_none());
    assert!(s.list::<Thing>(Some("p\0")).await.unwrap().is_empty());
    let mut tx = s.begin().await.unwrap();
    for bad in [
        thing("a\0", "p", "n"),
        thing("a", "p\0", "n"),
        thing("a", "p", "n\0"),
    ] {
        let err = tx.create(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    }
    drop(tx);
    assert!(
        s.list::<Thing>(None).await.unwrap().is_empty(),
        "nothing half-written"
    );
}

#[tokio::test]
async fn modify_loses_no_update_among_concurrent_writers() {
    let t = test_store().await.unwrap();
    let s = t.store.clone();
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("counter", "s", "0")).await.unwrap();
    tx.commit().await.unwrap();

    let writers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    s.modify::<Thing, (), _>("counter", |t| {
                        t.name = (t.name.parse::<u32>().unwrap() + 1).to_string();
                        Ok(nimbus_store::Change::Write(()))
                    })
                    .await
                    .unwrap()
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let counter = s.get::<Thing>("counter").await.unwrap().unwrap();
    assert_eq!(counter.value.name, "80");

    // Keep writes nothing; an absent object is None; an error aborts.
    let before = s.revision();
    let kept = s
        .modify::<Thing, u8, _>("counter", |_| Ok(nimbus_store::Change::Keep(7)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kept.1, s.revision()), (7, before));
    assert!(s
        .modify::<Thing, (), _>("missing", |_| Ok(nimbus_store::Change::Write(())))
        .await
        .unwrap()
        .is_none());
    let err = s
        .modify::<Thing, (), _>("counter", |_| {
            Err(StoreError::Invalid {
                what: "test".into(),
                detail: "no".into(),
            })
        })
        .await;
    assert!(matches!(err, Err(StoreError::Invalid { .. })));
    assert_eq!(s.revision(), before);
}

#[tokio::test]
async fn shared_lists_are_reused_until_their_kind_changes() {
    let t = test_store().await.unwrap();
    let s = &t.store;
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("a", "p", "one")).await.unwrap();
    tx.commit().await.unwrap();
    let first = s.list_shared::<Thing>(None).await.unwrap();
    let again = s.list_shared::<Thing>(None).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(first.len(), 1);
    // A parent's list is its own entry.
    assert_eq!(s.list_shared::<Thing>(Some("q")).await.unwrap().len(), 0);
    let mut tx = s.begin().await.unwrap();
    tx.create(&thing("b", "p", "two")).await.unwrap();
    tx.commit().await.unwrap();
    let after = s.list_shared::<Thing>(None).await.unwrap();
    assert!(!std::sync::Arc::ptr_eq(&first, &after));
    assert_eq!(after.len(), 2);
    assert_eq!(s.list_shared::<Thing>(Some("p")).await.unwrap().len(), 2);
}
