//! What the image service stores: [`Image`] (a Glance v2 image record; its data is a
//! file under `DATA_DIR/images/`, see [`crate::data`]) and [`ImageMember`] (a project
//! an image is shared with).

use chrono::{DateTime, Utc};
use nimbus_store::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Disk formats Glance accepts by default.
pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];

/// Container formats Glance accepts by default.
pub const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];

/// The hash Glance's "multihash" uses (`os_hash_algo`).
pub const HASH_ALGO: &str = "sha512";

/// Where an image is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, no data yet.
    Queued,
    /// Data is being uploaded.
    Saving,
    /// Data stored and checked: usable.
    Active,
    /// Data present, but only admins may download or boot it.
    Deactivated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Active => "active",
            Status::Deactivated => "deactivated",
        }
    }
}

/// Every status name Glance knows (some never occur here, but filter on them is valid).
pub const STATUS_NAMES: &[&str] = &[
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "pending_delete",
    "deactivated",
    "uploading",
    "importing",
];

/// Who may see an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, listed by default; only cloud admins publicize.
    Public,
    /// The owner project only.
    Private,
    /// The owner project and its members (the default).
    Shared,
    /// Everyone, but listed only when asked for (or by the owner).
    Community,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        Some(match s {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            "shared" => Visibility::Shared,
            "community" => Visibility::Community,
            _ => return None,
        })
    }
}

/// An image record. Free-form properties (`hw_*`, `kernel_id`, `ramdisk_id`,
/// `os_distro`, `os_admin_user`, ...) are strings, as Glance's schema demands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Image {
    /// A UUID (hyphenated); also the name of the data file.
    pub id: String,
    pub name: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    /// The owning project (`None`: created by a system-scoped admin).
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// Bytes of data, once uploaded.
    pub size: Option<u64>,
    /// Bytes the disk has inside the guest (raw: the size; qcow2: from its header).
    pub virtual_size: Option<u64>,
    /// MD5 of the data, hex (Glance's legacy `checksum`).
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    /// SHA-512 of the data, hex.
    pub os_hash_value: Option<String>,
    /// Minimum disk (GiB) and RAM (MiB) to boot.
    pub min_disk: u64,
    pub min_ram: u64,
    pub protected: bool,
    pub os_hidden: bool,
    /// In insertion order, without duplicates.
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for Image {
    const KIND: &'static str = "image";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed by owner project (quota sums).
    fn parent(&self) -> &str {
        self.owner.as_deref().unwrap_or("")
    }
}

impl Image {
    /// A new queued image of `owner`, without data.
    pub fn new(id: String, owner: Option<String>) -> Image {
        let now = Utc::now();
        Image {
            id,
            name: None,
            status: Status::Queued,
            visibility: Visibility::Shared,
            owner,
            disk_format: None,
            container_format: None,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            protected: false,
            os_hidden: false,
            tags: Vec::new(),
            properties: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// A free-form property (`os_admin_user`, `kernel_id`, `hw_disk_bus`, ...).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Whether the image has data that can be read (active or deactivated).
    pub fn has_data(&self) -> bool {
        matches!(self.status, Status::Active | Status::Deactivated)
    }

    /// Forgets the data fields (after a failed upload).
    pub fn clear_data(&mut self) {
        self.size = None;
        self.virtual_size = None;
        self.checksum = None;
        self.os_hash_algo = None;
        self.os_hash_value = None;
    }
}

/// How a member project answered an image shared with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<MemberStatus> {
        Some(match s {
            "pending" => MemberStatus::Pending,
            "accepted" => MemberStatus::Accepted,
            "rejected" => MemberStatus::Rejected,
            _ => return None,
        })
    }
}

/// A project an image is shared with (only meaningful while the image is `shared`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageMember {
    /// `{image_id}/{member_id}`.
    pub id: String,
    pub image_id: String,
    /// The member project.
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource for ImageMember {
    const KIND: &'static str = "image_member";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed by image.
    fn parent(&self) -> &str {
        &self.image_id
    }
}

impl ImageMember {
    pub fn key(image_id: &str, member_id: &str) -> String {
        format!("{image_id}/{member_id}")
    }

    pub fn new(image_id: &str, member_id: &str) -> ImageMember {
        let now = Utc::now();
        ImageMember {
            id: Self::key(image_id, member_id),
            image_id: image_id.to_string(),
            member_id: member_id.to_string(),
            status: MemberStatus::Pending,
            created_at: now,
            updated_at: now,
        }
    }
}
