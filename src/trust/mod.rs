//! Trust: the package inventory of images, the offline vulnerability database (OSV records
//! imported from files, kept in the metadata store) and the matching of one against the other.
//! Parsing and matching are pure functions (`osv`, `cvss`, `version`); `feed` reads import files
//! within bounds; `vulndb` ties them to `meta`.

pub mod cvss;
pub mod feed;
pub mod inventory;
pub mod osv;
pub mod version;
pub mod vulndb;

pub use vulndb::{ImportReport, VulnDb};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upload is not something Berth can import (not a zip, JSON record or array of
    /// records; a damaged zip); the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The upload or one of its records is over a limit (a decompression bomb among them).
    #[error("{0}")]
    TooLarge(String),
    #[error("spooling the upload: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Meta(#[from] crate::meta::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
