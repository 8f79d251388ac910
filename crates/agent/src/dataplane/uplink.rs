//! A host interface attached to an external network, for real deployments
//! (`nimbus serve --external-interface IFACE --external-network NAME`): the
//! external network is then a real segment instead of the simulated outside
//! world (`nimbus-ext-<tag>` no longer holds its gateway). The interface,
//! dedicated to this use and without addresses, is moved into the dataplane
//! namespace and enslaved to the network's bridge, where the routers' gateway
//! veths are. When the dataplane namespace is deleted, a physical interface
//! returns to the root namespace (a veth is destroyed with it).

use super::{links, names};
use crate::cmd::run;
use anyhow::Context;

/// Which host interface joins which external network (by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    pub interface: String,
    pub network: String,
}

/// Whether `interface` exists in the root namespace or already in `dataplane`.
pub async fn present(dataplane: &str, interface: &str) -> bool {
    let in_root = std::path::Path::new("/sys/class/net")
        .join(interface)
        .exists();
    in_root
        || links::links(dataplane)
            .await
            .is_ok_and(|l| l.iter().any(|l| l.name == interface))
}

/// Moves the interface into `dataplane` if it is still in the root namespace and
/// enslaves it, up, to the bridge of `network_id` (idempotent).
pub async fn ensure(
    dataplane: &str,
    uplink: &Uplink,
    network_id: &str,
    mtu: u32,
) -> anyhow::Result<()> {
    let bridge = names::bridge(network_id);
    links::ensure_bridge(dataplane, &bridge, mtu).await?;
    let iface = uplink.interface.as_str();
    let current = links::links(dataplane)
        .await?
        .into_iter()
        .find(|l| l.name == iface);
    if current.is_none() {
        run("ip", &["link", "set", "dev", iface, "netns", dataplane])
            .await
            .with_context(|| format!("moving host interface {iface} into {dataplane}"))?;
    }
    let attached = current.is_some_and(|l| l.master.as_deref() == Some(bridge.as_str()) && l.up);
    if !attached {
        run(
            "ip",
            &["-n", dataplane, "link", "set", iface, "master", &bridge],
        )
        .await?;
        run("ip", &["-n", dataplane, "link", "set", iface, "up"]).await?;
        tracing::info!(interface = %iface, network = %uplink.network, bridge = %bridge,
            "host interface attached to the external network");
    }
    Ok(())
}
