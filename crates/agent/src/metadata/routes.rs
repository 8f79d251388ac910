//! The metadata HTTP routes: [`respond`] maps a path and an instance to a body
//! (pure, unit-tested), [`router`] is the axum app of one network's listener.
//!
//! OpenStack: `/openstack` (versions), `/openstack/<v>/` (files),
//! `/openstack/<v>/{meta_data.json, user_data, network_data.json,
//! vendor_data.json, vendor_data2.json}`, `<v>` = `latest` or any dated version
//! Nova lists (same content). EC2: `/` (versions), `/<v>/meta-data/...`,
//! `/<v>/user-data` (also under `/ec2/`), see [`super::ec2`].

use super::ec2;
use super::instance::{lookup, Instance};
use crate::configdrive;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use nimbus_store::Store;
use serde_json::Value;
use std::io::Read;
use std::net::SocketAddr;

/// The OpenStack metadata versions Nova lists (`latest` follows them).
pub const OPENSTACK_VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
];

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";

/// A successful answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

fn text(s: impl Into<String>) -> Option<Reply> {
    Some(Reply {
        content_type: TEXT,
        body: s.into().into_bytes(),
    })
}

fn json(v: &Value) -> Option<Reply> {
    Some(Reply {
        content_type: JSON,
        body: serde_json::to_vec(v).ok()?,
    })
}

fn listing(versions: &[&str]) -> String {
    let mut all: Vec<&str> = versions.to_vec();
    all.push("latest");
    all.join("\n")
}

/// The answer to `GET path` for `inst`, `None` for 404.
pub fn respond(path: &str, inst: &Instance) -> Option<Reply> {
    let tokens: Vec<&str> = path.split('/').filter(|t| !t.is_empty()).collect();
    match tokens.as_slice() {
        [] | ["ec2"] => text(listing(ec2::VERSIONS)),
        ["openstack"] => text(listing(OPENSTACK_VERSIONS)),
        ["openstack", version, rest @ ..] => {
            if *version != "latest" && !OPENSTACK_VERSIONS.contains(version) {
                return None;
            }
            openstack(rest, inst)
        }
        ["ec2", version, rest @ ..] | [version, rest @ ..] => {
            if *version != "latest" && !ec2::VERSIONS.contains(version) {
                return None;
            }
            let tree = ec2::version_tree(inst, version);
            let node = tree.find(rest)?;
            Some(Reply {
                content_type: TEXT,
                body: node.body(),
            })
        }
    }
}

/// `/openstack/<version>/<rest>`.
fn openstack(rest: &[&str], inst: &Instance) -> Option<Reply> {
    let user_data = match configdrive::user_data(&inst.server) {
        Ok(ud) => ud,
        Err(e) => {
            tracing::warn!(server = %inst.server.id, "metadata: {e:#}");
            None
        }
    };
    match rest {
        [] => {
            let mut files = vec!["meta_data.json"];
            if user_data.is_some() {
                files.push("user_data");
            }
            files.extend(["vendor_data.json", "network_data.json", "vendor_data2.json"]);
            text(files.join("\n"))
        }
        ["meta_data.json"] => {
            let mut md = configdrive::meta_data(&inst.server);
            if let Some(seed) = random_seed() {
                md["random_seed"] = Value::String(seed);
            }
            json(&md)
        }
        ["user_data"] => user_data.map(|body| Reply {
            content_type: "application/octet-stream",
            body,
        }),
        ["network_data.json"] => json(&configdrive::network_data(
            &inst.ports,
            &inst.subnets,
            &inst.mtus,
        )),
        // No vendor data providers: an empty object, as Nova without any.
        ["vendor_data.json"] | ["vendor_data2.json"] => json(&serde_json::json!({})),
        _ => None,
    }
}

/// 512 random bytes, base64 (Nova's `random_seed`: the guest mixes it into its
/// RNG early in the boot).
fn random_seed() -> Option<String> {
    let mut buf = [0u8; 512];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(buf))
}

#[derive(Clone)]
struct Served {
    store: Store,
    network_id: String,
}

/// The app of the listener in network `network_id`'s namespace: every path goes
/// through [`handle`], which needs the connection's peer address.
pub fn router(store: Store, network_id: String) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Served { store, network_id })
}

async fn handle(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "405 Method Not Allowed\n",
        )
            .into_response();
    }
    let inst = match lookup(&served.store, &served.network_id, peer.ip()).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            tracing::info!(network = %served.network_id, peer = %peer.ip(), path = %uri.path(),
                "metadata request from an address no instance holds");
            return not_found();
        }
        Err(e) => {
            tracing::warn!(network = %served.network_id, "metadata lookup: {e:#}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error\n",
            )
                .into_response();
        }
    };
    match respond(uri.path(), &inst) {
        Some(r) => {
            tracing::debug!(server = %inst.server.id, path = %uri.path(), "metadata served");
            ([(header::CONTENT_TYPE, r.content_type)], r.body).into_response()
        }
        None => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}
