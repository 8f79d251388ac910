//! The EC2-compatible tree (`/latest/meta-data/...`, `/latest/user-data`, and
//! the same under each dated version Nova lists). A directory answers with its
//! entries one per line, subdirectories with a trailing `/`; `public-keys/`
//! lists `0=<key name>` (EC2's odd rendering) and is there only with a key.

use super::instance::Instance;
use crate::configdrive;

/// The EC2 versions Nova answers (`latest` is the newest).
pub const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// A node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Leaf(Vec<u8>),
    /// Entries: (path name, line in the listing, node).
    Dir(Vec<(String, String, Node)>),
}

impl Node {
    fn leaf(s: impl Into<String>) -> Node {
        Node::Leaf(s.into().into_bytes())
    }

    /// The node at `path` below this one.
    pub fn find(&self, path: &[&str]) -> Option<&Node> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match self {
            Node::Leaf(_) => None,
            Node::Dir(entries) => entries
                .iter()
                .find(|(name, _, _)| name == first)
                .and_then(|(_, _, n)| n.find(rest)),
        }
    }

    /// What a GET of this node returns.
    pub fn body(&self) -> Vec<u8> {
        match self {
            Node::Leaf(b) => b.clone(),
            Node::Dir(entries) => entries
                .iter()
                .map(|(_, line, _)| line.as_str())
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        }
    }
}

/// A directory from `(name, node)` pairs, sorted by name, directories listed
/// with a trailing `/`.
fn dir(mut entries: Vec<(&str, Node)>) -> Node {
    entries.sort_by(|a, b| a.0.cmp(b.0));
    Node::Dir(
        entries
            .into_iter()
            .map(|(name, node)| {
                let line = match node {
                    Node::Dir(_) => format!("{name}/"),
                    Node::Leaf(_) => name.to_string(),
                };
                (name.to_string(), line, node)
            })
            .collect(),
    )
}

/// The instance id in EC2's long form: `i-` and the first 17 hex digits of the
/// server's UUID (so it names the server and stays stable).
pub fn instance_id(server_id: &str) -> String {
    let hex: String = server_id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(17)
        .collect();
    format!("i-{}", hex.to_ascii_lowercase())
}

/// The first fixed IPv4 address of the instance (NIC order), else the address
/// the request came from (as Nova does).
pub fn local_ipv4(inst: &Instance) -> String {
    inst.ports
        .iter()
        .flat_map(|p| &p.fixed_ips)
        .map(|f| f.ip_address.as_str())
        .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
        .map(str::to_string)
        .unwrap_or_else(|| inst.address.to_string())
}

/// `meta-data/` of `version` (a known version; `latest` = the newest).
pub fn meta_data(inst: &Instance, version: &str) -> Node {
    let s = &inst.server;
    let at_least = |v: &str| version == "latest" || version >= v;
    let mut e: Vec<(&str, Node)> = vec![
        ("ami-launch-index", Node::leaf(s.launch_index.to_string())),
        ("hostname", Node::leaf(s.hostname.clone())),
        ("instance-id", Node::leaf(instance_id(&s.id))),
        ("local-ipv4", Node::leaf(local_ipv4(inst))),
        ("reservation-id", Node::leaf(s.reservation_id.clone())),
        (
            "security-groups",
            Node::leaf(inst.security_groups.join("\n")),
        ),
    ];
    if let (Some(name), Some(key)) = (&s.key_name, &s.key_data) {
        let key_dir = dir(vec![("openssh-key", Node::leaf(key.clone()))]);
        let keys = Node::Dir(vec![("0".into(), format!("0={name}"), key_dir)]);
        e.push(("public-keys", keys));
    }
    // "1.0" sorts before the dates, so string comparison orders every version.
    if at_least("2007-01-19") {
        e.push(("local-hostname", Node::leaf(s.hostname.clone())));
        e.push(("public-hostname", Node::leaf(s.hostname.clone())));
    }
    if at_least("2007-08-29") {
        e.push(("instance-type", Node::leaf(s.flavor.name.clone())));
    }
    if at_least("2007-12-15") {
        // The root disk is always the first virtio disk.
        e.push((
            "block-device-mapping",
            dir(vec![
                ("ami", Node::leaf("vda")),
                ("root", Node::leaf("/dev/vda")),
            ]),
        ));
    }
    if at_least("2008-02-01") {
        e.push((
            "placement",
            dir(vec![(
                "availability-zone",
                Node::leaf(s.availability_zone.clone()),
            )]),
        ));
    }
    if at_least("2008-09-01") {
        e.push(("instance-action", Node::leaf("none")));
    }
    dir(e)
}

/// The tree of one version: `meta-data/` and, when there is some, `user-data`.
pub fn version_tree(inst: &Instance, version: &str) -> Node {
    let mut e = vec![("meta-data", meta_data(inst, version))];
    match configdrive::user_data(&inst.server) {
        Ok(Some(ud)) => e.push(("user-data", Node::Leaf(ud))),
        Ok(None) => {}
        Err(e) => tracing::warn!(server = %inst.server.id, "metadata: {e:#}"),
    }
    dir(e)
}
