//! Volume quotas: Cinder's keys and defaults, a project's limits (defaults
//! overridden by its [`QuotaSet`]), what it uses (counted from the store inside the
//! transaction that creates, so two creates cannot both take the last unit), and
//! the check that answers 413 with Cinder's message.

use crate::types::{Backup, QuotaSet, Snapshot, Volume};
use axum::http::StatusCode;
use nimbus_api::ApiError;
use nimbus_store::Tx;
use std::collections::BTreeMap;

/// Cinder's quota keys (without the per-type ones) and their default limits.
pub const DEFAULTS: &[(&str, i64)] = &[
    ("volumes", 10),
    ("gigabytes", 1000),
    ("snapshots", 10),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("per_volume_gigabytes", -1),
    ("groups", 10),
];

/// The per-type keys shown for every type (`volumes_<type>` ...): unlimited unless set.
pub const PER_TYPE: &[&str] = &["volumes", "gigabytes", "snapshots"];

/// A project's limits: defaults, overridden by what an admin set.
pub fn limit(set: Option<&QuotaSet>, key: &str) -> i64 {
    if let Some(v) = set.and_then(|s| s.limits.get(key)) {
        return *v;
    }
    DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or(-1)
}

/// What a project uses, by quota key (per-type keys included).
#[derive(Clone, Debug, Default)]
pub struct Usage(pub BTreeMap<String, i64>);

impl Usage {
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }
    fn add(&mut self, key: String, n: i64) {
        *self.0.entry(key).or_default() += n;
    }
}

/// Counts a project's volumes, snapshots, backups and gigabytes (snapshots count
/// towards `gigabytes`, as in Cinder; backups towards `backup_gigabytes`);
/// `type_names` maps type ids to names.
pub async fn usage(
    tx: &mut Tx<'_>,
    project: &str,
    type_names: &BTreeMap<String, String>,
) -> nimbus_store::Result<Usage> {
    let mut u = Usage::default();
    let volumes = tx.list::<Volume>(Some(project)).await?;
    let mut type_of = BTreeMap::new();
    for v in &volumes {
        let v = &v.value;
        let size = i64::try_from(v.size).unwrap_or(i64::MAX);
        u.add("volumes".into(), 1);
        u.add("gigabytes".into(), size);
        if let Some(t) = type_names.get(&v.volume_type_id) {
            u.add(format!("volumes_{t}"), 1);
            u.add(format!("gigabytes_{t}"), size);
            type_of.insert(v.id.clone(), t.clone());
        }
    }
    for s in tx.list::<Snapshot>(Some(project)).await? {
        let s = &s.value;
        // A backup's temporary snapshot is counted as the backup it is for.
        if s.for_backup.is_some() {
            continue;
        }
        let size = i64::try_from(s.size).unwrap_or(i64::MAX);
        u.add("snapshots".into(), 1);
        u.add("gigabytes".into(), size);
        if let Some(t) = type_of.get(&s.volume_id) {
            u.add(format!("snapshots_{t}"), 1);
            u.add(format!("gigabytes_{t}"), size);
        }
    }
    for b in tx.list::<Backup>(Some(project)).await? {
        u.add("backups".into(), 1);
        u.add(
            "backup_gigabytes".into(),
            i64::try_from(b.value.size).unwrap_or(i64::MAX),
        );
    }
    Ok(u)
}

/// Refuses (413, Cinder's wording) when adding `wanted` to `usage` would pass a limit.
pub fn check(
    set: Option<&QuotaSet>,
    usage: &Usage,
    wanted: &[(String, i64)],
) -> Result<(), ApiError> {
    for (key, n) in wanted {
        let lim = limit(set, key);
        if lim < 0 {
            continue;
        }
        let used = usage.get(key);
        if used + n > lim {
            let message = match key.split('_').next().unwrap_or(key) {
                "gigabytes" => format!(
                    "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds \
                     allowed {key} quota. Requested {n}G, quota is {lim}G and {used}G has \
                     been consumed."
                ),
                "snapshots" => format!(
                    "SnapshotLimitExceeded: Maximum number of snapshots allowed ({lim}) exceeded"
                ),
                "backups" => format!(
                    "BackupLimitExceeded: Maximum number of backups allowed ({lim}) exceeded"
                ),
                "backup" => format!(
                    "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed \
                     Backup gigabytes quota. Requested {n}G, quota is {lim}G and {used}G has \
                     been consumed."
                ),
                _ => format!(
                    "VolumeLimitExceeded: Maximum number of volumes allowed ({lim}) exceeded \
                     for quota '{key}'."
                ),
            };
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message));
        }
    }
    Ok(())
}

/// The per-volume size limit (`per_volume_gigabytes`), 400 beyond it.
pub fn check_per_volume(set: Option<&QuotaSet>, size: u64) -> Result<(), ApiError> {
    let lim = limit(set, "per_volume_gigabytes");
    if lim >= 0 && size > lim as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum \
                 allowed limit {lim}G."
            ),
        ));
    }
    Ok(())
}
