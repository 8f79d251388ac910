//! A minimal QMP client: JSON lines over the guest's `qmp.sock`. Greeting, then
//! `qmp_capabilities`, then one command at a time; asynchronous events that
//! arrive in between are skipped.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// How long one QMP exchange may take (QEMU under TCG on a busy host is slow).
const TIMEOUT: Duration = Duration::from_secs(10);

/// An open, negotiated QMP connection.
pub struct Qmp {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    /// Connects and leaves capabilities negotiation mode.
    pub async fn connect(socket: &Path) -> anyhow::Result<Qmp> {
        let stream = tokio::time::timeout(TIMEOUT, UnixStream::connect(socket))
            .await
            .map_err(|_| anyhow!("QMP connect to {} timed out", socket.display()))?
            .with_context(|| format!("QMP connect to {}", socket.display()))?;
        let (r, w) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = qmp.read_message().await?;
        if greeting.get("QMP").is_none() {
            bail!("unexpected QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command` and returns its `return` value (an error reply is an error).
    pub async fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut line = msg.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        loop {
            let reply = self.read_message().await?;
            if reply.get("event").is_some() {
                continue;
            }
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                bail!("QMP {command}: {}", e["desc"].as_str().unwrap_or("error"));
            }
        }
    }

    async fn read_message(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| anyhow!("QMP reply timed out"))??;
        if n == 0 {
            bail!("QMP connection closed");
        }
        serde_json::from_str(&line).context("QMP reply is not JSON")
    }
}

/// One command on a fresh connection (the agent never keeps connections open:
/// QEMU serves one QMP client at a time, and a restart must not find it busy).
pub async fn command(socket: &Path, command: &str) -> anyhow::Result<Value> {
    let mut qmp = Qmp::connect(socket).await?;
    qmp.execute(command, None).await
}

/// `query-status`'s `status` (`running`, `paused`, `shutdown`, ...).
pub async fn status(socket: &Path) -> anyhow::Result<String> {
    let v = command(socket, "query-status").await?;
    Ok(v["status"].as_str().unwrap_or("unknown").to_string())
}
