//! The incremental security-group transaction against the kernel (root, `nft`,
//! `ip`): for a series of changes (rule added, port added, port removed, group
//! emptied), loading the old ruleset and then only the difference leaves the
//! kernel with exactly what loading the new ruleset from scratch gives.

use nimbus_agent::dataplane::{nft, nftdiff, secgroups};
use nimbus_network::types::{Port, SecurityGroupRule};
use serde_json::json;
use std::collections::BTreeSet;
use std::process::Command;

const G: &str = "11111111-1111-1111-1111-111111111111";
const WEB: &str = "22222222-2222-2222-2222-222222222222";

fn port(n: u8, groups: &[&str]) -> Port {
    serde_json::from_value(json!({
        "id": format!("{n:08x}-0000-0000-0000-000000000000"), "project_id": "p",
        "network_id": "n", "mac_address": format!("fa:16:3e:00:00:{n:02x}"),
        "fixed_ips": [{"subnet_id": "s", "ip_address": format!("10.0.0.{n}")},
                      {"subnet_id": "s6", "ip_address": format!("fd00::{n}")}],
        "device_id": "server", "admin_state_up": true, "security_groups": groups,
        "status": "ACTIVE", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn rule(id: &str, group: &str, extra: serde_json::Value) -> SecurityGroupRule {
    let mut r = json!({
        "id": id, "project_id": "p", "security_group_id": group, "direction": "ingress",
        "ethertype": "IPv4", "protocol": null, "port_range_min": null, "port_range_max": null,
        "remote_ip_prefix": null, "remote_group_id": null, "created_at": "2026-01-01T00:00:00Z",
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    serde_json::from_value(r).unwrap()
}

/// The kernel's ruleset of `ns` as a set of chain/set blocks (listing order
/// follows creation order, which an incremental load changes).
fn listed(ns: &str) -> BTreeSet<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut blocks = BTreeSet::new();
    let (mut table, mut cur) = (String::new(), String::new());
    for line in text.lines() {
        if line.starts_with("table ") {
            table = line.to_string();
        } else if line.starts_with("\tchain ") || line.starts_with("\tset ") {
            cur = format!("{table} {line}\n");
        } else if line == "\t}" {
            blocks.insert(std::mem::take(&mut cur));
        } else if !cur.is_empty() {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    blocks
}

struct Netns(Vec<String>);
impl Drop for Netns {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[tokio::test]
async fn the_difference_gives_what_a_full_load_gives() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || nimbus_agent::cmd::find_program("nft").is_none() {
        eprintln!("skipped: needs root and nft");
        return;
    }
    let pid = std::process::id();
    let (inc, full) = (
        format!("nimbus-sgi-inc-{pid}"),
        format!("nimbus-sgi-full-{pid}"),
    );
    let _cleanup = Netns(vec![inc.clone(), full.clone()]);
    for ns in [&inc, &full] {
        assert!(Command::new("ip")
            .args(["netns", "add", ns])
            .status()
            .unwrap()
            .success());
    }
    let base = vec![
        rule("r1", G, json!({"remote_group_id": G})),
        rule(
            "r2",
            WEB,
            json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
        ),
    ];
    let mut more = base.clone();
    more.push(rule(
        "r3",
        WEB,
        json!({"protocol": "tcp", "port_range_min": 8080,
                                      "port_range_max": 8080, "remote_group_id": G}),
    ));
    let p1 = port(1, &[G]);
    let p2 = port(2, &[WEB]);
    let mut p3 = port(3, &[G, WEB]);
    p3.allowed_address_pairs.push(
        serde_json::from_value(
            json!({"ip_address": "10.0.9.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}),
        )
        .unwrap(),
    );
    let steps: Vec<(Vec<Port>, Vec<SecurityGroupRule>)> = vec![
        (vec![p1.clone(), p2.clone()], base.clone()),
        (vec![p1.clone(), p2.clone()], more.clone()), // a rule added
        (vec![p1.clone(), p2.clone(), p3.clone()], more.clone()), // a port added
        (vec![p2.clone(), p3.clone()], more.clone()), // a port removed
        (vec![p2.clone()], vec![]),                   // groups emptied
        (vec![], vec![]),                             // no port left
        (vec![p1, p2, p3], more),                     // all back
    ];
    let mut loaded = secgroups::render(&steps[0].0, &steps[0].0, &steps[0].1);
    nft::apply(&inc, &loaded).await.unwrap();
    for (i, (ports, rules)) in steps.iter().enumerate().skip(1) {
        let text = secgroups::render(ports, ports, rules);
        let delta = nftdiff::incremental(&loaded, &text).expect("render's text is understood");
        nft::apply(&inc, &delta)
            .await
            .unwrap_or_else(|e| panic!("step {i}: {e:#}\n{delta}"));
        nft::apply(&full, &text).await.unwrap();
        assert_eq!(listed(&inc), listed(&full), "step {i}:\n{delta}");
        loaded = text;
    }
}
