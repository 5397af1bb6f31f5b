//! Berth: a self-hostable container registry. See `../shared/design.md` for the layers:
//! `api` (HTTP) → `registry` (operations) → `meta` (SQL) + `blob` (object storage), with `oci`
//! holding the pure spec types. `cli` is the `berth` command line.

pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod jobs;
pub mod meta;
pub mod oci;
pub mod registry;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};

pub use app::{App, AppState};
pub use config::Config;

/// Serves the registry on `listener`, over TLS when `tls` is given, until `shutdown`
/// completes; connections in flight then finish.
///
/// A client must send its request headers (and finish a TLS handshake) within
/// `http.header_timeout`, so connections that trickle in byte by byte (slowloris) are closed
/// instead of held open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let header_timeout = state.config.http.header_timeout.0;
    let router = api::router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses (manifests, upload status) must not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, watcher) = (acceptor.clone(), builder.clone(), graceful.watcher());
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer))));
        tokio::spawn(async move {
            let Some(acceptor) = acceptor else {
                return connection(&builder, tcp, service, watcher).await;
            };
            let handshake = tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await;
            match handshake {
                Ok(Ok(stream)) => connection(&builder, stream, service, watcher).await,
                _ => tracing::debug!(%peer, "TLS handshake failed or timed out"),
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

type Service = TowerToHyperService<axum::Router>;

/// Serves the requests of one connection until it closes.
async fn connection<I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    service: Service,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let _ = watcher.watch(conn.into_owned()).await;
}
