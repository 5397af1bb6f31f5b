//! Parses `/acr/v1/<path>` into an [`Endpoint`]. Repository name components never start with
//! `_`, so `_tags` and `_manifests` mark where the name ends; the path is percent-decoded first
//! (ACR's SDKs send `%2F` in names and `%3A` in digests).

use axum::http::Method;

use crate::api::ApiError;
use crate::auth::{Action, Actions, Need};
use crate::oci::{Digest, ErrorCode, RepoName, Tag};

#[derive(Debug, PartialEq)]
pub(super) enum Endpoint {
    /// `/acr/v1/_catalog`
    Catalog,
    /// `/acr/v1/<name>`
    Repository { name: RepoName },
    /// `/acr/v1/<name>/_tags`
    Tags { name: RepoName },
    /// `/acr/v1/<name>/_tags/<tag>`
    Tag { name: RepoName, tag: Tag },
    /// `/acr/v1/<name>/_manifests`
    Manifests { name: RepoName },
    /// `/acr/v1/<name>/_manifests/<digest>`
    Manifest { name: RepoName, digest: Digest },
}

fn repo(name: &str) -> Result<RepoName, ApiError> {
    RepoName::parse(name).map_err(ApiError::name)
}

impl Endpoint {
    /// `rest`: the decoded path after `/acr/v1/`.
    pub(super) fn parse(rest: &str) -> Result<Self, ApiError> {
        let rest = rest.trim_end_matches('/');
        if rest == "_catalog" {
            return Ok(Self::Catalog);
        }
        if let Some(name) = rest.strip_suffix("/_tags") {
            return Ok(Self::Tags { name: repo(name)? });
        }
        if let Some(name) = rest.strip_suffix("/_manifests") {
            return Ok(Self::Manifests { name: repo(name)? });
        }
        if let Some((head, last)) = rest.rsplit_once('/') {
            if let Some(name) = head.strip_suffix("/_tags") {
                let tag = Tag::parse(last).map_err(ApiError::reference)?;
                return Ok(Self::Tag { name: repo(name)?, tag });
            }
            if let Some(name) = head.strip_suffix("/_manifests") {
                let digest = Digest::parse(last).map_err(|e| ApiError::new(ErrorCode::DigestInvalid, e.to_string()))?;
                return Ok(Self::Manifest { name: repo(name)?, digest });
            }
        }
        Ok(Self::Repository { name: repo(rest)? })
    }

    /// What `method` needs, as ACR's data plane: reads `metadata_read`, PATCH `metadata_write`,
    /// DELETE `delete`; the catalog `registry:catalog:*`.
    pub(super) fn need(&self, method: &Method) -> Need {
        let name = match self {
            Self::Catalog => return Need::Catalog,
            Self::Repository { name }
            | Self::Tags { name }
            | Self::Tag { name, .. }
            | Self::Manifests { name }
            | Self::Manifest { name, .. } => name,
        };
        let action = match *method {
            Method::PATCH => Action::MetadataWrite,
            Method::DELETE => Action::ContentDelete,
            _ => Action::MetadataRead,
        };
        Need::Repository { name: name.clone(), actions: Actions::of(&[action]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RepoName {
        RepoName::parse(s).expect("valid name")
    }

    #[test]
    fn parses_every_endpoint() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("_catalog", Endpoint::Catalog),
            ("team/app", Endpoint::Repository { name: name("team/app") }),
            ("team/app/_tags", Endpoint::Tags { name: name("team/app") }),
            ("team/app/_tags/v1", Endpoint::Tag { name: name("team/app"), tag: Tag::parse("v1").expect("tag") }),
            ("app/_manifests/", Endpoint::Manifests { name: name("app") }),
            (
                &*format!("app/_manifests/{d}"),
                Endpoint::Manifest { name: name("app"), digest: Digest::parse(&d).expect("d") },
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(Endpoint::parse(path).expect(path), expected, "{path}");
        }
        assert!(Endpoint::parse("app/_manifests/sha256:zz").is_err());
        assert!(Endpoint::parse("App").is_err());
        assert!(Endpoint::parse("app/_tags/bad:tag").is_err());
    }

    #[test]
    fn needs_follow_acr() {
        let tags = Endpoint::Tags { name: name("app") };
        let needs = |m: Method| match tags.need(&m) {
            Need::Repository { actions, .. } => actions,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(needs(Method::GET), Actions::of(&[Action::MetadataRead]));
        assert_eq!(needs(Method::PATCH), Actions::of(&[Action::MetadataWrite]));
        assert_eq!(needs(Method::DELETE), Actions::of(&[Action::ContentDelete]));
        assert_eq!(Endpoint::Catalog.need(&Method::GET), Need::Catalog);
    }
}
