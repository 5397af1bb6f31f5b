//! The registry's operations, shared by every front end (the `/v2/` and `/acr/v1` APIs;
//! replication and jobs later): blobs, upload sessions, manifests, tags, referrers and locks. The rules
//! of the spec live here; SQL stays in `meta`, object keys in `blob`.

mod attributes;
mod blobs;
mod manifests;
mod uploads;

use crate::blob::BlobStore;
use crate::meta::MetaStore;
use crate::oci::{Digest, ManifestError, RefKind, RepoName};
use crate::{blob, meta};

pub use attributes::{ManifestDetails, Order, page_after};
pub use manifests::{Page, PushedManifest, StoredManifest};
pub use uploads::UploadStatus;

/// Largest manifest accepted, as most registries (4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob {0} is unknown to this repository")]
    BlobUnknown(Digest),
    #[error("upload session is unknown (finished, cancelled or never started)")]
    BlobUploadUnknown,
    #[error("upload is invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("digest mismatch: the content hashes to {actual}, not {expected}")]
    DigestInvalid { expected: Digest, actual: Digest },
    /// A chunk that does not continue the upload where it stands.
    #[error("chunk must start at byte {size}: the upload holds bytes 0-{last}", last = size.saturating_sub(1))]
    RangeNotContinuing { size: u64 },
    /// A blob read whose `Range` lies outside the blob.
    #[error("requested range is outside the blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("manifest invalid: {0}")]
    ManifestInvalid(#[from] ManifestError),
    #[error("manifest references {} {digest} which is not in this repository", kind_noun(*kind))]
    ManifestBlobUnknown { digest: Digest, kind: RefKind },
    #[error("manifest {0} is unknown to this repository")]
    ManifestUnknown(String),
    #[error("manifest is larger than the {} MiB limit", MAX_MANIFEST_SIZE >> 20)]
    ManifestTooLarge,
    #[error("repository {0} is not known to this registry")]
    NameUnknown(RepoName),
    #[error("tag {0} is unknown to this repository")]
    TagUnknown(String),
    /// A lock (ACR's changeable attributes) forbids the operation; the message names it.
    #[error("{0}")]
    Locked(String),
    #[error(transparent)]
    Meta(meta::Error),
    #[error(transparent)]
    Blob(blob::Error),
}

fn kind_noun(kind: RefKind) -> &'static str {
    match kind {
        RefKind::Child => "manifest",
        _ => "blob",
    }
}

impl From<meta::Error> for Error {
    fn from(e: meta::Error) -> Self {
        match e {
            meta::Error::MissingReference { digest, kind } => Self::ManifestBlobUnknown { digest, kind },
            meta::Error::Locked(message) => Self::Locked(message),
            other => Self::Meta(other),
        }
    }
}

impl From<blob::Error> for Error {
    fn from(e: blob::Error) -> Self {
        match e {
            blob::Error::Body(io) => Self::BlobUploadInvalid(format!("request body failed: {io}")),
            other => Self::Blob(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Registry {
    meta: MetaStore,
    blobs: BlobStore,
}

impl Registry {
    pub fn new(meta: MetaStore, blobs: BlobStore) -> Self {
        Self { meta, blobs }
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }
}
