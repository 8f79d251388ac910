//! The dataplane of one cloud on this host: one network namespace
//! (`nimbus-dp-<tag>`) holding a bridge per network and a tap per server port,
//! where QEMU runs; and per network with DHCP, a namespace with dnsmasq
//! ([`dhcp`]). Names are in [`names`]. All changes go through one lock, so the
//! sweeper that removes what has no object never races a worker plugging a port.
//! Security groups are one nftables ruleset in the dataplane namespace
//! ([`secgroups`], kept current by [`sgwatch`]).

pub mod dhcp;
pub mod l3;
pub mod leases;
pub mod links;
pub mod names;
pub mod nft;
pub mod nftdiff;
pub mod router;
pub mod secgroups;
pub mod sgwatch;
pub mod uplink;

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
    /// The router plan applied last with everything in place (a pass with the
    /// same plan and its namespaces present does nothing).
    l3_applied: Mutex<Option<router::L3Plan>>,
    /// The metadata service's listener in each DHCP namespace.
    metadata: crate::metadata::MetadataService,
    /// A host interface attached to an external network, if configured.
    uplink: Option<uplink::Uplink>,
    /// The last uplink problem logged (logged again only when it changes).
    uplink_error: Mutex<Option<String>>,
}

impl Dataplane {
    pub fn new(data_dir: &Path) -> Dataplane {
        Dataplane {
            data_dir: data_dir.to_path_buf(),
            netns: dataplane_netns(data_dir),
            state: Mutex::new(HashMap::new()),
            l3_applied: Mutex::new(None),
            metadata: crate::metadata::MetadataService::new(),
            uplink: None,
            uplink_error: Mutex::new(None),
        }
    }

    /// Attaches `uplink`'s host interface to its external network ([`uplink`]).
    pub fn with_uplink(mut self, uplink: Option<uplink::Uplink>) -> Dataplane {
        self.uplink = uplink;
        self
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
        // The external network a host interface joins, if configured and present.
        let uplinked = self.uplink.as_ref().and_then(|u| {
            networks
                .iter()
                .map(|n| &n.value)
                .find(|n| n.external && n.name == u.network)
        });
        let l3_plan = self
            .l3_plan(
                store,
                &networks,
                &subnets,
                &ports,
                uplinked.map(|n| n.id.as_str()),
            )
            .await?;
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
        let mut wanted_bridges: BTreeSet<String> =
            wanted_networks.iter().map(|n| names::bridge(n)).collect();
        // Routers need the bridges of the networks they are on.
        wanted_bridges.extend(l3_plan.networks().iter().map(|(n, _)| names::bridge(n)));
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
        self.metadata.retain(&wanted_dhcp);
        let wanted_dhcp_ns: BTreeSet<String> = specs.iter().map(|s| s.netns.clone()).collect();
        let prefix = format!("{}{}-", names::DHCP_PREFIX, names::tag(&self.data_dir));
        for ns in links::list_netns() {
            if ns.starts_with(&prefix) && !wanted_dhcp_ns.contains(&ns) {
                if let Err(e) = links::delete_netns(&ns).await {
                    tracing::warn!(netns = %ns, "removing a stale DHCP namespace: {e:#}");
                }
            }
        }
        if local.is_empty() && l3_plan.routers.is_empty() {
            applied.clear();
            self.apply_l3(store, &l3_plan).await;
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

        self.apply_l3(store, &l3_plan).await;
        if let (Some(u), Some(n)) = (&self.uplink, uplinked) {
            let result = uplink::ensure(&self.netns, u, &n.id, n.mtu).await;
            let problem = result.err().map(|e| format!("{e:#}"));
            let mut last = self.uplink_error.lock().await;
            if problem.is_some() && *last != problem {
                tracing::warn!(interface = %u.interface, "external interface: {}",
                    problem.as_deref().unwrap_or_default());
            }
            *last = problem;
        }

        // Make DHCP match, then serve metadata where DHCP runs.
        let metadata: Vec<(String, String, String)> = specs
            .iter()
            .map(|s| (s.network_id.clone(), s.netns.clone(), s.inner.clone()))
            .collect();
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
        for (network_id, netns, dev) in metadata {
            if applied.contains_key(&network_id) {
                if let Err(e) = self.metadata.ensure(store, &network_id, &netns, &dev).await {
                    tracing::warn!(network = %network_id, "metadata service: {e:#}");
                }
            }
        }
        Ok(())
    }

    /// Applies the router plan unless it is what was applied last and its
    /// namespaces are all there; reports the statuses.
    async fn apply_l3(&self, store: &Store, plan: &router::L3Plan) {
        let mut last = self.l3_applied.lock().await;
        let present = links::list_netns();
        let intact = present.contains(&self.netns)
            && plan.routers.iter().all(|r| present.contains(&r.netns))
            && plan.external.iter().all(|x| present.contains(&x.netns));
        if last.as_ref() == Some(plan) && intact {
            return;
        }
        let done = l3::apply(&self.data_dir, &self.netns, plan).await;
        let complete = done.routers.len() == plan.routers.len();
        match l3::report(store, plan, &done).await {
            Ok(()) if complete => *last = Some(plan.clone()),
            Ok(()) => *last = None,
            Err(e) => {
                tracing::warn!("router status: {e:#}");
                *last = None;
            }
        }
    }

    /// What routers and floating IPs should look like ([`router::plan`]).
    async fn l3_plan(
        &self,
        store: &Store,
        networks: &[nimbus_store::Versioned<Network>],
        subnets: &[Subnet],
        ports: &[Port],
        uplinked: Option<&str>,
    ) -> anyhow::Result<router::L3Plan> {
        let routers: Vec<nimbus_network::l3_types::Router> = store
            .list(None)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let fips: Vec<nimbus_network::l3_types::FloatingIp> = store
            .list(None)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect();
        let networks: Vec<Network> = networks.iter().map(|n| n.value.clone()).collect();
        Ok(router::plan(
            &self.data_dir,
            &routers,
            &fips,
            &networks,
            subnets,
            ports,
            uplinked,
        ))
    }

    /// The networks whose metadata service runs now.
    pub fn metadata_networks(&self) -> BTreeSet<String> {
        self.metadata.networks()
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
    l3::teardown(data_dir).await;
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
