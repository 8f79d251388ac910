//! What the incremental transaction holds for the usual changes (the kernel side
//! is tests/sg_incremental.rs).

use super::*;
use crate::dataplane::secgroups::render;
use nimbus_network::types::{Port, SecurityGroupRule};
use serde_json::json;

const G: &str = "11111111-1111-1111-1111-111111111111";

fn port(n: u8, groups: &[&str]) -> Port {
    serde_json::from_value(json!({
        "id": format!("{n:08x}-0000-0000-0000-000000000000"), "project_id": "p",
        "network_id": "n", "mac_address": format!("fa:16:3e:00:00:{n:02x}"),
        "fixed_ips": [{"subnet_id": "s", "ip_address": format!("10.0.0.{n}")}],
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

#[test]
fn a_new_rule_rewrites_only_the_chains_of_its_group() {
    let ports = [port(1, &[G]), port(2, &["other"])];
    let mut rules = vec![rule(
        "r1",
        G,
        json!({"protocol": "tcp", "port_range_min": 22}),
    )];
    let old = render(&ports, &ports, &rules);
    rules.push(rule(
        "r2",
        G,
        json!({"protocol": "tcp", "port_range_min": 8080}),
    ));
    let new = render(&ports, &ports, &rules);
    let delta = incremental(&old, &new).unwrap();
    assert!(delta.starts_with("flush chain inet nimbus_sg ingress_00000001000\n"));
    assert!(delta.contains("th dport 8080 accept"));
    assert_eq!(delta.matches("flush ").count(), 1, "{delta}");
    assert!(!delta.contains("delete"));
    assert!(!delta.contains("00000002000"));
    // The same texts give nothing to do.
    assert_eq!(incremental(&new, &new).unwrap(), "");
}

#[test]
fn ports_that_come_and_go_add_and_delete_their_chains() {
    let rules = vec![rule("r1", G, json!({"remote_group_id": G}))];
    let one = [port(1, &[G])];
    let two = [port(1, &[G]), port(2, &[G])];
    let old = render(&one, &one, &rules);
    let new = render(&two, &two, &rules);
    let grow = incremental(&old, &new).unwrap();
    // The new chains come before the base chains whose vmaps name them.
    let declared = grow.find("chain from_00000002000 {").unwrap();
    assert!(
        declared
            < grow
                .find("flush chain bridge nimbus_sg prerouting")
                .unwrap()
    );
    assert!(
        grow.find("chain ingress_00000002000 {").unwrap()
            < grow.find("flush chain inet nimbus_sg forward").unwrap()
    );
    // The remote group's set now holds both addresses.
    assert!(grow.contains("flush set inet nimbus_sg rg4_11111111111111111111111111111111"));
    assert!(grow.contains("elements = { 10.0.0.1, 10.0.0.2 }"));

    let shrink = incremental(&new, &old).unwrap();
    let base = shrink.find("flush chain inet nimbus_sg forward").unwrap();
    let gone = shrink
        .find("delete chain inet nimbus_sg ingress_00000002000")
        .unwrap();
    assert!(base < gone, "{shrink}");
    assert!(shrink.contains("flush chain bridge nimbus_sg from_00000002000\ndelete chain bridge nimbus_sg from_00000002000"));
}

#[test]
fn a_group_that_is_no_longer_referenced_loses_its_sets_last() {
    let ports = [port(1, &[G])];
    let with = vec![rule("r1", G, json!({"remote_group_id": G}))];
    let old = render(&ports, &ports, &with);
    let new = render(&ports, &ports, &[]);
    let delta = incremental(&old, &new).unwrap();
    let set = delta.find("delete set inet nimbus_sg rg4_").unwrap();
    assert!(
        delta
            .find("flush chain inet nimbus_sg ingress_00000001000")
            .unwrap()
            < set
    );
}

#[test]
fn text_it_does_not_understand_is_left_to_a_full_load() {
    let ports = [port(1, &[G])];
    let good = render(&ports, &ports, &[]);
    assert_eq!(incremental("flush ruleset\n", &good), None);
    assert_eq!(
        incremental(&good, "table inet nimbus_sg {\n\tchain x {\n"),
        None
    );
    assert_eq!(incremental(&good, "table inet nimbus_sg {\n}\n"), None);
}
