//! Address arithmetic for IPAM: CIDRs, default gateways and allocation pools as
//! Neutron computes them, pool validation, and the first free address of a subnet.
//! Addresses are handled as `u128` with their IP version, so IPv4 and IPv6 share
//! one implementation (an IPv4 address is its 32-bit value).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A normalised CIDR: the network address and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub version: u8,
    /// The network address (host bits zero).
    pub network: u128,
    pub prefix: u8,
}

/// What is wrong with a CIDR or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// Not an address/prefix at all.
    Invalid,
    /// Host bits set: Neutron recommends the normalised form.
    HostBits { recommended: String },
}

/// Parses an IP address into its version and value.
pub fn parse_ip(s: &str) -> Option<(u8, u128)> {
    match s.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((4, u32::from(a) as u128)),
        IpAddr::V6(a) => Some((6, u128::from(a))),
    }
}

/// Formats an address of `version`.
pub fn format_ip(version: u8, v: u128) -> String {
    if version == 4 {
        Ipv4Addr::from(v as u32).to_string()
    } else {
        Ipv6Addr::from(v).to_string()
    }
}

/// The canonical text form of an address (`::0001` → `::1`), if it is one.
pub fn canonical_ip(s: &str) -> Option<String> {
    parse_ip(s).map(|(v, a)| format_ip(v, a))
}

fn bits(version: u8) -> u8 {
    if version == 4 {
        32
    } else {
        128
    }
}

impl Cidr {
    /// Parses `a.b.c.d/n` (or IPv6); a bare address is a host route (`/32`, `/128`).
    /// Host bits set are refused with the recommended form, as Neutron does.
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let (version, value) = parse_ip(addr).ok_or(CidrError::Invalid)?;
        let max = bits(version);
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().map_err(|_| CidrError::Invalid)?
            }
            Some(_) => return Err(CidrError::Invalid),
        };
        if prefix > max {
            return Err(CidrError::Invalid);
        }
        let cidr = Cidr {
            version,
            network: value & mask(version, prefix),
            prefix,
        };
        if cidr.network != value {
            return Err(CidrError::HostBits {
                recommended: cidr.to_string(),
            });
        }
        Ok(cidr)
    }

    /// The first address (the network address).
    pub fn first(&self) -> u128 {
        self.network
    }

    /// The last address (the broadcast address in IPv4).
    pub fn last(&self) -> u128 {
        self.network | !mask(self.version, self.prefix) & all_ones(self.version)
    }

    /// Number of addresses, saturated.
    pub fn size(&self) -> u128 {
        let host_bits = bits(self.version) - self.prefix;
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    pub fn contains(&self, version: u8, ip: u128) -> bool {
        version == self.version && ip >= self.first() && ip <= self.last()
    }

    /// Whether two CIDRs share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.version == other.version
            && self.first() <= other.last()
            && other.first() <= self.last()
    }

    /// The range addresses may be handed out from: without the network address and,
    /// in IPv4, the broadcast address (single-address and /31 networks keep theirs).
    pub fn usable(&self) -> (u128, u128) {
        let (first, last) = (self.first(), self.last());
        if first == last {
            return (first, last);
        }
        let start = first + 1;
        let end = if self.version == 4 { last - 1 } else { last };
        if start > end {
            (first, last)
        } else {
            (start, end)
        }
    }

    /// Neutron's default gateway: the first usable address.
    pub fn default_gateway(&self) -> u128 {
        self.usable().0
    }

    /// Neutron's default allocation pools: the usable range without the gateway.
    pub fn default_pools(&self, gateway: Option<u128>) -> Vec<(u128, u128)> {
        let (start, end) = self.usable();
        match gateway {
            Some(g) if g >= start && g <= end => {
                let mut pools = Vec::new();
                if g > start {
                    pools.push((start, g - 1));
                }
                if g < end {
                    pools.push((g + 1, end));
                }
                pools
            }
            _ => vec![(start, end)],
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            format_ip(self.version, self.network),
            self.prefix
        )
    }
}

fn all_ones(version: u8) -> u128 {
    if version == 4 {
        u32::MAX as u128
    } else {
        u128::MAX
    }
}

fn mask(version: u8, prefix: u8) -> u128 {
    let b = bits(version);
    if prefix == 0 {
        return 0;
    }
    let host = b - prefix;
    let m = if host >= 128 { 0 } else { u128::MAX << host };
    m & all_ones(version)
}

/// Why a set of allocation pools is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// An address does not parse or is of the other IP version.
    Invalid(String),
    /// start > end.
    Reversed(String, String),
    /// Outside the usable range of the subnet.
    OutOfBounds(String, String),
    /// Two pools share addresses.
    Overlap,
    /// The gateway lies inside a pool (gateway, `start-end`).
    Gateway(String, String),
}

/// Parses and checks pools against the subnet: well-formed, ordered, inside the
/// usable range, disjoint, and not containing the gateway.
pub fn check_pools(
    cidr: &Cidr,
    pools: &[(String, String)],
    gateway: Option<u128>,
) -> Result<Vec<(u128, u128)>, PoolError> {
    let mut out = Vec::new();
    for (s, e) in pools {
        let parse = |x: &str| match parse_ip(x) {
            Some((v, a)) if v == cidr.version => Ok(a),
            _ => Err(PoolError::Invalid(x.to_string())),
        };
        let (start, end) = (parse(s)?, parse(e)?);
        if start > end {
            return Err(PoolError::Reversed(s.clone(), e.clone()));
        }
        let (lo, hi) = cidr.usable();
        if start < lo || end > hi {
            return Err(PoolError::OutOfBounds(s.clone(), e.clone()));
        }
        out.push((start, end));
    }
    let mut sorted = out.clone();
    sorted.sort();
    if sorted.windows(2).any(|w| w[1].0 <= w[0].1) {
        return Err(PoolError::Overlap);
    }
    if let Some(g) = gateway {
        if let Some((s, e)) = out.iter().find(|(s, e)| g >= *s && g <= *e) {
            let v = cidr.version;
            return Err(PoolError::Gateway(
                format_ip(v, g),
                format!("{}-{}", format_ip(v, *s), format_ip(v, *e)),
            ));
        }
    }
    Ok(out)
}

/// The first address of the pools (in pool order) that is not in `used`.
/// Looks at most `used.len() + 1` addresses per pool, so huge IPv6 pools are cheap.
pub fn first_free(pools: &[(u128, u128)], used: &HashSet<u128>) -> Option<u128> {
    for (start, end) in pools {
        let mut a = *start;
        loop {
            if !used.contains(&a) {
                return Some(a);
            }
            if a == *end {
                break;
            }
            a += 1;
        }
    }
    None
}

/// Whether an address lies inside one of the pools.
pub fn in_pools(pools: &[(u128, u128)], ip: u128) -> bool {
    pools.iter().any(|(s, e)| ip >= *s && ip <= *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u128 {
        parse_ip(s).unwrap().1
    }

    #[test]
    fn parses_and_normalises_cidrs() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/24");
        assert_eq!(format_ip(4, c.last()), "10.0.0.255");
        assert_eq!(
            Cidr::parse("10.0.0.1/24"),
            Err(CidrError::HostBits {
                recommended: "10.0.0.0/24".into()
            })
        );
        assert_eq!(Cidr::parse("10.0.0.0/33"), Err(CidrError::Invalid));
        assert_eq!(Cidr::parse("10.0.0/24"), Err(CidrError::Invalid));
        assert_eq!(Cidr::parse("10.0.0.0/+4"), Err(CidrError::Invalid));
        assert_eq!(Cidr::parse("nope"), Err(CidrError::Invalid));
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().size(), 1 << 32);
        let v6 = Cidr::parse("fd00::/64").unwrap();
        assert_eq!(format_ip(6, v6.last()), "fd00::ffff:ffff:ffff:ffff");
        assert_eq!(Cidr::parse("::/0").unwrap().size(), u128::MAX);
    }

    #[test]
    fn default_gateway_and_pools_follow_neutron() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        let gw = c.default_gateway();
        assert_eq!(format_ip(4, gw), "10.0.0.1");
        assert_eq!(
            c.default_pools(Some(gw)),
            vec![(ip("10.0.0.2"), ip("10.0.0.254"))]
        );
        // A gateway in the middle splits the pool.
        assert_eq!(
            c.default_pools(Some(ip("10.0.0.100"))),
            vec![
                (ip("10.0.0.1"), ip("10.0.0.99")),
                (ip("10.0.0.101"), ip("10.0.0.254"))
            ]
        );
        assert_eq!(
            c.default_pools(None),
            vec![(ip("10.0.0.1"), ip("10.0.0.254"))]
        );
        // IPv6 keeps the last address.
        let v6 = Cidr::parse("fd00::/120").unwrap();
        assert_eq!(
            v6.default_pools(Some(v6.default_gateway())),
            vec![(ip("fd00::2"), ip("fd00::ff"))]
        );
        let host = Cidr::parse("10.0.0.7/32").unwrap();
        assert_eq!(host.usable(), (ip("10.0.0.7"), ip("10.0.0.7")));
    }

    #[test]
    fn pools_are_checked() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        let p = |a: &str, b: &str| (a.to_string(), b.to_string());
        let gw = Some(ip("10.0.0.1"));
        assert!(check_pools(&c, &[p("10.0.0.10", "10.0.0.20")], gw).is_ok());
        assert_eq!(
            check_pools(&c, &[p("10.0.0.20", "10.0.0.10")], gw),
            Err(PoolError::Reversed("10.0.0.20".into(), "10.0.0.10".into()))
        );
        assert!(matches!(
            check_pools(&c, &[p("10.0.0.0", "10.0.0.10")], gw),
            Err(PoolError::OutOfBounds(..))
        ));
        assert!(matches!(
            check_pools(&c, &[p("10.0.0.200", "10.0.1.10")], gw),
            Err(PoolError::OutOfBounds(..))
        ));
        assert_eq!(
            check_pools(
                &c,
                &[p("10.0.0.2", "10.0.0.9"), p("10.0.0.9", "10.0.0.20")],
                gw
            ),
            Err(PoolError::Overlap)
        );
        assert_eq!(
            check_pools(&c, &[p("10.0.0.1", "10.0.0.9")], gw),
            Err(PoolError::Gateway(
                "10.0.0.1".into(),
                "10.0.0.1-10.0.0.9".into()
            ))
        );
        assert!(matches!(
            check_pools(&c, &[p("fd00::1", "fd00::2")], gw),
            Err(PoolError::Invalid(_))
        ));
    }

    #[test]
    fn first_free_skips_used_and_exhausts() {
        let pools = vec![
            (ip("10.0.0.2"), ip("10.0.0.3")),
            (ip("10.0.0.10"), ip("10.0.0.10")),
        ];
        let mut used = HashSet::new();
        assert_eq!(first_free(&pools, &used), Some(ip("10.0.0.2")));
        used.insert(ip("10.0.0.2"));
        used.insert(ip("10.0.0.3"));
        assert_eq!(first_free(&pools, &used), Some(ip("10.0.0.10")));
        used.insert(ip("10.0.0.10"));
        assert_eq!(first_free(&pools, &used), None);
        let v6 = vec![(ip("fd00::2"), ip("fd00::ffff:ffff:ffff:ffff"))];
        assert_eq!(first_free(&v6, &HashSet::new()), Some(ip("fd00::2")));
        assert!(in_pools(&pools, ip("10.0.0.3")));
        assert!(!in_pools(&pools, ip("10.0.0.4")));
    }
}
