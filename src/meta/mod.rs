//! The metadata store: every SQL statement lives in this module. SQLite by default (WAL, one
//! writer connection, a pool of read-only connections), through sqlx's runtime query API with
//! `$N` placeholders so that the statements stay portable to PostgreSQL.
//!
//! Contracts: every method that changes more than one row does so in one transaction; lookups
//! return `Ok(None)` (or `false`) for "not found" and reserve `Err` for real failures.

mod attributes;
mod blobs;
mod cache;
mod error;
mod identity;
mod manifests;
mod storage;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use attributes::{Attributes, AttributesPatch, DeletedRepository, ManifestMetaRow, RepositoryRow, TagRow};
pub use blobs::UploadRow;
pub use error::{Error, Result};
pub use identity::{IdentityRows, PrincipalRow, RoleAssignmentRow, ScopeMapRow, SecretRow};
pub use manifests::{ManifestRow, NewManifest, ReferrerRow};
pub use storage::Untagged;

#[derive(Debug, Clone)]
pub struct MetaStore {
    writer: SqlitePool,
    reader: SqlitePool,
    manifests: Arc<cache::ManifestCache>,
    /// Held open while the store lives: the flock that makes this process the database's only
    /// user, which the manifest cache relies on.
    _owner: Arc<std::fs::File>,
}

impl MetaStore {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    /// Fails with `Error::InUse` if another process has the database open.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let owner = claim(path)?;
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
        Ok(Self { writer, reader, manifests: Arc::default(), _owner: Arc::new(owner) })
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

/// Takes the exclusive lock `<database>.lock` (released by the kernel when the process ends).
fn claim(db: &Path) -> Result<std::fs::File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Lock(name.clone().into(), e))?;
    }
    let file = std::fs::File::create(&name).map_err(|e| Error::Lock(name.clone().into(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse(db.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Lock(name.into(), e)),
    }
}

/// Now, in Unix milliseconds: the time unit of every stored timestamp.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
