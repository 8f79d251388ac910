//! `nimbus serve`: open the store, bootstrap, register the catalog, write
//! `clouds.yaml`, then serve every API on one listener (HTTP or HTTPS) until
//! SIGTERM or SIGINT, finishing the requests in flight.

use crate::clouds::{self, CloudEntry};
use anyhow::{bail, Context};
use nimbus_identity::{bootstrap, Identity, IdentityConfig, MAX_TOKEN_TTL_SECS};
use nimbus_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `nimbus serve` can be told.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the database (SQLite default), clouds.yaml and later images and disks live.
    #[arg(long, default_value = "./nimbus-data")]
    pub data_dir: PathBuf,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Database URL: sqlite://FILE (default: DATA_DIR/nimbus.db) or postgres://USER@HOST:PORT/DB.
    #[arg(long)]
    pub database: Option<String>,
    /// Base URL written into the service catalog (default: derived from --listen).
    #[arg(long)]
    pub public_url: Option<String>,
    /// PEM certificate (chain) to serve HTTPS with.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Token lifetime in seconds (at most 86400).
    #[arg(long, default_value_t = 3600)]
    pub token_expiration: i64,
    /// Failed password logins before a user is locked (0: never).
    #[arg(long, default_value_t = 5)]
    pub lockout_failure_attempts: u32,
    /// How long a locked user stays locked, in seconds.
    #[arg(long, default_value_t = 300)]
    pub lockout_duration: i64,
    /// Image data each project may store, in MiB (413 beyond; default 100 GiB).
    #[arg(long, default_value_t = nimbus_image::DEFAULT_QUOTA_BYTES >> 20)]
    pub image_quota_mib: u64,
    /// A default guest built by `guest/build` (its output directory), registered as
    /// the public image `nimbus-guest` at start.
    #[arg(long, env = "NIMBUS_GUEST_IMAGE_DIR")]
    pub guest_image_dir: Option<PathBuf>,
    /// This host's name for the scheduler (`OS-EXT-SRV-ATTR:host`; default: the hostname).
    #[arg(long)]
    pub host: Option<String>,
    /// Run no node agent in this process: an API/controller node that boots no guests.
    #[arg(long)]
    pub no_local_agent: bool,
    /// vCPUs the scheduler may place per physical CPU of this host.
    #[arg(long, default_value_t = 4.0)]
    pub cpu_allocation_ratio: f64,
    /// Guest RAM the scheduler may place per byte of this host's RAM.
    #[arg(long, default_value_t = 1.0)]
    pub ram_allocation_ratio: f64,
    /// Guest disk the scheduler may place per byte free in the data dir.
    #[arg(long, default_value_t = 1.0)]
    pub disk_allocation_ratio: f64,
    /// RAM (MiB) kept for the host itself, not offered to guests.
    #[arg(long, default_value_t = 512)]
    pub reserved_host_memory_mb: u64,
    /// A host interface, dedicated and without addresses, to attach to the external
    /// network --external-network (real deployments; the agent moves it into its
    /// dataplane namespace). Without it the external network lives in namespaces only.
    #[arg(long, value_name = "IFACE")]
    pub external_interface: Option<String>,
    /// The external network (`router:external`) that --external-interface joins.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "public",
        requires = "external_interface"
    )]
    pub external_network: String,
}

impl ServeArgs {
    /// The database URL, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let dir = std::fs::canonicalize(&self.data_dir)?;
        Ok(format!("sqlite://{}/nimbus.db", dir.display()))
    }

    fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                let host = match self.listen.ip() {
                    ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("{scheme}://{host}:{}", self.listen.port())
            }
        }
    }
}

/// Runs the server until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if !(1..=MAX_TOKEN_TTL_SECS).contains(&args.token_expiration) {
        bail!("--token-expiration must be between 1 and {MAX_TOKEN_TTL_SECS} seconds");
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let public_url = args.public_url();
    let store = Store::open(&args.database_url()?)
        .await
        .context("opening the store")?;

    let clouds_path = args.data_dir.join("clouds.yaml");
    let env_password = std::env::var("NIMBUS_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let boot = bootstrap::run(&store, env_password.clone())
        .await
        .context("bootstrap")?;
    bootstrap::ensure_service(
        &store,
        "identity",
        "keystone",
        &format!("{public_url}/identity"),
    )
    .await?;
    bootstrap::ensure_service(
        &store,
        "compute",
        "nova",
        &format!("{public_url}/compute/v2.1"),
    )
    .await?;
    let seeded = nimbus_compute::seed::seed_flavors(&store)
        .await
        .context("seeding the standard flavors")?;
    if seeded > 0 {
        tracing::info!(flavors = seeded, "created the standard flavors");
    }
    bootstrap::ensure_service(&store, "image", "glance", &format!("{public_url}/image")).await?;
    bootstrap::ensure_service(
        &store,
        "network",
        "neutron",
        &format!("{public_url}/network"),
    )
    .await?;
    nimbus_network::bootstrap::ensure_defaults(&store, &boot.admin_project_id)
        .await
        .context("creating the default network")?;
    for service_type in ["volumev3", "block-storage"] {
        bootstrap::ensure_service(
            &store,
            service_type,
            "cinderv3",
            &format!("{public_url}/volume/v3"),
        )
        .await?;
    }
    nimbus_volume::bootstrap::seed_types(&store)
        .await
        .context("seeding the volume types")?;

    let mut config = IdentityConfig::new(&public_url);
    config.token_ttl = chrono::Duration::seconds(args.token_expiration);
    config.lockout_failures = args.lockout_failure_attempts;
    config.lockout_duration = chrono::Duration::seconds(args.lockout_duration);
    let identity = Identity::new(store.clone(), config, boot.admin_project_id.clone());

    let password = env_password
        .or(boot.generated_admin_password.clone())
        .or_else(|| clouds::existing_password(&clouds_path));
    let cacert = args
        .tls_cert
        .as_ref()
        .map(|c| std::fs::canonicalize(c).map(|p| p.display().to_string()))
        .transpose()?;
    if let Some(pw) = &password {
        clouds::write(
            &clouds_path,
            &CloudEntry {
                auth_url: &format!("{public_url}/identity"),
                password: pw,
                cacert: cacert.as_deref(),
            },
        )
        .context("writing clouds.yaml")?;
    }

    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    if let Some(iface) = &args.external_interface {
        let dataplane = nimbus_agent::dataplane::dataplane_netns(&data_dir);
        if !nimbus_agent::dataplane::uplink::present(&dataplane, iface).await {
            bail!("--external-interface {iface}: no such network interface on this host");
        }
    }
    let mut image_config = nimbus_image::ImageConfig::new(&data_dir);
    image_config.quota_bytes = args.image_quota_mib.saturating_mul(1 << 20);
    let images = nimbus_image::Images::open(store.clone(), image_config)
        .await
        .context("opening the image service")?;
    if let Some(dir) = &args.guest_image_dir {
        crate::guest_image::register(&store, &images, dir)
            .await
            .context("registering the built-in guest image")?;
    }

    let volumes = nimbus_volume::Volumes::open(store.clone(), images.clone(), &data_dir)
        .await
        .context("opening the volume service")?;
    tokio::spawn(nimbus_volume::controller::run(volumes.clone()));
    tokio::spawn(nimbus_volume::backup::run(volumes.clone()));
    let status = nimbus_status::StatusPage::open(store.clone())
        .await
        .context("opening the status page")?;
    let networking = nimbus_network::Networking::new(store.clone());
    let compute = nimbus_compute::Compute::new(
        store.clone(),
        images.clone(),
        networking.clone(),
        data_dir.clone(),
    );
    tokio::spawn(nimbus_compute::scheduler::run(store.clone()));
    if !args.no_local_agent {
        spawn_agent(&args, &data_dir, store.clone(), images.clone());
    }
    let services = crate::app::Services {
        console: nimbus_console::Console::new(args.tls_cert.is_some()),
        identity: identity.clone(),
        compute,
        images,
        network: networking,
        volumes,
        status,
    };
    let app = crate::app::build(&services, &public_url);
    spawn_token_sweeper(identity);

    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });

    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    listener.set_nonblocking(true)?;
    announce(
        &public_url,
        &clouds_path,
        boot.generated_admin_password.as_deref(),
        store.backend(),
    );

    let service = app.into_make_service();
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .context("loading the TLS certificate and key")?;
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(service)
                .await?;
        }
        _ => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(service)
                .await?
        }
    }
    Ok(())
}

fn announce(
    public_url: &str,
    clouds: &std::path::Path,
    generated: Option<&str>,
    backend: nimbus_store::Backend,
) {
    println!("Nimbus is ready at {public_url} (store: {backend:?})");
    match generated {
        Some(pw) => {
            println!("  admin login: user admin, domain Default, password {pw}  (shown once)")
        }
        None => println!(
            "  admin login: user admin, domain Default, password from NIMBUS_ADMIN_PASSWORD or clouds.yaml"
        ),
    }
    println!("  clouds.yaml: {}", clouds.display());
    println!(
        "  try:         OS_CLIENT_CONFIG_FILE={} openstack --os-cloud nimbus token issue",
        clouds.display()
    );
}

/// The node agent for this host, in-process (ADR 0004): it boots the guests the
/// scheduler binds here. An agent that fails is logged and started again.
fn spawn_agent(
    args: &ServeArgs,
    data_dir: &std::path::Path,
    store: Store,
    images: std::sync::Arc<nimbus_image::Images>,
) {
    let host = args.host.clone().unwrap_or_else(local_hostname);
    let mut config = nimbus_agent::AgentConfig::new(host, data_dir);
    config.cpu_allocation_ratio = args.cpu_allocation_ratio;
    config.ram_allocation_ratio = args.ram_allocation_ratio;
    config.disk_allocation_ratio = args.disk_allocation_ratio;
    config.reserved_ram_mb = args.reserved_host_memory_mb;
    config.probe_kernel = args.guest_image_dir.as_ref().map(|d| d.join("vmlinux"));
    config.uplink =
        args.external_interface
            .clone()
            .map(|interface| nimbus_agent::dataplane::uplink::Uplink {
                interface,
                network: args.external_network.clone(),
            });
    tokio::spawn(async move {
        loop {
            match nimbus_agent::run(config.clone(), store.clone(), images.clone()).await {
                Ok(()) => return,
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "node agent failed; restarting it in 5 s"
                ),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
}

/// The kernel's host name (`uname -n`).
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn spawn_token_sweeper(identity: std::sync::Arc<Identity>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = identity.sweep_expired_tokens().await {
                tracing::warn!(error = %e, "sweeping expired tokens failed");
            }
        }
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
