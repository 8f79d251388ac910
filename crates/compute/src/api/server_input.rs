//! The server create body as Nova's JSON schema (per microversion) accepts it,
//! turned into a [`CreateRequest`], plus the field checks other server routes share
//! (metadata, tags, access IPs, hostnames).

use super::bdm::{self, BlockDevices, VolumeSource};
use super::common::*;
use base64::Engine;
use nimbus_api::microversion::Microversion;
use nimbus_api::{ApiError, ApiResult};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Nova's limit on `user_data` (the base64 text).
pub const MAX_USER_DATA: usize = 65535;
/// Nova's `metadata_items` default (checked again against the quota).
pub const MAX_METADATA: usize = 128;
/// Nova's limit on tags per server.
pub const MAX_TAGS: usize = 50;

/// `networks` of the request.
#[derive(Clone, Debug, PartialEq)]
pub enum Networks {
    Auto,
    None,
    List(Vec<RequestedNic>),
}

/// One entry of a `networks` list.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestedNic {
    Network {
        id: String,
        fixed_ip: Option<String>,
    },
    Port(String),
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub name: String,
    /// The image of the local root disk; "" when the root is a volume.
    pub image_id: String,
    /// `block_device_mapping_v2`: the volumes to make or attach.
    pub block_devices: BlockDevices,
    pub flavor_id: String,
    pub key_name: Option<String>,
    pub networks: Networks,
    /// Whether `networks` was in the body (auto with nothing to attach is an error then).
    pub networks_given: bool,
    pub security_groups: Vec<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub config_drive: bool,
    pub min_count: u32,
    pub max_count: u32,
    pub return_reservation_id: bool,
    pub tags: BTreeSet<String>,
    pub description: Option<String>,
    pub disk_config: String,
    pub access_ipv4: String,
    pub access_ipv6: String,
    pub group: Option<String>,
    /// 2.74 `host` / `hypervisor_hostname` (one host here, so they must agree).
    pub requested_host: Option<String>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// Whether `s` is a UUID (with or without hyphens, as Nova's `uuid` format).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// The id at the end of a reference that may be a link URL.
fn last_segment(s: &str) -> String {
    s.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn string<'a>(obj: &'a Map<String, Value>, field: &str) -> ApiResult<Option<&'a str>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(invalid(field, v, "Must be a string.")),
    }
}

impl CreateRequest {
    pub fn parse(mv: Microversion, body: &Value) -> ApiResult<CreateRequest> {
        let top = body
            .as_object()
            .ok_or_else(|| bad("Invalid input: the request body must be an object."))?;
        check_keys(
            top,
            &["server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"],
            &["server"],
        )?;
        let obj = top["server"]
            .as_object()
            .ok_or_else(|| bad("Invalid input for field/attribute server: must be an object."))?;
        let mut allowed = vec![
            "name",
            "imageRef",
            "flavorRef",
            "key_name",
            "networks",
            "security_groups",
            "user_data",
            "metadata",
            "config_drive",
            "min_count",
            "max_count",
            "return_reservation_id",
            "block_device_mapping_v2",
            "availability_zone",
            "OS-DCF:diskConfig",
            "accessIPv4",
            "accessIPv6",
        ];
        if mv.at_least(2, 19) {
            allowed.push("description");
        }
        if mv.at_least(2, 52) {
            allowed.push("tags");
        }
        if mv.at_least(2, 74) {
            allowed.extend(["host", "hypervisor_hostname"]);
        }
        check_keys(obj, &allowed, &["name", "flavorRef"])?;
        let name = check_name("name", &obj["name"])?;
        let flavor_id = match &obj["flavorRef"] {
            Value::String(s) if !s.is_empty() => last_segment(s),
            Value::Number(n) if n.is_u64() => n.to_string(),
            v => return Err(invalid("flavorRef", v, "Must be a string or integer.")),
        };
        if flavor_id.is_empty() {
            return Err(bad("Invalid flavorRef provided."));
        }
        let image_ref = match string(obj, "imageRef")?.filter(|s| !s.is_empty()) {
            None => None,
            Some(r) => {
                let id = last_segment(r);
                if !is_uuid(&id) {
                    return Err(bad("Invalid imageRef provided."));
                }
                Some(id)
            }
        };
        let block_devices =
            bdm::parse(mv, obj.get("block_device_mapping_v2"), image_ref.as_deref())?;
        // A server booted from a volume has no image ("" in its documents).
        let image_id = match (block_devices.root_volume(), image_ref) {
            (Some(_), _) => String::new(),
            (None, Some(id)) => id,
            (None, None) => match &block_devices.local_image {
                Some(id) => id.clone(),
                None => return Err(bad("Missing imageRef attribute")),
            },
        };
        let key_name = string(obj, "key_name")?.map(str::to_string);
        let (networks, networks_given) = networks(mv, obj.get("networks"))?;
        let security_groups = security_groups(obj.get("security_groups"))?;
        let user_data = match string(obj, "user_data")? {
            None => None,
            Some(u) => {
                if u.len() > MAX_USER_DATA {
                    return Err(invalid(
                        "user_data",
                        &Value::String(format!("{}...", u.chars().take(16).collect::<String>())),
                        "Is longer than 65535 bytes.",
                    ));
                }
                let compact: String = u.chars().filter(|c| !c.is_whitespace()).collect();
                if base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .is_err()
                {
                    return Err(bad("User data needs to be valid base 64."));
                }
                Some(u.to_string())
            }
        };
        let metadata = match obj.get("metadata") {
            None => BTreeMap::new(),
            Some(v) => metadata(v)?,
        };
        let config_drive = match obj.get("config_drive") {
            Some(Value::String(s)) if s.is_empty() => false,
            Some(Value::Null) => false,
            _ => bool_field(obj, "config_drive")?.unwrap_or(false),
        };
        let min_count = int_field(obj, "min_count", 1)?.unwrap_or(1) as u32;
        let max_count = int_field(obj, "max_count", 1)?.unwrap_or(u64::from(min_count)) as u32;
        if min_count > max_count {
            return Err(bad("min_count must be <= max_count"));
        }
        let attaches_volume = block_devices
            .volumes
            .iter()
            .any(|v| matches!(v.source, VolumeSource::Volume(_)));
        if max_count > 1 && attaches_volume {
            return Err(bad(
                "Cannot attach one or more volumes to multiple instances",
            ));
        }
        if max_count > 1 {
            if let Networks::List(l) = &networks {
                if l.iter().any(|n| matches!(n, RequestedNic::Port(_))) {
                    return Err(bad(
                        "Unable to launch multiple instances with a single configured port \
                         ID. Please launch your instance one by one with different ports.",
                    ));
                }
                if l.iter().any(|n| {
                    matches!(
                        n,
                        RequestedNic::Network {
                            fixed_ip: Some(_),
                            ..
                        }
                    )
                }) {
                    return Err(bad(
                        "max_count cannot be greater than 1 if an fixed_ip is specified.",
                    ));
                }
            }
        }
        let return_reservation_id = bool_field(obj, "return_reservation_id")?.unwrap_or(false);
        match obj.get("availability_zone") {
            None | Some(Value::Null) => {}
            Some(Value::String(z)) if z == "nova" => {}
            Some(Value::String(z)) => {
                return Err(bad(format!(
                    "The requested availability zone is not available: {z}"
                )))
            }
            Some(v) => return Err(invalid("availability_zone", v, "Must be a string.")),
        }
        let description = match obj.get("description") {
            None => None,
            Some(v) => description(v, 255)?,
        };
        let tags = match obj.get("tags") {
            None => BTreeSet::new(),
            Some(v) => tags(v)?,
        };
        let disk_config = match obj.get("OS-DCF:diskConfig") {
            None => "MANUAL".to_string(),
            Some(Value::String(s)) if s == "AUTO" || s == "MANUAL" => s.clone(),
            Some(v) => return Err(invalid("OS-DCF:diskConfig", v, "Must be AUTO or MANUAL.")),
        };
        let access_ipv4 = access_ip(obj, "accessIPv4", 4)?;
        let access_ipv6 = access_ip(obj, "accessIPv6", 6)?;
        let group = scheduler_group(top)?;
        let host = string(obj, "host")?.map(str::to_string);
        let node = string(obj, "hypervisor_hostname")?.map(str::to_string);
        if let (Some(h), Some(n)) = (&host, &node) {
            if h != n {
                return Err(bad(format!(
                    "Compute host {h} with hypervisor {n} could not be found."
                )));
            }
        }
        let requested_host = host.or(node);
        Ok(CreateRequest {
            name,
            image_id,
            block_devices,
            flavor_id,
            key_name,
            networks,
            networks_given,
            security_groups,
            user_data,
            metadata,
            config_drive,
            min_count,
            max_count,
            return_reservation_id,
            tags,
            description,
            disk_config,
            access_ipv4,
            access_ipv6,
            group,
            requested_host,
        })
    }
}

fn networks(mv: Microversion, v: Option<&Value>) -> ApiResult<(Networks, bool)> {
    let list = match v {
        None if mv.at_least(2, 37) => {
            return Err(bad("Invalid input: 'networks' is a required property."))
        }
        None => return Ok((Networks::Auto, false)),
        Some(Value::String(s)) if mv.at_least(2, 37) && s == "auto" => {
            return Ok((Networks::Auto, true))
        }
        Some(Value::String(s)) if mv.at_least(2, 37) && s == "none" => {
            return Ok((Networks::None, true))
        }
        Some(Value::Array(l)) => l,
        Some(v) => {
            let why = if mv.at_least(2, 37) {
                "Must be an array, \"auto\" or \"none\"."
            } else {
                "Must be an array."
            };
            return Err(invalid("networks", v, why));
        }
    };
    let mut nics = Vec::new();
    let mut ports = BTreeSet::new();
    for n in list {
        let o = n
            .as_object()
            .ok_or_else(|| invalid("networks", n, "Must be an object."))?;
        let mut keys = vec!["uuid", "port", "fixed_ip"];
        if mv.at_least(2, 32) {
            keys.push("tag");
        }
        check_keys(o, &keys, &[])?;
        let port = string(o, "port")?;
        let uuid = string(o, "uuid")?;
        let fixed_ip = string(o, "fixed_ip")?;
        if let Some(ip) = fixed_ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(bad(format!("Invalid fixed IP address ({ip})")));
            }
        }
        match (port, uuid) {
            (Some(p), _) => {
                if !is_uuid(p) {
                    return Err(bad(format!(
                        "Bad networks format: port uuid is not in proper format ({p})"
                    )));
                }
                if fixed_ip.is_some() {
                    return Err(bad(
                        "Specified Fixed IP cannot be used with port: the port already has a \
                         Fixed IP allocated.",
                    ));
                }
                if !ports.insert(p.to_string()) {
                    return Err(bad(format!("Port {p} is specified more than once.")));
                }
                nics.push(RequestedNic::Port(p.to_string()));
            }
            (None, Some(u)) => {
                if !is_uuid(u) {
                    return Err(bad(format!(
                        "Bad networks format: network uuid is not in proper format ({u})"
                    )));
                }
                nics.push(RequestedNic::Network {
                    id: u.to_string(),
                    fixed_ip: fixed_ip.map(str::to_string),
                });
            }
            (None, None) => {
                return Err(bad(
                    "Bad networks format: network uuid is not in proper format ()",
                ))
            }
        }
    }
    Ok((Networks::List(nics), true))
}

fn security_groups(v: Option<&Value>) -> ApiResult<Vec<String>> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) => l,
        Some(v) => return Err(invalid("security_groups", v, "Must be an array.")),
    };
    let mut out: Vec<String> = Vec::new();
    for g in list {
        let name = g
            .as_object()
            .and_then(|o| {
                (o.len() == 1)
                    .then(|| o.get("name"))
                    .flatten()
                    .and_then(Value::as_str)
            })
            .filter(|n| !n.is_empty() && n.len() <= 255)
            .ok_or_else(|| invalid("security_groups", g, "Must be {\"name\": <name or id>}."))?;
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// Server metadata: an object of strings, keys 1–255 characters, values up to 255.
pub fn metadata(v: &Value) -> ApiResult<BTreeMap<String, String>> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid("metadata", v, "Must be an object."))?;
    let mut out = BTreeMap::new();
    for (k, val) in o {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(invalid("metadata", v, "Keys must be 1 to 255 characters."));
        }
        let s = val
            .as_str()
            .filter(|s| s.chars().count() <= 255)
            .ok_or_else(|| {
                invalid(
                    "metadata",
                    val,
                    "Values must be strings of at most 255 characters.",
                )
            })?;
        out.insert(k.clone(), s.to_string());
    }
    if out.len() > MAX_METADATA {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: maximum number of metadata items exceeds {MAX_METADATA}"
        )));
    }
    Ok(out)
}

/// One server tag: 1–60 characters without `/` or `,`.
pub fn check_tag(t: &str) -> ApiResult<()> {
    if t.is_empty() || t.chars().count() > 60 || t.contains('/') || t.contains(',') {
        return Err(invalid(
            "tags",
            &Value::String(t.to_string()),
            "Tags are 1 to 60 characters without '/' or ','.",
        ));
    }
    Ok(())
}

/// A tag list (at most [`MAX_TAGS`]).
pub fn tags(v: &Value) -> ApiResult<BTreeSet<String>> {
    let l = v
        .as_array()
        .ok_or_else(|| invalid("tags", v, "Must be an array."))?;
    if l.len() > MAX_TAGS {
        return Err(invalid("tags", v, "At most 50 tags."));
    }
    let mut out = BTreeSet::new();
    for t in l {
        let s = t
            .as_str()
            .ok_or_else(|| invalid("tags", t, "Must be a string."))?;
        check_tag(s)?;
        out.insert(s.to_string());
    }
    Ok(out)
}

/// `accessIPv4`/`accessIPv6`: an address of that version, or empty.
pub fn access_ip(obj: &Map<String, Value>, field: &str, version: u8) -> ApiResult<String> {
    let Some(s) = string(obj, field)? else {
        return Ok(String::new());
    };
    let ok = s.is_empty()
        || match version {
            4 => s.parse::<Ipv4Addr>().is_ok(),
            _ => s.parse::<Ipv6Addr>().is_ok(),
        };
    if !ok {
        return Err(invalid(
            field,
            &Value::String(s.to_string()),
            &format!("Must be an IPv{version} address."),
        ));
    }
    Ok(s.to_string())
}

fn scheduler_group(top: &Map<String, Value>) -> ApiResult<Option<String>> {
    let hints = match top
        .get("OS-SCH-HNT:scheduler_hints")
        .or_else(|| top.get("os:scheduler_hints"))
    {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(h)) => h,
        Some(v) => return Err(invalid("scheduler_hints", v, "Must be an object.")),
    };
    match hints.get("group") {
        None => Ok(None),
        Some(Value::String(g)) if is_uuid(g) => Ok(Some(g.clone())),
        Some(v) => Err(invalid("group", v, "Must be a server group UUID.")),
    }
}

/// Nova's hostname from a display name: lower case, spaces and `_` to `-`, only
/// `[a-z0-9.-]`, no leading/trailing `-` or `.`, at most 63 characters; a name
/// with nothing usable gives `server-<id>`.
pub fn hostname(name: &str, id: &str) -> String {
    let mut h: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    h.truncate(63);
    let h = h.trim_matches(|c| c == '-' || c == '.').to_string();
    if h.is_empty() {
        format!("server-{id}")
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_follow_nova() {
        assert_eq!(hostname("My Server_1", "x"), "my-server-1");
        assert_eq!(hostname("...", "abc"), "server-abc");
        assert_eq!(hostname(&"a".repeat(100), "x").len(), 63);
    }
}
