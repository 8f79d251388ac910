//! The flavors a first start creates: the mandatory flavors of the Sovereign Cloud
//! Stack standard scs-0103-v1 ("SCS Standard Flavors and Properties"), with the
//! extra specs it requires, plus two small flavors for tests.
//!
//! SCS names read `SCS-<vCPUs><type>-<RAM GiB>[-<disk GB><disk type>]`: `V` a shared
//! core, `L` a crowded (heavily oversubscribed) one; no disk part means disk 0 (boot
//! from volume); `s` an SSD root disk. Flavor ids are the names.
//!
//! Seeding runs once: a marker object records it, so flavors an admin deletes later
//! stay deleted.

use crate::types::{Flavor, SeedMarker};
use chrono::Utc;
use nimbus_api::audit::AuditRecord;
use nimbus_store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};

/// One standard flavor: name, vCPUs, RAM in GiB, root disk in GB and its type.
struct Scs(&'static str, u64, u64, u64, Option<&'static str>);

/// scs-0103-v1, "Mandatory".
const SCS_MANDATORY: &[Scs] = &[
    Scs("SCS-1V-4", 1, 4, 0, None),
    Scs("SCS-2V-8", 2, 8, 0, None),
    Scs("SCS-4V-16", 4, 16, 0, None),
    Scs("SCS-4V-16-100s", 4, 16, 100, Some("ssd")),
    Scs("SCS-8V-32", 8, 32, 0, None),
    Scs("SCS-1V-2", 1, 2, 0, None),
    Scs("SCS-2V-4", 2, 4, 0, None),
    Scs("SCS-2V-4-20s", 2, 4, 20, Some("ssd")),
    Scs("SCS-4V-8", 4, 8, 0, None),
    Scs("SCS-8V-16", 8, 16, 0, None),
    Scs("SCS-16V-32", 16, 32, 0, None),
    Scs("SCS-1V-8", 1, 8, 0, None),
    Scs("SCS-2V-16", 2, 16, 0, None),
    Scs("SCS-4V-32", 4, 32, 0, None),
    Scs("SCS-1L-1", 1, 1, 0, None),
];

/// Small flavors for tests and tiny guests: name, vCPUs, RAM MiB, disk GiB.
const TEST_FLAVORS: &[(&str, u64, u64, u64)] =
    &[("nimbus.tiny", 1, 256, 1), ("nimbus.small", 1, 512, 2)];

const MARKER: &str = "flavors";

fn flavor(id: &str, vcpus: u64, ram_mib: u64, disk: u64) -> Flavor {
    Flavor {
        id: id.into(),
        name: id.into(),
        ram: ram_mib,
        vcpus,
        disk,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        disabled: false,
        description: None,
        extra_specs: BTreeMap::new(),
        projects: BTreeSet::new(),
        created_at: Utc::now(),
    }
}

/// The scs-0103 extra specs: `scs:name-v1` (dashes after the first one turned into
/// colons), `scs:name-v2`, `scs:cpu-type`, and `scs:disk0-type` when there is a disk.
fn scs_flavor(s: &Scs) -> Flavor {
    let Scs(name, vcpus, ram_gib, disk, disk_type) = *s;
    let mut f = flavor(name, vcpus, ram_gib * 1024, disk);
    let (prefix, rest) = name.split_once('-').unwrap_or((name, ""));
    let specs = &mut f.extra_specs;
    specs.insert(
        "scs:name-v1".into(),
        format!("{prefix}-{}", rest.replace('-', ":")),
    );
    specs.insert("scs:name-v2".into(), name.into());
    let cpu = if name.contains('L') {
        "crowded-core"
    } else {
        "shared-core"
    };
    specs.insert("scs:cpu-type".into(), cpu.into());
    if let Some(t) = disk_type {
        specs.insert("scs:disk0-type".into(), t.into());
    }
    f
}

/// Every flavor the first start creates.
pub fn standard_flavors() -> Vec<Flavor> {
    SCS_MANDATORY
        .iter()
        .map(scs_flavor)
        .chain(
            TEST_FLAVORS
                .iter()
                .map(|(n, c, r, d)| flavor(n, *c, *r, *d)),
        )
        .collect()
}

/// Creates the standard flavors on the first start; later starts do nothing.
/// Returns how many flavors were created.
pub async fn seed_flavors(store: &Store) -> Result<usize, StoreError> {
    let mut tx = store.begin().await?;
    if tx.get::<SeedMarker>(MARKER).await?.is_some() {
        return Ok(0);
    }
    let existing = tx.list::<Flavor>(None).await?;
    let mut created = 0;
    for f in standard_flavors() {
        let clash = existing
            .iter()
            .any(|e| e.value.id == f.id || e.value.name == f.name);
        if clash {
            continue;
        }
        tx.create(&f).await?;
        AuditRecord::new(None, "compute.flavor.create", "flavor", &f.id, true)
            .with_detail("seeded at first start")
            .write(&mut tx)
            .await?;
        created += 1;
    }
    tx.create(&SeedMarker {
        id: MARKER.into(),
        at: Utc::now(),
    })
    .await?;
    tx.commit().await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scs_names_carry_their_sizes_and_properties() {
        let all = standard_flavors();
        let get = |n: &str| all.iter().find(|f| f.name == n).expect(n);
        let f = get("SCS-1V-4");
        assert_eq!((f.vcpus, f.ram, f.disk), (1, 4096, 0));
        assert_eq!(f.extra_specs["scs:name-v1"], "SCS-1V:4");
        assert_eq!(f.extra_specs["scs:cpu-type"], "shared-core");
        assert!(!f.extra_specs.contains_key("scs:disk0-type"));
        let f = get("SCS-4V-16-100s");
        assert_eq!((f.vcpus, f.ram, f.disk), (4, 16384, 100));
        assert_eq!(f.extra_specs["scs:name-v1"], "SCS-4V:16:100s");
        assert_eq!(f.extra_specs["scs:disk0-type"], "ssd");
        let f = get("SCS-1L-1");
        assert_eq!(f.extra_specs["scs:cpu-type"], "crowded-core");
        let f = get("nimbus.tiny");
        assert_eq!((f.vcpus, f.ram, f.disk), (1, 256, 1));
        assert_eq!(all.len(), 17);
    }
}
