//! Names of everything the dataplane creates. Namespaces carry a tag derived from
//! the data directory, so two clouds on one machine never collide and a restart
//! finds the same names; interface names stay within Linux's 15 characters.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Prefix of every dataplane namespace.
pub const DATAPLANE_PREFIX: &str = "nimbus-dp-";
/// Prefix of every DHCP namespace.
pub const DHCP_PREFIX: &str = "nimbus-dhcp-";
/// Prefix of every router namespace.
pub const ROUTER_PREFIX: &str = "nimbus-r-";
/// Prefix of the per-cloud "outside world" namespace.
pub const EXTERNAL_PREFIX: &str = "nimbus-ext-";

/// First 8 hex digits of the SHA-256 of the canonical data directory path.
pub fn tag(data_dir: &Path) -> String {
    let canonical: PathBuf = std::fs::canonicalize(data_dir).unwrap_or_else(|_| {
        if data_dir.is_absolute() {
            data_dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(data_dir))
                .unwrap_or_else(|_| data_dir.to_path_buf())
        }
    });
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    hex(&digest)[..8].to_string()
}

/// The cloud's dataplane namespace: `nimbus-dp-<tag>`. QEMU runs in it; it holds
/// the bridges and taps and routes nothing.
pub fn dataplane_netns(data_dir: &Path) -> String {
    format!("{DATAPLANE_PREFIX}{}", tag(data_dir))
}

/// The DHCP namespace of a network: `nimbus-dhcp-<tag>-<8 hex of the network id>`.
/// It holds the DHCP port's address, so it is where one can reach the guests
/// (`nimbus ssh` runs ssh in it).
pub fn dhcp_netns(data_dir: &Path, network_id: &str) -> String {
    format!("{DHCP_PREFIX}{}-{}", tag(data_dir), short(network_id, 8))
}

/// The bridge of a network: `nbr-<11 hex>`.
pub fn bridge(network_id: &str) -> String {
    format!("nbr-{}", short(network_id, 11))
}

/// The tap of a port: `ntap<11 hex>`.
pub fn tap(port_id: &str) -> String {
    format!("ntap{}", short(port_id, 11))
}

/// The dataplane end of a network's DHCP veth (on the bridge): `nvd<11 hex>`.
pub fn veth_outer(network_id: &str) -> String {
    format!("nvd{}", short(network_id, 11))
}

/// The DHCP namespace end of a network's DHCP veth: `nvi<11 hex>`.
pub fn veth_inner(network_id: &str) -> String {
    format!("nvi{}", short(network_id, 11))
}

/// A router's namespace: `nimbus-r-<tag>-<8 hex of the router id>`.
pub fn router_netns(data_dir: &Path, router_id: &str) -> String {
    format!("{ROUTER_PREFIX}{}-{}", tag(data_dir), short(router_id, 8))
}

/// The cloud's "outside world": `nimbus-ext-<tag>`, holding each external
/// subnet's gateway address. The host reaches floating IPs from there only.
pub fn external_netns(data_dir: &Path) -> String {
    format!("{EXTERNAL_PREFIX}{}", tag(data_dir))
}

/// The dataplane end of a router port's veth (on the bridge): `nvr<11 hex>`.
pub fn router_veth_outer(port_id: &str) -> String {
    format!("nvr{}", short(port_id, 11))
}

/// The router namespace end of a router port's veth: `nri<11 hex>`.
pub fn router_veth_inner(port_id: &str) -> String {
    format!("nri{}", short(port_id, 11))
}

/// The dataplane end of the outside world's veth into an external network: `nvx<11 hex>`.
pub fn external_veth_outer(network_id: &str) -> String {
    format!("nvx{}", short(network_id, 11))
}

/// The outside-world end of that veth: `nxi<11 hex>`.
pub fn external_veth_inner(network_id: &str) -> String {
    format!("nxi{}", short(network_id, 11))
}

/// The first `n` characters of an id without dashes.
pub fn short(id: &str, n: usize) -> String {
    id.chars().filter(|c| *c != '-').take(n).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
