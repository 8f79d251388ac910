//! DHCP with a real dnsmasq (root, `ip`, dnsmasq, python3): an address that a
//! deleted port held and a new port (another MAC) got is leased to the new MAC at
//! once. dnsmasq alone refuses it until the old lease expires (12 h); the agent
//! drops leases that no hostsfile line stands behind. The client is
//! bench/network/dhcp_client.py, fed to python3 in a namespace of its own joined
//! to the network's bridge.

use nimbus_agent::dataplane::{dhcp, links, names};
use std::path::{Path, PathBuf};
use std::process::Command;

const NET: &str = "d4c8e1f0-93a7-4b6e-8f21-0c5d7e9a3b14";
const CLIENT: &str = include_str!("../../../bench/network/dhcp_client.py");

fn spec(data_dir: &Path, hosts: &str) -> dhcp::DhcpSpec {
    dhcp::DhcpSpec {
        network_id: NET.into(),
        netns: names::dhcp_netns(data_dir, NET),
        bridge: names::bridge(NET),
        outer: names::veth_outer(NET),
        inner: names::veth_inner(NET),
        mtu: 1500,
        mac: "fa:16:3e:00:00:fe".into(),
        addresses: vec!["10.93.0.2/24".into()],
        ranges: vec![("10.93.0.0".into(), "255.255.255.0".into())],
        router: None,
        dns: vec![],
        hosts: hosts.into(),
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status().unwrap().success();
    assert!(ok, "ip {args:?}");
}

/// The address a DHCP client with `mac` gets in `ns` on `dev` (None: no lease).
fn lease(ns: &str, dev: &str, mac: &str) -> Option<String> {
    ip(&["-n", ns, "link", "set", dev, "address", mac, "up"]);
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-", dev, mac, "5"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(CLIENT.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["address"].as_str().map(str::to_string)
}

/// Removes the client namespace, dnsmasq and the cloud's namespaces, failed or not.
struct Teardown(PathBuf, String);
impl Drop for Teardown {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.1]).status();
        let dir = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(nimbus_agent::teardown_all(&dir));
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_address_is_leased_to_its_new_port() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root");
        return;
    }
    for tool in ["ip", "dnsmasq", "python3"] {
        if nimbus_agent::cmd::find_program(tool).is_none() {
            eprintln!("skipped: {tool} not installed");
            return;
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix("nimbus-dhcp-test")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().canonicalize().unwrap();
    let tag = names::tag(&data_dir);
    let client_ns = format!("nimbus-dhcpc-{tag}");
    let _teardown = Teardown(data_dir.clone(), client_ns.clone());
    let dp = names::dataplane_netns(&data_dir);
    links::ensure_netns(&dp).await.unwrap();

    let old = spec(&data_dir, "fa:16:3e:00:00:01,10.93.0.5\n");
    dhcp::ensure(&data_dir, &dp, &old, None).await.unwrap();
    // A client namespace on the network's bridge: `nbc…` in the dataplane, `nbd…` inside.
    let (outer, inner) = (format!("nbc{tag}"), format!("nbd{tag}"));
    ip(&["netns", "add", &client_ns]);
    ip(&[
        "-n", &dp, "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns",
        &client_ns,
    ]);
    ip(&[
        "-n",
        &dp,
        "link",
        "set",
        &outer,
        "master",
        &names::bridge(NET),
        "up",
    ]);
    assert_eq!(
        lease(&client_ns, &inner, "fa:16:3e:00:00:01").as_deref(),
        Some("10.93.0.5")
    );

    // The port is deleted and its address goes to a new port with another MAC.
    let new = spec(&data_dir, "fa:16:3e:00:00:02,10.93.0.5\n");
    dhcp::ensure(&data_dir, &dp, &new, Some(&old))
        .await
        .unwrap();
    assert_eq!(
        lease(&client_ns, &inner, "fa:16:3e:00:00:02").as_deref(),
        Some("10.93.0.5"),
        "the new port's MAC gets the reused address"
    );
    // And the old MAC gets nothing any more.
    assert_eq!(lease(&client_ns, &inner, "fa:16:3e:00:00:01"), None);
}
