//! Running host tools (`ip`, `qemu-img`, `genisoimage`, ...): every failure
//! carries the command line and its stderr, so a log line or a server fault says
//! exactly what went wrong.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// Runs `program args...`, waits, and returns stdout; a non-zero exit is an error
/// with the command and its stderr.
pub async fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        let mut line = format!("{program} {}", args.join(" "));
        if line.len() > 160 {
            // Long command lines (QEMU) would bury the cause in a server fault.
            let cut = (0..=160)
                .rev()
                .find(|i| line.is_char_boundary(*i))
                .unwrap_or(0);
            line.truncate(cut);
            line.push_str(" ...");
        }
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`run`] with owned arguments.
pub async fn run_owned(program: &str, args: &[String]) -> anyhow::Result<String> {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(program, &refs).await
}

/// Where `program` is found: itself if it has a slash, else the first match in PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
