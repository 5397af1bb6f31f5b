//! `berth serve`: load the configuration, bind, open the stores, print first-start credentials
//! once, and serve HTTP or HTTPS until SIGINT or SIGTERM. And `berth admin reset-password`, the
//! offline recovery of lost admin passwords from the same configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::access::SecretValue;
use crate::{App, Config};

/// Where a registry's configuration and state are: what `serve` and offline commands share.
#[derive(Debug, Args)]
pub(super) struct Stores {
    /// Directory for all state [env: BERTH_DATA_DIR] [default: ./berth-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file
    #[arg(long, value_name = "FILE", env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
}

impl Stores {
    /// The configuration: defaults < file < environment < these flags.
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address and port to listen on [env: BERTH_LISTEN] [default: 127.0.0.1:5000]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    stores: Stores,
    /// Print the effective configuration as TOML and exit
    #[arg(long)]
    print_config: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate generated at start (development; written to DATA_DIR/tls/)
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
}

#[derive(Debug, Args)]
pub(super) struct AgentArgs {
    #[command(flatten)]
    stores: Stores,
    /// The registry builds pull from and push to, as HOST:PORT [tasks.registry]
    #[arg(long, value_name = "HOST:PORT")]
    registry: Option<String>,
}

/// `berth agent`: runs queued runs, as ACR's agent pools do, on a machine that serves nothing.
/// It shares the registry's metadata and blob stores (PostgreSQL, and S3 or Azure Blob: a
/// SQLite database has one user) and reaches the registry at `tasks.registry`.
pub(super) async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let mut config = args.stores.load()?;
    if let Some(registry) = args.registry {
        config.tasks.registry = registry;
    }
    anyhow::ensure!(
        !config.tasks.registry.is_empty(),
        "an agent needs the registry's address: --registry HOST:PORT (or tasks.registry)"
    );
    anyhow::ensure!(
        config.database_url()?.starts_with("postgres"),
        "an agent shares the registry's PostgreSQL database (database.url = \"postgres://…\"): a SQLite database has only one user, the registry"
    );
    config.tasks.enabled = true;
    let (registry, concurrency) = (config.tasks.registry.clone(), config.tasks.concurrency);
    let state = App::agent(config).await?;
    tracing::info!(%registry, concurrency, "agent running queued runs");
    shutdown_signal().await;
    state.registry.meta().close().await;
    Ok(())
}

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Everything the registry writes (database, blobs, keys, certificates) is its own alone.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let mut config = args.stores.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.tls_cert.is_some() {
        (config.tls.cert, config.tls.key) = (args.tls_cert, args.tls_key);
    }
    config.tls.self_signed |= args.tls_self_signed;
    config.validate()?;
    if args.print_config {
        print!("{}", toml::to_string(&config)?);
        return Ok(());
    }
    // Bind first: a start that cannot listen must not create the admin user and print its only
    // copy of the passwords.
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let given = config.auth.admin_password.clone();
    let state = App::build(config).await?;
    match state.take_first_start_credentials() {
        Some(passwords) => print_first_start(state.access.admin_name(), &passwords, given.as_deref(), local),
        None if given.is_some() => tracing::warn!(
            "BERTH_ADMIN_PASSWORD (auth.admin_password) is ignored: the admin user exists already. Renew its \
             passwords with `berth credential renew`, or offline with `berth admin reset-password`"
        ),
        None => {}
    }
    if state.config.tls.enabled() {
        let names = state.config.auth.login_server.iter().cloned().chain([local.ip().to_string()]).collect();
        let tls = crate::tls::server_config(&state.config.tls, &state.config.data_dir, names)?;
        tracing::info!("listening on {local} (HTTPS)");
        crate::serve(listener, state.clone(), Some(tls), shutdown_signal()).await?;
    } else {
        tracing::info!("listening on {local}");
        crate::serve(listener, state.clone(), None, shutdown_signal()).await?;
    }
    // The audit entries still queued go to the store before it closes.
    state.auditor.shutdown().await;
    state.registry.meta().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The admin user's passwords, printed at first start (an Owner can read them back with
/// `berth credential show`), and what to run next. A password given in the configuration
/// (`BERTH_ADMIN_PASSWORD`) is known to the operator and not repeated.
fn print_first_start(admin: &str, passwords: &[SecretValue], given: Option<&str>, local: SocketAddr) {
    eprintln!("\nAdmin user created. Sign in with:\n  username: {admin}");
    for p in passwords {
        match (&p.value, &given) {
            (Some(v), Some(g)) if v == g => eprintln!("  {}: (as configured)", p.name),
            (Some(v), _) => eprintln!("  {}: {v}", p.name),
            (None, _) => {}
        }
    }
    let host = if local.ip().is_unspecified() { format!("localhost:{}", local.port()) } else { local.to_string() };
    eprintln!(
        "\nNext, with this host name everywhere (clients keep credentials per name):\n  \
         berth login -n {host} -u {admin} -p PASSWORD     # stores them for docker, podman, skopeo, oras and berth\n  \
         berth user create -n dev -r {host} --role AcrPush  # a user of your own instead of the admin user\n  \
         docker push {host}/app:v1                          # or skopeo copy / podman push\n\
         `berth credential renew` replaces either password; `berth credential show` shows them to an Owner.\n"
    );
}

#[derive(Debug, Args)]
pub(super) struct ResetPasswordArgs {
    #[command(flatten)]
    stores: Stores,
    /// Which password to reset (both if not given)
    #[arg(long, value_parser = ["password", "password2"])]
    password_name: Option<String>,
}

/// `berth admin reset-password`: new admin passwords written straight into the registry's
/// stores, for a registry whose passwords are lost (stop a SQLite-backed server first).
pub(super) async fn reset_password(args: ResetPasswordArgs, out: &super::output::OutputArgs) -> anyhow::Result<()> {
    let config = args.stores.load()?;
    let names = match args.password_name {
        Some(name) => vec![name],
        None => vec!["password".to_owned(), "password2".to_owned()],
    };
    let fresh = App::reset_admin_passwords(config, &names).await?;
    let passwords: Vec<_> = fresh.iter().map(|p| serde_json::json!({"name": p.name, "value": p.value})).collect();
    super::output::print(&serde_json::json!({ "passwords": passwords }), out, None)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
