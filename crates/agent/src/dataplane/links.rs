//! Namespaces and links through the real `ip` tool. Every function is idempotent:
//! it looks first and only creates or changes what is missing.

use crate::cmd::run;
use serde_json::Value;

/// One link of a namespace, as `ip -j -d link show` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub name: String,
    /// The bridge it is enslaved to.
    pub master: Option<String>,
    /// `bridge`, `tun`, `veth`, ... (`None` for loopback).
    pub kind: Option<String>,
    pub up: bool,
}

/// Named network namespaces (`/run/netns`).
pub fn list_netns() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Creates namespace `ns` (with `lo` up) unless it exists.
pub async fn ensure_netns(ns: &str) -> anyhow::Result<()> {
    if !list_netns().iter().any(|n| n == ns) {
        run("ip", &["netns", "add", ns]).await?;
    }
    run("ip", &["-n", ns, "link", "set", "lo", "up"]).await?;
    Ok(())
}

/// Deletes namespace `ns` (and with it every link inside).
pub async fn delete_netns(ns: &str) -> anyhow::Result<()> {
    if list_netns().iter().any(|n| n == ns) {
        run("ip", &["netns", "delete", ns]).await?;
    }
    Ok(())
}

/// The links of namespace `ns` (empty when it does not exist).
pub async fn links(ns: &str) -> anyhow::Result<Vec<Link>> {
    if !list_netns().iter().any(|n| n == ns) {
        return Ok(Vec::new());
    }
    let out = run("ip", &["-n", ns, "-j", "-d", "link", "show"]).await?;
    let parsed: Vec<Value> = serde_json::from_str(&out)?;
    Ok(parsed
        .iter()
        .map(|l| Link {
            name: l["ifname"].as_str().unwrap_or_default().to_string(),
            master: l["master"].as_str().map(str::to_string),
            kind: l["linkinfo"]["info_kind"].as_str().map(str::to_string),
            up: l["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP")),
        })
        .collect())
}

fn find<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

/// A bridge `name` in `ns`, up, with `mtu`, without addresses.
pub async fn ensure_bridge(ns: &str, name: &str, mtu: u32) -> anyhow::Result<()> {
    let current = links(ns).await?;
    let mtu = mtu.to_string();
    match find(&current, name) {
        Some(l) if l.up => return Ok(()),
        Some(_) => {}
        None => {
            run(
                "ip",
                &["-n", ns, "link", "add", name, "mtu", &mtu, "type", "bridge"],
            )
            .await?;
        }
    }
    run("ip", &["-n", ns, "link", "set", name, "up"]).await?;
    Ok(())
}

/// A tap `tap` in `ns`, enslaved to `bridge`, up.
pub async fn ensure_tap(ns: &str, tap: &str, bridge: &str, mtu: u32) -> anyhow::Result<()> {
    let current = links(ns).await?;
    let existing = find(&current, tap).cloned();
    if existing.is_none() {
        run(
            "ip",
            &["-n", ns, "tuntap", "add", "name", tap, "mode", "tap"],
        )
        .await?;
    }
    let enslaved = existing
        .as_ref()
        .is_some_and(|l| l.master.as_deref() == Some(bridge) && l.up);
    if !enslaved {
        let mtu = mtu.to_string();
        run("ip", &["-n", ns, "link", "set", tap, "mtu", &mtu]).await?;
        run("ip", &["-n", ns, "link", "set", tap, "master", bridge]).await?;
        run("ip", &["-n", ns, "link", "set", tap, "up"]).await?;
    }
    Ok(())
}

/// Deletes link `name` in `ns` if it is there.
pub async fn delete_link(ns: &str, name: &str) -> anyhow::Result<()> {
    if find(&links(ns).await?, name).is_some() {
        run("ip", &["-n", ns, "link", "delete", name]).await?;
    }
    Ok(())
}
