//! Security groups enforced by the kernel (root, `nft`, `ip`, python3): a
//! dataplane namespace with a bridge and three "guests" (namespaces attached by
//! veths named like the agent's taps), the agent's security-group task following
//! a real store. Checks tcp/22 open and tcp/8080 closed, a new rule opening 8080
//! (and how fast), `remote_group_id` admitting a member and refusing a
//! non-member, anti-spoofing, and that a ruleset swap keeps established
//! connections. Everything is removed by a drop guard, also on failure.

use nimbus_agent::dataplane::{names, sgwatch};
use nimbus_network::types::{Port, SecurityGroup, SecurityGroupRule};
use nimbus_store::{Resource, Store};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DP: &str = "nimbus-sgt-dp";
const HOST: &str = "nimbus-sgt-host";
const BRIDGE: &str = "nbr-sgtest0000";
const G_SRV: &str = "5e000000-0000-4000-8000-000000000001";
const G_CLIENT: &str = "5e000000-0000-4000-8000-000000000002";
const G_OTHER: &str = "5e000000-0000-4000-8000-000000000003";

/// (guest namespace, port id, MAC, address)
const GUESTS: [(&str, &str, &str, &str); 3] = [
    (
        "nimbus-sgt-a",
        "a0000000-0000-4000-8000-00000000000a",
        "fa:16:3e:5e:00:0a",
        "10.77.0.10",
    ),
    (
        "nimbus-sgt-b",
        "b0000000-0000-4000-8000-00000000000b",
        "fa:16:3e:5e:00:0b",
        "10.77.0.11",
    ),
    (
        "nimbus-sgt-c",
        "c0000000-0000-4000-8000-00000000000c",
        "fa:16:3e:5e:00:0c",
        "10.77.0.12",
    ),
];

/// TCP servers on several ports: each connection gets "ok" and stays open until
/// the client closes it (so an established connection can outlive a ruleset swap).
const SERVER: &str = r#"
import socket, sys, threading
def conn(c):
    try:
        c.sendall(b"ok\n")
        while True:
            d = c.recv(100)
            if not d: break
            c.sendall(d)
    except OSError:
        pass
def serve(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p)); s.listen(16)
    while True:
        c, _ = s.accept(); threading.Thread(target=conn, args=(c,), daemon=True).start()
for p in sys.argv[1:]: threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
"#;

/// One connection attempt: prints `open` or `closed`; optional source address.
const PROBE: &str = r#"
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3]))
if len(sys.argv) > 4: s.bind((sys.argv[4], 0))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("open" if s.recv(3) == b"ok\n" else "closed")
except Exception:
    print("closed")
"#;

/// Tries to connect every 10 ms until it works (or 5 s pass); prints the wall
/// clock of the first success.
const UNTIL_OPEN: &str = r#"
import socket, sys, time
end = time.time() + 5
while time.time() < end:
    s = socket.socket(); s.settimeout(0.01)
    try:
        s.connect((sys.argv[1], int(sys.argv[2]))); print(time.time()); sys.exit(0)
    except Exception:
        s.close()
print("never")
"#;

/// An established connection: says `ok` once connected, then on every line read
/// from stdin sends it and prints what comes back.
const HOLD: &str = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
assert s.recv(3) == b"ok\n"; print("ok", flush=True)
for line in sys.stdin:
    s.sendall(line.encode()); print(s.recv(100).decode().strip() or "closed", flush=True)
"#;

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_in(ns: &str, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "python3", "-c", script])
        .args(args);
    c
}

fn probe(ns: &str, ip: &str, port: u16, bind: Option<&str>) -> bool {
    let port = port.to_string();
    let mut args = vec![ip, port.as_str(), "1"];
    args.extend(bind);
    let out = python_in(ns, PROBE, &args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "open"
}

/// A connection that should work: tried up to five times, so that a slow answer
/// on a loaded machine is not mistaken for a drop (expected drops are probed once).
fn opens(ns: &str, ip: &str, port: u16) -> bool {
    (0..5).any(|_| probe(ns, ip, port, None))
}

/// Removes the namespaces (and with them links and rulesets) and stops the
/// processes this test started, by pid.
struct Cleanup(Vec<Child>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [DP, GUESTS[0].0, GUESTS[1].0, GUESTS[2].0] {
            if std::path::Path::new("/run/netns").join(ns).exists() {
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
        }
    }
}

fn usable() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["nft", "ip", "python3"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    root && tools
}

fn group(id: &str, name: &str) -> SecurityGroup {
    serde_json::from_value(json!({
        "id": id, "project_id": "p", "name": name, "stateful": true,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn rule(
    id: &str,
    group: &str,
    direction: &str,
    proto: Option<&str>,
    port: Option<u16>,
) -> SecurityGroupRule {
    serde_json::from_value(json!({
        "id": id, "project_id": "p", "security_group_id": group, "direction": direction,
        "ethertype": "IPv4", "protocol": proto, "port_range_min": port, "port_range_max": port,
        "remote_ip_prefix": null, "remote_group_id": null, "created_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn port(i: usize, group: &str) -> Port {
    let (_, id, mac, ip) = GUESTS[i];
    serde_json::from_value(json!({
        "id": id, "project_id": "p", "network_id": "n", "mac_address": mac,
        "fixed_ips": [{"subnet_id": "s", "ip_address": ip}], "device_id": format!("server-{i}"),
        "admin_state_up": true, "security_groups": [group], "host": HOST,
        "status": "ACTIVE", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

async fn create<T: Resource>(store: &Store, objs: &[T]) {
    let mut tx = store.begin().await.unwrap();
    for o in objs {
        tx.create(o).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_filter_bridged_traffic() {
    if !usable() {
        eprintln!("skipped: needs root, nft, ip and python3");
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter("nimbus_agent=debug")
        .with_test_writer()
        .try_init();
    let mut cleanup = Cleanup(Vec::new());
    // Leftovers of an interrupted run.
    drop(Cleanup(Vec::new()));

    sh(&["ip", "netns", "add", DP]);
    sh(&["ip", "-n", DP, "link", "add", BRIDGE, "type", "bridge"]);
    sh(&["ip", "-n", DP, "link", "set", BRIDGE, "up"]);
    for (ns, id, mac, ip) in GUESTS {
        let tap = names::tap(id);
        sh(&["ip", "netns", "add", ns]);
        sh(&[
            "ip", "-n", DP, "link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns",
            ns,
        ]);
        sh(&["ip", "-n", DP, "link", "set", &tap, "master", BRIDGE, "up"]);
        sh(&["ip", "-n", ns, "link", "set", "eth0", "address", mac, "up"]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ]);
    }
    let b_ip = GUESTS[1].3;
    cleanup.0.push(
        python_in(GUESTS[1].0, SERVER, &["22", "8080", "9090"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let ts = nimbus_store::testing::test_store().await.unwrap();
    let store = ts.store.clone();
    create(
        &store,
        &[
            group(G_SRV, "srv"),
            group(G_CLIENT, "client"),
            group(G_OTHER, "other"),
        ],
    )
    .await;
    create(
        &store,
        &[
            rule(
                "5e000000-0000-4000-8000-0000000000r1",
                G_SRV,
                "ingress",
                Some("tcp"),
                Some(22),
            ),
            rule(
                "5e000000-0000-4000-8000-0000000000r2",
                G_SRV,
                "ingress",
                Some("icmp"),
                None,
            ),
            rule(
                "5e000000-0000-4000-8000-0000000000r3",
                G_SRV,
                "egress",
                None,
                None,
            ),
            rule(
                "5e000000-0000-4000-8000-0000000000r4",
                G_CLIENT,
                "egress",
                None,
                None,
            ),
            rule(
                "5e000000-0000-4000-8000-0000000000r5",
                G_OTHER,
                "egress",
                None,
                None,
            ),
        ],
    )
    .await;
    create(
        &store,
        &[port(0, G_CLIENT), port(1, G_SRV), port(2, G_OTHER)],
    )
    .await;
    let task = tokio::spawn(sgwatch::run(store.clone(), HOST.into(), DP.into()));
    let mut agent = AbortOnDrop(task);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !Command::new("ip")
        .args([
            "netns",
            "exec",
            DP,
            "nft",
            "list",
            "table",
            "inet",
            "nimbus_sg",
        ])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the ruleset never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (a, c) = (GUESTS[0].0, GUESTS[2].0);
    assert!(opens(a, b_ip, 22), "tcp/22 is allowed");
    assert!(!probe(a, b_ip, 8080, None), "tcp/8080 is not");
    assert!(!probe(a, b_ip, 9090, None), "tcp/9090 is not");

    // An established connection survives the ruleset swaps that follow.
    let mut hold = python_in(a, HOLD, &[b_ip, "22"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut hold_in = hold.stdin.take().unwrap();
    let mut hold_out = std::io::BufReader::new(hold.stdout.take().unwrap());
    cleanup.0.push(hold);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut hold_out, &mut line).unwrap();
    assert_eq!(line.trim(), "ok");

    // A new rule opens 8080: measure from the commit to the first connection.
    let waiter = python_in(a, UNTIL_OPEN, &[b_ip, "8080"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let committed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    create(
        &store,
        &[rule(
            "5e000000-0000-4000-8000-0000000000r6",
            G_SRV,
            "ingress",
            Some("6"),
            Some(8080),
        )],
    )
    .await;
    let out = waiter.wait_with_output().unwrap();
    let opened: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("8080 never opened");
    let latency = opened - committed;
    eprintln!("rule -> open tcp/8080: {:.0} ms", latency * 1000.0);
    assert!(latency < 1.0, "took {latency} s");

    // remote_group_id: members of `client` reach 9090, others do not.
    let mut by_group = rule(
        "5e000000-0000-4000-8000-0000000000r7",
        G_SRV,
        "ingress",
        Some("tcp"),
        Some(9090),
    );
    by_group.remote_group_id = Some(G_CLIENT.into());
    create(&store, &[by_group]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        opens(a, b_ip, 9090),
        "a member of the remote group is admitted"
    );
    assert!(opens(c, b_ip, 22), "c reaches tcp/22");
    assert!(!probe(c, b_ip, 9090, None), "a non-member is refused");

    // An agent restart loads the same ruleset again, without duplicates.
    let before = ruleset_text();
    drop(agent);
    agent = AbortOnDrop(tokio::spawn(sgwatch::run(
        store.clone(),
        HOST.into(),
        DP.into(),
    )));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ruleset_text(), before);
    assert!(opens(a, b_ip, 9090) && !probe(c, b_ip, 9090, None));

    // Anti-spoofing: c with an address that is not its own gets nowhere.
    sh(&["ip", "-n", c, "addr", "add", "10.77.0.99/24", "dev", "eth0"]);
    assert!(
        !probe(c, b_ip, 22, Some("10.77.0.99")),
        "a spoofed source is dropped"
    );

    // The connection opened before the swaps still carries data.
    std::io::Write::write_all(&mut hold_in, b"ping\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut hold_out, &mut line).unwrap();
    assert_eq!(line.trim(), "ping", "the established connection survived");
    drop(hold_in);
    drop(agent);
    drop(cleanup);
    drop(ts);
}

/// The dataplane namespace's ruleset, without counters.
fn ruleset_text() -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", DP, "nft", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
