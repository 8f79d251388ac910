//! Security groups as Neutron keeps them: every project has one `default` group,
//! created on first need with upstream's default rules; a new group starts with
//! the two egress rules; rules are validated (and compared for duplicates) the way
//! Neutron does. Enforcement is the agent's business.

use crate::error::{Fault, NResult};
use crate::ipam::{Cidr, CidrError};
use crate::types::{SecurityGroup, SecurityGroupRule};
use chrono::Utc;
use nimbus_store::Tx;

/// The name of the group every project has.
pub const DEFAULT_NAME: &str = "default";

/// A new group's id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A rule with only the fields that make it what it is.
pub fn rule(
    group: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group_id: Option<String>,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: new_id(),
        project_id: group.project_id.clone(),
        security_group_id: group.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id,
        description: String::new(),
        created_at: Utc::now(),
    }
}

/// The rules a new group starts with: egress anywhere, IPv4 and IPv6.
pub fn egress_rules(group: &SecurityGroup) -> Vec<SecurityGroupRule> {
    vec![
        rule(group, "egress", "IPv4", None),
        rule(group, "egress", "IPv6", None),
    ]
}

/// The default group's rules: egress anywhere and ingress from members of itself.
pub fn default_rules(group: &SecurityGroup) -> Vec<SecurityGroupRule> {
    let mut rules = egress_rules(group);
    rules.push(rule(group, "ingress", "IPv4", Some(group.id.clone())));
    rules.push(rule(group, "ingress", "IPv6", Some(group.id.clone())));
    rules
}

/// Creates a group with its rules inside `tx`.
pub async fn create_in(
    tx: &mut Tx<'_>,
    group: &SecurityGroup,
    rules: &[SecurityGroupRule],
) -> nimbus_store::Result<()> {
    tx.create(group).await?;
    for r in rules {
        tx.create(r).await?;
    }
    Ok(())
}

/// The project's `default` group, created (with its rules) when missing.
pub async fn ensure_default_in(tx: &mut Tx<'_>, project_id: &str) -> NResult<SecurityGroup> {
    if let Some(g) = tx
        .list::<SecurityGroup>(Some(project_id))
        .await?
        .into_iter()
        .find(|g| g.value.name == DEFAULT_NAME)
    {
        return Ok(g.value);
    }
    let now = Utc::now();
    let group = SecurityGroup {
        id: new_id(),
        project_id: project_id.to_string(),
        name: DEFAULT_NAME.into(),
        description: "Default security group".into(),
        stateful: true,
        tags: Default::default(),
        created_at: now,
        updated_at: now,
    };
    // A conflict means another process created it first; the caller's transaction
    // fails with 409 and a retry finds the group.
    create_in(tx, &group, &default_rules(&group)).await?;
    Ok(group)
}

/// IP protocol names Neutron accepts, with their numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// The protocol number of a name or number; `None` if it is neither.
pub fn protocol_number(p: &str) -> Option<u8> {
    let lower = p.to_ascii_lowercase();
    if let Some((_, n)) = PROTOCOLS.iter().find(|(name, _)| *name == lower) {
        return Some(*n);
    }
    if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) {
        return p.parse::<u8>().ok();
    }
    None
}

/// Protocols whose rules may carry port ranges.
fn has_ports(n: u8) -> bool {
    matches!(n, 6 | 17 | 33 | 132 | 136)
}

fn is_icmp(n: u8) -> bool {
    matches!(n, 1 | 58)
}

/// What a rule asks for, before it is checked.
#[derive(Clone, Debug, Default)]
pub struct RuleSpec {
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// A checked rule: the protocol kept as given (lower-cased names), ports in range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRule {
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

/// Checks a rule as Neutron does (remote group existence is the caller's check).
pub fn check_rule(spec: RuleSpec) -> NResult<CheckedRule> {
    if !matches!(spec.direction.as_str(), "ingress" | "egress") {
        return Err(Fault::invalid(format!(
            "{} is not in valid_values ['ingress', 'egress'].",
            spec.direction
        )));
    }
    if !matches!(spec.ethertype.as_str(), "IPv4" | "IPv6") {
        return Err(Fault::bad(
            "SecurityGroupRuleInvalidEtherType",
            format!(
                "Security group rule for ethertype '{}' not supported. Allowed values are ['IPv4', 'IPv6'].",
                spec.ethertype
            ),
        ));
    }
    // "any" (and an empty string) mean no protocol, as in Neutron.
    let protocol = spec
        .protocol
        .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("any"));
    let number = match &protocol {
        None => None,
        Some(p) => Some(protocol_number(p).ok_or_else(|| {
            Fault::bad(
                "SecurityGroupRuleInvalidProtocol",
                format!(
                    "Security group rule protocol {p} not supported. Only protocol values \
                     [None, {}] and integer representations [0 to 255] are supported.",
                    PROTOCOLS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?),
    };
    let (min, max) = (spec.port_range_min, spec.port_range_max);
    match number {
        _ if min.is_none() && max.is_none() => {}
        None => {
            return Err(Fault::bad(
                "SecurityGroupProtocolRequiredWithPorts",
                "Must also specify protocol if port range is given.",
            ))
        }
        Some(n) if has_ports(n) => {
            for port in [min, max].into_iter().flatten() {
                if !(1..=65535).contains(&port) {
                    return Err(Fault::bad(
                        "SecurityGroupInvalidPortValue",
                        format!("Invalid value for port {port}."),
                    ));
                }
            }
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(Fault::bad(
                        "SecurityGroupInvalidPortRange",
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ));
                }
            }
        }
        Some(n) if is_icmp(n) => {
            for (field, v) in [("type", min), ("code", max)] {
                if let Some(v) = v {
                    if !(0..=255).contains(&v) {
                        return Err(Fault::bad(
                            "SecurityGroupInvalidIcmpValue",
                            format!("Invalid value for ICMP {field} (port-range-min): {v}. It must be 0 to 255."),
                        ));
                    }
                }
            }
            if min.is_none() && max.is_some() {
                return Err(Fault::bad(
                    "SecurityGroupMissingIcmpType",
                    format!("ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.", max.unwrap_or_default()),
                ));
            }
        }
        Some(_) => {
            return Err(Fault::bad(
                "SecurityGroupInvalidProtocolForPort",
                format!(
                    "Invalid protocol {} for port range, only supported for TCP, UDP, UDPLITE, SCTP, DCCP and ICMP.",
                    protocol.as_deref().unwrap_or("")
                ),
            ))
        }
    }
    if spec.remote_ip_prefix.is_some() && spec.remote_group_id.is_some() {
        return Err(Fault::bad(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    let remote_ip_prefix = match spec.remote_ip_prefix {
        None => None,
        Some(prefix) => {
            let cidr = normalized_cidr(&prefix)
                .ok_or_else(|| Fault::invalid(format!("'{prefix}' is not a valid IP subnet.")))?;
            let version = if spec.ethertype == "IPv4" { 4 } else { 6 };
            if cidr.version != version {
                return Err(Fault::bad(
                    "SecurityGroupRuleParameterConflict",
                    format!(
                        "Conflicting value ethertype {} for CIDR {prefix}",
                        spec.ethertype
                    ),
                ));
            }
            Some(prefix)
        }
    };
    Ok(CheckedRule {
        direction: spec.direction,
        ethertype: spec.ethertype,
        protocol: protocol.map(|p| p.to_ascii_lowercase()),
        port_range_min: min.map(|v| v as u16),
        port_range_max: max.map(|v| v as u16),
        remote_ip_prefix,
        remote_group_id: spec.remote_group_id,
    })
}

/// A remote prefix with its host bits cleared (Neutron's `normalized_cidr`).
pub fn normalized_cidr(prefix: &str) -> Option<Cidr> {
    match Cidr::parse(prefix) {
        Ok(c) => Some(c),
        Err(CidrError::HostBits { recommended }) => Cidr::parse(&recommended).ok(),
        Err(CidrError::Invalid) => None,
    }
}

/// Whether two rules match the same traffic (Neutron's duplicate check): the
/// protocol compared by number, the prefix normalised, "any" prefixes as none.
pub fn same_rule(a: &SecurityGroupRule, b: &CheckedRule) -> bool {
    let proto = |p: &Option<String>| p.as_deref().and_then(protocol_number);
    let prefix = |p: &Option<String>| {
        p.as_deref()
            .and_then(normalized_cidr)
            .filter(|c| c.prefix != 0)
            .map(|c| c.to_string())
    };
    a.direction == b.direction
        && a.ethertype == b.ethertype
        && proto(&a.protocol) == proto(&b.protocol)
        && a.port_range_min == b.port_range_min
        && a.port_range_max == b.port_range_max
        && prefix(&a.remote_ip_prefix) == prefix(&b.remote_ip_prefix)
        && a.remote_group_id == b.remote_group_id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(protocol: Option<&str>, min: Option<i64>, max: Option<i64>) -> RuleSpec {
        RuleSpec {
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: protocol.map(str::to_string),
            port_range_min: min,
            port_range_max: max,
            ..Default::default()
        }
    }

    #[test]
    fn protocols_by_name_or_number() {
        assert_eq!(protocol_number("tcp"), Some(6));
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("17"), Some(17));
        assert_eq!(protocol_number("256"), None);
        assert_eq!(protocol_number("bogus"), None);
    }

    #[test]
    fn port_ranges_only_for_port_protocols() {
        assert!(check_rule(spec(Some("tcp"), Some(22), Some(22))).is_ok());
        assert_eq!(
            check_rule(spec(Some("tcp"), Some(23), Some(22)))
                .unwrap_err()
                .kind,
            "SecurityGroupInvalidPortRange"
        );
        assert_eq!(
            check_rule(spec(Some("tcp"), Some(0), Some(22)))
                .unwrap_err()
                .kind,
            "SecurityGroupInvalidPortValue"
        );
        assert_eq!(
            check_rule(spec(Some("gre"), Some(1), Some(2)))
                .unwrap_err()
                .kind,
            "SecurityGroupInvalidProtocolForPort"
        );
        assert_eq!(
            check_rule(spec(None, Some(1), Some(2))).unwrap_err().kind,
            "SecurityGroupProtocolRequiredWithPorts"
        );
        assert!(check_rule(spec(Some("icmp"), Some(8), Some(0))).is_ok());
        assert_eq!(
            check_rule(spec(Some("icmp"), None, Some(0)))
                .unwrap_err()
                .kind,
            "SecurityGroupMissingIcmpType"
        );
        assert_eq!(
            check_rule(spec(Some("icmp"), Some(256), None))
                .unwrap_err()
                .kind,
            "SecurityGroupInvalidIcmpValue"
        );
    }

    #[test]
    fn prefixes_match_ethertype_and_exclude_remote_groups() {
        let mut s = spec(Some("tcp"), None, None);
        s.remote_ip_prefix = Some("fd00::/64".into());
        assert_eq!(
            check_rule(s.clone()).unwrap_err().kind,
            "SecurityGroupRuleParameterConflict"
        );
        s.remote_ip_prefix = Some("10.0.0.1/24".into());
        assert!(check_rule(s.clone()).is_ok());
        s.remote_group_id = Some("g".into());
        assert_eq!(
            check_rule(s).unwrap_err().kind,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix"
        );
    }
}
