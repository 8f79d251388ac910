//! DHCP for a network: a namespace of its own joined to the network's bridge by a
//! veth pair, carrying the DHCP port's MAC and addresses, and dnsmasq in it
//! serving static leases (one `mac,ip,hostname` line per server port).

use super::leases;
use super::links;
use super::names;
use crate::cmd::run;
use crate::proc;
use anyhow::{bail, Context};
use nimbus_network::types::{Network, Port, Subnet, OWNER_DHCP};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What dnsmasq of one network needs; compared with the last applied one so an
/// unchanged network costs nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct DhcpSpec {
    pub network_id: String,
    pub netns: String,
    pub bridge: String,
    pub outer: String,
    pub inner: String,
    pub mtu: u32,
    /// The DHCP port's MAC and `ip/prefix` addresses.
    pub mac: String,
    pub addresses: Vec<String>,
    /// `(network address, netmask)` per DHCP-enabled IPv4 subnet.
    pub ranges: Vec<(String, String)>,
    pub router: Option<String>,
    pub dns: Vec<String>,
    /// The hostsfile contents.
    pub hosts: String,
}

/// `10.0.0.0/24` → (network address, prefix length).
pub fn parse_cidr4(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > 32 {
        return None;
    }
    let mask = mask_bits(prefix);
    Some((Ipv4Addr::from(u32::from(addr) & mask), prefix))
}

fn mask_bits(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// The dotted netmask of a prefix length.
pub fn netmask(prefix: u8) -> String {
    Ipv4Addr::from(mask_bits(prefix)).to_string()
}

/// The DHCP spec of `network`, or `None` when it has no DHCP port or no
/// DHCP-enabled IPv4 subnet. `hostnames` maps server ids to hostnames.
pub fn spec(
    data_dir: &Path,
    network: &Network,
    subnets: &[Subnet],
    ports: &[Port],
    hostnames: &BTreeMap<String, String>,
) -> Option<DhcpSpec> {
    let subnets: Vec<&Subnet> = subnets
        .iter()
        .filter(|s| s.network_id == network.id && s.ip_version == 4 && s.enable_dhcp)
        .collect();
    let dhcp_port = ports
        .iter()
        .find(|p| p.network_id == network.id && p.device_owner == OWNER_DHCP)?;
    let mut ranges = Vec::new();
    let mut addresses = Vec::new();
    for s in &subnets {
        let Some((net, prefix)) = parse_cidr4(&s.cidr) else {
            continue;
        };
        ranges.push((net.to_string(), netmask(prefix)));
        for f in dhcp_port.fixed_ips.iter().filter(|f| f.subnet_id == s.id) {
            addresses.push(format!("{}/{prefix}", f.ip_address));
        }
    }
    if ranges.is_empty() || addresses.is_empty() {
        return None;
    }
    let first = subnets[0];
    let mut hosts = String::new();
    let mut server_ports: Vec<&Port> = ports
        .iter()
        .filter(|p| p.network_id == network.id && p.device_owner.starts_with("compute:"))
        .collect();
    server_ports.sort_by(|a, b| a.id.cmp(&b.id));
    for p in server_ports {
        for f in &p.fixed_ips {
            if !subnets.iter().any(|s| s.id == f.subnet_id) {
                continue;
            }
            match hostnames.get(&p.device_id) {
                Some(h) if !h.is_empty() => {
                    hosts.push_str(&format!("{},{},{h}\n", p.mac_address, f.ip_address))
                }
                _ => hosts.push_str(&format!("{},{}\n", p.mac_address, f.ip_address)),
            }
        }
    }
    Some(DhcpSpec {
        network_id: network.id.clone(),
        netns: names::dhcp_netns(data_dir, &network.id),
        bridge: names::bridge(&network.id),
        outer: names::veth_outer(&network.id),
        inner: names::veth_inner(&network.id),
        mtu: network.mtu,
        mac: dhcp_port.mac_address.clone(),
        addresses,
        ranges,
        router: first.gateway_ip.clone().filter(|g| !g.is_empty()),
        dns: first.dns_nameservers.clone(),
        hosts,
    })
}

/// `DATA_DIR/dhcp/<network id>/`.
pub fn dhcp_dir(data_dir: &Path, network_id: &str) -> PathBuf {
    data_dir.join("dhcp").join(network_id)
}

fn pidfile(dir: &Path) -> PathBuf {
    dir.join("dnsmasq.pid")
}

/// dnsmasq's arguments (after `dnsmasq`) for `spec`, files under `dir`.
pub fn dnsmasq_args(spec: &DhcpSpec, dir: &Path) -> Vec<String> {
    let mut a = vec![
        "--keep-in-foreground".to_string(),
        "--conf-file=/dev/null".to_string(),
        "--user=root".to_string(),
        "--port=0".to_string(),
        "--bind-interfaces".to_string(),
        format!("--interface={}", spec.inner),
        "--except-interface=lo".to_string(),
    ];
    for (net, mask) in &spec.ranges {
        a.push(format!("--dhcp-range={net},static,{mask},12h"));
    }
    a.push(format!("--dhcp-hostsfile={}", dir.join("hosts").display()));
    if let Some(r) = &spec.router {
        a.push(format!("--dhcp-option=option:router,{r}"));
    }
    if let Some(routes) = classless_routes(spec) {
        a.push(format!(
            "--dhcp-option=option:classless-static-route,{routes}"
        ));
    }
    if !spec.dns.is_empty() {
        a.push(format!(
            "--dhcp-option=option:dns-server,{}",
            spec.dns.join(",")
        ));
    }
    a.push(format!("--dhcp-option=option:mtu,{}", spec.mtu));
    a.push(format!("--dhcp-leasefile={}", dir.join("leases").display()));
    a.push("--no-ping".to_string());
    a.push(format!("--pid-file={}", pidfile(dir).display()));
    a.push(format!(
        "--log-facility={}",
        dir.join("dnsmasq.log").display()
    ));
    a
}

/// DHCP option 121 (RFC 3442): the metadata service's address via the DHCP
/// port (whose namespace serves it, [`crate::metadata`]), and the default route
/// via the gateway when the subnet has one: a client that honours option 121
/// ignores the router option. `None` without a DHCP port address.
pub fn classless_routes(spec: &DhcpSpec) -> Option<String> {
    let dhcp_ip = spec.addresses.first()?.split('/').next()?;
    let mut routes = format!("{}/32,{dhcp_ip}", crate::metadata::ADDRESS);
    if let Some(r) = &spec.router {
        routes.push_str(&format!(",0.0.0.0/0,{r}"));
    }
    Some(routes)
}

/// Whether dnsmasq `pid` runs with exactly `args` (a dnsmasq an older agent
/// started with other options is restarted, not adopted).
fn runs_with(pid: i32, args: &[String]) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let running: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    running == args
}

/// The running dnsmasq of a network (pidfile + the pidfile path in its cmdline).
pub fn running(data_dir: &Path, network_id: &str) -> Option<i32> {
    let pf = pidfile(&dhcp_dir(data_dir, network_id));
    proc::find(&pf, &pf.display().to_string())
}

/// Makes the network's DHCP namespace, veth and dnsmasq match `spec`.
/// `previous` is what was applied last (links are only rebuilt when it differs).
pub async fn ensure(
    data_dir: &Path,
    dataplane: &str,
    spec: &DhcpSpec,
    previous: Option<&DhcpSpec>,
) -> anyhow::Result<()> {
    let dir = dhcp_dir(data_dir, &spec.network_id);
    tokio::fs::create_dir_all(&dir).await?;
    let netns_there = links::list_netns().contains(&spec.netns);
    let same_links = previous
        .is_some_and(|p| p.mac == spec.mac && p.addresses == spec.addresses && p.mtu == spec.mtu);
    if !netns_there || !same_links {
        plumb(dataplane, spec, previous).await?;
    }
    let hosts_path = dir.join("hosts");
    let old_hosts = tokio::fs::read_to_string(&hosts_path)
        .await
        .unwrap_or_default();
    if old_hosts != spec.hosts {
        let tmp = dir.join("hosts.tmp");
        tokio::fs::write(&tmp, &spec.hosts).await?;
        tokio::fs::rename(&tmp, &hosts_path).await?;
    }
    let config_changed = previous.is_some_and(|p| {
        p.ranges != spec.ranges || p.router != spec.router || p.dns != spec.dns || p.mtu != spec.mtu
    });
    // Leases of ports that are gone (or of an address now another port's) only
    // leave dnsmasq with a restart over a cleaned lease file (see [`leases`]).
    let leases_path = dir.join("leases");
    let stale = leases::without_stale(
        &tokio::fs::read_to_string(&leases_path)
            .await
            .unwrap_or_default(),
        &spec.hosts,
    )
    .is_some();
    match running(data_dir, &spec.network_id) {
        Some(pid)
            if stale
                || config_changed
                || !netns_there
                || !runs_with(pid, &dnsmasq_args(spec, &dir)) =>
        {
            proc::terminate(
                pid,
                &pidfile(&dir).display().to_string(),
                Duration::from_secs(5),
            )
            .await;
            drop_stale_leases(&leases_path, &spec.hosts).await?;
            start(spec, &dir).await?;
        }
        Some(pid) => {
            if old_hosts != spec.hosts {
                // dnsmasq re-reads --dhcp-hostsfile on SIGHUP.
                proc::signal(pid, libc::SIGHUP);
            }
        }
        None => {
            drop_stale_leases(&leases_path, &spec.hosts).await?;
            start(spec, &dir).await?
        }
    }
    Ok(())
}

/// Rewrites the lease file (dnsmasq stopped) without the leases `hosts` does not
/// stand behind.
async fn drop_stale_leases(path: &Path, hosts: &str) -> anyhow::Result<()> {
    let current = tokio::fs::read_to_string(path).await.unwrap_or_default();
    if let Some(kept) = leases::without_stale(&current, hosts) {
        tracing::info!(leases = %path.display(), "dropping leases of ports that are gone");
        let tmp = path.with_extension("tmp");
        tokio::fs::write(&tmp, kept).await?;
        tokio::fs::rename(&tmp, path).await?;
    }
    Ok(())
}

/// Namespace, veth pair, addresses.
async fn plumb(
    dataplane: &str,
    spec: &DhcpSpec,
    previous: Option<&DhcpSpec>,
) -> anyhow::Result<()> {
    links::ensure_netns(&spec.netns).await?;
    links::ensure_bridge(dataplane, &spec.bridge, spec.mtu).await?;
    let outer_there = links::links(dataplane)
        .await?
        .iter()
        .any(|l| l.name == spec.outer);
    let inner_there = links::links(&spec.netns)
        .await?
        .iter()
        .any(|l| l.name == spec.inner);
    if outer_there && !inner_there {
        links::delete_link(dataplane, &spec.outer).await?;
    }
    if !(outer_there && inner_there) {
        run(
            "ip",
            &[
                "-n",
                dataplane,
                "link",
                "add",
                &spec.outer,
                "type",
                "veth",
                "peer",
                "name",
                &spec.inner,
                "netns",
                &spec.netns,
            ],
        )
        .await?;
    }
    let mtu = spec.mtu.to_string();
    run(
        "ip",
        &["-n", dataplane, "link", "set", &spec.outer, "mtu", &mtu],
    )
    .await?;
    run(
        "ip",
        &[
            "-n",
            dataplane,
            "link",
            "set",
            &spec.outer,
            "master",
            &spec.bridge,
        ],
    )
    .await?;
    run("ip", &["-n", dataplane, "link", "set", &spec.outer, "up"]).await?;
    let ns = spec.netns.as_str();
    run(
        "ip",
        &["-n", ns, "link", "set", &spec.inner, "address", &spec.mac],
    )
    .await?;
    run("ip", &["-n", ns, "link", "set", &spec.inner, "mtu", &mtu]).await?;
    if let Some(p) = previous {
        for old in p.addresses.iter().filter(|a| !spec.addresses.contains(a)) {
            let _ = run("ip", &["-n", ns, "addr", "del", old, "dev", &spec.inner]).await;
        }
    }
    for a in &spec.addresses {
        run("ip", &["-n", ns, "addr", "replace", a, "dev", &spec.inner]).await?;
    }
    run("ip", &["-n", ns, "link", "set", &spec.inner, "up"]).await?;
    Ok(())
}

/// Starts dnsmasq in the namespace, detached from the agent's process group (so
/// stopping `nimbus serve` leaves it running), reaped by a task while it lives.
async fn start(spec: &DhcpSpec, dir: &Path) -> anyhow::Result<()> {
    if crate::cmd::find_program("dnsmasq").is_none() {
        bail!("dnsmasq is not installed (package dnsmasq-base)");
    }
    let mut args = vec!["netns".to_string(), "exec".to_string(), spec.netns.clone()];
    args.push("dnsmasq".to_string());
    args.extend(dnsmasq_args(spec, dir));
    // stderr goes to a file, not a pipe: dnsmasq outlives the agent.
    let stderr_path = dir.join("dnsmasq.stderr");
    let stderr = std::fs::File::create(&stderr_path)?;
    let mut child = tokio::process::Command::new("ip")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .context("starting dnsmasq")?;
    if let Some(pid) = child.id() {
        // `ip netns exec` execs dnsmasq, so this is dnsmasq's pid; written here too
        // so the pidfile is there before dnsmasq gets to it.
        tokio::fs::write(pidfile(dir), format!("{pid}\n")).await?;
    }
    let network = spec.network_id.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let msg = tokio::fs::read_to_string(&stderr_path)
            .await
            .unwrap_or_default();
        tracing::info!(network = %network, ?status, stderr = %msg.trim(), "dnsmasq exited");
    });
    tracing::info!(network = %spec.network_id, netns = %spec.netns, "dnsmasq started");
    Ok(())
}

/// Stops the network's dnsmasq and removes its namespace, veth and files.
pub async fn remove(data_dir: &Path, dataplane: &str, network_id: &str) -> anyhow::Result<()> {
    let dir = dhcp_dir(data_dir, network_id);
    if let Some(pid) = running(data_dir, network_id) {
        proc::terminate(
            pid,
            &pidfile(&dir).display().to_string(),
            Duration::from_secs(5),
        )
        .await;
    }
    links::delete_link(dataplane, &names::veth_outer(network_id)).await?;
    links::delete_netns(&names::dhcp_netns(data_dir, network_id)).await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}
