//! What the volume service stores: [`Volume`], [`VolumeType`] (a storage class, with
//! its optional [`Encryption`]), [`Snapshot`] and per-project [`QuotaSet`]s.
//!
//! Who writes which field: API handlers write what the user asked for and the
//! intents (`status` `creating`/`deleting`/`extending`, `target_size`); the storage
//! controller ([`crate::controller`]) writes what it made (`top`, `chain`, the
//! final status, `error`). Layer files are named in [`crate::storage`].

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Cinder's volume statuses (the ones this service reaches so far, and those the
/// attach work will use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeStatus {
    Creating,
    Available,
    Reserved,
    Attaching,
    InUse,
    Detaching,
    Extending,
    /// Being copied into a Glance image (`os-volume_upload_image`).
    Uploading,
    Deleting,
    Error,
    ErrorDeleting,
    ErrorExtending,
    /// A backup is being written into it (`POST /backups/{id}/restore`).
    RestoringBackup,
}

impl VolumeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeStatus::Creating => "creating",
            VolumeStatus::Available => "available",
            VolumeStatus::Reserved => "reserved",
            VolumeStatus::Attaching => "attaching",
            VolumeStatus::InUse => "in-use",
            VolumeStatus::Detaching => "detaching",
            VolumeStatus::Extending => "extending",
            VolumeStatus::Uploading => "uploading",
            VolumeStatus::Deleting => "deleting",
            VolumeStatus::Error => "error",
            VolumeStatus::ErrorDeleting => "error_deleting",
            VolumeStatus::ErrorExtending => "error_extending",
            VolumeStatus::RestoringBackup => "restoring-backup",
        }
    }
}

/// Snapshot statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    Creating,
    Available,
    Deleting,
    Error,
    ErrorDeleting,
}

impl SnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::Error => "error",
            SnapshotStatus::ErrorDeleting => "error_deleting",
        }
    }
}

/// Where a new volume's data comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Source {
    /// Zeros.
    #[default]
    Blank,
    /// A Glance image (copy-on-write over its data file).
    Image(String),
    /// A snapshot (copy-on-write over its frozen layer).
    Snapshot(String),
    /// Another volume (its current state is frozen into a layer both continue on).
    Volume(String),
}

/// A block storage volume. Its data is a qcow2 chain under `DATA_DIR/volumes/`:
/// `top` (written by the guest) on top of `chain` (read-only layers, nearest first),
/// possibly ending on an image's data file (`base_image`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB.
    pub size: u64,
    pub status: VolumeStatus,
    /// The volume type's id.
    pub volume_type_id: String,
    pub bootable: bool,
    pub metadata: BTreeMap<String, String>,
    pub source: Source,
    pub availability_zone: String,
    /// Why the volume is in `error` (not shown to users, logged and audited).
    #[serde(default)]
    pub error: Option<String>,
    /// Size asked for by `os-extend`, while `extending`.
    #[serde(default)]
    pub target_size: Option<u64>,
    /// Properties of the source image (`volume_image_metadata`).
    #[serde(default)]
    pub image_metadata: BTreeMap<String, String>,
    /// The writable layer's file name (set by the controller once it exists).
    #[serde(default)]
    pub top: Option<String>,
    /// Read-only layers below `top`, nearest first (file names in the volumes dir).
    #[serde(default)]
    pub chain: Vec<String>,
    /// The image whose data file is the bottom of the chain, if any.
    #[serde(default)]
    pub base_image: Option<String>,
    /// Bumped for every new top layer (names stay unique per volume).
    #[serde(default)]
    pub generation: u64,
    /// The image being filled from this volume, while `uploading`.
    #[serde(default)]
    pub upload: Option<Upload>,
    /// The key id of an encrypted volume (its secret lives in `volumes/keys/`).
    #[serde(default)]
    pub encryption_key_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An `os-volume_upload_image` in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The queued Glance image the data goes into.
    pub image_id: String,
    /// `qcow2` or `raw`.
    pub disk_format: String,
}

impl Resource for Volume {
    const KIND: &'static str = "volume";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed by project (quota sums, project lists).
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// The encryption of a volume type (`/types/{id}/encryption`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    pub encryption_id: String,
    /// `luks` (the only one qcow2 does).
    pub provider: String,
    pub cipher: String,
    /// Bits.
    pub key_size: u32,
    /// `front-end`: the hypervisor decrypts (here: QEMU's qcow2 LUKS).
    pub control_location: String,
    pub created_at: DateTime<Utc>,
}

/// A volume type: a storage class users pick with `--type`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
    pub encryption: Option<Encryption>,
    /// The type volumes get when none is asked for.
    #[serde(default)]
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

impl Resource for VolumeType {
    const KIND: &'static str = "volume_type";
    fn id(&self) -> &str {
        &self.id
    }
    fn unique_keys(&self) -> Vec<String> {
        vec![format!("name/{}", self.name)]
    }
}

/// A point-in-time copy of a volume: the volume's layer frozen when it was taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB (the volume's size when taken).
    pub size: u64,
    pub status: SnapshotStatus,
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub error: Option<String>,
    /// The frozen layer (a file name in the volumes dir), once taken.
    #[serde(default)]
    pub layer: Option<String>,
    /// Layers below it, nearest first.
    #[serde(default)]
    pub chain: Vec<String>,
    #[serde(default)]
    pub base_image: Option<String>,
    /// The backup this snapshot was taken for (Cinder's temporary backup
    /// snapshot): hidden from the snapshot API, deleted once the backup is copied.
    #[serde(default)]
    pub for_backup: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for Snapshot {
    const KIND: &'static str = "volume_snapshot";
    fn id(&self) -> &str {
        &self.id
    }
    fn parent(&self) -> &str {
        &self.project_id
    }
}

/// A project's own default volume type (Cinder 3.62 `default-types`; id: the project).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DefaultType {
    pub id: String,
    pub volume_type_id: String,
}

impl Resource for DefaultType {
    const KIND: &'static str = "volume_default_type";
    fn id(&self) -> &str {
        &self.id
    }
}

/// A project's volume quotas that differ from the defaults (id: the project).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QuotaSet {
    pub id: String,
    pub limits: BTreeMap<String, i64>,
}

impl Resource for QuotaSet {
    const KIND: &'static str = "volume_quota_set";
    fn id(&self) -> &str {
        &self.id
    }
}

/// How far an attachment has got (Cinder's `attach_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentStatus {
    /// Held for a server (Cinder's attachments API without a connector).
    Reserved,
    /// To be plugged into the server's guest.
    Attaching,
    /// Plugged (or on the guest's command line at its next start).
    Attached,
    /// To be unplugged; the record goes once the guest no longer has the disk.
    Detaching,
}

impl AttachmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentStatus::Reserved => "reserved",
            AttachmentStatus::Attaching => "attaching",
            AttachmentStatus::Attached => "attached",
            AttachmentStatus::Detaching => "detaching",
        }
    }
}

/// A volume's attachment to a server. Volumes are never multi-attached, so the
/// record is keyed by the volume's id (a second attach is a conflict in the
/// store itself); `attachment_id` is the id Cinder's attachments API shows.
/// Listed by server (`parent`): the agent reads a server's disks this way.
///
/// Who writes what ([`crate::attach`] holds the transitions):
/// - Nova's `os-volume_attachments` and `block_device_mapping_v2` create it
///   `attaching` with `compute: true` (the volume turns `attaching`), and ask for
///   `detaching` (volume `detaching`);
/// - the agent of the server's host plugs or unplugs the disk through QMP (or
///   just notes it while the guest is off) and then moves it to `attached`
///   (volume `in-use`) or deletes it (volume `available`);
/// - Cinder's attachments API makes bookkeeping-only records (`compute: false`,
///   the agent never plugs them), as upstream Cinder never touches a hypervisor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The volume's id.
    pub id: String,
    /// Cinder's attachment id.
    pub attachment_id: String,
    pub project_id: String,
    /// The server (Cinder's `instance_uuid`); None for a bare Cinder reservation.
    #[serde(default)]
    pub server_id: Option<String>,
    pub status: AttachmentStatus,
    /// Made through Nova: the agent of the server's host plugs and unplugs it.
    #[serde(default)]
    pub compute: bool,
    /// `/dev/vdX` as Nova reports it (a hint: the guest names its disks itself).
    #[serde(default)]
    pub device: Option<String>,
    /// 0: the server boots from this volume.
    #[serde(default)]
    pub boot_index: Option<i32>,
    #[serde(default)]
    pub delete_on_termination: bool,
    #[serde(default)]
    pub tag: Option<String>,
    /// `rw` or `ro`.
    pub mode: String,
    /// What the attacher said about its host (Cinder's `connector`).
    #[serde(default)]
    pub connector: Option<serde_json::Value>,
    /// The guest's hot-plug port the disk sits on (written by the agent).
    #[serde(default)]
    pub slot: Option<u32>,
    #[serde(default)]
    pub attached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for VolumeAttachment {
    const KIND: &'static str = "volume_attachment";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed by server.
    fn parent(&self) -> &str {
        self.server_id.as_deref().unwrap_or("")
    }
}

/// Backup statuses (Cinder's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    Creating,
    Available,
    Deleting,
    Restoring,
    Error,
    ErrorDeleting,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Creating => "creating",
            BackupStatus::Available => "available",
            BackupStatus::Deleting => "deleting",
            BackupStatus::Restoring => "restoring",
            BackupStatus::Error => "error",
            BackupStatus::ErrorDeleting => "error_deleting",
        }
    }
}

/// A backup of a volume: a qcow2 file under `DATA_DIR/backups/` (see
/// [`crate::backup_store`]). A full backup holds the whole volume; an
/// incremental one only what changed since its parent and has the parent's
/// file as its backing file.
///
/// The API writes what the user asked for and the intents (`creating`,
/// `deleting`, `restore`); the backup controller ([`crate::backup`]) writes
/// `frozen`, `temp_snapshot`, `file`, `fail_reason` and the final status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Backup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_id: String,
    /// The snapshot backed up (None: the volume as it is at the start).
    pub snapshot_id: Option<String>,
    pub status: BackupStatus,
    /// GiB: the volume's size when backed up.
    pub size: u64,
    pub object_count: u64,
    pub container: Option<String>,
    pub availability_zone: String,
    pub is_incremental: bool,
    pub parent_id: Option<String>,
    /// When the data was frozen (the snapshot's time for snapshot backups).
    pub data_timestamp: DateTime<Utc>,
    pub fail_reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The volume's key id: the backup stays encrypted with a copy of its secret.
    pub encryption_key_id: Option<String>,
    /// The source volume's type (a restore into a new volume gets it back).
    pub volume_type_id: String,
    /// The frozen volume layer the data was read from: the next incremental
    /// backup copies the layers above it.
    #[serde(default)]
    pub frozen: Option<String>,
    /// The temporary snapshot that freezes the volume for this backup.
    #[serde(default)]
    pub temp_snapshot: Option<String>,
    /// The backup's file in the backup store, once written.
    #[serde(default)]
    pub file: Option<String>,
    /// The backup whose file is this file's backing file (an incremental copy;
    /// None for a full copy, also when an incremental had to copy everything).
    #[serde(default)]
    pub backing: Option<String>,
    /// A restore under way (status `restoring`).
    #[serde(default)]
    pub restore: Option<Restore>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a backup is being restored to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    /// The target volume (status `restoring-backup` meanwhile).
    pub volume_id: String,
}

impl Resource for Backup {
    const KIND: &'static str = "volume_backup";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed by project (quota sums, project lists).
    fn parent(&self) -> &str {
        &self.project_id
    }
}
