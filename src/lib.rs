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
pub mod meta;
pub mod oci;
pub mod registry;

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
