//! Berth: a self-hostable container registry. See `docs/architecture.md` for the layers:
//! `server` (connections) → `api` (HTTP) → `registry` (operations) and `access` (identities) →
//! `meta` (SQL) + `blob` (object storage), with `oci` and `auth` holding pure types and rules.
//! `cli` is the `berth` command line.

pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod blob;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod events;
pub mod jobs;
pub mod meta;
pub mod oci;
pub mod registry;
mod server;
pub mod tasks;
pub mod tls;
pub mod trust;

pub use app::{App, AppState};
pub use config::Config;
pub use server::serve;

/// An error and its causes on one line, each cause once: an error's own message often quotes
/// its source already ("cannot read x: No such file or directory"), which the chain repeats.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
