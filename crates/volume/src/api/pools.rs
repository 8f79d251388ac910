//! `GET /scheduler-stats/get_pools` (admins): capacity per storage class. Every
//! volume type is a pool of the one qcow2 backend, sharing the filesystem that
//! holds `DATA_DIR/volumes`: total and free are that filesystem's, allocated is
//! the provisioned size of the type's volumes (thin: qcow2 grows as written) and
//! `actual_used_gb` what their layer files take on disk.

use super::access::{self, all_types};
use super::views::pool_name;
use crate::types::Volume;
use crate::Volumes;
use axum::extract::State;
use axum::Json;
use nimbus_api::auth::Auth;
use nimbus_api::policy::Target;
use nimbus_api::query::Query;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const GIB: f64 = (1u64 << 30) as f64;

/// Total and free bytes of the filesystem holding `dir`.
fn filesystem(dir: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// `GET /scheduler-stats/get_pools[?detail=true][&volume_type=...][&name=...]`
pub async fn get_pools(
    State(svc): State<Arc<Volumes>>,
    Auth(caller): Auth,
    q: Query,
) -> ApiResult<Json<Value>> {
    access::authorize(&caller, "volume:get_pools", &Target::default(), || {
        ApiError::not_found("The resource could not be found.")
    })?;
    q.only(&["detail", "volume_type", "name"])?;
    let detail = q.bool("detail")?.unwrap_or(false);
    let (total, free) = filesystem(&svc.layout.dir)
        .map_err(|e| ApiError::internal(format!("cannot read the volume filesystem: {e}")))?;
    let mut allocated: BTreeMap<String, u64> = BTreeMap::new();
    let mut on_disk: BTreeMap<String, u64> = BTreeMap::new();
    for v in svc.store.list::<Volume>(None).await? {
        let v = v.value;
        *allocated.entry(v.volume_type_id.clone()).or_default() += v.size;
        let mut bytes = 0;
        for layer in v.top.iter() {
            bytes += std::fs::metadata(svc.layout.layer(layer))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        *on_disk.entry(v.volume_type_id).or_default() += bytes;
    }
    let mut pools = Vec::new();
    for t in all_types(&svc.store).await?.values() {
        let name = pool_name(&t.name);
        if q.get("name").is_some_and(|n| n != name)
            || q.get("volume_type")
                .is_some_and(|w| w != t.name && w != t.id)
        {
            continue;
        }
        let mut pool = json!({"name": name});
        if detail {
            pool["capabilities"] = json!({
                "pool_name": t.name,
                "volume_backend_name": "nimbus-qcow2",
                "vendor_name": "Nimbus",
                "driver_version": env!("CARGO_PKG_VERSION"),
                "storage_protocol": "file",
                "total_capacity_gb": round(total as f64 / GIB),
                "free_capacity_gb": round(free as f64 / GIB),
                "allocated_capacity_gb": allocated.get(&t.id).copied().unwrap_or(0),
                "provisioned_capacity_gb": allocated.get(&t.id).copied().unwrap_or(0),
                "actual_used_gb": round(on_disk.get(&t.id).copied().unwrap_or(0) as f64 / GIB),
                "thin_provisioning_support": true,
                "thick_provisioning_support": false,
                "max_over_subscription_ratio": "20.0",
                "reserved_percentage": 0,
                "multiattach": false,
                "encrypted": t.encryption.is_some(),
                "timestamp": super::views::timestamp(&chrono::Utc::now()),
            });
        }
        pools.push(pool);
    }
    Ok(Json(json!({"pools": pools})))
}

fn round(gb: f64) -> f64 {
    (gb * 100.0).round() / 100.0
}
