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

use axum::serve::ListenerExt;

pub use app::{App, AppState};
pub use config::Config;

/// Serves the registry on `listener` until `shutdown` completes; requests in flight then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small responses (manifests, upload status) must not wait for Nagle.
        let _ = tcp.set_nodelay(true);
    });
    let app = api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Serves the registry over TLS on `listener` until `shutdown` completes; connections in flight
/// then finish (as [`serve`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: std::sync::Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let router = api::router(state);
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, watcher) = (acceptor.clone(), builder.clone(), graceful.watcher());
        let service = router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        tokio::spawn(async move {
            // A client that never finishes the handshake must not hold a task forever.
            let handshake = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await;
            let Ok(Ok(stream)) = handshake else {
                tracing::debug!(%peer, "TLS handshake failed");
                return;
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}
