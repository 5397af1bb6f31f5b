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

pub type Result<T, E = Error> = std::result::Result<T, E>;
