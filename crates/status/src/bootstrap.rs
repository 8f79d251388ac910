//! The status page a new cloud starts with: the SCS reference deployment's
//! severities (operational 25, maintenance 50, limited 75, broken 100), phases
//! (Scheduled … Done) and impact types, and one component per Nimbus service.
//!
//! Idempotent per kind: a kind is seeded only while it has no objects at all, so
//! restarts add nothing and whatever an admin deleted or renamed stays so.

use crate::types::{Component, ImpactType, PhaseList, Severity};
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_store::{Resource, Store, StoreError, Tx};
use std::collections::BTreeMap;

/// Severities of the SCS reference deployment (name, upper end of its range).
pub const SEVERITIES: &[(&str, u8)] = &[
    ("operational", 25),
    ("maintenance", 50),
    ("limited", 75),
    ("broken", 100),
];

/// Phases of the SCS reference deployment (generation 1).
pub const PHASES: &[&str] = &[
    "Scheduled",
    "Investigation ongoing",
    "Working on it",
    "Potential fix deployed",
    "Done",
];

/// Impact types of the SCS reference deployment.
pub const IMPACT_TYPES: &[(&str, &str)] = &[
    (
        "Performance Degradation",
        "The component works, but slower or with reduced capacity.",
    ),
    (
        "Connectivity Problems",
        "The component cannot be reached, or only intermittently.",
    ),
    ("Unknown", "The kind of impact is not known yet."),
];

/// One component per Nimbus service: display name and the `service` label (the
/// catalog's service type where there is one).
pub const COMPONENTS: &[(&str, &str)] = &[
    ("Identity", "identity"),
    ("Compute", "compute"),
    ("Image", "image"),
    ("Network", "network"),
    ("Block Storage", "block-storage"),
    ("Console", "console"),
];

/// Seeds every kind that is still empty; returns how many objects were created.
pub async fn seed(store: &Store) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    let mut created = 0;
    if empty::<Severity>(&mut tx).await? {
        for (name, value) in SEVERITIES {
            let s = Severity {
                display_name: name.to_string(),
                value: *value,
            };
            created += write(&mut tx, &s, "status.severity.create").await?;
        }
    }
    if empty::<PhaseList>(&mut tx).await? {
        let phases = PhaseList::new(1, PHASES.iter().map(|p| p.to_string()).collect());
        created += write(&mut tx, &phases, "status.phases.create").await?;
    }
    if empty::<ImpactType>(&mut tx).await? {
        for (name, description) in IMPACT_TYPES {
            let t = ImpactType {
                id: uuid::Uuid::new_v4().to_string(),
                display_name: name.to_string(),
                description: description.to_string(),
            };
            created += write(&mut tx, &t, "status.impact_type.create").await?;
        }
    }
    if empty::<Component>(&mut tx).await? {
        for (name, service) in COMPONENTS {
            let c = Component {
                id: uuid::Uuid::new_v4().to_string(),
                display_name: name.to_string(),
                labels: BTreeMap::from([("service".to_string(), service.to_string())]),
                created_at: Utc::now(),
            };
            created += write(&mut tx, &c, "status.component.create").await?;
        }
    }
    tx.commit().await?;
    Ok(created)
}

async fn empty<T: Resource>(tx: &mut Tx<'_>) -> Result<bool, StoreError> {
    Ok(tx.list::<T>(None).await?.is_empty())
}

async fn write<T: Resource>(tx: &mut Tx<'_>, obj: &T, action: &str) -> Result<usize, StoreError> {
    tx.create(obj).await?;
    AuditRecord::new(None, action, T::KIND, obj.id(), true)
        .with_detail("seeded at start")
        .write(tx)
        .await?;
    Ok(1)
}
