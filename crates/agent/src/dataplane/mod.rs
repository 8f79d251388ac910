//! The dataplane of one cloud on this host: one network namespace
//! (`nimbus-dp-<tag>`) holding a bridge per network and a tap per server port,
//! where QEMU runs; and per network with DHCP, a namespace with dnsmasq
//! ([`dhcp`]). Names are in [`names`]. All changes go through one lock, so the
//! sweeper that removes what has no object never races a worker plugging a port.
//! Security groups are one nftables ruleset in the dataplane namespace
//! ([`secgroups`], kept current by [`sgwatch`]).

pub mod dhcp;
pub mod links;
pub mod names;
pub mod nft;
pub mod secgroups;
pub mod sgwatch;

pub use names::{dataplane_netns, dhcp_netns};

use nimbus_compute::server::Server;
use nimbus_network::types::{Network, Port, Subnet};
use nimbus_store::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// One port to plug: its tap goes into its network's bridge.
#[derive(Clone, Debug)]
pub struct Plug {
    pub port_id: String,
    pub network_id: String,
    pub mtu: u32,
}

/// The dataplane of this agent.
pub struct Dataplane {
    data_dir: PathBuf,
    netns: String,
    /// Held for every change; holds the DHCP specs applied last.
    state: Mutex<HashMap<String, dhcp::DhcpSpec>>,
}

impl Dataplane {
    pub fn new(data_dir: &Path) -> Dataplane {
        Dataplane {
            data_dir: data_dir.to_path_buf(),
            netns: dataplane_netns(data_dir),
            state: Mutex::new(HashMap::new()),
        }
    }

    /// The dataplane namespace name.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Creates the namespace, the bridges and the taps of `plugs` (idempotent).
    pub async fn plug(&self, plugs: &[Plug]) -> anyhow::Result<()> {
        let _guard = self.state.lock().await;
        links::ensure_netns(&self.netns).await?;
        for p in plugs {
            let bridge = names::bridge(&p.network_id);
            links::ensure_bridge(&self.netns, &bridge, p.mtu).await?;
            links::ensure_tap(&self.netns, &names::tap(&p.port_id), &bridge, p.mtu).await?;
        }
        Ok(())
    }

    /// Removes the taps of `port_ids`.
    pub async fn unplug(&self, port_ids: &[String]) -> anyhow::Result<()> {
        let _guard = self.state.lock().await;
        for id in port_ids {
            links::delete_link(&self.netns, &names::tap(id)).await?;
        }
        Ok(())
    }

    /// Makes DHCP match the store and removes taps, bridges, DHCP namespaces and
    /// dnsmasq processes that no object of this host stands behind. Without any
    /// server on this host, the dataplane namespace goes too.
    pub async fn sync(&self, store: &Store, host: &str) -> anyhow::Result<()> {
        let mut applied = self.state.lock().await;
        let servers = store.list::<Server>(None).await?;
        let ports = store.list::<Port>(None).await?;
        let networks = store.list::<Network>(None).await?;
        let subnets = store.list::<Subnet>(None).await?;
        let ports: Vec<Port> = ports.into_iter().map(|p| p.value).collect();
        let subnets: Vec<Subnet> = subnets.into_iter().map(|s| s.value).collect();
        let local: BTreeSet<&str> = servers
            .iter()
            .filter(|s| s.value.host.as_deref() == Some(host))
            .map(|s| s.value.id.as_str())
            .collect();
        let hostnames: BTreeMap<String, String> = servers
            .iter()
            .map(|s| (s.value.id.clone(), s.value.hostname.clone()))
            .collect();
        let local_ports: Vec<&Port> = ports
            .iter()
            .filter(|p| local.contains(p.device_id.as_str()))
            .collect();
        let wanted_taps: BTreeSet<String> = local_ports.iter().map(|p| names::tap(&p.id)).collect();
        let wanted_networks: BTreeSet<&str> =
            local_ports.iter().map(|p| p.network_id.as_str()).collect();
        let wanted_bridges: BTreeSet<String> =
            wanted_networks.iter().map(|n| names::bridge(n)).collect();
        let mut specs = Vec::new();
        for n in networks
            .iter()
            .filter(|n| wanted_networks.contains(n.value.id.as_str()))
        {
            if let Some(s) = dhcp::spec(&self.data_dir, &n.value, &subnets, &ports, &hostnames) {
                specs.push(s);
            }
        }
        let wanted_dhcp: BTreeSet<String> = specs.iter().map(|s| s.network_id.clone()).collect();

        // Remove what nothing stands behind.
        for network_id in self.dhcp_dirs() {
            if !wanted_dhcp.contains(&network_id) {
                tracing::info!(network = %network_id, "removing DHCP of a network without local ports");
                if let Err(e) = dhcp::remove(&self.data_dir, &self.netns, &network_id).await {
                    tracing::warn!(network = %network_id, "removing DHCP: {e:#}");
                }
                applied.remove(&network_id);
            }
        }
        let wanted_dhcp_ns: BTreeSet<String> = specs.iter().map(|s| s.netns.clone()).collect();
        let prefix = format!("{}{}-", names::DHCP_PREFIX, names::tag(&self.data_dir));
        for ns in links::list_netns() {
            if ns.starts_with(&prefix) && !wanted_dhcp_ns.contains(&ns) {
                if let Err(e) = links::delete_netns(&ns).await {
                    tracing::warn!(netns = %ns, "removing a stale DHCP namespace: {e:#}");
                }
            }
        }
        if local.is_empty() {
            applied.clear();
            if links::list_netns().contains(&self.netns) {
                tracing::info!(netns = %self.netns, "no servers on this host: removing the dataplane namespace");
                links::delete_netns(&self.netns).await?;
            }
            return Ok(());
        }
        links::ensure_netns(&self.netns).await?;
        let wanted_veths: BTreeSet<String> = specs.iter().map(|s| s.outer.clone()).collect();
        for l in links::links(&self.netns).await? {
            let stale = (l.name.starts_with("ntap") && !wanted_taps.contains(&l.name))
                || (l.name.starts_with("nvd") && !wanted_veths.contains(&l.name))
                || (l.name.starts_with("nbr-") && !wanted_bridges.contains(&l.name));
            if stale {
                tracing::info!(link = %l.name, "removing a link without an object");
                if let Err(e) = links::delete_link(&self.netns, &l.name).await {
                    tracing::warn!(link = %l.name, "{e:#}");
                }
            }
        }

        // Make DHCP match.
        for spec in specs {
            let previous = applied.get(&spec.network_id);
            let healthy = previous == Some(&spec)
                && dhcp::running(&self.data_dir, &spec.network_id).is_some()
                && links::list_netns().contains(&spec.netns);
            if healthy {
                continue;
            }
            if previous.is_some() && dhcp::running(&self.data_dir, &spec.network_id).is_none() {
                tracing::warn!(network = %spec.network_id, "dnsmasq is not running: restarting it");
            }
            match dhcp::ensure(&self.data_dir, &self.netns, &spec, previous).await {
                Ok(()) => {
                    applied.insert(spec.network_id.clone(), spec);
                }
                Err(e) => {
                    tracing::warn!(network = %spec.network_id, "DHCP: {e:#}");
                    applied.remove(&spec.network_id);
                }
            }
        }
        Ok(())
    }

    /// Network ids with a directory under `DATA_DIR/dhcp/`.
    fn dhcp_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.data_dir.join("dhcp"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Stops every dnsmasq of this data dir and deletes its namespaces (for tests and
/// `nimbus teardown`).
pub async fn teardown(data_dir: &Path) {
    let dp = dataplane_netns(data_dir);
    if let Ok(dir) = std::fs::read_dir(data_dir.join("dhcp")) {
        for e in dir.filter_map(|e| e.ok()) {
            if let Ok(network_id) = e.file_name().into_string() {
                if let Err(e) = dhcp::remove(data_dir, &dp, &network_id).await {
                    tracing::warn!(network = %network_id, "teardown DHCP: {e:#}");
                }
            }
        }
    }
    let prefix = format!("{}{}-", names::DHCP_PREFIX, names::tag(data_dir));
    for ns in links::list_netns() {
        if ns == dp || ns.starts_with(&prefix) {
            if let Err(e) = links::delete_netns(&ns).await {
                tracing::warn!(netns = %ns, "teardown: {e:#}");
            }
        }
    }
}
