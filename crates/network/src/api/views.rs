//! The JSON of each resource exactly as Neutron shows it: every list attribute
//! present (empty when there is nothing), `tags`, `project_id` and `tenant_id`,
//! timestamps, `revision_number` (the store revision of the last change) and the
//! attributes of the extensions listed in `/extensions`.

use super::common::time;

use crate::secgroups::{self, normalized_cidr};
use crate::types::{Network, Port, SecurityGroup, SecurityGroupRule, Subnet};
use serde_json::{json, Value};

pub fn network(n: &Network, revision: i64, subnet_ids: &[String]) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "description": n.description,
        "project_id": n.project_id,
        "tenant_id": n.project_id,
        "admin_state_up": n.admin_state_up,
        "status": "ACTIVE",
        "shared": n.shared,
        "router:external": n.external,
        "mtu": n.mtu,
        "port_security_enabled": n.port_security_enabled,
        "subnets": subnet_ids,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "l2_adjacency": true,
        "tags": n.tags,
        "created_at": time(&n.created_at),
        "updated_at": time(&n.updated_at),
        "revision_number": revision,
    })
}

pub fn subnet(s: &Subnet, revision: i64) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "project_id": s.project_id,
        "tenant_id": s.project_id,
        "network_id": s.network_id,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "gateway_ip": s.gateway_ip,
        "allocation_pools": s.allocation_pools,
        "enable_dhcp": s.enable_dhcp,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes,
        "ipv6_address_mode": null,
        "ipv6_ra_mode": null,
        "subnetpool_id": null,
        "segment_id": null,
        "service_types": [],
        "tags": s.tags,
        "created_at": time(&s.created_at),
        "updated_at": time(&s.updated_at),
        "revision_number": revision,
    })
}

pub fn port(p: &Port, revision: i64) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "project_id": p.project_id,
        "tenant_id": p.project_id,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "fixed_ips": p.fixed_ips,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "security_groups": p.security_groups,
        "port_security_enabled": p.port_security_enabled,
        "allowed_address_pairs": p.allowed_address_pairs,
        "extra_dhcp_opts": [],
        "binding:host_id": p.host,
        "binding:profile": {},
        "binding:vif_details": {},
        "binding:vif_type": if p.host.is_empty() { "unbound" } else { "tap" },
        "binding:vnic_type": "normal",
        "ip_allocation": "immediate",
        "tags": p.tags,
        "created_at": time(&p.created_at),
        "updated_at": time(&p.updated_at),
        "revision_number": revision,
    })
}

pub fn rule(r: &SecurityGroupRule, revision: i64, in_default: bool) -> Value {
    // Neutron shows the protocol as given; port ranges and prefixes as stored.
    let normalized = r
        .remote_ip_prefix
        .as_deref()
        .and_then(normalized_cidr)
        .map(|c| c.to_string());
    json!({
        "id": r.id,
        "project_id": r.project_id,
        "tenant_id": r.project_id,
        "security_group_id": r.security_group_id,
        "direction": r.direction,
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix,
        "normalized_cidr": normalized,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "belongs_to_default_sg": in_default,
        "description": r.description,
        "tags": [],
        "created_at": time(&r.created_at),
        "updated_at": time(&r.created_at),
        "revision_number": revision,
    })
}

pub fn security_group(
    g: &SecurityGroup,
    revision: i64,
    rules: &[(SecurityGroupRule, i64)],
) -> Value {
    let is_default = g.name == secgroups::DEFAULT_NAME;
    let rules: Vec<Value> = rules
        .iter()
        .map(|(r, rev)| rule(r, *rev, is_default))
        .collect();
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "project_id": g.project_id,
        "tenant_id": g.project_id,
        "stateful": g.stateful,
        "shared": false,
        "security_group_rules": rules,
        "tags": g.tags,
        "created_at": time(&g.created_at),
        "updated_at": time(&g.updated_at),
        "revision_number": revision,
    })
}
