//! `berth serve`: load the configuration, open the stores, print first-start credentials once,
//! and serve HTTP or HTTPS until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::access::SecretValue;
use crate::{App, Config};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address and port to listen on [env: BERTH_LISTEN] [default: 127.0.0.1:5000]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Directory for all state [env: BERTH_DATA_DIR] [default: ./berth-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file
    #[arg(long, value_name = "FILE", env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
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

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Everything the registry writes (database, blobs, keys, certificates) is its own alone.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
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
    let listen = config.listen;
    let given = config.auth.admin_password.clone();
    let state = App::build(config).await?;
    if let Some(passwords) = state.take_first_start_credentials() {
        print_first_start(state.access.admin_name(), &passwords, given.as_deref());
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if state.config.tls.enabled() {
        let names = state.config.auth.login_server.iter().cloned().chain([local.ip().to_string()]).collect();
        let tls = crate::tls::server_config(&state.config.tls, &state.config.data_dir, names)?;
        tracing::info!("listening on {local} (HTTPS)");
        crate::serve(listener, state.clone(), Some(tls), shutdown_signal()).await?;
    } else {
        tracing::info!("listening on {local}");
        crate::serve(listener, state.clone(), None, shutdown_signal()).await?;
    }
    state.registry.meta().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The admin user's passwords, shown once: only their argon2 hashes are stored. A password
/// given in the configuration (`BERTH_ADMIN_PASSWORD`) is known to the operator and not repeated.
fn print_first_start(admin: &str, passwords: &[SecretValue], given: Option<&str>) {
    eprintln!("\nAdmin user created. Sign in with (shown only this once):\n  username: {admin}");
    for p in passwords {
        match (&p.value, &given) {
            (Some(v), Some(g)) if v == g => eprintln!("  {}: (as configured)", p.name),
            (Some(v), _) => eprintln!("  {}: {v}", p.name),
            (None, _) => {}
        }
    }
    eprintln!("`berth credential renew` replaces either password.\n");
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
