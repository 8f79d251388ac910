//! Keeps the security-group ruleset of the dataplane namespace equal to the
//! store: a watch on servers, ports, groups and rules wakes it; after a short
//! debounce (changes arriving together become one transaction) it renders
//! [`super::secgroups::render`] and applies it when the text or the namespace
//! changed: only the difference ([`super::nftdiff`]) while the namespace is the
//! one it loaded, the whole text otherwise and once a minute. A tick notices a
//! namespace that was (re)created by a plug, so a new tap is filtered long
//! before its guest has booted.

use super::{links, nft, nftdiff, secgroups};
use crate::tasks::{wake_on_changes, AbortOnDrop};
use nimbus_compute::server::Server;
use nimbus_network::types::{Port, SecurityGroupRule};
use nimbus_store::Store;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long changes are gathered before the ruleset is rendered.
const DEBOUNCE: Duration = Duration::from_millis(15);
/// How often the namespace's identity is checked without a store change.
const TICK: Duration = Duration::from_millis(250);
/// How often the ruleset is loaded again anyway (repairs a hand-edited table).
const REFRESH: Duration = Duration::from_secs(60);

/// The task for the ports of `host`, whose taps live in `netns`: runs until dropped.
pub async fn run(store: Store, host: String, netns: String) {
    let dirty = Arc::new(Notify::new());
    let _watcher = AbortOnDrop(tokio::spawn(wake_on_changes(
        store.clone(),
        &["server", "port", "security_group", "security_group_rule"],
        dirty.clone(),
    )));
    // What was applied last: the ruleset text and the namespace's inode.
    let mut applied: Option<(String, u64)> = None;
    let mut pending = true;
    let mut loaded_at = Instant::now();
    loop {
        if !pending {
            tokio::select! {
                _ = dirty.notified() => pending = true,
                _ = tokio::time::sleep(TICK) => {
                    pending = applied.as_ref().map(|a| a.1) != netns_inode(&netns)
                        || loaded_at.elapsed() > REFRESH;
                }
            }
            if !pending {
                continue;
            }
            tokio::time::sleep(DEBOUNCE).await;
            // Consume a wake-up that arrived during the debounce: this pass sees it.
            tokio::select! {
                biased;
                _ = dirty.notified() => {}
                _ = std::future::ready(()) => {}
            }
        }
        pending = false;
        let Some(inode) = netns_inode(&netns) else {
            // No namespace (no guest here yet): nothing to filter.
            applied = None;
            continue;
        };
        let started = Instant::now();
        let text = match ruleset(&store, &host).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("security groups: reading the store: {e:#}");
                pending = true;
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        if applied.as_ref() == Some(&(text.clone(), inode)) && loaded_at.elapsed() < REFRESH {
            continue;
        }
        let rendered = started.elapsed();
        let fresh_netns = applied.as_ref().map(|a| a.1) != Some(inode);
        // Only what changed, over what this loop loaded itself; the whole text on a
        // fresh namespace, for the periodic refresh, and when that fails.
        let delta = applied
            .as_ref()
            .filter(|_| !fresh_netns && loaded_at.elapsed() < REFRESH)
            .and_then(|(old, _)| nftdiff::incremental(old, &text));
        let diffed = started.elapsed();
        let result = async {
            if fresh_netns {
                nft::enable_bridge_netfilter(&netns).await?;
            }
            if let Some(delta) = &delta {
                match nft::apply(&netns, delta).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        tracing::warn!("security groups: the change alone: {e:#}; loading all")
                    }
                }
            }
            nft::apply(&netns, &text).await
        }
        .await;
        match result {
            Ok(()) => {
                if delta.is_none() {
                    loaded_at = Instant::now();
                }
                // Where the time goes (bench/network reads these).
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                tracing::debug!(
                    elapsed = ?started.elapsed(),
                    store_and_render_ms = ms(rendered),
                    diff_ms = ms(diffed - rendered),
                    load_ms = ms(started.elapsed() - diffed),
                    incremental = delta.is_some(),
                    "security group ruleset applied"
                );
                applied = Some((text, inode));
            }
            Err(e) => {
                tracing::warn!("security groups: {e:#}");
                applied = None;
                pending = true;
                tokio::time::sleep(TICK).await;
            }
        }
    }
}

/// The ruleset for this host's ports (of its servers, or bound to it), from the
/// store as it is now.
pub async fn ruleset(store: &Store, host: &str) -> anyhow::Result<String> {
    let servers = store.list::<Server>(None).await?;
    let local: BTreeSet<String> = servers
        .into_iter()
        .filter(|s| s.value.host.as_deref() == Some(host))
        .map(|s| s.value.id)
        .collect();
    let all: Vec<Port> = store
        .list::<Port>(None)
        .await?
        .into_iter()
        .map(|p| p.value)
        .collect();
    let mine: Vec<Port> = all
        .iter()
        .filter(|p| local.contains(&p.device_id) || p.host == host)
        .cloned()
        .collect();
    let rules: Vec<SecurityGroupRule> = store
        .list::<SecurityGroupRule>(None)
        .await?
        .into_iter()
        .map(|r| r.value)
        .collect();
    Ok(secgroups::render(&mine, &all, &rules))
}

/// The inode of the namespace's file: a deleted and re-created namespace has a
/// new one (and an empty ruleset).
fn netns_inode(netns: &str) -> Option<u64> {
    if !links::list_netns().iter().any(|n| n == netns) {
        return None;
    }
    std::fs::metadata(format!("/run/netns/{netns}"))
        .ok()
        .map(|m| m.ino())
}
