//! The metadata service at 169.254.169.254 (Nova's metadata API, OpenStack and
//! EC2 paths), served by the agent process itself in every DHCP namespace.
//!
//! The DHCP namespace of a network holds the DHCP port's address on the tenant
//! subnet; dnsmasq routes guests to 169.254.169.254 through it (option 121, see
//! [`crate::dataplane::dhcp::classless_routes`]). The address sits on the
//! namespace's veth, and a listening socket is bound there from a short-lived
//! thread that joins the namespace ([`netns::bind_tcp`]): a socket stays in the
//! namespace it was created in, so one agent serves every network without an
//! extra process.
//!
//! A request is answered for the instance that owns the connection's source
//! address on that network (the listener knows its network; the port with that
//! fixed IP names the server): [`instance::lookup`]. Nothing the guest sends
//! (headers, paths) chooses the instance; an unknown source gets 404.
//! The bodies are in [`routes`] and [`ec2`].
//!
//! [`MetadataService`] keeps one listener per network; the dataplane's sync
//! (re)creates it when it is missing, its task ended or the namespace was
//! recreated, and drops it with the network's DHCP.

pub mod ec2;
pub mod instance;
pub mod netns;
pub mod routes;

use crate::cmd::run;
use nimbus_store::Store;
use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use tokio::task::JoinHandle;

/// The metadata service's address, as guests know it.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Its port.
pub const PORT: u16 = 80;

/// One network's listener: its task ends (aborted) when this is dropped.
struct Listener {
    netns: String,
    /// The namespace's inode when the socket was bound: a namespace deleted and
    /// made again under the same name needs a new socket.
    inode: u64,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The metadata listeners of this agent, one per network with DHCP here.
#[derive(Default)]
pub struct MetadataService {
    listeners: Mutex<HashMap<String, Listener>>,
}

impl MetadataService {
    pub fn new() -> MetadataService {
        MetadataService::default()
    }

    /// Makes sure network `network_id` is served in `netns`, with the address on
    /// `dev` (the DHCP veth inside). Cheap when it already is.
    pub async fn ensure(
        &self,
        store: &Store,
        network_id: &str,
        netns: &str,
        dev: &str,
    ) -> anyhow::Result<()> {
        let current = netns::inode(netns)?;
        if self.serving(network_id, netns, current) {
            return Ok(());
        }
        let addr = format!("{ADDRESS}/32");
        run("ip", &["-n", netns, "addr", "replace", &addr, "dev", dev]).await?;
        let (std_listener, inode) =
            netns::bind_tcp(netns, SocketAddr::from((ADDRESS, PORT))).await?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let app = routes::router(store.clone(), network_id.to_string());
        let network = network_id.to_string();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
            if let Err(e) = served {
                tracing::warn!(network = %network, "metadata service stopped: {e}");
            }
        });
        tracing::info!(network = %network_id, netns = %netns, "metadata service listening on {ADDRESS}:{PORT}");
        let old = self.listeners.lock().unwrap().insert(
            network_id.to_string(),
            Listener {
                netns: netns.to_string(),
                inode,
                task,
            },
        );
        drop(old);
        Ok(())
    }

    /// Whether a live listener serves `network_id` in the namespace `netns` with
    /// inode `inode`.
    fn serving(&self, network_id: &str, netns: &str, inode: u64) -> bool {
        self.listeners
            .lock()
            .unwrap()
            .get(network_id)
            .is_some_and(|l| l.netns == netns && l.inode == inode && !l.task.is_finished())
    }

    /// Stops serving every network not in `wanted`.
    pub fn retain(&self, wanted: &BTreeSet<String>) {
        let removed: Vec<Listener> = {
            let mut map = self.listeners.lock().unwrap();
            let gone: Vec<String> = map
                .keys()
                .filter(|k| !wanted.contains(*k))
                .cloned()
                .collect();
            gone.iter().filter_map(|k| map.remove(k)).collect()
        };
        for l in removed {
            tracing::info!(netns = %l.netns, "metadata service stopped");
        }
    }

    /// The networks served now.
    pub fn networks(&self) -> BTreeSet<String> {
        self.listeners.lock().unwrap().keys().cloned().collect()
    }
}
