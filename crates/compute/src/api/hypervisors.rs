//! `/os-hypervisors` (admins and system readers: list, detail, show, statistics)
//! from the [`Hypervisor`] objects the agents register, with usage summed over the
//! servers bound to each; `/os-services` (each agent as a `nova-compute`
//! service); and `/os-availability-zone` (the one zone, `nova`).
//! Ids are the integer serial below 2.53 and a UUID derived from the host name
//! from 2.53 on.

use super::server_view::ts_micro;
use crate::scheduler::is_up;
use crate::server::{Hypervisor, Server};
use crate::Compute;
use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use nimbus_api::auth::Auth;
use nimbus_api::microversion::Microversion;
use nimbus_api::policy::{allowed, authorize, Target};
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use sha2::{Digest, Sha224};
use std::sync::Arc;

/// The UUID a hypervisor shows from 2.53: stable, derived from its host name.
pub fn hypervisor_uuid(host: &str) -> String {
    let d = Sha224::digest(format!("nimbus-hypervisor/{host}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn shown_id(mv: Microversion, h: &Hypervisor) -> Value {
    if mv.at_least(2, 53) {
        json!(hypervisor_uuid(&h.id))
    } else {
        json!(h.serial)
    }
}

struct Used {
    vcpus: u64,
    ram: u64,
    disk: u64,
    vms: u64,
}

fn used_on(host: &str, servers: &[Server]) -> Used {
    let mut u = Used {
        vcpus: 0,
        ram: 0,
        disk: 0,
        vms: 0,
    };
    for s in servers.iter().filter(|s| s.host.as_deref() == Some(host)) {
        u.vcpus += s.flavor.vcpus;
        u.ram += s.flavor.ram;
        u.disk += s.flavor.disk + s.flavor.ephemeral;
        u.vms += 1;
    }
    u
}

fn brief(mv: Microversion, h: &Hypervisor) -> Value {
    json!({
        "id": shown_id(mv, h),
        "hypervisor_hostname": h.id,
        "state": if is_up(h, Utc::now()) { "up" } else { "down" },
        "status": "enabled",
    })
}

fn detailed(mv: Microversion, h: &Hypervisor, servers: &[Server]) -> Value {
    let u = used_on(&h.id, servers);
    let mut v = brief(mv, h);
    let extra = json!({
        "hypervisor_type": "QEMU",
        "hypervisor_version": 8002000,
        "host_ip": "127.0.0.1",
        "service": {"host": h.id, "id": shown_id(mv, h), "disabled_reason": null},
        "vcpus": h.vcpus,
        "memory_mb": h.memory_mb,
        "local_gb": h.local_gb,
        "vcpus_used": u.vcpus,
        "memory_mb_used": u.ram,
        "local_gb_used": u.disk,
        "free_ram_mb": h.memory_mb as i64 - u.ram as i64,
        "free_disk_gb": h.local_gb as i64 - u.disk as i64,
        "current_workload": 0,
        "running_vms": u.vms,
        "disk_available_least": h.local_gb as i64 - u.disk as i64,
        "cpu_info": json!({"arch": std::env::consts::ARCH, "accelerator": h.accelerator}).to_string(),
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

async fn all(c: &Compute) -> ApiResult<(Vec<Hypervisor>, Vec<Server>)> {
    let hs = c
        .store
        .list::<Hypervisor>(None)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    // A server booted from a volume uses no local disk for its root.
    let ss = crate::scheduler::weighed_servers(&c.store).await?;
    Ok((hs, ss))
}

fn check(caller: &nimbus_api::auth::Principal) -> ApiResult<()> {
    authorize(caller, "compute:os-hypervisors", &Target::default())
}

fn name_filter(q: &Query, h: &Hypervisor) -> bool {
    q.get("hypervisor_hostname_pattern")
        .is_none_or(|p| h.id.contains(p))
}

/// `GET /os-hypervisors`
pub async fn index(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
) -> ApiResult<Json<Value>> {
    check(&caller)?;
    let (hs, _) = all(&c).await?;
    let items: Vec<Value> = hs
        .iter()
        .filter(|h| name_filter(&q, h))
        .map(|h| brief(mv, h))
        .collect();
    Ok(Json(json!({ "hypervisors": items })))
}

/// `GET /os-hypervisors/detail`
pub async fn detail(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
) -> ApiResult<Json<Value>> {
    check(&caller)?;
    let (hs, ss) = all(&c).await?;
    let items: Vec<Value> = hs
        .iter()
        .filter(|h| name_filter(&q, h))
        .map(|h| detailed(mv, h, &ss))
        .collect();
    Ok(Json(json!({ "hypervisors": items })))
}

/// `GET /os-hypervisors/{id}`: by serial below 2.53, by UUID from it.
pub async fn show(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    check(&caller)?;
    let (hs, ss) = all(&c).await?;
    let found = hs.iter().find(|h| {
        if mv.at_least(2, 53) {
            hypervisor_uuid(&h.id) == id
        } else {
            h.serial.to_string() == id
        }
    });
    match found {
        Some(h) => Ok(Json(json!({"hypervisor": detailed(mv, h, &ss)}))),
        None if mv.at_least(2, 53) && uuid::Uuid::try_parse(&id).is_err() => {
            Err(ApiError::bad_request(format!("Invalid uuid {id}")))
        }
        None => Err(ApiError::not_found(format!(
            "Hypervisor with ID {id} could not be found."
        ))),
    }
}

/// `GET /os-hypervisors/statistics`
pub async fn statistics(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
) -> ApiResult<Json<Value>> {
    check(&caller)?;
    let (hs, ss) = all(&c).await?;
    let mut t = json!({
        "count": hs.len(), "vcpus": 0, "memory_mb": 0, "local_gb": 0, "vcpus_used": 0,
        "memory_mb_used": 0, "local_gb_used": 0, "free_ram_mb": 0, "free_disk_gb": 0,
        "current_workload": 0, "running_vms": 0, "disk_available_least": 0,
    });
    for h in &hs {
        let u = used_on(&h.id, &ss);
        let add = |t: &mut Value, k: &str, n: i64| {
            t[k] = json!(t[k].as_i64().unwrap_or(0) + n);
        };
        add(&mut t, "vcpus", h.vcpus as i64);
        add(&mut t, "memory_mb", h.memory_mb as i64);
        add(&mut t, "local_gb", h.local_gb as i64);
        add(&mut t, "vcpus_used", u.vcpus as i64);
        add(&mut t, "memory_mb_used", u.ram as i64);
        add(&mut t, "local_gb_used", u.disk as i64);
        add(&mut t, "free_ram_mb", h.memory_mb as i64 - u.ram as i64);
        add(&mut t, "free_disk_gb", h.local_gb as i64 - u.disk as i64);
        add(
            &mut t,
            "disk_available_least",
            h.local_gb as i64 - u.disk as i64,
        );
        add(&mut t, "running_vms", u.vms as i64);
    }
    Ok(Json(json!({ "hypervisor_statistics": t })))
}

/// `GET /os-availability-zone`
pub async fn zones(State(c): State<Arc<Compute>>, Auth(caller): Auth) -> ApiResult<Json<Value>> {
    authorize(
        &caller,
        "compute:os-availability-zone:list",
        &Target::default(),
    )?;
    let (hs, _) = all(&c).await?;
    let available = hs.iter().any(|h| is_up(h, Utc::now()));
    Ok(Json(json!({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": available}, "hosts": null}
    ]})))
}

/// `GET /os-availability-zone/detail`: with the hosts and their compute service.
pub async fn zones_detail(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
) -> ApiResult<Json<Value>> {
    if !allowed(
        &caller,
        "compute:os-availability-zone:detail",
        &Target::default(),
    ) {
        return Err(ApiError::policy_denied(
            "compute:os-availability-zone:detail",
        ));
    }
    let (hs, _) = all(&c).await?;
    let now = Utc::now();
    let mut hosts = serde_json::Map::new();
    for h in &hs {
        hosts.insert(
            h.id.clone(),
            json!({"nova-compute": {
                "available": is_up(h, now),
                "active": true,
                "updated_at": ts_micro(&h.heartbeat_at),
            }}),
        );
    }
    let available = hs.iter().any(|h| is_up(h, now));
    Ok(Json(json!({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": available}, "hosts": hosts}
    ]})))
}

/// `GET /os-services`: the `nova-compute` service of every hypervisor (its agent),
/// up while it heartbeats. Filters `binary` and `host`.
pub async fn services(
    State(c): State<Arc<Compute>>,
    Auth(caller): Auth,
    mv: Microversion,
    q: Query,
) -> ApiResult<Json<Value>> {
    authorize(&caller, "compute:os-services:list", &Target::default())?;
    let (hs, _) = all(&c).await?;
    let now = Utc::now();
    let items: Vec<Value> = hs
        .iter()
        .filter(|_| q.get("binary").is_none_or(|b| b == "nova-compute"))
        .filter(|h| q.get("host").is_none_or(|x| x == h.id))
        .map(|h| {
            let mut v = json!({
                "id": shown_id(mv, h),
                "binary": "nova-compute",
                "host": h.id,
                "zone": "nova",
                "status": "enabled",
                "state": if is_up(h, now) { "up" } else { "down" },
                "updated_at": ts_micro(&h.heartbeat_at),
                "disabled_reason": null,
            });
            if mv.at_least(2, 11) {
                v["forced_down"] = json!(false);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "services": items })))
}
