//! The metadata store: every SQL statement lives in this module. SQLite by default (WAL, one
//! writer connection, a pool of read-only connections), through sqlx's runtime query API with
//! `$N` placeholders so that the statements stay portable to PostgreSQL.
//!
//! Contracts: every method that changes more than one row does so in one transaction; lookups
//! return `Ok(None)` (or `false`) for "not found" and reserve `Err` for real failures.

mod blobs;
mod error;
mod manifests;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use blobs::UploadRow;
pub use error::{Error, Result};
pub use manifests::{ManifestRow, NewManifest, ReferrerRow};

#[derive(Debug, Clone)]
pub struct MetaStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl MetaStore {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode loses nothing when the process dies; only a power cut can
            // drop the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(base.clone().create_if_missing(true)).await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get() * 2) as u32;
        let reader = SqlitePoolOptions::new().max_connections(readers).connect_with(base.read_only(true)).await?;
        Ok(Self { writer, reader })
    }

    /// Opens the store named by a `sqlite://PATH` URL.
    pub async fn open_url(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?;
        Self::open_sqlite(opts.get_filename()).await
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Now, in Unix milliseconds: the time unit of every stored timestamp.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
