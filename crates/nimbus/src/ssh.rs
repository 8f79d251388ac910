//! `nimbus ssh SERVER [-l USER] [-i KEYFILE] [-- COMMAND]`: logs in to a server
//! from inside its network's DHCP namespace, the one place on the host with an
//! address on the tenant network, so users never need to know where that is.
//!
//! Run on the cloud's host as root, like `nimbus audit` it reads the store
//! directly. The guest's host key is taken from the console log (the default
//! guest prints it cloud-init style), so the first login is already verified;
//! images that print none are trusted on first use.

use anyhow::{bail, Context};
use nimbus_compute::server::{console_log, Server};
use nimbus_image::types::Image;
use nimbus_network::types::Port;
use nimbus_store::Store;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user when neither `-l` nor the image's `os_admin_user` names one.
const DEFAULT_USER: &str = "nimbus";

/// What `nimbus ssh` was asked.
#[derive(Clone, Debug, clap::Args)]
pub struct SshArgs {
    /// The cloud's data directory (as given to `nimbus serve`).
    #[arg(long, default_value = "./nimbus-data")]
    pub data_dir: PathBuf,
    /// Database URL, if not the SQLite file in the data directory.
    #[arg(long)]
    pub database: Option<String>,
    /// Server name or id.
    pub server: String,
    /// User to log in as (default: the image's `os_admin_user`, else `nimbus`).
    #[arg(short = 'l', long = "login")]
    pub login: Option<String>,
    /// Private key file.
    #[arg(short = 'i', long = "identity")]
    pub identity: Option<PathBuf>,
    /// Command to run instead of a shell (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Finds the server and replaces this process with `ip netns exec NS ssh ...`.
pub async fn run(args: SshArgs, store: &Store) -> anyhow::Result<()> {
    let data_dir = std::fs::canonicalize(&args.data_dir)
        .with_context(|| format!("data directory {}", args.data_dir.display()))?;
    let server = find_server(store, &args.server).await?;
    let (network_id, address) = first_ipv4(store, &server).await?;
    let netns = nimbus_agent::dataplane::dhcp_netns(&data_dir, &network_id);
    if !Path::new("/run/netns").join(&netns).exists() {
        bail!(
            "network namespace {netns} (DHCP of network {network_id}) does not exist on this host: \
             is server {} running here?",
            server.id
        );
    }
    let user = match args.login {
        Some(user) => user,
        None => admin_user(store, &server.image_id).await?,
    };
    let known_hosts = data_dir
        .join("ssh")
        .join(format!("known_hosts-{}", server.id));
    std::fs::create_dir_all(known_hosts.parent().expect("has a parent"))?;
    let verified = match host_keys(&console_log(&data_dir, &server.id)) {
        Some(keys) => {
            let lines: String = keys.iter().map(|k| format!("{address} {k}\n")).collect();
            std::fs::write(&known_hosts, lines)?;
            true
        }
        None => false,
    };

    let mut ssh = Command::new("ip");
    ssh.args(["netns", "exec", &netns, "ssh"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-o")
        .arg(if verified {
            "StrictHostKeyChecking=yes"
        } else {
            "StrictHostKeyChecking=accept-new"
        })
        .args(["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]);
    if let Some(key) = &args.identity {
        ssh.arg("-i").arg(key);
    }
    ssh.arg("-l").arg(&user).arg(&address);
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    Err(ssh.exec()).context("running ip netns exec ... ssh")
}

/// The one server named or numbered `wanted`.
async fn find_server(store: &Store, wanted: &str) -> anyhow::Result<Server> {
    if let Some(s) = store.get::<Server>(wanted).await? {
        return Ok(s.value);
    }
    let mut named: Vec<Server> = store
        .list::<Server>(None)
        .await?
        .into_iter()
        .map(|s| s.value)
        .filter(|s| s.name == wanted)
        .collect();
    match named.len() {
        0 => bail!("no server is named or numbered {wanted:?}"),
        1 => Ok(named.remove(0)),
        _ => bail!(
            "{} servers are named {wanted:?}; use an id: {}",
            named.len(),
            named
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The network and address of the server's first IPv4 address.
async fn first_ipv4(store: &Store, server: &Server) -> anyhow::Result<(String, String)> {
    for port_id in &server.port_ids {
        let Some(port) = store.get::<Port>(port_id).await? else {
            continue;
        };
        let port = port.value;
        if let Some(ip) = port.fixed_ips.iter().find(|f| !f.ip_address.contains(':')) {
            return Ok((port.network_id.clone(), ip.ip_address.clone()));
        }
    }
    bail!("server {} has no IPv4 address", server.id)
}

async fn admin_user(store: &Store, image_id: &str) -> anyhow::Result<String> {
    let image = store.get::<Image>(image_id).await?;
    Ok(image
        .and_then(|i| i.value.properties.get("os_admin_user").cloned())
        .unwrap_or_else(|| DEFAULT_USER.to_string()))
}

/// The host keys of the last boot, as the guest printed them on the console.
fn host_keys(console: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(console).ok()?;
    let start = text.rfind("-----BEGIN SSH HOST KEY KEYS-----")?;
    let block = &text[start..];
    let end = block.find("-----END SSH HOST KEY KEYS-----")?;
    let keys: Vec<String> = block[..end]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next()) {
                (Some(kind), Some(key))
                    if kind.starts_with("ssh-") || kind.starts_with("ecdsa-") =>
                {
                    Some(format!("{kind} {key}"))
                }
                _ => None,
            }
        })
        .collect();
    (!keys.is_empty()).then_some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_come_from_the_last_block() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        std::fs::write(
            &log,
            "boot 1\n-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 OLD root@a\n\
             -----END SSH HOST KEY KEYS-----\nboot 2\r\n-----BEGIN SSH HOST KEY KEYS-----\r\n\
             ssh-ed25519 NEW root@a\r\nnoise\r\n-----END SSH HOST KEY KEYS-----\r\n",
        )
        .unwrap();
        assert_eq!(host_keys(&log), Some(vec!["ssh-ed25519 NEW".to_string()]));
        std::fs::write(&log, "no keys here\n").unwrap();
        assert_eq!(host_keys(&log), None);
    }
}
