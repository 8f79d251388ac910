//! Binding a listening socket inside a named network namespace. A socket belongs
//! to the namespace of the thread that created it, for its whole life; so a fresh
//! OS thread (never a runtime thread: `setns` would move it for good) joins the
//! namespace, binds, hands the listener back and ends.

use anyhow::Context;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where `ip netns` keeps its namespaces.
pub const NETNS_DIR: &str = "/run/netns";

fn path(netns: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns)
}

/// The inode of namespace `netns` (it identifies the namespace itself: the same
/// name made again has another).
pub fn inode(netns: &str) -> anyhow::Result<u64> {
    let meta = std::fs::metadata(path(netns))
        .with_context(|| format!("network namespace {netns} does not exist"))?;
    Ok(meta.ino())
}

/// A non-blocking TCP listener on `addr` inside `netns`, and the namespace's
/// inode it was bound in.
pub async fn bind_tcp(netns: &str, addr: SocketAddr) -> anyhow::Result<(TcpListener, u64)> {
    let ns_path = path(netns);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("nimbus-netns-bind".into())
        .spawn(move || {
            let _ = tx.send(bind_here(&ns_path, addr));
        })
        .context("starting the namespace bind thread")?;
    let result = rx.await.context("the namespace bind thread died")?;
    result.with_context(|| format!("listening on {addr} in namespace {netns}"))
}

/// Runs on its own thread: joins the namespace, binds.
fn bind_here(ns_path: &Path, addr: SocketAddr) -> std::io::Result<(TcpListener, u64)> {
    let ns = File::open(ns_path)?;
    let inode = ns.metadata()?.ino();
    // SAFETY: setns with a valid namespace fd and CLONE_NEWNET only changes this
    // thread's network namespace; the thread ends right after binding.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok((listener, inode))
}
