//! The attachment state machine, shared by Nova's volume API (compute), Cinder's
//! attachments API and the node agent. Every transition runs inside the caller's
//! transaction and changes the [`VolumeAttachment`] and its volume's status
//! together, so the two never disagree:
//!
//! ```text
//!  volume:      available ─attach─▶ attaching ─plugged─▶ in-use ─detach─▶ detaching ─unplugged─▶ available
//!  attachment:   (none)            attaching            attached          detaching             (deleted)
//! ```
//!
//! A Cinder reservation (`reserved`) and a volume still `creating` for a server
//! that boots from it are the other ways in; a server's delete releases (or, when
//! asked, deletes) its volumes ([`release_server`]).

use crate::types::{AttachmentStatus, Snapshot, Volume, VolumeAttachment, VolumeStatus};
use chrono::Utc;
use nimbus_api::{ApiError, ApiResult};
use nimbus_store::Tx;

/// Volumes a server can have plugged besides its boot volume: every guest gets
/// this many hot-plug ports (the agent's `volumes::spec::HOTPLUG_PORTS`).
pub const MAX_PLUGGED_VOLUMES: usize = 8;

/// What a new attachment is for.
#[derive(Clone, Debug, Default)]
pub struct NewAttachment {
    pub project_id: String,
    pub server_id: Option<String>,
    /// Made through Nova (the agent plugs it).
    pub compute: bool,
    pub status: Option<AttachmentStatus>,
    pub device: Option<String>,
    pub boot_index: Option<i32>,
    pub delete_on_termination: bool,
    pub tag: Option<String>,
    /// `rw` (default) or `ro`.
    pub mode: Option<String>,
    pub connector: Option<serde_json::Value>,
}

/// The volume status that goes with an attachment status.
fn volume_status_for(status: AttachmentStatus) -> VolumeStatus {
    match status {
        AttachmentStatus::Reserved => VolumeStatus::Reserved,
        AttachmentStatus::Attaching => VolumeStatus::Attaching,
        AttachmentStatus::Attached => VolumeStatus::InUse,
        AttachmentStatus::Detaching => VolumeStatus::Detaching,
    }
}

/// The status a volume returns to when an attachment step finishes, unless an
/// operation of its own (`extending`, `deleting`, ...) is under way.
fn settle(volume: &mut Volume, status: VolumeStatus) {
    if matches!(
        volume.status,
        VolumeStatus::Available
            | VolumeStatus::Reserved
            | VolumeStatus::Attaching
            | VolumeStatus::InUse
            | VolumeStatus::Detaching
    ) {
        volume.status = status;
    }
    volume.updated_at = Utc::now();
}

/// Attaches `volume_id` (which must be `available`, or `creating` when it is made
/// in the same transaction for a server booting from it). 400 when the volume
/// is in another state or attached already, 404 when it does not exist.
pub async fn attach(
    tx: &mut Tx<'_>,
    volume_id: &str,
    new: NewAttachment,
) -> ApiResult<VolumeAttachment> {
    let found = tx
        .get::<Volume>(volume_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Volume {volume_id} could not be found.")))?;
    let mut volume = found.value;
    if tx.get::<VolumeAttachment>(volume_id).await?.is_some() {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {volume_id} is already attached (multiattach is not \
             supported)."
        )));
    }
    let being_made = volume.status == VolumeStatus::Creating;
    if volume.status != VolumeStatus::Available && !being_made {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {volume_id} status must be available, but current status \
             is: {}.",
            volume.status.as_str()
        )));
    }
    if let (true, Some(server), false) = (new.compute, &new.server_id, new.boot_index == Some(0)) {
        let plugged = tx
            .list::<VolumeAttachment>(Some(server))
            .await?
            .iter()
            .filter(|a| a.value.compute && a.value.boot_index != Some(0))
            .count();
        if plugged >= MAX_PLUGGED_VOLUMES {
            // Nova's TooManyDiskDevices.
            return Err(ApiError::forbidden(format!(
                "The maximum allowed number of disk devices ({}) to attach to a single \
                 instance has been exceeded.",
                MAX_PLUGGED_VOLUMES + 1
            )));
        }
    }
    let status = new.status.unwrap_or(AttachmentStatus::Attaching);
    let now = Utc::now();
    let attachment = VolumeAttachment {
        id: volume_id.to_string(),
        attachment_id: uuid::Uuid::new_v4().to_string(),
        project_id: new.project_id,
        server_id: new.server_id,
        status,
        compute: new.compute,
        device: new.device,
        boot_index: new.boot_index,
        delete_on_termination: new.delete_on_termination,
        tag: new.tag,
        mode: new.mode.unwrap_or_else(|| "rw".to_string()),
        connector: new.connector,
        slot: None,
        attached_at: (status == AttachmentStatus::Attached).then_some(now),
        created_at: now,
        updated_at: now,
    };
    tx.create(&attachment).await?;
    // A volume being made stays `creating`; the controller moves it on to
    // `attaching` once its data exists (it sees the attachment).
    if !being_made {
        volume.status = volume_status_for(status);
        volume.updated_at = now;
        tx.update(&volume, Some(found.revision)).await?;
    }
    Ok(attachment)
}

/// Asks for a detach. A compute attachment turns `detaching` (the agent unplugs
/// it and then calls [`finish_detach`]); any other one is removed at once.
pub async fn begin_detach(tx: &mut Tx<'_>, volume_id: &str) -> ApiResult<VolumeAttachment> {
    let Some(found) = tx.get::<VolumeAttachment>(volume_id).await? else {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {volume_id} is not attached."
        )));
    };
    let mut attachment = found.value;
    if !attachment.compute {
        finish_detach(tx, volume_id).await?;
        return Ok(attachment);
    }
    if attachment.status == AttachmentStatus::Detaching {
        return Ok(attachment);
    }
    attachment.status = AttachmentStatus::Detaching;
    attachment.updated_at = Utc::now();
    tx.update(&attachment, Some(found.revision)).await?;
    if let Some(v) = tx.get::<Volume>(volume_id).await? {
        let mut volume = v.value;
        settle(&mut volume, VolumeStatus::Detaching);
        tx.update(&volume, Some(v.revision)).await?;
    }
    Ok(attachment)
}

/// The disk is in the guest (or will be at its next start): `attached`, volume
/// `in-use`. `slot` is the guest port it was plugged into.
pub async fn finish_attach(
    tx: &mut Tx<'_>,
    volume_id: &str,
    slot: Option<u32>,
) -> nimbus_store::Result<()> {
    let Some(found) = tx.get::<VolumeAttachment>(volume_id).await? else {
        return Ok(());
    };
    let mut attachment = found.value;
    if attachment.status != AttachmentStatus::Attaching
        && !(attachment.status == AttachmentStatus::Attached && attachment.slot != slot)
    {
        return Ok(());
    }
    let now = Utc::now();
    attachment.status = AttachmentStatus::Attached;
    attachment.slot = slot;
    attachment.attached_at.get_or_insert(now);
    attachment.updated_at = now;
    tx.update(&attachment, Some(found.revision)).await?;
    if let Some(v) = tx.get::<Volume>(volume_id).await? {
        let mut volume = v.value;
        settle(&mut volume, VolumeStatus::InUse);
        tx.update(&volume, Some(v.revision)).await?;
    }
    Ok(())
}

/// The disk is out of the guest: the attachment goes, the volume is `available`.
pub async fn finish_detach(tx: &mut Tx<'_>, volume_id: &str) -> nimbus_store::Result<()> {
    if tx.get::<VolumeAttachment>(volume_id).await?.is_none() {
        return Ok(());
    }
    tx.delete::<VolumeAttachment>(volume_id, None).await?;
    if let Some(v) = tx.get::<Volume>(volume_id).await? {
        let mut volume = v.value;
        settle(&mut volume, VolumeStatus::Available);
        tx.update(&volume, Some(v.revision)).await?;
    }
    Ok(())
}

/// A deleted server's volumes: each attachment goes; its volume is `available`
/// again, or `deleting` when it was attached with `delete_on_termination`.
/// Returns the ids of the volumes it deletes.
pub async fn release_server(tx: &mut Tx<'_>, server_id: &str) -> nimbus_store::Result<Vec<String>> {
    let mut deleted = Vec::new();
    for a in tx.list::<VolumeAttachment>(Some(server_id)).await? {
        let a = a.value;
        finish_detach(tx, &a.id).await?;
        // Cinder refuses to delete a volume with snapshots; Nova then leaves it.
        let has_snapshots = tx
            .list::<Snapshot>(None)
            .await?
            .iter()
            .any(|s| s.value.volume_id == a.id);
        if a.delete_on_termination && !has_snapshots {
            if let Some(v) = tx.get::<Volume>(&a.id).await? {
                let mut volume = v.value;
                volume.status = VolumeStatus::Deleting;
                volume.updated_at = Utc::now();
                tx.update(&volume, Some(v.revision)).await?;
                deleted.push(a.id.clone());
            }
        }
    }
    Ok(deleted)
}

/// Sorts a server's attachments into boot order: the boot volume first, then
/// by when they were made.
pub fn boot_order(list: &mut [VolumeAttachment]) {
    list.sort_by_key(|a| (a.boot_index.map_or(i64::MAX, i64::from), a.created_at));
}

/// The attachments of a server, in boot order, inside a transaction.
pub async fn of_server(
    tx: &mut Tx<'_>,
    server_id: &str,
) -> nimbus_store::Result<Vec<VolumeAttachment>> {
    let mut list: Vec<VolumeAttachment> = tx
        .list::<VolumeAttachment>(Some(server_id))
        .await?
        .into_iter()
        .map(|a| a.value)
        .collect();
    boot_order(&mut list);
    Ok(list)
}

/// The volumes Nova attached to a server (Cinder's bookkeeping-only
/// attachments are no block device mappings), in boot order: what Nova shows
/// and what the server's agent plugs. A plain read, no transaction.
pub async fn of_compute(
    store: &nimbus_store::Store,
    server_id: &str,
) -> nimbus_store::Result<Vec<VolumeAttachment>> {
    let mut list: Vec<VolumeAttachment> = store
        .list::<VolumeAttachment>(Some(server_id))
        .await?
        .into_iter()
        .map(|a| a.value)
        .filter(|a| a.compute)
        .collect();
    boot_order(&mut list);
    Ok(list)
}

/// Whether a bookkeeping attachment may go from `from` to `to`: a reservation
/// gets a connector (`attaching`) or completes; an attachment re-connects,
/// completes again (no change), starts detaching, or rolls a detach back.
fn bookkeeping_step_allowed(from: AttachmentStatus, to: AttachmentStatus) -> bool {
    use AttachmentStatus::*;
    matches!(
        (from, to),
        (Reserved | Attaching | Attached, Attaching)
            | (Reserved | Attaching | Attached | Detaching, Attached)
            | (Attached | Detaching, Detaching)
    )
}

/// The 409 for changing through the Block Storage API what the Compute service
/// owns (as Cinder refuses a user's delete of an attachment Nova uses).
pub fn owned_by_compute(a: &VolumeAttachment) -> ApiError {
    ApiError::conflict(format!(
        "Volume {} is attached to server {} through the Compute service; change the \
         attachment with the Compute API.",
        a.id,
        a.server_id.as_deref().unwrap_or("-")
    ))
}

/// Moves a bookkeeping attachment (Cinder's attachments API and legacy
/// attach actions, `compute: false`) to `to`, after `edit` filled in what the
/// caller learnt (server, connector, mountpoint); its volume follows
/// (`reserved`/`attaching`/`in-use`/`detaching`) unless an operation of its own
/// is under way. 400 when the volume has no attachment or the step is not one
/// Cinder makes; 409 for a compute attachment (the agent owns those).
pub async fn advance(
    tx: &mut Tx<'_>,
    volume_id: &str,
    to: AttachmentStatus,
    edit: impl FnOnce(&mut VolumeAttachment),
) -> ApiResult<VolumeAttachment> {
    let Some(found) = tx.get::<VolumeAttachment>(volume_id).await? else {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {volume_id} is not attached."
        )));
    };
    let mut attachment = found.value;
    if attachment.compute {
        return Err(owned_by_compute(&attachment));
    }
    if !bookkeeping_step_allowed(attachment.status, to) {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: attachment {} of volume {volume_id} is {}; it cannot become {}.",
            attachment.attachment_id,
            attachment.status.as_str(),
            to.as_str()
        )));
    }
    edit(&mut attachment);
    let now = Utc::now();
    attachment.status = to;
    if to == AttachmentStatus::Attached {
        attachment.attached_at.get_or_insert(now);
    }
    attachment.updated_at = now;
    tx.update(&attachment, Some(found.revision)).await?;
    if let Some(v) = tx.get::<Volume>(volume_id).await? {
        let mut volume = v.value;
        settle(&mut volume, volume_status_for(to));
        tx.update(&volume, Some(v.revision)).await?;
    }
    Ok(attachment)
}
