//! The volume types every cloud starts with: `standard` (the default, plain qcow2)
//! and `encrypted` (qcow2 with LUKS, decrypted by QEMU: front-end). Idempotent: a
//! type that exists by name is left as the admin may have changed it.

use crate::types::{Encryption, VolumeType};
use nimbus_api::audit::AuditRecord;
use nimbus_store::{Store, StoreError};
use std::collections::BTreeMap;

/// The default type's name.
pub const STANDARD: &str = "standard";
/// The encrypted type's name.
pub const ENCRYPTED: &str = "encrypted";

/// The LUKS settings of the `encrypted` type.
pub fn luks() -> Encryption {
    Encryption {
        encryption_id: uuid::Uuid::new_v4().to_string(),
        provider: "luks".into(),
        cipher: "aes-xts-plain64".into(),
        key_size: 256,
        control_location: "front-end".into(),
        created_at: chrono::Utc::now(),
    }
}

/// Creates the missing seeded types; returns how many were created.
pub async fn seed_types(store: &Store) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    let existing = tx.list::<VolumeType>(None).await?;
    let mut created = 0;
    for (name, description, encryption) in [
        (STANDARD, "Plain qcow2 volumes (the default)", None),
        (ENCRYPTED, "qcow2 volumes encrypted with LUKS", Some(luks())),
    ] {
        if existing.iter().any(|t| t.value.name == name) {
            continue;
        }
        let t = VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            description: Some(description.into()),
            is_public: true,
            extra_specs: BTreeMap::from([("volume_backend_name".into(), "nimbus-qcow2".into())]),
            encryption,
            is_default: name == STANDARD,
            created_at: chrono::Utc::now(),
        };
        tx.create(&t).await?;
        AuditRecord::new(None, "volume.type.create", "volume_type", &t.id, true)
            .with_detail("seeded at start")
            .write(&mut tx)
            .await?;
        created += 1;
    }
    tx.commit().await?;
    Ok(created)
}
