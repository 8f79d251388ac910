//! Finding our own processes again after a restart: a pidfile names the process,
//! `/proc/<pid>/cmdline` must still contain a marker (the server id, the DHCP
//! namespace), so a recycled pid is never mistaken for ours.

use std::path::Path;
use std::time::Duration;

/// The pid in `pidfile` if that process is alive (not a zombie) and its command
/// line contains `marker`.
pub fn find(pidfile: &Path, marker: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    alive_with(pid, marker).then_some(pid)
}

/// Whether `pid` runs and its command line contains `marker`.
pub fn alive_with(pid: i32, marker: &str) -> bool {
    if pid <= 1 {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if zombie(pid) {
        return false;
    }
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    text.contains(marker)
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The state follows the parenthesised command name.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|c| c == 'Z' || c == 'X')
}

/// Sends `signal` to `pid`.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory effects; the pid was checked to be ours.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Waits up to `timeout` for `pid` (with `marker`) to be gone.
pub async fn wait_gone(pid: i32, marker: &str, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !alive_with(pid, marker) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
pub async fn terminate(pid: i32, marker: &str, grace: Duration) {
    if !alive_with(pid, marker) {
        return;
    }
    signal(pid, libc::SIGTERM);
    if !wait_gone(pid, marker, grace).await {
        signal(pid, libc::SIGKILL);
        wait_gone(pid, marker, Duration::from_secs(5)).await;
    }
}
