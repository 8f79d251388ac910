//! Benchmark (bench/network/run calls it): programs the security-group ruleset of
//! PORTS ports with the agent's own code: [`secgroups::render`] then [`nft::apply`]
//! (`ip netns exec NS nft -f -`, one transaction) into a namespace this program
//! creates (`nimbus-bench-sg-<pid>`, deleted at the end, also on error or panic).
//!
//! An example rather than a `nimbus` subcommand: it is bench code, so it stays out
//! of the shipped binary and is built only on demand (`cargo build --example`).
//!
//! Cases, RUNS samples each, one JSON object per sample on stdout:
//! - `render`: the pure rendering of the whole ruleset;
//! - `apply-first`: loading it into a namespace with no ruleset (a fresh dataplane);
//! - `apply-replace`: loading it over the same ruleset (what the agent does on
//!   every change: the text deletes and recreates both tables);
//! - `diff`: computing that difference ([`nftdiff::incremental`] of two texts);
//! - `apply-rule-delta`: a rule added to one group (100 of the 1,000 ports), loaded
//!   as the agent loads a change: only the difference ([`nftdiff::incremental`]);
//! - `apply-empty` (baseline): loading the ruleset of zero ports over itself, i.e.
//!   the cost of `ip netns exec` + `nft` + a transaction that holds nothing.
//!
//! Usage: sg_program [--ports 1000] [--groups 10] [--runs 5] [--dump FILE]
//! (`--dump` also writes the rendered ruleset to FILE, for `nft -f` by hand.)

use nimbus_agent::dataplane::{nft, nftdiff, secgroups};
use nimbus_network::types::{Port, SecurityGroupRule};
use serde_json::json;
use std::process::Command;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut ports = 1000usize;
    let mut groups = 10usize;
    let mut runs = 5usize;
    let mut dump = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value =
            || -> anyhow::Result<usize> { Ok(args.next().unwrap_or_default().parse()?) };
        match a.as_str() {
            "--ports" => ports = value()?,
            "--groups" => groups = value()?.max(1),
            "--runs" => runs = value()?.max(1),
            "--dump" => dump = args.next(),
            _ => {
                anyhow::bail!("usage: sg_program [--ports N] [--groups N] [--runs N] [--dump FILE]")
            }
        }
    }
    let netns = Netns::create(&format!("nimbus-bench-sg-{}", std::process::id()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench(&netns.0, ports, groups, runs, dump))
}

async fn bench(
    netns: &str,
    ports: usize,
    groups: usize,
    runs: usize,
    dump: Option<String>,
) -> anyhow::Result<()> {
    let (all, rules) = cloud(ports, groups);
    nft::enable_bridge_netfilter(netns).await?;
    let empty = secgroups::render(&[], &[], &rules);
    let mut text = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        text = secgroups::render(&all, &all, &rules);
        emit("render", ports, t, &text);
    }
    if let Some(path) = dump {
        std::fs::write(path, &text)?;
    }
    for run in 0..runs {
        // Start from a namespace without our tables: the first load of a dataplane.
        nft::apply(netns, "table inet nimbus_sg\ndelete table inet nimbus_sg\ntable bridge nimbus_sg\ndelete table bridge nimbus_sg\n").await?;
        let t = Instant::now();
        nft::apply(netns, &text).await?;
        emit("apply-first", ports, t, &text);
        let t = Instant::now();
        nft::apply(netns, &text).await?;
        emit("apply-replace", ports, t, &text);
        if run == 0 {
            check(netns, ports)?;
        }
        // A rule added to one group (a tenth of the ports), loaded as the agent
        // does it on a change: only the difference ([`nftdiff`]); then taken back.
        let changed = secgroups::render(&all, &all, &with_rule(&rules));
        let t = Instant::now();
        let delta = nftdiff::incremental(&text, &changed).expect("render's own text");
        emit("diff", ports, t, &delta);
        let t = Instant::now();
        nft::apply(netns, &delta).await?;
        emit("apply-rule-delta", ports, t, &delta);
        nft::apply(
            netns,
            &nftdiff::incremental(&changed, &text).expect("render's own text"),
        )
        .await?;
        // Away from the 1,000 ports first: the baseline replaces empty by empty.
        nft::apply(netns, &empty).await?;
        let t = Instant::now();
        nft::apply(netns, &empty).await?;
        emit("apply-empty", 0, t, &empty);
    }
    Ok(())
}

fn emit(case: &str, ports: usize, started: Instant, text: &str) {
    println!(
        "{}",
        json!({"case": case, "ports": ports, "ms": started.elapsed().as_secs_f64() * 1000.0,
               "ruleset_bytes": text.len(), "ruleset_lines": text.lines().count()})
    );
}

/// `rules` plus one more: tcp/9090 into the first group.
fn with_rule(rules: &[SecurityGroupRule]) -> Vec<SecurityGroupRule> {
    let mut r = serde_json::to_value(&rules[4]).expect("a rule");
    r["id"] = json!("ffffffff-1111-4000-8000-000000000000");
    r["protocol"] = json!("tcp");
    r["port_range_min"] = json!(9090);
    r["port_range_max"] = json!(9090);
    r["remote_ip_prefix"] = json!(null);
    r["remote_group_id"] = json!(null);
    let mut out = rules.to_vec();
    out.push(serde_json::from_value(r).expect("a valid rule"));
    out
}

/// The kernel holds what was asked: one egress and one ingress chain per port.
fn check(netns: &str, ports: usize) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "nft",
            "list",
            "table",
            "inet",
            "nimbus_sg",
        ])
        .output()?;
    let listed = String::from_utf8_lossy(&out.stdout);
    let chains = listed.matches("\tchain egress_").count();
    anyhow::ensure!(
        chains == ports,
        "the kernel holds {chains} egress chains, not {ports}"
    );
    Ok(())
}

/// PORTS ports spread over GROUPS groups (each port in its own group and the
/// shared `default`), with rules like a real project's: the default group's four,
/// ssh and icmp from anywhere, a web port range, IPv6, one remote-group rule to
/// the next group, and an allowed address pair on every tenth port.
fn cloud(ports: usize, groups: usize) -> (Vec<Port>, Vec<SecurityGroupRule>) {
    let gid = |g: usize| format!("{g:08x}-0000-4000-8000-00000000000{}", g % 10);
    let default = gid(groups);
    let mut rules = Vec::new();
    let mut rule = |group: &str, dir: &str, eth: &str, extra: serde_json::Value| {
        let mut r = json!({
            "id": format!("{:08x}-1111-4000-8000-000000000000", rules.len()),
            "project_id": "p", "security_group_id": group, "direction": dir, "ethertype": eth,
            "protocol": null, "port_range_min": null, "port_range_max": null,
            "remote_ip_prefix": null, "remote_group_id": null,
            "created_at": "2026-01-01T00:00:00Z",
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            r[k] = v.clone();
        }
        rules.push(serde_json::from_value::<SecurityGroupRule>(r).expect("a valid rule"));
    };
    rule(&default, "egress", "IPv4", json!({}));
    rule(&default, "egress", "IPv6", json!({}));
    rule(
        &default,
        "ingress",
        "IPv4",
        json!({"remote_group_id": default}),
    );
    rule(
        &default,
        "ingress",
        "IPv6",
        json!({"remote_group_id": default}),
    );
    for g in 0..groups {
        let id = gid(g);
        rule(
            &id,
            "ingress",
            "IPv4",
            json!({"protocol": "tcp", "port_range_min": 22,
             "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}),
        );
        rule(&id, "ingress", "IPv4", json!({"protocol": "icmp"}));
        rule(
            &id,
            "ingress",
            "IPv4",
            json!({"protocol": "tcp", "port_range_min": 8000,
             "port_range_max": 8099, "remote_ip_prefix": "192.0.2.0/24"}),
        );
        rule(
            &id,
            "ingress",
            "IPv6",
            json!({"protocol": "tcp", "port_range_min": 443,
             "port_range_max": 443}),
        );
        rule(
            &id,
            "ingress",
            "IPv4",
            json!({"protocol": "udp", "port_range_min": 53,
             "port_range_max": 53, "remote_group_id": gid((g + 1) % groups)}),
        );
    }
    let all = (0..ports)
        .map(|i| {
            let pairs = if i % 10 == 0 {
                json!([{"ip_address": format!("10.99.{}.{}/32", i / 250, i % 250 + 1),
                        "mac_address": format!("fa:16:3e:ff:{:02x}:{:02x}", i / 256, i % 256)}])
            } else {
                json!([])
            };
            serde_json::from_value(json!({
                "id": format!("{i:08x}-2222-4000-8000-000000000000"), "project_id": "p",
                "network_id": format!("net{}", i % 4), "device_id": format!("server{}", i / 10),
                "device_owner": "compute:nova",
                "mac_address": format!("fa:16:3e:00:{:02x}:{:02x}", i / 256, i % 256),
                "fixed_ips": [
                    {"subnet_id": "s4", "ip_address": format!("10.{}.{}.{}", i % 4, i / 250, i % 250 + 2)},
                    {"subnet_id": "s6", "ip_address": format!("fd00:{}::{:x}", i % 4, i + 2)},
                ],
                "allowed_address_pairs": pairs,
                "admin_state_up": true, "security_groups": [default.clone(), gid(i % groups)],
                "status": "ACTIVE", "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }))
            .expect("a valid port")
        })
        .collect();
    (all, rules)
}

/// The bench's namespace; deleted when dropped (normal end, error or panic).
struct Netns(String);

impl Netns {
    fn create(name: &str) -> anyhow::Result<Netns> {
        let status = Command::new("ip").args(["netns", "add", name]).status()?;
        anyhow::ensure!(status.success(), "ip netns add {name} failed");
        Ok(Netns(name.to_string()))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
