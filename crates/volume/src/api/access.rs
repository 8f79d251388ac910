//! Loading what a caller acts on, with Cinder's messages: 404 "Volume X could not
//! be found." for what does not exist or lives in another project, 403 "Policy
//! doesn't allow ... to be performed." for what the caller sees but may not do.

use super::common::owned;
use crate::types::{Snapshot, Volume, VolumeType};
use nimbus_api::auth::Principal;
use nimbus_api::policy::{allowed, visible, Target};
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::{Store, Versioned};
use std::collections::BTreeMap;

/// Cinder's 403.
pub fn denied(action: &str) -> ApiError {
    ApiError::forbidden(format!("Policy doesn't allow {action} to be performed."))
}

/// Authorizes `action` on `target`; `missing` is the 404 for invisible targets.
pub fn authorize(
    caller: &Principal,
    action: &str,
    target: &Target,
    missing: impl FnOnce() -> ApiError,
) -> ApiResult<()> {
    if allowed(caller, action, target) {
        Ok(())
    } else if !visible(caller, target) {
        Err(missing())
    } else {
        Err(denied(action))
    }
}

pub fn volume_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Volume {id} could not be found."))
}

pub fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Snapshot {id} could not be found."))
}

pub fn type_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Volume type with name or id {id} could not be found."
    ))
}

/// A volume the caller may perform `action` on.
pub async fn volume(
    store: &Store,
    caller: &Principal,
    action: &str,
    id: &str,
) -> ApiResult<Versioned<Volume>> {
    let v = store
        .get::<Volume>(id)
        .await?
        .ok_or_else(|| volume_not_found(id))?;
    authorize(
        caller,
        action,
        &owned("volume", id, &v.value.project_id),
        || volume_not_found(id),
    )?;
    Ok(v)
}

/// Re-reads a volume inside the writing transaction (writers are serialised, so
/// the controller cannot change it between this read and the write).
pub async fn reload_volume(
    tx: &mut nimbus_store::Tx<'_>,
    id: &str,
) -> ApiResult<Versioned<Volume>> {
    tx.get::<Volume>(id)
        .await?
        .ok_or_else(|| volume_not_found(id))
}

/// Re-reads a snapshot inside the writing transaction.
pub async fn reload_snapshot(
    tx: &mut nimbus_store::Tx<'_>,
    id: &str,
) -> ApiResult<Versioned<Snapshot>> {
    tx.get::<Snapshot>(id)
        .await?
        .ok_or_else(|| snapshot_not_found(id))
}

/// A snapshot the caller may perform `action` on.
pub async fn snapshot(
    store: &Store,
    caller: &Principal,
    action: &str,
    id: &str,
) -> ApiResult<Versioned<Snapshot>> {
    let s = store
        .get::<Snapshot>(id)
        .await?
        // A backup's temporary snapshot is not the user's to see or touch.
        .filter(|s| s.value.for_backup.is_none())
        .ok_or_else(|| snapshot_not_found(id))?;
    authorize(
        caller,
        action,
        &owned("snapshot", id, &s.value.project_id),
        || snapshot_not_found(id),
    )?;
    Ok(s)
}

/// Every volume type, by id.
pub async fn all_types(store: &Store) -> ApiResult<BTreeMap<String, VolumeType>> {
    Ok(store
        .list::<VolumeType>(None)
        .await?
        .into_iter()
        .map(|t| (t.value.id.clone(), t.value))
        .collect())
}

/// A type by id or name (`default` names the caller's default type) that the
/// caller may see: public ones, or any for cloud admins.
pub fn find_type<'a>(
    types: &'a BTreeMap<String, VolumeType>,
    caller: &Principal,
    key: &str,
    project_default: Option<&str>,
) -> ApiResult<&'a VolumeType> {
    let found = types
        .get(key)
        .or_else(|| types.values().find(|t| t.name == key))
        .or_else(|| {
            (key == "default")
                .then(|| default_type(types, project_default))
                .flatten()
        });
    match found {
        Some(t) if t.is_public || caller.is_cloud_admin() || caller.is_system_reader() => Ok(t),
        _ => Err(type_not_found(key)),
    }
}

/// The type volumes get when none is asked for: the project's own default type
/// (3.62 `default-types`) if it still exists, else the cloud's.
pub fn default_type<'a>(
    types: &'a BTreeMap<String, VolumeType>,
    project_default: Option<&str>,
) -> Option<&'a VolumeType> {
    project_default
        .and_then(|id| types.get(id))
        .or_else(|| types.values().find(|t| t.is_default))
}

/// The default type id set for the caller's project, if any.
pub async fn project_default(store: &Store, caller: &Principal) -> ApiResult<Option<String>> {
    let Some(project) = caller.project_id() else {
        return Ok(None);
    };
    Ok(store
        .get::<crate::types::DefaultType>(project)
        .await?
        .map(|d| d.value.volume_type_id))
}

/// The type a request names (an id, a name, or `default`: the caller's project
/// default, else the cloud's), as the caller may see it.
pub async fn requested_type(store: &Store, caller: &Principal, key: &str) -> ApiResult<VolumeType> {
    let types = all_types(store).await?;
    let own_default = project_default(store, caller).await?;
    find_type(&types, caller, key, own_default.as_deref()).cloned()
}
