//! Objects for the agent tests, written as the APIs would write them.

#![allow(dead_code)]

use chrono::Utc;
use nimbus_compute::server::Server;
use nimbus_compute::types::Flavor;
use nimbus_network::types::{AllocationPool, FixedIp, Network, Port, Subnet};
use std::collections::{BTreeMap, BTreeSet};

pub const PROJECT: &str = "p-agent-test";

pub fn flavor(ram: u64, disk: u64) -> Flavor {
    Flavor {
        id: "f1".into(),
        name: "test.small".into(),
        ram,
        vcpus: 1,
        disk,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        disabled: false,
        description: None,
        extra_specs: BTreeMap::new(),
        projects: BTreeSet::new(),
        created_at: Utc::now(),
    }
}

pub fn server(id: &str, name: &str, image_id: &str, port_ids: Vec<String>) -> Server {
    Server {
        id: id.into(),
        name: name.into(),
        project_id: PROJECT.into(),
        user_id: "u1".into(),
        hostname: name.into(),
        flavor: flavor(256, 1),
        image_id: image_id.into(),
        port_ids,
        launch_index: 0,
        reservation_id: "r-1".into(),
        task_state: None,
        ..Default::default()
    }
}

pub fn network(id: &str, mtu: u32) -> Network {
    let now = Utc::now();
    Network {
        id: id.into(),
        project_id: PROJECT.into(),
        name: "net1".into(),
        description: String::new(),
        admin_state_up: true,
        shared: false,
        external: false,
        mtu,
        port_security_enabled: true,
        tags: BTreeSet::new(),
        created_at: now,
        updated_at: now,
    }
}

pub fn subnet(id: &str, network_id: &str, cidr: &str, gateway: Option<&str>) -> Subnet {
    let now = Utc::now();
    Subnet {
        id: id.into(),
        project_id: PROJECT.into(),
        network_id: network_id.into(),
        name: "sub1".into(),
        description: String::new(),
        ip_version: 4,
        cidr: cidr.into(),
        gateway_ip: gateway.map(str::to_string),
        allocation_pools: vec![AllocationPool {
            start: "10.77.0.2".into(),
            end: "10.77.0.254".into(),
        }],
        enable_dhcp: true,
        dns_nameservers: vec!["10.77.0.53".into()],
        host_routes: Vec::new(),
        tags: BTreeSet::new(),
        created_at: now,
        updated_at: now,
    }
}

/// A port without port security: these tests are about guests, DHCP and the
/// metadata service (a port with port security and no group admits nothing, as in
/// Neutron); security groups have their own tests (tests/security_groups.rs).
pub fn port(
    id: &str,
    network_id: &str,
    subnet_id: &str,
    mac: &str,
    ip: &str,
    device_id: &str,
    owner: &str,
) -> Port {
    let now = Utc::now();
    Port {
        id: id.into(),
        project_id: PROJECT.into(),
        network_id: network_id.into(),
        name: String::new(),
        description: String::new(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet_id.into(),
            ip_address: ip.into(),
        }],
        device_id: device_id.into(),
        device_owner: owner.into(),
        admin_state_up: true,
        security_groups: Vec::new(),
        port_security_enabled: false,
        allowed_address_pairs: Vec::new(),
        tags: BTreeSet::new(),
        host: String::new(),
        status: "DOWN".into(),
        created_at: now,
        updated_at: now,
    }
}
