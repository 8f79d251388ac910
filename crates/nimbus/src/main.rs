//! `nimbus`: the one binary. `nimbus serve` runs the cloud; `nimbus audit` reads the
//! audit trail.

use clap::{Parser, Subcommand};
use nimbus::serve::ServeArgs;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "nimbus", version, about = "A sovereign cloud in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the cloud: every API on one listener.
    Serve(ServeArgs),
    /// Print the audit trail (identity changes, failed logins), newest first.
    Audit {
        #[arg(long, default_value = "./nimbus-data")]
        data_dir: PathBuf,
        /// Database URL, if not the SQLite file in the data directory.
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NIMBUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => nimbus::serve::run(args).await,
        Command::Audit {
            data_dir,
            database,
            limit,
        } => {
            let url = match database {
                Some(u) => u,
                None => {
                    let dir = std::fs::canonicalize(&data_dir)?;
                    format!("sqlite://{}/nimbus.db", dir.display())
                }
            };
            let store = nimbus_store::Store::open(&url).await?;
            nimbus::audit::print(&store, limit).await
        }
    }
}
