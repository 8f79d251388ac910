//! Supervision of the metadata listeners without a guest (root, `ip`, dnsmasq):
//! the dataplane's sync starts one in the network's DHCP namespace, makes it again
//! when the namespace is recreated, and stops it with the network's DHCP. A
//! request from an address no instance holds gets 404.

mod common;

use common::*;
use nimbus_agent::dataplane::{links, names, Dataplane};
use nimbus_compute::server::Server;
use nimbus_network::types::{Network, Port, Subnet, OWNER_COMPUTE, OWNER_DHCP};
use nimbus_store::{Change, Store};
use std::path::PathBuf;

const HOST: &str = "md-test-host";
const NET: &str = "9a8b7c6d-1c2d-4e3f-9a0b-c1d2e3f4a5b6";
const SRV: &str = "2c3d4e5f-6071-4839-aabb-ccddeeff0011";

async fn create<T: nimbus_store::Resource>(store: &Store, obj: &T) {
    let mut tx = store.begin().await.unwrap();
    tx.create(obj).await.unwrap();
    tx.commit().await.unwrap();
}

/// Removes the DHCP namespace, dnsmasq and dataplane namespace, failed or not.
struct Teardown(PathBuf);
impl Drop for Teardown {
    fn drop(&mut self) {
        let dir = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(nimbus_agent::teardown_all(&dir));
        })
        .join();
    }
}

/// `wget` of the metadata service from inside the DHCP namespace: its source
/// address is the namespace's own, which no instance holds.
fn wget_status(ns: &str) -> Option<i32> {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "-T",
            "5",
            "-t",
            "1",
        ])
        .arg("http://169.254.169.254/openstack/latest/meta_data.json")
        .output()
        .ok()
        .and_then(|o| o.status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_follow_the_dhcp_namespaces() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    for tool in ["ip", "dnsmasq", "wget"] {
        if nimbus_agent::cmd::find_program(tool).is_none() {
            eprintln!("skipped: {tool} not installed");
            return;
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix("nimbus-md-test")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().canonicalize().unwrap();
    let _teardown = Teardown(data_dir.clone());
    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    create::<Network>(&store, &network(NET, 1450)).await;
    create::<Subnet>(
        &store,
        &subnet("sub-md", NET, "10.77.0.0/24", Some("10.77.0.1")),
    )
    .await;
    for (id, mac, ip, dev, owner) in [
        (
            "p-md-dhcp",
            "fa:16:3e:00:01:02",
            "10.77.0.2",
            NET,
            OWNER_DHCP,
        ),
        (
            "p-md-1",
            "fa:16:3e:00:01:10",
            "10.77.0.10",
            SRV,
            OWNER_COMPUTE,
        ),
    ] {
        create::<Port>(&store, &port(id, NET, "sub-md", mac, ip, dev, owner)).await;
    }
    let mut s = server(SRV, "vm1", "img", vec!["p-md-1".into()]);
    s.host = Some(HOST.into());
    create::<Server>(&store, &s).await;

    let dp = Dataplane::new(&data_dir);
    dp.sync(&store, HOST).await.unwrap();
    let ns = names::dhcp_netns(&data_dir, NET);
    assert!(links::list_netns().contains(&ns));
    assert!(dp.metadata_networks().contains(NET));
    let first = nimbus_agent::metadata::netns::inode(&ns).unwrap();
    // Served, but not to the namespace's own address: 404 (wget exit code 8).
    assert_eq!(wget_status(&ns), Some(8));

    // The namespace is deleted behind the agent's back: the next sync makes it,
    // dnsmasq and the listener again, in the new namespace.
    links::delete_netns(&ns).await.unwrap();
    dp.sync(&store, HOST).await.unwrap();
    let second = nimbus_agent::metadata::netns::inode(&ns).unwrap();
    assert_ne!(first, second);
    assert!(dp.metadata_networks().contains(NET));
    assert_eq!(wget_status(&ns), Some(8));

    // No server on the network any more: DHCP and the listener go.
    store
        .modify::<Server, _, _>(SRV, |s| {
            s.host = None;
            Ok(Change::Write(()))
        })
        .await
        .unwrap();
    dp.sync(&store, HOST).await.unwrap();
    assert!(!links::list_netns().contains(&ns));
    assert!(dp.metadata_networks().is_empty());
}
