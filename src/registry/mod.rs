//! The registry's operations, shared by every front end (the `/v2/` and `/acr/v1` APIs;
//! replication and jobs later): blobs, upload sessions, manifests, tags, referrers and locks. The rules
//! of the spec live here; SQL stays in `meta`, object keys in `blob`.

mod activity;
mod attributes;
mod blobs;
mod gc;
mod manifests;
mod policies;
mod quarantine;
mod scans;
mod uploads;
mod usage;

use crate::blob::BlobStore;
use crate::config::LimitsConfig;
use crate::meta::MetaStore;
use crate::oci::{Digest, ManifestError, RefKind, RepoName};
use crate::{blob, meta};

pub use crate::meta::Visibility;
pub use attributes::{ManifestDetails, Order};
pub use gc::{GcOptions, GcReport, Retention};
pub use manifests::{Page, PushedManifest, StoredManifest};
pub use policies::{COSIGN_TYPE, NOTATION_TYPE};
pub use quarantine::QuarantineState;
pub use scans::SCANNER;
pub use uploads::UploadStatus;
pub use usage::{Limits, UsageItem};

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
    /// The manifest is held in quarantine (not released yet, or failed): the message says which.
    #[error("{0}")]
    Quarantined(String),
    #[error(
        "manifest {manifest} is listed by index {index} in this repository: deleting it alone would break the index; delete the index (which takes its children along) instead"
    )]
    ListedByIndex { manifest: String, index: String },
    #[error(
        "storage quota exceeded: {} of {} used, and this push would add {} (raise the limit with `berth update --sku` or `limits.storage_quota`)",
        bytes(*used), bytes(*limit), bytes(*adding)
    )]
    QuotaExceeded { used: u64, limit: u64, adding: u64 },
    #[error("{0}")]
    LimitReached(String),
    /// A scan or trust policy refuses to serve the image; the message names the policy.
    #[error("{0}")]
    PolicyRefused(String),
    #[error(transparent)]
    Signed(#[from] crate::blob::SignError),
    #[error(transparent)]
    Meta(meta::Error),
    #[error(transparent)]
    Blob(blob::Error),
}

/// A byte count for people: exact bytes, and a binary unit past 1 KiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = None;
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{n} bytes ({value:.1} {u})"),
        None => format!("{n} bytes"),
    }
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
            meta::Error::ListedByIndex { manifest, index } => Self::ListedByIndex { manifest, index },
            meta::Error::QuotaExceeded { used, limit, adding } => Self::QuotaExceeded { used, limit, adding },
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

#[cfg(test)]
mod tests {
    #[test]
    fn byte_counts_read_well() {
        assert_eq!(super::bytes(512), "512 bytes");
        assert_eq!(super::bytes(3 << 20), "3145728 bytes (3.0 MiB)");
    }
}

#[derive(Debug, Clone)]
pub struct Registry {
    meta: MetaStore,
    blobs: BlobStore,
    /// The tier and quota until settings change them.
    defaults: LimitsConfig,
    activity: std::sync::Arc<activity::Noted>,
    policies: std::sync::Arc<policies::PolicyCache>,
}

impl Registry {
    pub fn new(meta: MetaStore, blobs: BlobStore, defaults: LimitsConfig) -> Self {
        Self { meta, blobs, defaults, activity: std::sync::Arc::default(), policies: std::sync::Arc::default() }
    }

    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
}
