//! Rendering tests: what each kind of rule and port becomes in nft text.

use super::*;
use nimbus_network::types::{Port, SecurityGroupRule};
use serde_json::json;

const G_DEFAULT: &str = "11111111-1111-1111-1111-111111111111";
const G_WEB: &str = "22222222-2222-2222-2222-222222222222";

fn port(id: &str, mac: &str, ips: &[&str], groups: &[&str]) -> Port {
    serde_json::from_value(json!({
        "id": id, "project_id": "p", "network_id": "n", "mac_address": mac,
        "fixed_ips": ips.iter().map(|ip| json!({"subnet_id": "s", "ip_address": ip})).collect::<Vec<_>>(),
        "device_id": "server", "admin_state_up": true, "security_groups": groups,
        "status": "ACTIVE", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn rule(id: &str, group: &str, direction: &str, ethertype: &str) -> SecurityGroupRule {
    serde_json::from_value(json!({
        "id": id, "project_id": "p", "security_group_id": group, "direction": direction,
        "ethertype": ethertype, "protocol": null, "port_range_min": null, "port_range_max": null,
        "remote_ip_prefix": null, "remote_group_id": null, "created_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn with(
    mut r: SecurityGroupRule,
    proto: &str,
    min: Option<u16>,
    max: Option<u16>,
) -> SecurityGroupRule {
    r.protocol = Some(proto.into());
    r.port_range_min = min;
    r.port_range_max = max;
    r
}

/// The default group's four rules (egress any, ingress from the group itself).
fn default_rules() -> Vec<SecurityGroupRule> {
    let mut r3 = rule("r3", G_DEFAULT, "ingress", "IPv4");
    r3.remote_group_id = Some(G_DEFAULT.into());
    let mut r4 = rule("r4", G_DEFAULT, "ingress", "IPv6");
    r4.remote_group_id = Some(G_DEFAULT.into());
    vec![
        rule("r1", G_DEFAULT, "egress", "IPv4"),
        rule("r2", G_DEFAULT, "egress", "IPv6"),
        r3,
        r4,
    ]
}

/// The body of chain `name` (between its braces).
fn chain<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("chain {name} {{"))
        .unwrap_or_else(|| panic!("no chain {name} in\n{text}"));
    let body = &text[start..];
    &body[..body.find("\n\t}").unwrap()]
}

#[test]
fn default_group_admits_members_and_allows_all_egress() {
    let a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "fa:16:3e:00:00:01",
        &["10.0.0.5"],
        &[G_DEFAULT],
    );
    let b = port(
        "bbbbbbbb-0000-0000-0000-000000000002",
        "fa:16:3e:00:00:02",
        &["10.0.0.6"],
        &[G_DEFAULT],
    );
    let text = render(std::slice::from_ref(&a), &[a.clone(), b], &default_rules());
    let sets = group_sets(G_DEFAULT);
    assert_eq!(sets.0, "rg4_11111111111111111111111111111111");
    assert!(text.contains(&format!(
        "set {} {{\n\t\ttype ipv4_addr; flags interval;\n\t\telements = {{ 10.0.0.5, 10.0.0.6 }}",
        sets.0
    )));
    let ingress = chain(&text, "ingress_aaaaaaaa000");
    assert!(ingress.contains(&format!("meta nfproto ipv4 ip saddr @{} accept", sets.0)));
    assert!(ingress.contains(&format!("meta nfproto ipv6 ip6 saddr @{} accept", sets.1)));
    assert!(ingress.trim_end().ends_with("drop"));
    let egress = chain(&text, "egress_aaaaaaaa000");
    assert!(egress.contains("\t\tmeta nfproto ipv4 return"));
    assert!(egress.contains("\t\tmeta nfproto ipv6 return"));
    // Stateful: established traffic first, invalid dropped, before any group rule.
    let fwd = chain(
        &text[text.find("table inet nimbus_sg {").unwrap()..],
        "forward",
    );
    let est = fwd.find("ct state established,related accept").unwrap();
    assert!(est < fwd.find("ct state invalid drop").unwrap());
    assert!(fwd.contains("meta mark & 0xffff vmap { 0x1 : jump egress_aaaaaaaa000 }"));
    assert!(fwd.contains("meta mark & 0xffff0000 vmap { 0x10000 : jump ingress_aaaaaaaa000 }"));
    // Only local ports get chains.
    assert!(!text.contains("ingress_bbbbbbbb000"));
}

#[test]
fn tcp_22_ingress_by_name_or_number() {
    let a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "fa:16:3e:00:00:01",
        &["10.0.0.5"],
        &[G_WEB],
    );
    let rules = vec![
        with(
            rule("r1", G_WEB, "ingress", "IPv4"),
            "tcp",
            Some(22),
            Some(22),
        ),
        with(
            rule("r2", G_WEB, "ingress", "IPv4"),
            "6",
            Some(8000),
            Some(8080),
        ),
        with(rule("r3", G_WEB, "ingress", "IPv4"), "udp", None, None),
    ];
    let text = render(std::slice::from_ref(&a), std::slice::from_ref(&a), &rules);
    let ingress = chain(&text, "ingress_aaaaaaaa000");
    assert!(ingress.contains("meta nfproto ipv4 meta l4proto 6 th dport 22 accept"));
    assert!(ingress.contains("meta nfproto ipv4 meta l4proto 6 th dport 8000-8080 accept"));
    assert!(ingress.contains("meta nfproto ipv4 meta l4proto 17 accept"));
    // No egress rule in this group: only address configuration leaves, then drop.
    let egress = chain(&text, "egress_aaaaaaaa000");
    assert!(!egress.contains("l4proto"));
    assert!(egress.trim_end().ends_with("drop"));
}

#[test]
fn icmp_type_and_code_and_icmp_in_ipv6_rules() {
    let echo = with(
        rule("r1", G_WEB, "ingress", "IPv4"),
        "icmp",
        Some(8),
        Some(0),
    );
    assert_eq!(
        rule_match(&echo).unwrap(),
        "meta nfproto ipv4 meta l4proto 1 icmp type 8 icmp code 0"
    );
    let any = with(rule("r2", G_WEB, "ingress", "IPv4"), "icmp", None, None);
    assert_eq!(
        rule_match(&any).unwrap(),
        "meta nfproto ipv4 meta l4proto 1"
    );
    let v6 = with(
        rule("r3", G_WEB, "ingress", "IPv6"),
        "icmp",
        Some(128),
        None,
    );
    assert_eq!(
        rule_match(&v6).unwrap(),
        "meta nfproto ipv6 meta l4proto 58 icmpv6 type 128"
    );
    let bad = with(
        rule("r4", G_WEB, "ingress", "IPv4"),
        "icmp",
        Some(300),
        None,
    );
    assert_eq!(rule_match(&bad), None);
    let unknown = with(rule("r5", G_WEB, "ingress", "IPv4"), "bogus", None, None);
    assert_eq!(rule_match(&unknown), None);
}

#[test]
fn remote_prefixes_are_the_source_of_ingress_and_the_destination_of_egress() {
    let mut i = with(rule("r1", G_WEB, "ingress", "IPv4"), "tcp", Some(22), None);
    i.remote_ip_prefix = Some("192.168.1.7/24".into());
    assert_eq!(
        rule_match(&i).unwrap(),
        "meta nfproto ipv4 ip saddr 192.168.1.0/24 meta l4proto 6 th dport 22"
    );
    let mut e = rule("r2", G_WEB, "egress", "IPv6");
    e.remote_ip_prefix = Some("2001:db8::/32".into());
    assert_eq!(
        rule_match(&e).unwrap(),
        "meta nfproto ipv6 ip6 daddr 2001:db8::/32"
    );
    let mut any = rule("r3", G_WEB, "ingress", "IPv4");
    any.remote_ip_prefix = Some("0.0.0.0/0".into());
    assert_eq!(rule_match(&any).unwrap(), "meta nfproto ipv4");
    let mut mismatch = rule("r4", G_WEB, "ingress", "IPv4");
    mismatch.remote_ip_prefix = Some("2001:db8::/32".into());
    assert_eq!(rule_match(&mismatch), None);
}

#[test]
fn remote_group_sets_hold_members_with_their_address_pairs_only() {
    let mut a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "fa:16:3e:00:00:01",
        &["10.0.0.5", "fd00::5"],
        &[G_WEB],
    );
    a.allowed_address_pairs.push(
        serde_json::from_value(json!({"ip_address": "10.0.9.0/24", "mac_address": ""})).unwrap(),
    );
    let member = port(
        "cccccccc-0000-0000-0000-000000000003",
        "fa:16:3e:00:00:03",
        &["10.0.0.7"],
        &[G_DEFAULT],
    );
    let outsider = port(
        "dddddddd-0000-0000-0000-000000000004",
        "fa:16:3e:00:00:04",
        &["10.0.0.8"],
        &[G_WEB],
    );
    let mut r = with(
        rule("r1", G_WEB, "ingress", "IPv4"),
        "tcp",
        Some(80),
        Some(80),
    );
    r.remote_group_id = Some(G_DEFAULT.into());
    let text = render(
        std::slice::from_ref(&a),
        &[a.clone(), member, outsider],
        &[r],
    );
    let (n4, n6) = group_sets(G_DEFAULT);
    assert!(text.contains(&format!(
        "set {n4} {{\n\t\ttype ipv4_addr; flags interval;\n\t\telements = {{ 10.0.0.7 }}"
    )));
    assert!(text.contains(&format!(
        "set {n6} {{\n\t\ttype ipv6_addr; flags interval;\n\t}}"
    )));
    // The port's own group is not referenced by a rule: no set for it.
    assert!(!text.contains(&group_sets(G_WEB).0));
    assert!(chain(&text, "ingress_aaaaaaaa000")
        .contains(&format!("ip saddr @{n4} meta l4proto 6 th dport 80 accept")));
    // Members' allowed address pairs count as their addresses.
    let mut r2 = rule("r2", G_WEB, "ingress", "IPv4");
    r2.remote_group_id = Some(G_WEB.into());
    let text = render(std::slice::from_ref(&a), std::slice::from_ref(&a), &[r2]);
    let n4 = group_sets(G_WEB).0;
    assert!(text.contains(&format!("set {n4} {{\n\t\ttype ipv4_addr; flags interval;\n\t\telements = {{ 10.0.0.5, 10.0.9.0/24 }}")));
}

#[test]
fn port_security_disabled_means_no_filtering() {
    let mut open = port(
        "eeeeeeee-0000-0000-0000-000000000005",
        "fa:16:3e:00:00:05",
        &["10.0.0.9"],
        &[],
    );
    open.port_security_enabled = false;
    let text = render(
        std::slice::from_ref(&open),
        std::slice::from_ref(&open),
        &default_rules(),
    );
    assert!(!text.contains("eeeeeeee000"));
    assert!(!text.contains("vmap {"));
    // The tables still exist (and replace the previous ones).
    assert!(text.starts_with("table bridge nimbus_sg\ndelete table bridge nimbus_sg\ntable inet nimbus_sg\ndelete table inet nimbus_sg\n"));
    assert!(text.contains("meta mark 0 accept"));
}

#[test]
fn anti_spoofing_allows_fixed_ips_and_address_pairs() {
    let mut a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "FA:16:3E:00:00:01",
        &["10.0.0.5"],
        &[G_DEFAULT],
    );
    a.allowed_address_pairs.push(
        serde_json::from_value(
            json!({"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:aa:bb:cc"}),
        )
        .unwrap(),
    );
    a.allowed_address_pairs.push(
        serde_json::from_value(json!({"ip_address": "10.0.0.0/28", "mac_address": ""})).unwrap(),
    );
    let text = render(
        std::slice::from_ref(&a),
        std::slice::from_ref(&a),
        &default_rules(),
    );
    let from = chain(&text, "from_aaaaaaaa000");
    assert!(from.contains("meta mark set 0x1"));
    assert!(from.contains("ether saddr != { fa:16:3e:00:00:01, fa:16:3e:aa:bb:cc } drop"));
    // 10.0.0.5 is inside 10.0.0.0/28: one interval, not two overlapping ones.
    assert!(from.contains("ether type ip ip saddr != { 10.0.0.0/28, 10.0.0.100 } drop"));
    // ARP from 0.0.0.0 (conflict detection) leaves the chain before the check.
    let probe = from
        .find("ether type arp arp saddr ip 0.0.0.0 return")
        .unwrap();
    let check = from
        .find("ether type arp arp saddr ip != { 10.0.0.0/28, 10.0.0.100 } drop")
        .unwrap();
    assert!(probe < check);
    // DHCP discover before the guest has its address.
    assert!(
        from.contains("ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept")
    );
    assert!(from.contains("udp sport 67 udp dport 68 drop"));
    assert!(chain(&text, "to_aaaaaaaa000").contains("meta mark set meta mark or 0x10000"));
}

#[test]
fn a_port_without_ipv4_sends_no_ipv4_and_rendering_is_deterministic() {
    let a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "fa:16:3e:00:00:01",
        &["fd00::5"],
        &[G_DEFAULT],
    );
    let b = port(
        "bbbbbbbb-0000-0000-0000-000000000002",
        "fa:16:3e:00:00:02",
        &["10.0.0.6"],
        &[G_DEFAULT],
    );
    let mut rules = default_rules();
    let one = render(&[a.clone(), b.clone()], &[a.clone(), b.clone()], &rules);
    rules.reverse();
    let two = render(&[b.clone(), a.clone()], &[b, a], &rules);
    assert_eq!(one, two);
    let from = chain(&one, "from_aaaaaaaa000");
    assert!(from.contains("\t\tether type ip drop"));
    let link_local = from
        .find("ether type ip6 ip6 saddr fe80::/10 return")
        .unwrap();
    assert!(
        link_local
            < from
                .find("ether type ip6 ip6 saddr != fd00::5 drop")
                .unwrap()
    );
    // No IPv4 address: ARP only as a probe from 0.0.0.0.
    assert!(from.contains("\t\tether type arp drop"));
    assert!(one.contains("0x2 : jump egress_bbbbbbbb000"));
}

#[test]
fn each_network_gets_its_own_conntrack_zone() {
    let mut a = port(
        "aaaaaaaa-0000-4000-8000-000000000001",
        "fa:16:3e:00:00:01",
        &["10.0.0.5"],
        &[],
    );
    a.network_id = "a1b2c3d4-0000-4000-8000-000000000000".into();
    let mut b = port(
        "bbbbbbbb-0000-4000-8000-000000000002",
        "fa:16:3e:00:00:02",
        &["10.0.0.5"],
        &[],
    );
    b.network_id = "0000ffff-0000-4000-8000-000000000000".into();
    assert_eq!(conntrack_zone(&a.network_id), 0xa1b2);
    assert_eq!(
        conntrack_zone(&b.network_id),
        1,
        "zone 0 is the shared default"
    );
    let text = render(&[a.clone(), b.clone()], &[a, b], &[]);
    let zones = chain(&text, "zones");
    assert!(zones.contains("priority raw"), "{zones}");
    assert!(
        zones.contains(
            r#"ct zone set iifname map { "nbr-0000ffff000" : 1, "nbr-a1b2c3d4000" : 41394 }"#
        ),
        "{zones}"
    );
    assert!(render(&[], &[], &[]).find("chain zones").is_none());
}

#[test]
fn a_port_with_one_mac_and_one_address_needs_no_anonymous_set() {
    // Each `{ … }` is a kernel set object; with 1,000 ports those made loading the
    // ruleset take seconds (bench/network), so the common port is written without.
    let a = port(
        "aaaaaaaa-0000-0000-0000-000000000001",
        "fa:16:3e:00:00:01",
        &["10.0.0.5", "fd00::5"],
        &[G_DEFAULT],
    );
    let text = render(
        std::slice::from_ref(&a),
        std::slice::from_ref(&a),
        &default_rules(),
    );
    let from = chain(&text, "from_aaaaaaaa000");
    let body = from.split_once('\n').unwrap().1;
    assert!(!body.contains('{'), "{from}");
    assert!(from.contains("ether saddr != fa:16:3e:00:00:01 drop"));
    assert!(from.contains("ether type arp arp saddr ether != fa:16:3e:00:00:01 drop"));
    assert!(from.contains("ether type arp arp saddr ip != 10.0.0.5 drop"));
    assert!(from.contains("ether type ip ip saddr != 10.0.0.5 drop"));
    assert!(from.contains("ip6 saddr :: icmpv6 type @dad_icmpv6 accept"));
    assert!(text.contains("set dad_icmpv6 {"));
    for c in ["egress_aaaaaaaa000", "ingress_aaaaaaaa000"] {
        assert!(!chain(&text, c).contains("icmpv6 type {"), "{c}");
    }
    assert!(chain(&text, "egress_aaaaaaaa000").contains("icmpv6 type @conf_out_icmpv6 return"));
    assert!(chain(&text, "ingress_aaaaaaaa000").contains("icmpv6 type @conf_in_icmpv6 accept"));
}
