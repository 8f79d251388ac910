//! `nimbus`: the one binary. `nimbus serve` runs the cloud; `nimbus audit` reads the
//! audit trail; `nimbus ssh` logs in to a server; `nimbus teardown` removes a
//! cloud's guests and namespaces.

use clap::{Parser, Subcommand};
use nimbus::serve::ServeArgs;
use nimbus::ssh::SshArgs;
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
    /// Log in to a server over SSH from inside its network's namespace (run on the
    /// cloud's host, as root).
    Ssh(SshArgs),
    /// Stop every guest and DHCP server of a cloud and delete its namespaces
    /// (`nimbus serve` itself leaves guests running for the next start to adopt).
    Teardown {
        #[arg(long, default_value = "./nimbus-data")]
        data_dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // Big blocks (Argon2's 19 MiB) always come from mmap and go back to the system
    // when freed, instead of staying in malloc's arenas: idle memory stays small.
    // SAFETY: mallopt only changes allocator tuning; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    // Log lines are written by a background thread, off the request path.
    let (log_writer, _flush_on_exit) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .json()
        .with_writer(log_writer)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NIMBUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => nimbus::serve::run(args).await,
        Command::Audit {
            data_dir,
            database,
            limit,
        } => {
            let store = open_store(&data_dir, database).await?;
            nimbus::audit::print(&store, limit).await
        }
        Command::Ssh(args) => {
            let store = open_store(&args.data_dir, args.database.clone()).await?;
            nimbus::ssh::run(args, &store).await
        }
        Command::Teardown { data_dir } => {
            nimbus_agent::teardown_all(&std::fs::canonicalize(&data_dir)?).await;
            Ok(())
        }
    }
}

/// The store of a cloud: `database`, else the SQLite file in `data_dir`.
async fn open_store(
    data_dir: &std::path::Path,
    database: Option<String>,
) -> anyhow::Result<nimbus_store::Store> {
    let url = match database {
        Some(u) => u,
        None => {
            let dir = std::fs::canonicalize(data_dir)?;
            format!("sqlite://{}/nimbus.db", dir.display())
        }
    };
    Ok(nimbus_store::Store::open(&url).await?)
}
