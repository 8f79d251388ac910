//! Routers for real (root, `ip` and `nft`; skips otherwise): a router built from
//! store objects joins a tenant network and the external network `public`; a
//! stand-in guest namespace on the tenant bridge reaches the outside world
//! through SNAT, and the outside world reaches the guest through its floating
//! IP (DNAT). Applying twice leaves one copy of the rules; an empty plan
//! removes the router and outside-world namespaces. Everything created is
//! removed, also when an assertion fails.

use chrono::Utc;
use nimbus_agent::cmd::run;
use nimbus_agent::dataplane::{l3, links, names, router};
use nimbus_network::l3_types::{
    ExternalGateway, FloatingIp, Router, OWNER_ROUTER_GATEWAY, OWNER_ROUTER_INTERFACE,
};
use nimbus_network::types::{AllocationPool, FixedIp, Network, Port, Subnet};
use std::path::Path;

const TENANT: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const PUBLIC: &str = "b2b2b2b2-0000-4000-8000-000000000002";
const ROUTER: &str = "c3c3c3c3-0000-4000-8000-000000000003";

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "nft", "python3"] {
        if nimbus_agent::cmd::find_program(tool).is_none() {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}

fn network(id: &str, external: bool) -> Network {
    let now = Utc::now();
    Network {
        id: id.into(),
        project_id: "p".into(),
        name: id.into(),
        description: String::new(),
        admin_state_up: true,
        shared: false,
        external,
        mtu: 1450,
        port_security_enabled: false,
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

fn subnet(id: &str, network_id: &str, cidr: &str, gw: &str) -> Subnet {
    let now = Utc::now();
    Subnet {
        id: id.into(),
        project_id: "p".into(),
        network_id: network_id.into(),
        name: id.into(),
        description: String::new(),
        ip_version: 4,
        cidr: cidr.into(),
        gateway_ip: Some(gw.into()),
        allocation_pools: vec![AllocationPool {
            start: gw.into(),
            end: gw.into(),
        }],
        enable_dhcp: false,
        dns_nameservers: vec![],
        host_routes: vec![],
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

fn port(id: &str, network_id: &str, subnet_id: &str, ip: &str, mac: &str, owner: &str) -> Port {
    let now = Utc::now();
    Port {
        id: id.into(),
        project_id: "p".into(),
        network_id: network_id.into(),
        name: String::new(),
        description: String::new(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet_id.into(),
            ip_address: ip.into(),
        }],
        device_id: if owner.is_empty() {
            "vm".into()
        } else {
            ROUTER.into()
        },
        device_owner: owner.into(),
        admin_state_up: true,
        security_groups: vec![],
        port_security_enabled: false,
        allowed_address_pairs: vec![],
        tags: Default::default(),
        host: String::new(),
        status: "DOWN".into(),
        created_at: now,
        updated_at: now,
    }
}

struct Objects {
    routers: Vec<Router>,
    fips: Vec<FloatingIp>,
    networks: Vec<Network>,
    subnets: Vec<Subnet>,
    ports: Vec<Port>,
}

fn objects() -> Objects {
    let now = Utc::now();
    let iface = "d4d4d4d4-0000-4000-8000-000000000004";
    let gw = "e5e5e5e5-0000-4000-8000-000000000005";
    let vm = "f6f6f6f6-0000-4000-8000-000000000006";
    Objects {
        routers: vec![Router {
            id: ROUTER.into(),
            project_id: "p".into(),
            name: "r".into(),
            description: String::new(),
            admin_state_up: true,
            external_gateway: Some(ExternalGateway {
                network_id: PUBLIC.into(),
                enable_snat: true,
                port_id: gw.into(),
            }),
            routes: vec![],
            tags: Default::default(),
            status: "ACTIVE".into(),
            created_at: now,
            updated_at: now,
        }],
        fips: vec![FloatingIp {
            id: "fip1".into(),
            project_id: "p".into(),
            floating_network_id: PUBLIC.into(),
            floating_ip_address: "203.0.113.11".into(),
            floating_port_id: "fport".into(),
            port_id: Some(vm.into()),
            fixed_ip_address: Some("10.61.0.5".into()),
            router_id: Some(ROUTER.into()),
            description: String::new(),
            tags: Default::default(),
            status: "DOWN".into(),
            created_at: now,
            updated_at: now,
        }],
        networks: vec![network(TENANT, false), network(PUBLIC, true)],
        subnets: vec![
            subnet("st", TENANT, "10.61.0.0/24", "10.61.0.1"),
            subnet("sp", PUBLIC, "203.0.113.0/24", "203.0.113.1"),
        ],
        ports: vec![
            port(
                iface,
                TENANT,
                "st",
                "10.61.0.1",
                "fa:16:3e:61:00:01",
                OWNER_ROUTER_INTERFACE,
            ),
            port(
                gw,
                PUBLIC,
                "sp",
                "203.0.113.10",
                "fa:16:3e:61:00:0a",
                OWNER_ROUTER_GATEWAY,
            ),
            port(vm, TENANT, "st", "10.61.0.5", "fa:16:3e:61:00:05", ""),
        ],
    }
}

/// Removes every namespace of the test, whatever happened.
struct Cleanup {
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// A TCP server in `ns` that answers each connection with the peer address it
/// saw; killed (by its own pid) when dropped.
struct Listener(std::process::Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listen(ns: &str, port: u16) -> Listener {
    let code = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{port}))\ns.listen()\nwhile True:\n c,a=s.accept()\n c.sendall(a[0].encode())\n c.close()\n"
    );
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &code])
        .spawn()
        .expect("python3 listener");
    Listener(child)
}

/// Connects from `ns` to `ip:port`: the source address the server saw, or
/// `None` when it cannot be reached.
async fn seen_from(ns: &str, ip: &str, port: u16) -> Option<String> {
    let code = format!(
        "import socket,sys,time\nfor i in range(20):\n try:\n  s=socket.create_connection(('{ip}',{port}),timeout=1)\n  print(s.recv(64).decode())\n  sys.exit(0)\n except ConnectionRefusedError:\n  time.sleep(0.2)\n except OSError:\n  sys.exit(1)\nsys.exit(1)\n"
    );
    run("ip", &["netns", "exec", ns, "python3", "-c", &code])
        .await
        .ok()
        .map(|s| s.trim().to_string())
}

#[tokio::test]
async fn router_snat_and_floating_ip() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::canonicalize(dir.path()).unwrap();
    let data: &Path = &data;
    let dp = names::dataplane_netns(data);
    let guest_ns = format!("nimbus-test-g{}", names::tag(data));
    let _cleanup = Cleanup {
        namespaces: vec![
            dp.clone(),
            guest_ns.clone(),
            names::router_netns(data, ROUTER),
            names::external_netns(data),
        ],
    };
    let o = objects();
    let plan = router::plan(
        data,
        &o.routers,
        &o.fips,
        &o.networks,
        &o.subnets,
        &o.ports,
        None,
    );
    assert_eq!(plan.routers.len(), 1);
    assert_eq!(
        plan.external.as_ref().unwrap().links[0].addresses,
        vec!["203.0.113.1/24".to_string()]
    );
    links::ensure_netns(&dp).await.unwrap();
    for _ in 0..2 {
        let done = l3::apply(data, &dp, &plan).await;
        assert_eq!(done.routers, vec![ROUTER.to_string()]);
        assert_eq!(done.fips, vec!["fip1".to_string()]);
    }
    let rns = names::router_netns(data, ROUTER);
    let table = run(
        "ip",
        &[
            "netns",
            "exec",
            &rns,
            "nft",
            "list",
            "table",
            "ip",
            "nimbus_nat",
        ],
    )
    .await
    .unwrap();
    assert_eq!(table.matches("dnat to 10.61.0.5").count(), 1, "{table}");
    assert_eq!(table.matches("snat to 203.0.113.10").count(), 1, "{table}");
    let fwd = run(
        "ip",
        &["netns", "exec", &rns, "sysctl", "-n", "net.ipv4.ip_forward"],
    )
    .await
    .unwrap();
    assert_eq!(fwd.trim(), "1");

    // A stand-in guest at 10.61.0.5 on the tenant bridge.
    links::ensure_netns(&guest_ns).await.unwrap();
    let (outer, inner) = ("ntgo61", "ntgi61");
    run(
        "ip",
        &[
            "-n", &dp, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns",
            &guest_ns,
        ],
    )
    .await
    .unwrap();
    run(
        "ip",
        &[
            "-n",
            &dp,
            "link",
            "set",
            outer,
            "master",
            &names::bridge(TENANT),
        ],
    )
    .await
    .unwrap();
    run("ip", &["-n", &dp, "link", "set", outer, "up"])
        .await
        .unwrap();
    run(
        "ip",
        &["-n", &guest_ns, "addr", "add", "10.61.0.5/24", "dev", inner],
    )
    .await
    .unwrap();
    run("ip", &["-n", &guest_ns, "link", "set", inner, "up"])
        .await
        .unwrap();
    run(
        "ip",
        &[
            "-n",
            &guest_ns,
            "route",
            "add",
            "default",
            "via",
            "10.61.0.1",
        ],
    )
    .await
    .unwrap();

    let ext = names::external_netns(data);
    let _outside = listen(&ext, 8461);
    let _guest = listen(&guest_ns, 8462);
    // The guest, having a floating IP, leaves with it as its source.
    assert_eq!(
        seen_from(&guest_ns, "203.0.113.1", 8461).await.as_deref(),
        Some("203.0.113.11"),
        "guest → outside through the floating IP's SNAT"
    );
    // The outside world reaches the guest at the floating IP, source unchanged.
    assert_eq!(
        seen_from(&ext, "203.0.113.11", 8462).await.as_deref(),
        Some("203.0.113.1"),
        "outside → floating IP (DNAT)"
    );
    // The outside world has no route to the tenant network itself.
    assert_eq!(seen_from(&ext, "10.61.0.5", 8462).await, None);

    // Disassociated: the floating IP no longer answers.
    let mut o2 = objects();
    o2.fips[0].port_id = None;
    o2.fips[0].fixed_ip_address = None;
    o2.fips[0].router_id = None;
    let plan2 = router::plan(
        data,
        &o2.routers,
        &o2.fips,
        &o2.networks,
        &o2.subnets,
        &o2.ports,
        None,
    );
    let done = l3::apply(data, &dp, &plan2).await;
    assert!(done.fips.is_empty());
    assert_eq!(
        seen_from(&ext, "203.0.113.11", 8462).await,
        None,
        "disassociated"
    );
    assert_eq!(
        seen_from(&guest_ns, "203.0.113.1", 8461).await.as_deref(),
        Some("203.0.113.10"),
        "SNAT to the router's gateway address"
    );

    // No routers: their namespaces go.
    l3::apply(data, &dp, &router::L3Plan::default()).await;
    let left = links::list_netns();
    assert!(!left.contains(&rns), "{left:?}");
    assert!(!left.contains(&ext), "{left:?}");
}

#[test]
fn an_external_network_on_a_host_interface_has_no_simulated_gateway() {
    let o = objects();
    let data = std::path::Path::new("/var/lib/nimbus-plan-only");
    let plan = router::plan(
        data,
        &o.routers,
        &o.fips,
        &o.networks,
        &o.subnets,
        &o.ports,
        Some(PUBLIC),
    );
    assert!(plan.external.is_none(), "{:?}", plan.external);
    // The router keeps its gateway on the network, whose bridge the interface joins.
    assert_eq!(plan.routers.len(), 1);
    assert!(plan.routers[0].gateway.is_some());
    assert!(plan.networks().iter().any(|(n, _)| n == PUBLIC));
}
