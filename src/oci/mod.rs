//! Pure OCI distribution-spec types: repository names, references, digests, manifests and the
//! spec's error codes. Parsing only; no I/O, no HTTP. Every other layer takes these typed values.

mod digest;
mod error;
mod manifest;
mod name;
mod range;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use error::{ErrorBody, ErrorCode};
pub use manifest::{
    ChildPlatform, MAX_REFERENCES, ManifestError, ManifestInfo, MediaType, RefKind, Reference as ManifestRef,
};
pub use name::{NameError, Reference, RepoName, Tag};
pub use range::parse_content_range;
