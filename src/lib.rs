//! Berth: a self-hostable container registry. See `docs/architecture.md` for the layers:
//! `server` (connections) → `api` (HTTP) → `registry` (operations) and `access` (identities) →
//! `meta` (SQL) + `blob` (object storage), with `oci` and `auth` holding pure types and rules.
//! `cli` is the `berth` command line.

pub mod access;
pub mod api;
pub mod app;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod events;
pub mod jobs;
pub mod meta;
pub mod oci;
pub mod registry;
mod server;
pub mod tls;

pub use app::{App, AppState};
pub use config::Config;
pub use server::serve;
