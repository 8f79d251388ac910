//! The attributes of a port request, checked as Neutron checks them: requested
//! `fixed_ips`, `allowed_address_pairs`, the security groups a port may use, and
//! the conflicts between port security, groups and address pairs.

use crate::alloc::{self, IpRequest};
use crate::error::{Fault, Kind, NResult};
use crate::ipam;
use crate::secgroups;
use crate::types::SecurityGroup;
use nimbus_api::auth::Principal;
use nimbus_store::Tx;
use serde_json::{Map, Value};

/// Neutron's limit of allowed address pairs per port.
pub const MAX_PAIRS: usize = 10;

/// Requested `fixed_ips`: entries of `subnet_id` and/or `ip_address`.
pub fn fixed_ips(obj: &Map<String, Value>) -> NResult<Option<Vec<IpRequest>>> {
    let Some(v) = obj.get("fixed_ips") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| Fault::invalid(format!("Invalid data format for fixed IP: '{v}'")))?;
    items
        .iter()
        .map(|i| {
            let bad = || Fault::invalid(format!("Invalid data format for fixed IP: '{i}'"));
            let o = i.as_object().ok_or_else(bad)?;
            if o.keys().any(|k| k != "subnet_id" && k != "ip_address") {
                return Err(bad());
            }
            let field = |k: &str| match o.get(k) {
                None => Ok(None),
                Some(Value::String(s)) if !s.contains('\0') => Ok(Some(s.clone())),
                Some(_) => Err(bad()),
            };
            Ok(IpRequest {
                subnet_id: field("subnet_id")?,
                ip_address: field("ip_address")?,
            })
        })
        .collect::<NResult<Vec<_>>>()
        .map(Some)
}

/// An allowed address pair as requested: address or CIDR, and the MAC if given.
pub type PairRequest = (String, Option<String>);

/// `allowed_address_pairs`: at most [`MAX_PAIRS`] distinct `{ip_address, mac_address?}`.
pub fn address_pairs(obj: &Map<String, Value>) -> NResult<Option<Vec<PairRequest>>> {
    let Some(v) = obj.get("allowed_address_pairs") else {
        return Ok(None);
    };
    let items = v.as_array().ok_or_else(|| {
        Fault::bad(
            "AllowedAddressPairsMissingIP",
            format!("Allowed address pairs must be a list: '{v}'"),
        )
    })?;
    if items.len() > MAX_PAIRS {
        return Err(Fault::bad(
            "AllowedAddressPairExhausted",
            format!("The number of allowed address pair exceeds the maximum {MAX_PAIRS}."),
        ));
    }
    let mut out: Vec<PairRequest> = Vec::new();
    for i in items {
        let o = i.as_object().ok_or_else(|| {
            Fault::bad(
                "AllowedAddressPairsMissingIP",
                "AllowedAddressPair must contain ip_address",
            )
        })?;
        if let Some(k) = o.keys().find(|k| *k != "ip_address" && *k != "mac_address") {
            return Err(Fault::invalid(format!("Unrecognized attribute(s) '{k}'")));
        }
        let ip = match o.get("ip_address") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(Fault::bad(
                    "AllowedAddressPairsMissingIP",
                    "AllowedAddressPair must contain ip_address",
                ))
            }
        };
        if ipam::parse_ip(&ip).is_none() && secgroups::normalized_cidr(&ip).is_none() {
            return Err(Fault::invalid(format!(
                "'{ip}' is not a valid IP address or CIDR"
            )));
        }
        let mac = match o.get("mac_address") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(
                alloc::normalize_mac(m)
                    .ok_or_else(|| Fault::invalid(format!("'{m}' is not a valid MAC address")))?,
            ),
            Some(other) => {
                return Err(Fault::invalid(format!(
                    "'{other}' is not a valid MAC address"
                )))
            }
        };
        let entry = (ip, mac);
        if out.contains(&entry) {
            return Err(Fault::bad(
                "DuplicateAddressPairInRequest",
                format!(
                    "Request contains duplicate address pair: mac_address {:?} ip_address {}.",
                    entry.1, entry.0
                ),
            ));
        }
        out.push(entry);
    }
    Ok(Some(out))
}

/// The security groups a port of `project_id` may use: owned by that project.
pub async fn check_groups(
    tx: &mut Tx<'_>,
    caller: &Principal,
    project_id: &str,
    ids: &[String],
) -> NResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let g = tx.get::<SecurityGroup>(id).await?.map(|v| v.value);
        match g {
            Some(g) if g.project_id == project_id || caller.is_cloud_admin() => {
                if !out.contains(&g.id) {
                    out.push(g.id);
                }
            }
            _ => return Err(Fault::not_found(Kind::SecurityGroup, id)),
        }
    }
    Ok(out)
}

/// Neutron's 409 for a MAC another port of the network has.
/// The port binding attributes this cloud takes: no `binding:profile`, a
/// `normal` VNIC (what create and update both check).
pub fn check_binding(obj: &Map<String, Value>) -> NResult<()> {
    if obj
        .get("binding:profile")
        .is_some_and(|v| !v.is_null() && v != &serde_json::json!({}))
    {
        return Err(Fault::invalid(
            "binding:profile is not supported by this cloud",
        ));
    }
    if obj.get("binding:vnic_type").is_some_and(|v| v != "normal") {
        return Err(Fault::invalid("binding:vnic_type must be 'normal'"));
    }
    Ok(())
}

pub fn mac_in_use(network_id: &str, mac: &str) -> Fault {
    Fault::conflict(
        "MacAddressInUse",
        format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
    )
}

/// Neutron's 400 for security groups on a port without port security.
pub fn no_security_with_groups() -> Fault {
    Fault::bad(
        "PortSecurityAndIPRequiredForSecurityGroups",
        "Port security must be enabled and port must have an IP address in order to use security groups.",
    )
}

/// Neutron's 409 for address pairs on a port without port security.
pub fn pairs_need_security() -> Fault {
    Fault::conflict(
        "AddressPairAndPortSecurityRequired",
        "Port Security must be enabled in order to have allowed address pairs on a port.",
    )
}
