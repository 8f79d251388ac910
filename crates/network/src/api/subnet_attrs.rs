//! The attributes of a subnet request, checked as Neutron checks them: the CIDR
//! (host bits set are refused with the normalised form recommended), the gateway
//! (a usable address of the subnet, or none), allocation pools (inside the subnet,
//! disjoint, clear of the gateway), DNS name servers and host routes.

use super::common::*;
use crate::error::{Fault, NResult};
use crate::ipam::{self, Cidr, CidrError, PoolError};
use crate::types::{AllocationPool, HostRoute};
use serde_json::{Map, Value};

/// Neutron's `max_dns_nameservers` and `max_subnet_host_routes`.
pub const MAX_DNS: usize = 5;
pub const MAX_ROUTES: usize = 20;

/// A CIDR in Neutron's terms: invalid, or with host bits set (400 either way).
pub fn parse_cidr(v: &str) -> NResult<Cidr> {
    match Cidr::parse(v) {
        Ok(c) => Ok(c),
        Err(CidrError::HostBits { recommended }) => Err(Fault::invalid(format!(
            "'{v}' isn't a recognized IP subnet cidr, '{recommended}' is recommended"
        ))),
        Err(CidrError::Invalid) => Err(Fault::invalid(format!("'{v}' is not a valid IP subnet"))),
    }
}

/// The gateway: `None` absent, `Some(None)` explicitly none, else checked to be a
/// usable address of the subnet.
pub fn gateway(obj: &Map<String, Value>, cidr: &Cidr) -> NResult<Option<Option<u128>>> {
    match nullable_string(obj, "gateway_ip", MAX_NAME)? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(g)) => {
            let (v, a) = ipam::parse_ip(&g)
                .ok_or_else(|| Fault::invalid(format!("'{g}' is not a valid IP address")))?;
            let (lo, hi) = cidr.usable();
            if v != cidr.version || a < lo || a > hi {
                return Err(Fault::invalid(format!(
                    "Gateway is not valid on subnet: {g} is not a usable address of {cidr}"
                )));
            }
            Ok(Some(Some(a)))
        }
    }
}

/// `allocation_pools` as given: `[{"start", "end"}]`.
pub fn pools_from(obj: &Map<String, Value>) -> NResult<Option<Vec<(String, String)>>> {
    let Some(v) = obj.get("allocation_pools") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| Fault::invalid(format!("Invalid data format for IP pool: '{v}'")))?;
    items
        .iter()
        .map(|p| {
            let o = p
                .as_object()
                .filter(|o| o.len() == 2)
                .ok_or_else(|| Fault::invalid(format!("Invalid data format for IP pool: '{p}'")))?;
            match (o.get("start"), o.get("end")) {
                (Some(Value::String(s)), Some(Value::String(e))) => Ok((s.clone(), e.clone())),
                _ => Err(Fault::invalid(format!(
                    "Invalid data format for IP pool: '{p}'"
                ))),
            }
        })
        .collect::<NResult<Vec<_>>>()
        .map(Some)
}

/// Checks pools against the subnet, with Neutron's exception names.
pub fn check_pools(
    cidr: &Cidr,
    pools: &[(String, String)],
    gw: Option<u128>,
) -> NResult<Vec<(u128, u128)>> {
    ipam::check_pools(cidr, pools, gw).map_err(|e| match e {
        PoolError::Invalid(a) => Fault::invalid(format!(
            "'{a}' is not a valid IP address of the subnet's version"
        )),
        PoolError::Reversed(s, e) => Fault::bad(
            "InvalidAllocationPool",
            format!("The allocation pool {s}-{e} spans beyond the subnet cidr {cidr}."),
        ),
        PoolError::OutOfBounds(s, e) => Fault::bad(
            "OutOfBoundsAllocationPool",
            format!("The allocation pool {s}-{e} spans beyond the subnet cidr {cidr}."),
        ),
        PoolError::Overlap => Fault::bad(
            "OverlappingAllocationPools",
            format!("Found overlapping allocation pools for subnet {cidr}."),
        ),
        PoolError::Gateway(g, pool) => Fault::conflict(
            "GatewayConflictWithAllocationPools",
            format!("Gateway ip {g} conflicts with allocation pool {pool}."),
        ),
    })
}

/// Pools as stored and shown.
pub fn to_pools(version: u8, pools: &[(u128, u128)]) -> Vec<AllocationPool> {
    pools
        .iter()
        .map(|(s, e)| AllocationPool {
            start: ipam::format_ip(version, *s),
            end: ipam::format_ip(version, *e),
        })
        .collect()
}

/// `dns_nameservers`: at most [`MAX_DNS`] addresses of the subnet's version, no repeats.
pub fn dns(obj: &Map<String, Value>, version: u8) -> NResult<Option<Vec<String>>> {
    let Some(list) = string_list(obj, "dns_nameservers")? else {
        return Ok(None);
    };
    if list.len() > MAX_DNS {
        return Err(Fault::bad("DNSNameServersExhausted", format!("Unable to complete operation for the subnet. The number of DNS nameservers exceeds the limit {MAX_DNS}.")));
    }
    let mut out: Vec<String> = Vec::new();
    for d in list {
        match ipam::parse_ip(&d) {
            Some((v, a)) if v == version => {
                let c = ipam::format_ip(v, a);
                if out.contains(&c) {
                    return Err(Fault::invalid(format!("Duplicate nameserver '{d}'")));
                }
                out.push(c);
            }
            _ => {
                return Err(Fault::invalid(format!(
                    "'{d}' is not a valid nameserver for this subnet"
                )))
            }
        }
    }
    Ok(Some(out))
}

/// `host_routes`: at most [`MAX_ROUTES`] `{destination, nexthop}` of the subnet's version.
pub fn routes(obj: &Map<String, Value>, version: u8) -> NResult<Option<Vec<HostRoute>>> {
    let Some(v) = obj.get("host_routes") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| Fault::invalid(format!("'{v}' is not a list")))?;
    if items.len() > MAX_ROUTES {
        return Err(Fault::bad("HostRoutesExhausted", format!("Unable to complete operation for the subnet. The number of host routes exceeds the limit {MAX_ROUTES}.")));
    }
    let mut out: Vec<HostRoute> = Vec::new();
    for r in items {
        let bad = || Fault::invalid(format!("Invalid data format for hostroute: '{r}'"));
        let o = r.as_object().filter(|o| o.len() == 2).ok_or_else(bad)?;
        let (Some(Value::String(d)), Some(Value::String(n))) =
            (o.get("destination"), o.get("nexthop"))
        else {
            return Err(bad());
        };
        let dest = parse_cidr(d)?;
        let hop = ipam::parse_ip(n).ok_or_else(bad)?;
        if dest.version != version || hop.0 != version {
            return Err(Fault::invalid(format!(
                "Host route {d} via {n} is not of IP version {version}"
            )));
        }
        let route = HostRoute {
            destination: dest.to_string(),
            nexthop: ipam::format_ip(hop.0, hop.1),
        };
        if out.contains(&route) {
            return Err(Fault::invalid(format!("Duplicate hostroute '{r}'")));
        }
        out.push(route);
    }
    Ok(Some(out))
}
