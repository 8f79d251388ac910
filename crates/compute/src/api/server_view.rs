//! How a server looks on the wire, per microversion and caller: the brief list
//! item and the full document (show, `/servers/detail`), with `addresses` built
//! from the server's ports, the flavor embedded from 2.47, the attached volumes,
//! and the admin-only `OS-EXT-SRV-ATTR:*` fields.

use super::common::links;
use crate::scheduler::is_up;
use crate::server::{Hypervisor, PowerState, Server, ServerGroup, TaskState, VmState};
use crate::Compute;
use chrono::{DateTime, Utc};
use nimbus_api::auth::Principal;
use nimbus_api::links::PublicUrl;
use nimbus_api::microversion::Microversion;
use nimbus_network::l3_types::FloatingIp;
use nimbus_network::types::{Network, Port, SecurityGroup};
use nimbus_store::{Resource, Versioned};
use nimbus_volume::types::VolumeAttachment;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// What a server document needs besides the server itself.
#[derive(Default)]
pub struct Extras {
    /// The server's ports, in NIC order (ports already gone are left out).
    pub ports: Vec<Port>,
    pub network_names: HashMap<String, String>,
    pub security_group_names: Vec<String>,
    /// `UP`, `DOWN` or `UNKNOWN` (2.16 `host_status`), when the server has a host.
    pub host_status: Option<&'static str>,
    /// The server groups the server is in (2.71).
    pub groups: Vec<String>,
    /// Floating IPs per port id: (fixed IP, floating IP).
    pub floating: HashMap<String, Vec<(String, String)>>,
    /// The attached volumes, root first: (volume id, delete_on_termination).
    pub volumes: Vec<(String, bool)>,
}

/// The objects server documents refer to (ports, networks, security groups,
/// hypervisors, server groups), looked up once: a list of 1,000 servers reads
/// each kind in one query instead of a few queries per server.
#[derive(Default)]
pub struct Lookup {
    ports: HashMap<String, Port>,
    network_names: HashMap<String, String>,
    group_names: HashMap<String, String>,
    hypervisors: HashMap<String, Hypervisor>,
    server_groups: HashSet<String>,
    /// Associated floating IPs per port id: (fixed IP, floating IP).
    floating: HashMap<String, Vec<(String, String)>>,
    /// Volume attachments per server id, in boot order.
    volumes: HashMap<String, Vec<VolumeAttachment>>,
}

/// Nova's volume attachments by server id, each list root first, then by age.
fn volumes_by_server(
    list: Vec<Versioned<VolumeAttachment>>,
) -> HashMap<String, Vec<VolumeAttachment>> {
    let mut out: HashMap<String, Vec<VolumeAttachment>> = HashMap::new();
    // Cinder's bookkeeping-only attachments are no block device mappings of Nova.
    for a in list.into_iter().filter(|a| a.value.compute) {
        if let Some(server) = a.value.server_id.clone() {
            out.entry(server).or_default().push(a.value);
        }
    }
    for v in out.values_mut() {
        nimbus_volume::attach::boot_order(v);
    }
    out
}

/// Associated floating IPs by port id, of the ports `keep` accepts.
fn floating_by_port(
    fips: Vec<Versioned<FloatingIp>>,
    keep: impl Fn(&str) -> bool,
) -> HashMap<String, Vec<(String, String)>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for f in fips {
        let f = f.value;
        if let (Some(port), Some(fixed)) = (f.port_id, f.fixed_ip_address) {
            if keep(&port) {
                out.entry(port)
                    .or_default()
                    .push((fixed, f.floating_ip_address));
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The kinds [`Lookup::all`] reads: a change to any of them rebuilds it.
const LOOKUP_KINDS: &[&str] = &[
    Port::KIND,
    Network::KIND,
    SecurityGroup::KIND,
    Hypervisor::KIND,
    ServerGroup::KIND,
    FloatingIp::KIND,
    VolumeAttachment::KIND,
];

/// [`Lookup::all`] as last built, with the store revision read before building.
pub type SharedLookup = parking_lot::Mutex<Option<(i64, Arc<Lookup>)>>;

impl Lookup {
    /// Everything, for a list, shared between requests until one of the kinds
    /// it reads changes (a list of 1,000 servers would otherwise decode every
    /// port of the cloud on every request).
    pub async fn shared(c: &Compute) -> nimbus_store::Result<Arc<Lookup>> {
        if let Some((revision, lookup)) = c.lookup.lock().clone() {
            if !c.store.changed_since(LOOKUP_KINDS, revision) {
                return Ok(lookup);
            }
        }
        let revision = c.store.revision();
        let lookup = Arc::new(Lookup::all(c).await?);
        *c.lookup.lock() = Some((revision, lookup.clone()));
        Ok(lookup)
    }

    /// Everything, for a list.
    pub async fn all(c: &Compute) -> nimbus_store::Result<Lookup> {
        Ok(Lookup {
            ports: by_id(c.store.list::<Port>(None).await?, |p| &p.id),
            network_names: c
                .store
                .list::<Network>(None)
                .await?
                .into_iter()
                .map(|n| (n.value.id, n.value.name))
                .collect(),
            group_names: c
                .store
                .list::<SecurityGroup>(None)
                .await?
                .into_iter()
                .map(|g| (g.value.id, g.value.name))
                .collect(),
            hypervisors: by_id(c.store.list::<Hypervisor>(None).await?, |h| &h.id),
            server_groups: c
                .store
                .list::<ServerGroup>(None)
                .await?
                .into_iter()
                .map(|g| g.value.id)
                .collect(),
            floating: floating_by_port(c.store.list::<FloatingIp>(None).await?, |_| true),
            volumes: volumes_by_server(c.store.list::<VolumeAttachment>(None).await?),
        })
    }

    /// Just what `s` refers to, for one server.
    pub async fn of(c: &Compute, s: &Server) -> nimbus_store::Result<Lookup> {
        let mut l = Lookup {
            volumes: volumes_by_server(c.store.list::<VolumeAttachment>(Some(&s.id)).await?),
            ..Lookup::default()
        };
        for id in &s.port_ids {
            if let Some(p) = c.store.get::<Port>(id).await? {
                l.ports.insert(id.clone(), p.value);
            }
        }
        l.floating = floating_by_port(c.store.list::<FloatingIp>(None).await?, |p| {
            l.ports.contains_key(p)
        });
        let networks: BTreeSet<String> = l.ports.values().map(|p| p.network_id.clone()).collect();
        for id in networks {
            if let Some(n) = c.store.get::<Network>(&id).await? {
                l.network_names.insert(id, n.value.name);
            }
        }
        let port_groups = l.ports.values().flat_map(|p| p.security_groups.iter());
        let groups: BTreeSet<String> = port_groups.chain(&s.security_groups).cloned().collect();
        for id in groups {
            if let Some(g) = c.store.get::<SecurityGroup>(&id).await? {
                l.group_names.insert(id, g.value.name);
            }
        }
        if let Some(host) = &s.host {
            if let Some(h) = c.store.get::<Hypervisor>(host).await? {
                l.hypervisors.insert(host.clone(), h.value);
            }
        }
        if let Some(g) = &s.server_group {
            if c.store.get::<ServerGroup>(g).await?.is_some() {
                l.server_groups.insert(g.clone());
            }
        }
        Ok(l)
    }

    /// What [`server`] shows of `s` beyond the object.
    pub fn extras(&self, s: &Server) -> Extras {
        let mut x = Extras::default();
        for id in &s.port_ids {
            if let Some(p) = self.ports.get(id) {
                let name = self
                    .network_names
                    .get(&p.network_id)
                    .cloned()
                    .unwrap_or_default();
                x.network_names.entry(p.network_id.clone()).or_insert(name);
                if let Some(f) = self.floating.get(id) {
                    x.floating.insert(id.clone(), f.clone());
                }
                x.ports.push(p.clone());
            }
        }
        // As Nova: the groups of the server's ports (a port the user brought keeps
        // its own); the groups asked for at create time when it has no ports.
        let mut group_ids: Vec<&String> = Vec::new();
        for p in &x.ports {
            for g in &p.security_groups {
                if !group_ids.contains(&g) {
                    group_ids.push(g);
                }
            }
        }
        if x.ports.is_empty() {
            group_ids = s.security_groups.iter().collect();
        }
        for id in group_ids {
            if let Some(name) = self.group_names.get(id) {
                if !x.security_group_names.contains(name) {
                    x.security_group_names.push(name.clone());
                }
            }
        }
        if let Some(host) = &s.host {
            x.host_status = Some(match self.hypervisors.get(host) {
                Some(h) if is_up(h, Utc::now()) => "UP",
                Some(_) => "DOWN",
                None => "UNKNOWN",
            });
        }
        if let Some(g) = &s.server_group {
            if self.server_groups.contains(g) {
                x.groups.push(g.clone());
            }
        }
        x.volumes = self
            .volumes
            .get(&s.id)
            .into_iter()
            .flatten()
            .map(|a| (a.id.clone(), a.delete_on_termination))
            .collect();
        x
    }
}

fn by_id<T: Clone>(objects: Vec<Versioned<T>>, id: impl Fn(&T) -> &String) -> HashMap<String, T> {
    objects
        .into_iter()
        .map(|o| (id(&o.value).clone(), o.value))
        .collect()
}

/// Reads what [`server`] shows of `s` beyond the object.
pub async fn extras(c: &Compute, s: &Server) -> nimbus_store::Result<Extras> {
    Ok(Lookup::of(c, s).await?.extras(s))
}

/// Nova's timestamp for `created`/`updated`: seconds, `Z`.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Nova's timestamp for `launched_at` and instance actions: microseconds, no zone.
pub fn ts_micro(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// `hostId`: SHA-224 of project and host, "" while unscheduled.
pub fn host_id(s: &Server) -> String {
    match &s.host {
        Some(h) => host_id_of(&s.project_id, h),
        None => String::new(),
    }
}

/// `hostId` of `host` as `project` sees it.
pub fn host_id_of(project: &str, host: &str) -> String {
    hex::encode(Sha224::digest(format!("{project}{host}").as_bytes()))
}

/// The list item of `GET /servers`.
pub fn brief(url: &PublicUrl, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(url, "servers", &s.id)})
}

fn bookmark(url: &PublicUrl, collection: &str, id: &str) -> Value {
    json!([{"rel": "bookmark", "href": url.join(&format!("/compute/{collection}/{}", super::common::encode(id)))}])
}

/// `addresses`: the ports' fixed IPs grouped by network name, each followed by
/// its floating IP (`OS-EXT-IPS:type` `floating`) as Nova shows them.
pub fn addresses(x: &Extras) -> Value {
    let mut out = Map::new();
    for p in &x.ports {
        let name = x
            .network_names
            .get(&p.network_id)
            .cloned()
            .unwrap_or_else(|| p.network_id.clone());
        let list = out.entry(name).or_insert_with(|| json!([]));
        for ip in &p.fixed_ips {
            if let Some(items) = list.as_array_mut() {
                items.push(json!({
                    "version": if ip.ip_address.contains(':') { 6 } else { 4 },
                    "addr": ip.ip_address,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": p.mac_address,
                }));
                let fips = x.floating.get(&p.id).into_iter().flatten();
                for (_, fip) in fips.filter(|(fixed, _)| fixed == &ip.ip_address) {
                    items.push(json!({
                        "version": 4,
                        "addr": fip,
                        "OS-EXT-IPS:type": "floating",
                        "OS-EXT-IPS-MAC:mac_addr": p.mac_address,
                    }));
                }
            }
        }
    }
    Value::Object(out)
}

fn task_name(t: Option<TaskState>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => json!(super::server_actions::task_name(t)),
    }
}

fn vm_name(v: VmState) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Nova's `power_state` number.
pub fn power_number(p: PowerState) -> u8 {
    p as u8
}

/// `os-extended-volumes:volumes_attached`: `{id}`, with `delete_on_termination`
/// from 2.3.
pub fn volumes_attached(mv: Microversion, x: &Extras) -> Value {
    let list: Vec<Value> = x
        .volumes
        .iter()
        .map(|(id, dot)| {
            if mv.at_least(2, 3) {
                json!({"id": id, "delete_on_termination": dot})
            } else {
                json!({"id": id})
            }
        })
        .collect();
    Value::Array(list)
}

/// The full server document.
pub fn server(
    url: &PublicUrl,
    mv: Microversion,
    caller: &Principal,
    v: &Versioned<Server>,
    x: &Extras,
) -> Value {
    let s = &v.value;
    let admin = nimbus_api::policy::allowed(
        caller,
        "compute:servers:show:host_attributes",
        &nimbus_api::policy::Target::default(),
    );
    let image = if s.image_id.is_empty() {
        json!("")
    } else {
        json!({"id": s.image_id, "links": bookmark(url, "images", &s.image_id)})
    };
    let flavor = if mv.at_least(2, 47) {
        s.flavor.embedded(true)
    } else {
        json!({"id": s.flavor.id, "links": bookmark(url, "flavors", &s.flavor.id)})
    };
    let sgs: Vec<Value> = x
        .security_group_names
        .iter()
        .map(|n| json!({"name": n}))
        .collect();
    let mut d = json!({
        "id": s.id,
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": host_id(s),
        "image": image,
        "flavor": flavor,
        "created": ts(&s.created_at),
        "updated": ts(&s.updated_at),
        "addresses": addresses(x),
        "accessIPv4": s.access_ipv4,
        "accessIPv6": s.access_ipv6,
        "links": links(url, "servers", &s.id),
        "key_name": s.key_name,
        "config_drive": if s.config_drive { "True" } else { "" },
        "OS-EXT-STS:vm_state": vm_name(s.vm_state),
        "OS-EXT-STS:task_state": task_name(s.task_state),
        "OS-EXT-STS:power_state": power_number(s.power_state),
        "OS-EXT-AZ:availability_zone": s.availability_zone,
        "OS-SRV-USG:launched_at": s.launched_at.as_ref().map(ts_micro),
        "OS-SRV-USG:terminated_at": Value::Null,
        "OS-DCF:diskConfig": s.disk_config,
        "os-extended-volumes:volumes_attached": volumes_attached(mv, x),
    });
    if !sgs.is_empty() {
        d["security_groups"] = json!(sgs);
    }
    if matches!(s.status(), "ACTIVE" | "BUILD") {
        d["progress"] = json!(0);
    }
    if let Some(f) = &s.fault {
        if s.vm_state == VmState::Error {
            let mut fault =
                json!({"code": f.code, "created": ts(&f.created), "message": f.message});
            if admin {
                fault["details"] = json!(f.details);
            }
            d["fault"] = fault;
        }
    }
    if admin {
        d["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        d["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        d["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{:08x}", v.created_revision));
        if mv.at_least(2, 3) {
            d["OS-EXT-SRV-ATTR:reservation_id"] = json!(s.reservation_id);
            d["OS-EXT-SRV-ATTR:launch_index"] = json!(s.launch_index.saturating_sub(1));
            d["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
            d["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            d["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            d["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            d["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
        }
        if mv.at_least(2, 16) {
            d["host_status"] = json!(x.host_status.unwrap_or(""));
        }
    }
    if mv.at_least(2, 9) {
        d["locked"] = json!(s.locked);
    }
    if mv.at_least(2, 19) {
        d["description"] = json!(s.description);
    }
    if mv.at_least(2, 26) {
        d["tags"] = json!(s.tags);
    }
    if mv.at_least(2, 63) {
        d["trusted_image_certificates"] = Value::Null;
    }
    if mv.at_least(2, 71) {
        d["server_groups"] = json!(x.groups);
    }
    if mv.at_least(2, 73) {
        d["locked_reason"] = json!(s.locked_reason);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_id_is_sha224_of_project_and_host() {
        let digest = hex::encode(Sha224::digest(b"p1h1"));
        assert_eq!(digest.len(), 56);
        let f = crate::seed::standard_flavors().remove(0);
        let now = Utc::now();
        let mut s: Server = serde_json::from_value(json!({
            "id": "s", "name": "n", "project_id": "p1", "user_id": "u", "hostname": "n",
            "flavor": f, "image_id": "", "created_at": now, "updated_at": now,
            "desired_power": "running", "vm_state": "building", "power_state": "nostate",
        }))
        .unwrap();
        assert_eq!(host_id(&s), "");
        s.host = Some("h1".into());
        assert_eq!(host_id(&s), digest);
    }
}
