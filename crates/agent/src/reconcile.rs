//! The agent's main loop: register the host, then watch servers, ports, networks
//! and subnets (re-listing after `Expired`), plus a tick for process liveness.
//! Each pass wakes one worker per server of this host (wake-ups coalesce), removes
//! instance directories no server stands behind, and syncs the dataplane.

use crate::dataplane::Dataplane;
use crate::tasks::{wake_on_changes, AbortOnDrop};
use crate::{host, worker, AgentConfig, Ctx};
use nimbus_compute::server::{instance_dir, Server};
use nimbus_image::Images;
use nimbus_store::Store;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const TICK: Duration = Duration::from_secs(2);
/// The kinds whose changes start a pass.
const WATCHED: [&str; 9] = [
    "server",
    "port",
    "network",
    "subnet",
    "router",
    "floatingip",
    "volume",
    "volume_attachment",
    "volume_snapshot",
];
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Runs the agent for `config.host` until the returned future is dropped (or the
/// store fails at start). Guests keep running when it stops.
pub async fn run(mut config: AgentConfig, store: Store, images: Arc<Images>) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(config.data_dir.join("instances")).await?;
    // Absolute paths: a daemonized QEMU runs in `/`, and the namespace tag hashes
    // the canonical path.
    config.data_dir = tokio::fs::canonicalize(&config.data_dir).await?;
    let accel = host::probe_accelerator(&config).await;
    tracing::info!(
        host = %config.host,
        accelerator = %accel.name,
        "guests run under {}: {}",
        accel.name,
        accel.reason
    );
    host::register(&store, &config, &accel).await?;
    let ctx = Arc::new(Ctx {
        dataplane: Arc::new(Dataplane::new(&config.data_dir).with_uplink(config.uplink.clone())),
        networking: nimbus_network::Networking::new(store.clone()),
        config,
        store,
        images,
        accel: accel.name,
    });

    let mut heartbeat = AbortOnDrop(tokio::spawn({
        let ctx = ctx.clone();
        async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                if let Err(e) = host::heartbeat(&ctx.store, &ctx.config.host).await {
                    tracing::warn!("heartbeat: {e:#}");
                }
            }
        }
    }));
    let wake = Arc::new(Notify::new());
    let _watcher = AbortOnDrop(tokio::spawn(wake_on_changes(
        ctx.store.clone(),
        &WATCHED,
        wake.clone(),
    )));
    let _security_groups = AbortOnDrop(tokio::spawn(crate::dataplane::sgwatch::run(
        ctx.store.clone(),
        ctx.config.host.clone(),
        ctx.dataplane.netns().to_string(),
    )));
    let mut workers: HashMap<String, Worker> = HashMap::new();
    // The first pass after a start is the restart reconciliation (DHCP, routers,
    // stale links); its duration is logged so that it can be measured
    // (bench/network). Workers and the security-group task log their own first
    // round at debug.
    let mut first_pass = Some(std::time::Instant::now());
    loop {
        let result = pass(&ctx, &mut workers).await;
        if let Err(e) = &result {
            tracing::warn!("agent pass: {e:#}");
        }
        if let Some(started) = first_pass.take() {
            tracing::info!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                servers = workers.len(),
                ok = result.is_ok(),
                "first agent pass done"
            );
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = &mut heartbeat.0 => anyhow::bail!("heartbeat task ended"),
        }
    }
}

struct Worker {
    wake: Arc<Notify>,
    task: AbortOnDrop,
}

async fn pass(ctx: &Arc<Ctx>, workers: &mut HashMap<String, Worker>) -> anyhow::Result<()> {
    let servers = ctx.store.list::<Server>(None).await?;
    let mine: BTreeSet<String> = servers
        .iter()
        .filter(|s| s.value.host.as_deref() == Some(ctx.config.host.as_str()))
        .map(|s| s.value.id.clone())
        .collect();
    workers.retain(|_, w| !w.task.0.is_finished());
    for id in &mine {
        match workers.get(id) {
            Some(w) => w.wake.notify_one(),
            None => {
                let wake = Arc::new(Notify::new());
                let task = tokio::spawn(worker::run(ctx.clone(), id.clone(), wake.clone()));
                workers.insert(
                    id.clone(),
                    Worker {
                        wake,
                        task: AbortOnDrop(task),
                    },
                );
            }
        }
    }
    // Instance directories without a server of this host (deleted while the
    // agent was down, or left by a crash mid-delete).
    if let Ok(dir) = std::fs::read_dir(ctx.config.data_dir.join("instances")) {
        for e in dir.filter_map(|e| e.ok()) {
            let Ok(id) = e.file_name().into_string() else {
                continue;
            };
            if mine.contains(&id) || workers.contains_key(&id) {
                continue;
            }
            tracing::warn!(server = %id, "removing a guest no server stands behind");
            crate::qemu::kill(&instance_dir(&ctx.config.data_dir, &id), &id).await;
            let _ = tokio::fs::remove_dir_all(e.path()).await;
        }
    }
    ctx.dataplane.sync(&ctx.store, &ctx.config.host).await
}
