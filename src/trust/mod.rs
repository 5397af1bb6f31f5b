//! Supply-chain trust: what images hold and who signed them. Pure parts apart from I/O, as
//! `oci/` is: version ordering per ecosystem (`version`), OSV records and their matching
//! (`osv`), signature verification (`signature`, `cosign`, `notation`), policies (`policy`),
//! and the documents a scan attaches (`sbom`). Layer reading (`layers`, `inventory`) streams:
//! a tar over a decompressing reader over the blob stream, never unpacked to disk.
//! `feed` reads vulnerability database imports within bounds; `vulndb` keeps them in `meta`.
//! `registry::scans` and `registry::policies` put these to work.

pub mod cosign;
pub mod cvss;
pub mod feed;
pub mod inventory;
pub mod layers;
pub mod notation;
pub mod osv;
pub mod policy;
pub mod rpmdb;
pub mod sbom;
pub mod signature;
pub mod version;
pub mod vulndb;

pub use vulndb::{ImportReport, VulnDb};

/// Errors of the trust layer's readers (a refused signature is a `signature::Refusal`, not
/// an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // A layer's errors read after the layer's name: "layer sha256:… decompresses past 8 GiB".
    #[error("decompresses past {}, the limit for one layer", layers::human_bytes(.limit))]
    LayerTooLarge { limit: u64 },
    #[error(
        "decompresses to more than {ratio} times its compressed size (past {} so far), which is treated as a decompression bomb",
        layers::human_bytes(.after)
    )]
    DecompressionBomb { ratio: u64, after: u64 },
    #[error("has more than {limit} entries, the limit for one layer")]
    TooManyEntries { limit: u64 },
    #[error("ends before the data its tar headers announce (truncated or corrupt blob)")]
    Truncated,
    #[error("could not be scanned within the time allowed")]
    Deadline,
    #[error("is not a readable {format}: {detail}")]
    Malformed { format: &'static str, detail: String },
    #[error("could not be read: {0}")]
    Read(#[source] std::io::Error),
    #[error("rpm header is malformed: {0}")]
    RpmHeader(&'static str),
    /// An upload is not something Berth can import (not a zip, JSON record or array of
    /// records; a damaged zip); the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// An upload or one of its records is over a limit (a decompression bomb among them).
    #[error("{0}")]
    TooLarge(String),
    #[error("spooling the upload: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Meta(#[from] crate::meta::Error),
    /// A file the scanner reads is not what it should be.
    #[error("{0}")]
    Unreadable(String),
    /// A trust policy's certificates and keys cannot be read (not a verdict on a signature).
    #[error("trust store: {0}")]
    TrustStore(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
