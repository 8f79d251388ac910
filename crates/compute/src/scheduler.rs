//! The scheduler: binds each new server to a hypervisor (ADR 0004). It watches
//! servers and hypervisors and, for every server in `building` without a host and
//! not being deleted, filters the hypervisors that are up (heartbeat within
//! [`HEARTBEAT_TIMEOUT_SECS`]) with room for the flavor (capacity × allocation
//! ratio − what the servers bound there take; a server booted from a volume
//! takes no root disk from its host) and that its server group's policy
//! allows, then picks the least loaded. None left: the server goes to ERROR with
//! Nova's "No valid host" fault.
//!
//! Level-triggered and idempotent: every pass looks at the whole state, binds one
//! server at a time (each bind counted before the next choice, so two servers
//! created together cannot both take the last slot) and writes with
//! `Store::modify`, which re-checks that the server still wants a host.

use crate::lifecycle::finish_action;
use crate::server::{Fault, Hypervisor, Server, ServerGroup, TaskState, VmState};
use chrono::Utc;
use nimbus_store::{Change, Resource, Store, WatchFilter};
use nimbus_volume::types::VolumeAttachment;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// A hypervisor whose agent has not reported for this long is down.
pub const HEARTBEAT_TIMEOUT_SECS: i64 = 60;
/// How long a new server waits for a first hypervisor to register (a fresh
/// `nimbus serve` registers its own agent a moment after it starts serving);
/// registered hypervisors that are down fail a server at once, as in Nova.
const NO_HYPERVISOR_GRACE_SECS: i64 = 30;
/// Passes also run this often without events (heartbeats age without any).
const TICK: Duration = Duration::from_secs(5);

/// Nova's message when no host fits.
pub const NO_VALID_HOST: &str = "No valid host was found. There are not enough hosts available.";

/// Runs forever: a pass at start, then one after every batch of changes.
pub async fn run(store: Store) {
    loop {
        let from = store.revision();
        let filter = WatchFilter {
            kinds: vec![
                Server::KIND.to_string(),
                Hypervisor::KIND.to_string(),
                ServerGroup::KIND.to_string(),
            ],
            parent: None,
        };
        let mut watch = match store.watch(filter, from).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: watch failed; retrying");
                tokio::time::sleep(TICK).await;
                continue;
            }
        };
        loop {
            if let Err(e) = pass(&store).await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            match tokio::time::timeout(TICK, watch.next()).await {
                Ok(Some(Ok(_))) | Err(_) => {
                    // Drain what else arrived, so one pass covers a burst.
                    while let Ok(Some(Ok(_))) =
                        tokio::time::timeout(Duration::from_millis(20), watch.next()).await
                    {
                    }
                }
                Ok(Some(Err(_))) | Ok(None) => break,
            }
        }
    }
}

/// Room on one hypervisor.
#[derive(Clone, Debug)]
struct Room {
    host: String,
    vcpus: f64,
    ram: f64,
    disk: f64,
}

/// Whether a server still waits for the scheduler.
pub fn wants_host(s: &Server) -> bool {
    s.host.is_none() && !s.deleting && s.vm_state == VmState::Building
}

/// One pass over everything; binds or fails every server waiting for a host.
pub async fn pass(store: &Store) -> nimbus_store::Result<()> {
    let mut servers = weighed_servers(store).await?;
    let mut pending: Vec<Server> = servers.iter().filter(|s| wants_host(s)).cloned().collect();
    if pending.is_empty() {
        return Ok(());
    }
    pending.sort_by_key(|s| (s.created_at, s.launch_index));
    let now = Utc::now();
    let registered: Vec<Hypervisor> = store
        .list::<Hypervisor>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let none_registered = registered.is_empty();
    let hypervisors: Vec<Hypervisor> = registered.into_iter().filter(|h| is_up(h, now)).collect();
    let groups: HashMap<String, ServerGroup> = store
        .list::<ServerGroup>(None)
        .await?
        .into_iter()
        .map(|g| (g.value.id.clone(), g.value))
        .collect();
    for server in pending {
        if none_registered && (now - server.created_at).num_seconds() < NO_HYPERVISOR_GRACE_SECS {
            continue;
        }
        let rooms = rooms(&hypervisors, &servers);
        let group = server.server_group.as_ref().and_then(|g| groups.get(g));
        let choice = choose(&server, &rooms, group, &servers);
        let written = bind(store, &server.id, choice.as_deref()).await?;
        if let (Some(host), true) = (choice, written) {
            if let Some(s) = servers.iter_mut().find(|s| s.id == server.id) {
                s.host = Some(host);
            }
        }
    }
    Ok(())
}

/// Every server, as it weighs on a host: the copies the scheduler and the
/// hypervisor statistics count with (see [`local_disks`]).
pub async fn weighed_servers(store: &Store) -> nimbus_store::Result<Vec<Server>> {
    let mut servers: Vec<Server> = store
        .list::<Server>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    let volume_roots: HashSet<String> = store
        .list::<VolumeAttachment>(None)
        .await?
        .into_iter()
        .filter(|a| a.value.boot_index == Some(0))
        .filter_map(|a| a.value.server_id)
        .collect();
    local_disks(&mut servers, &volume_roots);
    Ok(servers)
}

/// What each server takes from its host's disk, in these counting copies: a
/// server whose root disk is a volume (`volume_roots`) needs no `flavor.disk`
/// there (the volume lives in the volume store), only its ephemeral disk.
fn local_disks(servers: &mut [Server], volume_roots: &HashSet<String>) {
    for s in servers.iter_mut().filter(|s| volume_roots.contains(&s.id)) {
        s.flavor.disk = 0;
    }
}

/// Up: the agent said so and heartbeated recently.
pub fn is_up(h: &Hypervisor, now: chrono::DateTime<Utc>) -> bool {
    h.state == "up" && (now - h.heartbeat_at).num_seconds() <= HEARTBEAT_TIMEOUT_SECS
}

fn rooms(hypervisors: &[Hypervisor], servers: &[Server]) -> Vec<Room> {
    hypervisors
        .iter()
        .map(|h| {
            let mut room = Room {
                host: h.id.clone(),
                vcpus: h.vcpus as f64 * h.cpu_allocation_ratio,
                ram: h.memory_mb as f64 * h.ram_allocation_ratio,
                disk: h.local_gb as f64 * h.disk_allocation_ratio,
            };
            for s in servers.iter().filter(|s| s.host.as_deref() == Some(&h.id)) {
                room.vcpus -= s.flavor.vcpus as f64;
                room.ram -= s.flavor.ram as f64;
                room.disk -= (s.flavor.disk + s.flavor.ephemeral) as f64;
            }
            room
        })
        .collect()
}

/// The host for `server`, or `None` when nothing fits.
fn choose(
    server: &Server,
    rooms: &[Room],
    group: Option<&ServerGroup>,
    servers: &[Server],
) -> Option<String> {
    let f = &server.flavor;
    let member_hosts: Vec<&str> = group
        .map(|g| {
            servers
                .iter()
                .filter(|s| s.id != server.id && g.members.contains(&s.id))
                .filter_map(|s| s.host.as_deref())
                .collect()
        })
        .unwrap_or_default();
    let policy = group.map(|g| g.policy.as_str()).unwrap_or("");
    let max_per_host = group
        .and_then(|g| g.rules.get("max_server_per_host").copied())
        .unwrap_or(1) as usize;
    let mut fits: Vec<&Room> = rooms
        .iter()
        .filter(|r| server.requested_host.as_ref().is_none_or(|h| *h == r.host))
        .filter(|r| {
            r.vcpus >= f.vcpus as f64
                && r.ram >= f.ram as f64
                && r.disk >= (f.disk + f.ephemeral) as f64
        })
        .filter(|r| {
            let on_host = member_hosts.iter().filter(|h| **h == r.host).count();
            match policy {
                "affinity" => member_hosts.is_empty() || on_host > 0,
                "anti-affinity" => on_host < max_per_host,
                _ => true,
            }
        })
        .collect();
    // Least loaded first: most free RAM, then most free vCPUs; soft policies
    // weigh their members' hosts before that.
    fits.sort_by(|a, b| {
        let pref = |r: &Room| -> i64 {
            let n = member_hosts.iter().filter(|h| **h == r.host).count() as i64;
            match policy {
                "soft-affinity" => -n,
                "soft-anti-affinity" => n,
                _ => 0,
            }
        };
        pref(a)
            .cmp(&pref(b))
            .then(b.ram.total_cmp(&a.ram))
            .then(b.vcpus.total_cmp(&a.vcpus))
            .then(a.host.cmp(&b.host))
    });
    fits.first().map(|r| r.host.clone())
}

/// Writes the decision if the server still wants a host; whether it was written.
async fn bind(store: &Store, id: &str, host: Option<&str>) -> nimbus_store::Result<bool> {
    let done = store
        .modify_with::<Server, bool, _>(id, |s, _tx| {
            if !wants_host(s) {
                return Ok(Change::Keep(false));
            }
            match host {
                Some(h) => {
                    s.host = Some(h.to_string());
                    s.task_state = Some(TaskState::Spawning);
                }
                None => {
                    s.vm_state = VmState::Error;
                    s.task_state = None;
                    s.fault = Some(Fault {
                        code: 500,
                        message: NO_VALID_HOST.to_string(),
                        details: String::new(),
                        created: Utc::now(),
                    });
                }
            }
            s.updated_at = Utc::now();
            Ok(Change::Write(true))
        })
        .await?;
    let written = done.is_some_and(|(_, w)| w);
    if written {
        // The scheduling step of the `create` action, as Nova's conductor logs it.
        let mut tx = store.begin().await?;
        finish_action(
            &mut tx,
            id,
            "create",
            "conductor_schedule_and_build_instances",
            host.is_some(),
        )
        .await?;
        tx.commit().await?;
    }
    if written {
        tracing::info!(server = id, host = host.unwrap_or("-"), "scheduled");
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Flavor;

    fn server(id: &str, host: Option<&str>) -> Server {
        Server {
            id: id.into(),
            host: host.map(str::to_string),
            flavor: Flavor {
                vcpus: 1,
                ram: 1024,
                disk: 1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn room(host: &str, ram: f64) -> Room {
        Room {
            host: host.into(),
            vcpus: 8.0,
            ram,
            disk: 100.0,
        }
    }

    fn group(policy: &str, members: &[&str]) -> ServerGroup {
        ServerGroup {
            id: "g".into(),
            name: "g".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            policy: policy.into(),
            rules: Default::default(),
            members: members.iter().map(|m| m.to_string()).collect(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_volume_root_takes_no_host_disk() {
        let mut servers = [server("bfv", Some("a")), server("local", Some("a"))];
        local_disks(&mut servers, &HashSet::from(["bfv".to_string()]));
        assert_eq!((servers[0].flavor.disk, servers[1].flavor.disk), (0, 1));
        let tight = Room {
            disk: 0.0,
            ..room("a", 4096.0)
        };
        assert_eq!(
            choose(&servers[0], std::slice::from_ref(&tight), None, &[]).as_deref(),
            Some("a")
        );
        assert_eq!(choose(&servers[1], &[tight], None, &[]), None);
    }

    #[test]
    fn least_loaded_then_policies() {
        let rooms = [room("a", 4096.0), room("b", 8192.0), room("c", 512.0)];
        let new = server("new", None);
        let others = [server("m1", Some("a")), new.clone()];
        // No group: most free RAM; "c" is too small for the flavor.
        assert_eq!(choose(&new, &rooms, None, &others).as_deref(), Some("b"));
        let g = group("affinity", &["m1", "new"]);
        assert_eq!(
            choose(&new, &rooms, Some(&g), &others).as_deref(),
            Some("a")
        );
        let g = group("anti-affinity", &["m1", "new"]);
        assert_eq!(
            choose(&new, &rooms, Some(&g), &others).as_deref(),
            Some("b")
        );
        let g = group("soft-affinity", &["m1", "new"]);
        assert_eq!(
            choose(&new, &rooms, Some(&g), &others).as_deref(),
            Some("a")
        );
        // Soft anti-affinity prefers hosts without members, but settles for one.
        let g = group("soft-anti-affinity", &["m1", "new"]);
        assert_eq!(
            choose(&new, &rooms[..1], Some(&g), &others).as_deref(),
            Some("a")
        );
        let g = group("anti-affinity", &["m1", "new"]);
        assert_eq!(choose(&new, &rooms[..1], Some(&g), &others), None);
        // max_server_per_host lets two members share a host.
        let mut g = group("anti-affinity", &["m1", "new"]);
        g.rules.insert("max_server_per_host".into(), 2);
        assert_eq!(
            choose(&new, &rooms[..1], Some(&g), &others).as_deref(),
            Some("a")
        );
        // A requested host is the only candidate.
        let mut pinned = new.clone();
        pinned.requested_host = Some("a".into());
        assert_eq!(choose(&pinned, &rooms, None, &others).as_deref(), Some("a"));
    }

    #[test]
    fn rooms_subtract_what_is_bound() {
        let now = Utc::now();
        let h = Hypervisor {
            id: "a".into(),
            serial: 1,
            vcpus: 4,
            memory_mb: 4096,
            local_gb: 10,
            cpu_allocation_ratio: 2.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            accelerator: "tcg".into(),
            state: "up".into(),
            heartbeat_at: now,
            started_at: now,
        };
        let r = rooms(&[h], &[server("x", Some("a")), server("y", None)]);
        assert_eq!((r[0].vcpus, r[0].ram, r[0].disk), (7.0, 3072.0, 9.0));
    }
}
