//! Security groups as one nftables ruleset (ADR 0007), rendered from store
//! objects by a pure function ([`render`]) so that it can be tested without a
//! kernel and applied atomically by [`super::nft::apply`].
//!
//! Two tables named `nimbus_sg` in the dataplane namespace:
//! - `bridge nimbus_sg` sees every frame at the bridge ports. Per filtered port it
//!   checks anti-spoofing (source MAC, ARP and IP source addresses, no rogue DHCP
//!   server or router advertisement) and tags the packet's mark with the port's
//!   index: the low 16 bits for the port it came from, the high 16 bits for the
//!   tap it goes to. The kernel here has no bridge conntrack, so state lives in:
//! - `inet nimbus_sg`, whose forward hook sees bridged IP traffic through
//!   br_netfilter with those marks: `ct state established,related accept`,
//!   `ct state invalid drop`, then the egress chain of the sender (matches
//!   `return`), then the ingress chain of the receiver (matches `accept`), each
//!   ending in `drop`. `remote_group_id` reads named sets `rg4_<group>` /
//!   `rg6_<group>` holding the addresses of the group's ports.
//!
//! The DHCP namespace's veth (`nvd*`, the network's own port, through which
//! `nimbus ssh` reaches guests) is trusted: its traffic skips ingress rules.

use super::names;
use nimbus_network::ipam::Cidr;
use nimbus_network::secgroups::{normalized_cidr, protocol_number};
use nimbus_network::types::{Port, SecurityGroupRule};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

/// The name of both tables.
pub const TABLE: &str = "nimbus_sg";
/// Mark of traffic from the DHCP namespaces' veths (trusted).
const TRUSTED: u32 = 0xffff;
/// Named set of the bridge table: the ICMPv6 types a guest sends from `::`.
const DAD_ICMPV6: &str = "dad_icmpv6";
/// Named sets of the inet table: the ICMPv6 types of address configuration that
/// pass whatever the groups say, outgoing and incoming.
const CONF_OUT_ICMPV6: &str = "conf_out_icmpv6";
const CONF_IN_ICMPV6: &str = "conf_in_icmpv6";

/// The ruleset for the ports whose taps live here (`local`), given every port of
/// the cloud (`all`, for remote-group membership) and every rule. Deterministic:
/// the same objects give the same text, so an unchanged ruleset is not re-applied.
pub fn render(local: &[Port], all: &[Port], rules: &[SecurityGroupRule]) -> String {
    let mut local: Vec<&Port> = local.iter().collect();
    local.sort_by(|a, b| a.id.cmp(&b.id));
    local.dedup_by(|a, b| a.id == b.id);
    // Only filtered ports get an index; at most 0xfffe of them fit in a mark half.
    let filtered: Vec<(u32, &Port)> = local
        .iter()
        .filter(|p| p.port_security_enabled)
        .take(0xfffe)
        .enumerate()
        .map(|(i, p)| (i as u32 + 1, *p))
        .collect();
    let mut by_group: BTreeMap<&str, Vec<&SecurityGroupRule>> = BTreeMap::new();
    for r in rules {
        by_group
            .entry(r.security_group_id.as_str())
            .or_default()
            .push(r);
    }
    let mut by_group_sorted = by_group;
    for v in by_group_sorted.values_mut() {
        v.sort_by(|a, b| a.id.cmp(&b.id));
    }
    // Remote groups referenced by the rules of the local ports' groups.
    let mut remote_groups: BTreeSet<&str> = BTreeSet::new();
    for (_, p) in &filtered {
        for g in &p.security_groups {
            for r in by_group_sorted.get(g.as_str()).into_iter().flatten() {
                if let Some(rg) = r.remote_group_id.as_deref() {
                    remote_groups.insert(rg);
                }
            }
        }
    }

    let mut out = String::new();
    // Creating then deleting makes the delete valid on a first run; the whole file
    // is one transaction, so no packet ever sees a half-built ruleset.
    for family in ["bridge", "inet"] {
        let _ = writeln!(out, "table {family} {TABLE}\ndelete table {family} {TABLE}");
    }
    render_bridge(&mut out, &filtered);
    render_inet(&mut out, &filtered, all, &by_group_sorted, &remote_groups);
    render_zones(&mut out, &local);
    out
}

/// The bridge table: anti-spoofing and port marks.
fn render_bridge(out: &mut String, filtered: &[(u32, &Port)]) {
    let _ = writeln!(out, "table bridge {TABLE} {{");
    let _ = writeln!(
        out,
        "\tset {DAD_ICMPV6} {{\n\t\ttype icmpv6_type;\n\t\telements = {{ nd-neighbor-solicit, mld2-listener-report }}\n\t}}"
    );
    let _ = writeln!(
        out,
        "\tchain prerouting {{\n\t\ttype filter hook prerouting priority -200; policy accept;"
    );
    let _ = writeln!(out, "\t\tiifname \"nvd*\" meta mark set {TRUSTED:#x}");
    if !filtered.is_empty() {
        let _ = writeln!(out, "\t\tiifname vmap {{ {} }}", vmap(filtered, "from"));
    }
    let _ = writeln!(out, "\t}}");
    let _ = writeln!(
        out,
        "\tchain forward {{\n\t\ttype filter hook forward priority -200; policy accept;"
    );
    if !filtered.is_empty() {
        let _ = writeln!(out, "\t\toifname vmap {{ {} }}", vmap(filtered, "to"));
    }
    let _ = writeln!(out, "\t}}");
    for (idx, p) in filtered {
        let s = names::short(&p.id, 11);
        let _ = writeln!(out, "\tchain from_{s} {{\n\t\tmeta mark set {idx:#x}");
        for line in spoofing(p) {
            let _ = writeln!(out, "\t\t{line}");
        }
        let _ = writeln!(out, "\t}}");
        let _ = writeln!(
            out,
            "\tchain to_{s} {{\n\t\tmeta mark set meta mark or {:#x}\n\t}}",
            idx << 16
        );
    }
    let _ = writeln!(out, "}}");
}

/// `"ntap…" : jump <prefix>_<short>, …` for the filtered ports.
fn vmap(filtered: &[(u32, &Port)], prefix: &str) -> String {
    filtered
        .iter()
        .map(|(_, p)| {
            format!(
                "\"{}\" : jump {prefix}_{}",
                names::tap(&p.id),
                names::short(&p.id, 11)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Anti-spoofing of a port's outgoing frames: its MACs (own and of its allowed
/// address pairs), its addresses (fixed IPs, pairs, link-local IPv6), DHCP client
/// traffic before it has an address; never DHCP server replies or router
/// advertisements from a guest.
///
/// Written without per-port anonymous sets where it can be: the kernel makes a set
/// object for each `{ … }`, and with thousands of ports those objects were most of
/// the cost of loading the ruleset (bench/network). A single value is a plain
/// comparison; an always-allowed value of the last check for its frame type
/// (0.0.0.0 for ARP, fe80::/10 for IPv6) is a `return` before it; the constant
/// ICMPv6 types are the table's named set [`DAD_ICMPV6`].
fn spoofing(p: &Port) -> Vec<String> {
    let mut macs: BTreeSet<String> = BTreeSet::new();
    macs.extend(mac(&p.mac_address));
    let mut addrs: Vec<String> = p.fixed_ips.iter().map(|f| f.ip_address.clone()).collect();
    for pair in &p.allowed_address_pairs {
        addrs.push(pair.ip_address.clone());
        macs.extend(mac(&pair.mac_address));
    }
    let (v4, v6) = address_sets(&addrs);
    let mut lines = Vec::new();
    if macs.is_empty() {
        // No valid MAC: nothing this port sends can be trusted.
        lines.push("drop".to_string());
        return lines;
    }
    let macs: Vec<String> = macs.into_iter().collect();
    lines.push(format!("ether saddr != {} drop", one_or_set(&macs)));
    lines.push(format!(
        "ether type arp arp saddr ether != {} drop",
        one_or_set(&macs)
    ));
    // Nothing below looks at ARP: a probe from 0.0.0.0 (address conflict
    // detection) may leave the chain here.
    lines.push("ether type arp arp saddr ip 0.0.0.0 return".into());
    if v4.is_empty() {
        lines.push("ether type arp drop".into());
    } else {
        lines.push(format!(
            "ether type arp arp saddr ip != {} drop",
            one_or_set(&v4)
        ));
    }
    lines.push(
        "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept"
            .into(),
    );
    lines.push("ether type ip udp sport 67 udp dport 68 drop".into());
    if v4.is_empty() {
        lines.push("ether type ip drop".into());
    } else {
        lines.push(format!(
            "ether type ip ip saddr != {} drop",
            one_or_set(&v4)
        ));
    }
    lines.push("ether type ip6 icmpv6 type nd-router-advert drop".into());
    lines.push("ether type ip6 udp sport 547 udp dport 546 drop".into());
    // Duplicate address detection comes from the unspecified address.
    lines.push(format!(
        "ether type ip6 ip6 saddr :: icmpv6 type @{DAD_ICMPV6} accept"
    ));
    // The last IPv6 check: link-local sources leave the chain before it.
    lines.push("ether type ip6 ip6 saddr fe80::/10 return".into());
    if v6.is_empty() {
        lines.push("ether type ip6 drop".into());
    } else {
        lines.push(format!(
            "ether type ip6 ip6 saddr != {} drop",
            one_or_set(&v6)
        ));
    }
    lines
}

/// `value` alone, or `{ a, b, … }` (an anonymous set) for several.
fn one_or_set(values: &[String]) -> String {
    match values {
        [one] => one.clone(),
        _ => format!("{{ {} }}", values.join(", ")),
    }
}

/// A MAC in nft's lower-case form, if `s` is one.
fn mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| s.to_ascii_lowercase())
}

/// Addresses and prefixes split into IPv4 and IPv6 set elements: invalid ones
/// skipped, duplicates and prefixes inside others removed (nft refuses
/// overlapping intervals in one set).
pub fn address_sets(addrs: &[String]) -> (Vec<String>, Vec<String>) {
    let mut cidrs: Vec<Cidr> = addrs.iter().filter_map(|a| normalized_cidr(a)).collect();
    cidrs.sort_by_key(|c| (c.version, c.prefix, c.network));
    cidrs.dedup();
    // Only a prefix shorter than a host address can contain another entry (equal
    // host addresses are gone after the dedup), and there are few of them: testing
    // against those alone keeps a remote group of thousands of ports linear.
    let nets: Vec<Cidr> = cidrs
        .iter()
        .filter(|c| c.prefix < if c.version == 4 { 32 } else { 128 })
        .copied()
        .collect();
    let kept: Vec<Cidr> = cidrs
        .iter()
        .filter(|c| {
            !nets
                .iter()
                .any(|o| o != *c && o.prefix <= c.prefix && o.contains(c.version, c.network))
        })
        .copied()
        .collect();
    let text = |c: &Cidr| {
        let host = if c.version == 4 { 32 } else { 128 };
        if c.prefix == host {
            nimbus_network::ipam::format_ip(c.version, c.network)
        } else {
            c.to_string()
        }
    };
    let mut v4: Vec<String> = kept.iter().filter(|c| c.version == 4).map(text).collect();
    let mut v6: Vec<String> = kept.iter().filter(|c| c.version == 6).map(text).collect();
    v4.sort();
    v6.sort();
    (v4, v6)
}

/// The set names of a remote group (IPv4, IPv6).
pub fn group_sets(group_id: &str) -> (String, String) {
    let s = names::short(group_id, 32);
    (format!("rg4_{s}"), format!("rg6_{s}"))
}

/// The conntrack zone of a network's traffic: the first 16 bits of its id (0, the
/// default zone, becomes 1). Derived, not numbered, so a zone never changes while
/// connections live in it; two networks sharing a zone by chance only lose the
/// separation every network had without zones.
pub fn conntrack_zone(network_id: &str) -> u16 {
    let hex = names::short(network_id, 4);
    u16::from_str_radix(&hex, 16)
        .ok()
        .filter(|z| *z != 0)
        .unwrap_or(1)
}

/// One conntrack zone per network, set before conntrack looks at a packet (with
/// br_netfilter, `iifname` is the bridge): projects may use the same addresses
/// (both 10.0.0.0/24), and their connections must never be mistaken for each
/// other's. A second block of the same table (nft merges them).
fn render_zones(out: &mut String, local: &[&Port]) {
    let bridges: BTreeSet<(String, u16)> = local
        .iter()
        .map(|p| (names::bridge(&p.network_id), conntrack_zone(&p.network_id)))
        .collect();
    if bridges.is_empty() {
        return;
    }
    let map: Vec<String> = bridges
        .iter()
        .map(|(b, z)| format!("\"{b}\" : {z}"))
        .collect();
    let _ = writeln!(
        out,
        "table inet {TABLE} {{\n\tchain zones {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tct zone set iifname map {{ {} }}\n\t}}\n}}",
        map.join(", ")
    );
}

/// The inet table: connection state, the groups' rules, remote-group sets.
fn render_inet(
    out: &mut String,
    filtered: &[(u32, &Port)],
    all: &[Port],
    rules: &BTreeMap<&str, Vec<&SecurityGroupRule>>,
    remote_groups: &BTreeSet<&str>,
) {
    // Each rule's match once, not once per port of its group (keyed by address:
    // `rules` holds references into one slice).
    let matches: HashMap<*const SecurityGroupRule, Option<String>> = rules
        .values()
        .flatten()
        .map(|r| (*r as *const SecurityGroupRule, rule_match(r)))
        .collect();
    let matched = |r: &SecurityGroupRule| matches[&(r as *const SecurityGroupRule)].as_deref();
    let _ = writeln!(out, "table inet {TABLE} {{");
    let _ = writeln!(
        out,
        "\tset {CONF_OUT_ICMPV6} {{\n\t\ttype icmpv6_type;\n\t\telements = {{ nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report }}\n\t}}"
    );
    let _ = writeln!(
        out,
        "\tset {CONF_IN_ICMPV6} {{\n\t\ttype icmpv6_type;\n\t\telements = {{ nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }}\n\t}}"
    );
    for g in remote_groups {
        // Neutron counts the allowed address pairs of a member as its addresses too.
        let addrs: Vec<String> = all
            .iter()
            .filter(|p| p.security_groups.iter().any(|x| x == g))
            .flat_map(|p| {
                p.fixed_ips
                    .iter()
                    .map(|f| f.ip_address.clone())
                    .chain(p.allowed_address_pairs.iter().map(|a| a.ip_address.clone()))
            })
            .collect();
        let (v4, v6) = address_sets(&addrs);
        let (n4, n6) = group_sets(g);
        for (name, ty, elems) in [(n4, "ipv4_addr", v4), (n6, "ipv6_addr", v6)] {
            let _ = write!(out, "\tset {name} {{\n\t\ttype {ty}; flags interval;\n");
            if !elems.is_empty() {
                let _ = writeln!(out, "\t\telements = {{ {} }}", elems.join(", "));
            }
            let _ = writeln!(out, "\t}}");
        }
    }
    let _ = writeln!(
        out,
        "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;"
    );
    // Neither end is a filtered port (mark 0): not ours to judge.
    let _ = writeln!(out, "\t\tmeta mark 0 accept");
    let _ = writeln!(out, "\t\tct state established,related accept");
    let _ = writeln!(out, "\t\tct state invalid drop");
    if !filtered.is_empty() {
        let map = |shift: u32, prefix: &str| {
            filtered
                .iter()
                .map(|(i, p)| {
                    format!(
                        "{:#x} : jump {prefix}_{}",
                        i << shift,
                        names::short(&p.id, 11)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "\t\tmeta mark & 0xffff vmap {{ {} }}",
            map(0, "egress")
        );
        let _ = writeln!(
            out,
            "\t\tmeta mark & 0xffff0000 vmap {{ {} }}",
            map(16, "ingress")
        );
    }
    let _ = writeln!(out, "\t}}");
    for (_, p) in filtered {
        let s = names::short(&p.id, 11);
        let port_rules: Vec<&SecurityGroupRule> = p
            .security_groups
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .flat_map(|g| rules.get(g.as_str()).into_iter().flatten().copied())
            .collect();
        let _ = writeln!(out, "\tchain egress_{s} {{");
        // Address configuration must work whatever the groups say.
        let _ = writeln!(
            out,
            "\t\tmeta nfproto ipv4 udp sport 68 udp dport 67 return"
        );
        let _ = writeln!(
            out,
            "\t\tmeta nfproto ipv6 icmpv6 type @{CONF_OUT_ICMPV6} return"
        );
        let _ = writeln!(
            out,
            "\t\tmeta nfproto ipv6 udp sport 546 udp dport 547 return"
        );
        for r in port_rules.iter().filter(|r| r.direction == "egress") {
            if let Some(m) = matched(r) {
                let _ = writeln!(out, "\t\t{m} return");
            }
        }
        let _ = writeln!(out, "\t\tdrop\n\t}}");
        let _ = writeln!(out, "\tchain ingress_{s} {{");
        let _ = writeln!(out, "\t\tmeta mark & 0xffff == {TRUSTED:#x} accept");
        let _ = writeln!(
            out,
            "\t\tmeta nfproto ipv4 udp sport 67 udp dport 68 accept"
        );
        let _ = writeln!(
            out,
            "\t\tmeta nfproto ipv6 icmpv6 type @{CONF_IN_ICMPV6} accept"
        );
        for r in port_rules.iter().filter(|r| r.direction == "ingress") {
            if let Some(m) = matched(r) {
                let _ = writeln!(out, "\t\t{m} accept");
            }
        }
        let _ = writeln!(out, "\t\tdrop\n\t}}");
    }
    let _ = writeln!(out, "}}");
}

/// The match of one rule (without verdict); `None` for a rule that cannot be
/// expressed (unknown ethertype or protocol, invalid prefix): it then admits
/// nothing, which is the safe reading of a rule one does not understand.
pub fn rule_match(r: &SecurityGroupRule) -> Option<String> {
    let (nfproto, ip) = match r.ethertype.as_str() {
        "IPv4" => ("ipv4", "ip"),
        "IPv6" => ("ipv6", "ip6"),
        _ => return None,
    };
    let mut m = vec![format!("meta nfproto {nfproto}")];
    // The remote end: the source of ingress traffic, the destination of egress.
    let addr = if r.direction == "ingress" {
        "saddr"
    } else {
        "daddr"
    };
    if let Some(prefix) = r.remote_ip_prefix.as_deref() {
        let c = normalized_cidr(prefix)?;
        if (c.version == 4) != (ip == "ip") {
            return None;
        }
        if c.prefix > 0 {
            m.push(format!("{ip} {addr} {c}"));
        }
    } else if let Some(g) = r.remote_group_id.as_deref() {
        let (n4, n6) = group_sets(g);
        m.push(format!("{ip} {addr} @{}", if ip == "ip" { n4 } else { n6 }));
    }
    if let Some(p) = r.protocol.as_deref() {
        let mut n = protocol_number(p)?;
        // Neutron reads "icmp" in an IPv6 rule as ICMPv6.
        if ip == "ip6" && n == 1 {
            n = 58;
        }
        m.push(format!("meta l4proto {n}"));
        match n {
            6 | 17 | 33 | 132 | 136 => match (r.port_range_min, r.port_range_max) {
                (Some(a), Some(b)) if a != b => m.push(format!("th dport {a}-{b}")),
                (Some(a), _) | (None, Some(a)) => m.push(format!("th dport {a}")),
                (None, None) => {}
            },
            1 | 58 => {
                let icmp = if n == 1 { "icmp" } else { "icmpv6" };
                if let Some(t) = r.port_range_min {
                    if t > 255 || r.port_range_max.is_some_and(|c| c > 255) {
                        return None;
                    }
                    m.push(format!("{icmp} type {t}"));
                    if let Some(c) = r.port_range_max {
                        m.push(format!("{icmp} code {c}"));
                    }
                }
            }
            _ => {}
        }
    }
    Some(m.join(" "))
}

#[cfg(test)]
#[path = "secgroups_tests.rs"]
mod tests;
