//! Parses `/v2/<path>` into an [`Endpoint`]. Repository names contain slashes, so the endpoint
//! is recognised from the right-hand end of the path, and the rest is the name.

use axum::http::Method;

use crate::api::ApiError;
use crate::auth::{Action, Actions, Need};
use crate::oci::{Digest, ErrorCode, NameError, Reference, RepoName};
use crate::registry;

#[derive(Debug, PartialEq)]
pub(super) enum Endpoint {
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: RepoName },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: RepoName, reference: ManifestRef },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: RepoName, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`
    Uploads { name: RepoName },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: RepoName, id: uuid::Uuid },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: RepoName, digest: Digest },
}

/// A manifest reference as the path gives it. A tag that is not valid names no manifest: a read
/// or a delete answers it like any other unknown manifest (404 `MANIFEST_UNKNOWN`, after
/// authentication), a push refuses it (400 `TAG_INVALID`).
#[derive(Debug, PartialEq)]
pub(super) enum ManifestRef {
    Valid(Reference),
    InvalidTag(String),
}

impl ManifestRef {
    /// The reference, or the answer to a request for a tag that cannot exist.
    pub(super) fn for_reading(&self) -> Result<&Reference, ApiError> {
        match self {
            Self::Valid(r) => Ok(r),
            Self::InvalidTag(t) => Err(registry::Error::ManifestUnknown(t.clone()).into()),
        }
    }

    /// The reference, or 400 `TAG_INVALID` saying what is wrong with the tag.
    pub(super) fn for_pushing(&self) -> Result<&Reference, ApiError> {
        match self {
            Self::Valid(r) => Ok(r),
            Self::InvalidTag(t) => Err(Reference::parse(t).map_or_else(ApiError::reference, |_| {
                ApiError::new(ErrorCode::TagInvalid, format!("invalid tag {t:?}"))
            })),
        }
    }
}

impl Endpoint {
    /// `rest` is the decoded path after `/v2/`.
    pub(super) fn parse(rest: &str) -> Result<Self, ApiError> {
        if rest == "_catalog" {
            return Ok(Self::Catalog);
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Ok(Self::Tags { name: repo(name)? });
        }
        if let Some(name) = rest.strip_suffix("/blobs/uploads/").or_else(|| rest.strip_suffix("/blobs/uploads")) {
            return Ok(Self::Uploads { name: repo(name)? });
        }
        let not_found = || ApiError::new(ErrorCode::NameUnknown, "no such endpoint").with_status_not_found();
        let (head, last) = rest.rsplit_once('/').ok_or_else(not_found)?;
        let (name, kind) = head.rsplit_once('/').ok_or_else(not_found)?;
        match kind {
            "manifests" => {
                let reference = match Reference::parse(last) {
                    Ok(r) => ManifestRef::Valid(r),
                    Err(NameError::Digest(d)) => return Err(ApiError::new(ErrorCode::DigestInvalid, d.to_string())),
                    Err(_) => ManifestRef::InvalidTag(last.to_owned()),
                };
                Ok(Self::Manifest { name: repo(name)?, reference })
            }
            "blobs" => Ok(Self::Blob { name: repo(name)?, digest: digest(last)? }),
            "referrers" => Ok(Self::Referrers { name: repo(name)?, digest: digest(last)? }),
            "uploads" => {
                let name = name.strip_suffix("/blobs").ok_or_else(not_found)?;
                let name = repo(name)?;
                let id = uuid::Uuid::parse_str(last)
                    .map_err(|_| ApiError::new(ErrorCode::BlobUploadUnknown, "upload session is unknown"))?;
                Ok(Self::Upload { name, id })
            }
            _ => Err(not_found()),
        }
    }
}

impl Endpoint {
    /// Whether `method` here streams a body into storage (a blob chunk or a manifest).
    pub(super) fn uploads(&self, method: &Method) -> bool {
        match self {
            Self::Uploads { .. } => method == Method::POST,
            Self::Upload { .. } => method == Method::PATCH || method == Method::PUT,
            Self::Manifest { .. } => method == Method::PUT,
            _ => false,
        }
    }

    /// What `method` on this endpoint needs, as CNCF Distribution derives it: reads need pull,
    /// writes (uploads, manifest PUTs) push, deletes delete.
    /// The repository addressed (all but the catalog).
    pub(super) fn name(&self) -> Option<&RepoName> {
        match self {
            Self::Catalog => None,
            Self::Tags { name }
            | Self::Manifest { name, .. }
            | Self::Blob { name, .. }
            | Self::Uploads { name }
            | Self::Upload { name, .. }
            | Self::Referrers { name, .. } => Some(name),
        }
    }

    pub(super) fn need(&self, method: &Method) -> Need {
        let (name, action) = match self {
            Self::Catalog => return Need::Catalog,
            Self::Manifest { name, .. } | Self::Blob { name, .. } if method == Method::DELETE => {
                (name, Action::ContentDelete)
            }
            Self::Manifest { name, .. } if method == Method::PUT => (name, Action::ContentWrite),
            Self::Uploads { name } | Self::Upload { name, .. } => (name, Action::ContentWrite),
            Self::Tags { name }
            | Self::Manifest { name, .. }
            | Self::Blob { name, .. }
            | Self::Referrers { name, .. } => (name, Action::ContentRead),
        };
        Need::Repository { name: name.clone(), actions: Actions::of(&[action]) }
    }
}

fn repo(name: &str) -> Result<RepoName, ApiError> {
    RepoName::parse(name).map_err(ApiError::name)
}

pub(super) fn digest(s: &str) -> Result<Digest, ApiError> {
    Digest::parse(s).map_err(|e| ApiError::new(ErrorCode::DigestInvalid, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Tag;

    fn n(s: &str) -> RepoName {
        RepoName::parse(s).expect("valid name")
    }

    #[test]
    fn parses_every_endpoint() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let dg = Digest::parse(&d).expect("digest");
        let id = uuid::Uuid::new_v4();
        let cases = [
            ("_catalog".to_owned(), Endpoint::Catalog),
            ("a/b/tags/list".to_owned(), Endpoint::Tags { name: n("a/b") }),
            (
                "a/manifests/latest".to_owned(),
                Endpoint::Manifest {
                    name: n("a"),
                    reference: ManifestRef::Valid(Reference::Tag(Tag::parse("latest").expect("tag"))),
                },
            ),
            (
                format!("a/b/c/manifests/{d}"),
                Endpoint::Manifest { name: n("a/b/c"), reference: ManifestRef::Valid(Reference::Digest(dg.clone())) },
            ),
            (format!("x/blobs/{d}"), Endpoint::Blob { name: n("x"), digest: dg.clone() }),
            ("x/blobs/uploads/".to_owned(), Endpoint::Uploads { name: n("x") }),
            ("x/blobs/uploads".to_owned(), Endpoint::Uploads { name: n("x") }),
            (format!("x/y/blobs/uploads/{id}"), Endpoint::Upload { name: n("x/y"), id }),
            (format!("x/referrers/{d}"), Endpoint::Referrers { name: n("x"), digest: dg.clone() }),
            // Names may contain the words the parser looks for.
            ("blobs/manifests/tags/list".to_owned(), Endpoint::Tags { name: n("blobs/manifests") }),
            (format!("manifests/blobs/{d}"), Endpoint::Blob { name: n("manifests"), digest: dg.clone() }),
            // A tag that cannot exist still names an endpoint: reads answer it as unknown.
            (
                "a/manifests/.INVALID_NAME".to_owned(),
                Endpoint::Manifest { name: n("a"), reference: ManifestRef::InvalidTag(".INVALID_NAME".into()) },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(&path).expect(&path), want, "{path}");
        }
    }

    #[test]
    fn required_actions_follow_the_method() {
        let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).expect("digest");
        let reference = ManifestRef::Valid(Reference::Digest(d.clone()));
        let manifest = Endpoint::Manifest { name: n("a"), reference };
        let blob = Endpoint::Blob { name: n("a"), digest: d };
        let uploads = Endpoint::Uploads { name: n("a") };
        let need = |e: &Endpoint, m: Method| match e.need(&m) {
            Need::Repository { actions, .. } => actions.iter().collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(need(&manifest, Method::GET), [Action::ContentRead]);
        assert_eq!(need(&manifest, Method::HEAD), [Action::ContentRead]);
        assert_eq!(need(&manifest, Method::PUT), [Action::ContentWrite]);
        assert_eq!(need(&manifest, Method::DELETE), [Action::ContentDelete]);
        assert_eq!(need(&blob, Method::DELETE), [Action::ContentDelete]);
        assert_eq!(need(&blob, Method::GET), [Action::ContentRead]);
        assert_eq!(need(&uploads, Method::POST), [Action::ContentWrite]);
        assert_eq!(need(&Endpoint::Tags { name: n("a") }, Method::GET), [Action::ContentRead]);
        assert_eq!(Endpoint::Catalog.need(&Method::GET), Need::Catalog);
    }

    #[test]
    fn rejects_bad_paths_with_the_right_code() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let cases = [
            ("Upper/tags/list".to_owned(), "NAME_INVALID"),
            (format!("../etc/blobs/{d}"), "NAME_INVALID"),
            ("a/manifests/sha256:zz".to_owned(), "DIGEST_INVALID"),
            ("a/manifests/sha256:123".to_owned(), "DIGEST_INVALID"),
            ("a/blobs/latest".to_owned(), "DIGEST_INVALID"),
            ("a/blobs/uploads/not-a-uuid".to_owned(), "BLOB_UPLOAD_UNKNOWN"),
            ("a/unknown/thing".to_owned(), "NAME_UNKNOWN"),
            ("nothing".to_owned(), "NAME_UNKNOWN"),
        ];
        for (path, code) in cases {
            let err = Endpoint::parse(&path).expect_err(&path);
            assert_eq!(err.code_str(), code, "{path}");
        }
    }
}
