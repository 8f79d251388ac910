//! Realising routers ([`super::router`] computes the plan): a namespace per
//! router with a veth per port into the network's bridge in the dataplane
//! namespace, forwarding on (in that namespace only), the default route via the
//! external subnet's gateway, static routes, and the `ip nimbus_nat` nftables
//! table replaced atomically. One "outside world" namespace per cloud holds the
//! external gateways (203.0.113.1 for `public`). Nothing here touches the root
//! namespace. Namespaces and veths no router stands behind are removed.

use super::links;
use super::names;
use super::router::{L3Plan, RouterLink, RouterSpec};
use crate::cmd::run;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// What was programmed: router ids and floating IP ids.
#[derive(Debug, Default)]
pub struct Applied {
    pub routers: Vec<String>,
    pub fips: Vec<String>,
}

/// A veth from `dataplane` (enslaved to the network's bridge) into `ns`, with
/// the MAC and exactly the addresses of `l`, up.
async fn ensure_veth(dataplane: &str, ns: &str, l: &RouterLink) -> anyhow::Result<()> {
    let bridge = names::bridge(&l.network_id);
    links::ensure_bridge(dataplane, &bridge, l.mtu).await?;
    let outer_there = links::links(dataplane)
        .await?
        .iter()
        .any(|x| x.name == l.outer);
    let inner_there = links::links(ns).await?.iter().any(|x| x.name == l.inner);
    if outer_there != inner_there {
        links::delete_link(dataplane, &l.outer).await?;
        links::delete_link(ns, &l.inner).await?;
    }
    if !(outer_there && inner_there) {
        run(
            "ip",
            &[
                "-n", dataplane, "link", "add", &l.outer, "type", "veth", "peer", "name", &l.inner,
                "netns", ns,
            ],
        )
        .await?;
    }
    let mtu = l.mtu.to_string();
    run(
        "ip",
        &["-n", dataplane, "link", "set", &l.outer, "mtu", &mtu],
    )
    .await?;
    run(
        "ip",
        &["-n", dataplane, "link", "set", &l.outer, "master", &bridge],
    )
    .await?;
    run("ip", &["-n", dataplane, "link", "set", &l.outer, "up"]).await?;
    if let Some(mac) = &l.mac {
        run("ip", &["-n", ns, "link", "set", &l.inner, "address", mac]).await?;
    }
    run("ip", &["-n", ns, "link", "set", &l.inner, "mtu", &mtu]).await?;
    let current = ipv4_addresses(ns, &l.inner).await?;
    for old in current.iter().filter(|a| !l.addresses.contains(a)) {
        run("ip", &["-n", ns, "addr", "del", old, "dev", &l.inner]).await?;
    }
    for a in l.addresses.iter().filter(|a| !current.contains(a)) {
        run("ip", &["-n", ns, "addr", "add", a, "dev", &l.inner]).await?;
    }
    run("ip", &["-n", ns, "link", "set", &l.inner, "up"]).await?;
    Ok(())
}

/// The IPv4 `address/prefix`es of `dev` in `ns`.
async fn ipv4_addresses(ns: &str, dev: &str) -> anyhow::Result<Vec<String>> {
    let out = run("ip", &["-n", ns, "-j", "-4", "addr", "show", "dev", dev]).await?;
    let parsed: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    Ok(parsed
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| {
            Some(format!(
                "{}/{}",
                a["local"].as_str()?,
                a["prefixlen"].as_u64()?
            ))
        })
        .collect())
}

/// Removes links of `ns` with `prefix` that `keep` does not name.
async fn remove_stale_links(ns: &str, prefix: &str, keep: &BTreeSet<&str>) -> anyhow::Result<()> {
    for l in links::links(ns).await? {
        if l.name.starts_with(prefix) && !keep.contains(l.name.as_str()) {
            links::delete_link(ns, &l.name).await?;
        }
    }
    Ok(())
}

/// One router namespace made to match `r`.
async fn ensure_router(data_dir: &Path, dataplane: &str, r: &RouterSpec) -> anyhow::Result<()> {
    let ns = r.netns.as_str();
    links::ensure_netns(ns).await?;
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    )
    .await?;
    let mut keep = BTreeSet::new();
    for l in r.interfaces.iter().chain(r.gateway.as_ref()) {
        ensure_veth(dataplane, ns, l).await?;
        keep.insert(l.inner.as_str());
    }
    remove_stale_links(ns, "nri", &keep).await?;
    match (&r.gateway, &r.default_via) {
        (Some(_), Some(via)) => {
            run("ip", &["-n", ns, "route", "replace", "default", "via", via]).await?;
        }
        _ => {
            let _ = run("ip", &["-n", ns, "route", "del", "default"]).await;
        }
    }
    // Static routes carry `proto static`, so stale ones can be told apart.
    let out = run(
        "ip",
        &["-n", ns, "-j", "-4", "route", "show", "proto", "static"],
    )
    .await?;
    let current: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    for c in current {
        let dst = c["dst"].as_str().unwrap_or_default().to_string();
        let via = c["gateway"].as_str().unwrap_or_default().to_string();
        let wanted = r
            .routes
            .iter()
            .any(|(d, h)| (d == &dst || d.strip_suffix("/32") == Some(dst.as_str())) && h == &via);
        if !wanted {
            let _ = run("ip", &["-n", ns, "route", "del", &dst, "proto", "static"]).await;
        }
    }
    for (dst, via) in &r.routes {
        // A nexthop that is not (yet) reachable only costs this route.
        if let Err(e) = run(
            "ip",
            &[
                "-n", ns, "route", "replace", dst, "via", via, "proto", "static",
            ],
        )
        .await
        {
            tracing::warn!(router = %r.router_id, "static route {dst} via {via}: {e:#}");
        }
    }
    let dir = data_dir.join("routers");
    tokio::fs::create_dir_all(&dir).await?;
    let file = dir.join(format!("{}.nft", r.router_id));
    tokio::fs::write(&file, &r.nft).await?;
    let path = file.to_string_lossy().into_owned();
    run("ip", &["netns", "exec", ns, "nft", "-f", &path]).await?;
    Ok(())
}

/// Makes routers and the outside world match `plan`; removes router
/// namespaces (and their veths with them) that no router stands behind.
pub async fn apply(data_dir: &Path, dataplane: &str, plan: &L3Plan) -> Applied {
    let mut applied = Applied::default();
    let tag = names::tag(data_dir);
    let router_prefix = format!("{}{tag}-", names::ROUTER_PREFIX);
    let wanted: BTreeSet<&str> = plan.routers.iter().map(|r| r.netns.as_str()).collect();
    for ns in links::list_netns() {
        if ns.starts_with(&router_prefix) && !wanted.contains(ns.as_str()) {
            tracing::info!(netns = %ns, "removing a router namespace without a router");
            if let Err(e) = links::delete_netns(&ns).await {
                tracing::warn!(netns = %ns, "{e:#}");
            }
        }
    }
    let external = names::external_netns(data_dir);
    match &plan.external {
        None => {
            if let Err(e) = links::delete_netns(&external).await {
                tracing::warn!(netns = %external, "{e:#}");
            }
        }
        Some(x) => {
            let result = async {
                links::ensure_netns(&x.netns).await?;
                let mut keep = BTreeSet::new();
                for l in &x.links {
                    ensure_veth(dataplane, &x.netns, l).await?;
                    keep.insert(l.inner.as_str());
                }
                remove_stale_links(&x.netns, "nxi", &keep).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(netns = %x.netns, "outside world: {e:#}");
            }
        }
    }
    for r in &plan.routers {
        match ensure_router(data_dir, dataplane, r).await {
            Ok(()) => {
                applied.routers.push(r.router_id.clone());
                applied.fips.extend(r.fips.iter().cloned());
            }
            Err(e) => tracing::warn!(router = %r.router_id, "router: {e:#}"),
        }
    }
    // Rulesets of routers that are gone.
    if let Ok(dir) = std::fs::read_dir(data_dir.join("routers")) {
        for e in dir.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.trim_end_matches(".nft");
            if !plan.routers.iter().any(|r| r.router_id == id) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    applied
}

/// Deletes every router namespace and the outside world of this data dir.
pub async fn teardown(data_dir: &Path) {
    let tag = names::tag(data_dir);
    let router_prefix = format!("{}{tag}-", names::ROUTER_PREFIX);
    let external = names::external_netns(data_dir);
    for ns in links::list_netns() {
        if ns.starts_with(&router_prefix) || ns == external {
            if let Err(e) = links::delete_netns(&ns).await {
                tracing::warn!(netns = %ns, "teardown: {e:#}");
            }
        }
    }
}

/// Writes back what was programmed: floating IPs `ACTIVE` when their NAT is in
/// place, else `DOWN`; routers `ACTIVE` once their namespace is up, `ERROR`
/// when programming failed.
pub async fn report(
    store: &nimbus_store::Store,
    plan: &L3Plan,
    applied: &Applied,
) -> anyhow::Result<()> {
    use nimbus_network::l3_types::{FloatingIp, Router};
    use nimbus_store::Change;
    for f in store.list::<FloatingIp>(None).await? {
        let want = if applied.fips.contains(&f.value.id) {
            "ACTIVE"
        } else {
            "DOWN"
        };
        if f.value.status != want {
            store
                .modify::<FloatingIp, _, _>(&f.value.id, |x| {
                    if x.status == want {
                        return Ok(Change::Keep(()));
                    }
                    x.status = want.into();
                    Ok(Change::Write(()))
                })
                .await?;
        }
    }
    for r in &plan.routers {
        let want = if applied.routers.contains(&r.router_id) {
            "ACTIVE"
        } else {
            "ERROR"
        };
        store
            .modify::<Router, _, _>(&r.router_id, |x| {
                if x.status == want {
                    return Ok(Change::Keep(()));
                }
                x.status = want.into();
                Ok(Change::Write(()))
            })
            .await?;
    }
    Ok(())
}
