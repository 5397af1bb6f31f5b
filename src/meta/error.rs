//! Errors of the metadata store.

use crate::oci::{Digest, RefKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest names something the repository does not hold (checked inside the transaction
    /// that stores the manifest, so a concurrent delete cannot slip between check and write).
    #[error("manifest references {kind:?} {digest} which the repository does not have")]
    MissingReference { digest: Digest, kind: RefKind },
    /// Another request changed the same row first (e.g. two PATCHes to one upload session).
    #[error("concurrent change: {0}")]
    Conflict(&'static str),
    /// A write would take usage past the storage limit (checked inside its transaction, so
    /// concurrent writes cannot pass it together; nothing was written).
    #[error("storage quota exceeded: {used} of {limit} bytes used, adding {adding}")]
    QuotaExceeded { used: u64, limit: u64, adding: u64 },
    /// The tier allows `limit` of these and `count` exist (checked in the creating transaction).
    #[error("limit reached: {count} of {limit}")]
    LimitReached { count: u64, limit: u64 },
    /// A row with the same key exists already.
    #[error("already exists")]
    Duplicate,
    /// The row is still referenced by another (a scope map a token uses, say).
    #[error("still in use")]
    Referenced,
    /// A lock (ACR's changeable attributes) forbids the change; the message names it.
    #[error("{0}")]
    Locked(String),
    /// The manifest is listed by an index in its repository: deleting it alone would break it.
    #[error("listed by index {index}")]
    ListedByIndex { manifest: String, index: String },
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("database {0} is in use by another berth process (one process per SQLite database)")]
    InUse(std::path::PathBuf),
    #[error("cannot lock {0}: {1}")]
    Lock(std::path::PathBuf, std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// Whether the database ran out of space: SQLite's SQLITE_FULL, PostgreSQL's disk_full.
    pub fn is_storage_full(&self) -> bool {
        let Error::Db(e) = self else { return false };
        e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "13" || c == "53100")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps constraint violations to `Duplicate` / `Referenced`, anything else to `Db`.
pub(crate) fn constraint(e: sqlx::Error) -> Error {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => Error::Duplicate,
        Some(d) if d.is_foreign_key_violation() => Error::Referenced,
        _ => Error::Db(e),
    }
}
