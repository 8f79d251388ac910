//! Applying an nftables ruleset inside a namespace: `nft -f -` reads the whole
//! text as one transaction, so a ruleset is replaced atomically (conntrack
//! entries live outside the ruleset and survive the swap).

use anyhow::{bail, Context};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Loads `ruleset` into namespace `netns` in one transaction.
pub async fn apply(netns: &str, ruleset: &str) -> anyhow::Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run nft (Debian package nftables)")?;
    let mut stdin = child.stdin.take().context("nft stdin")?;
    stdin.write_all(ruleset.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "`nft -f -` in {netns} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Makes bridged IPv4/IPv6 traffic of `netns` pass the IP hooks (br_netfilter),
/// where conntrack is; the kernel here has no conntrack in the bridge family.
pub async fn enable_bridge_netfilter(netns: &str) -> anyhow::Result<()> {
    for key in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
        let path = format!("/proc/sys/net/bridge/{key}");
        crate::cmd::run(
            "ip",
            &[
                "netns",
                "exec",
                netns,
                "sh",
                "-c",
                &format!("echo 1 > {path}"),
            ],
        )
        .await
        .with_context(|| format!("enabling {key} (br_netfilter) in {netns}"))?;
    }
    Ok(())
}
