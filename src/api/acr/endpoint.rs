//! Parses `/acr/v1/<path>` into an [`Endpoint`]. Repository name components never start with
//! `_`, so `_tags` and `_manifests` mark where the name ends; the path is percent-decoded first
//! (ACR's SDKs send `%2F` in names and `%3A` in digests).

use axum::http::Method;

use super::Patch;
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

    /// The repository addressed (all but the catalog).
    pub(super) fn name(&self) -> Option<&RepoName> {
        match self {
            Self::Catalog => None,
            Self::Repository { name }
            | Self::Tags { name }
            | Self::Tag { name, .. }
            | Self::Manifests { name }
            | Self::Manifest { name, .. } => Some(name),
        }
    }

    /// What `method` needs, as ACR's data plane: reads `metadata_read`, PATCH `metadata_write`,
    /// DELETE `delete`; the catalog `registry:catalog:*`. A manifest PATCH (`patch`, if its
    /// body parsed) setting the quarantine state needs `quarantine_write`, and `metadata_write`
    /// only if it changes locks too.
    pub(super) fn need(&self, method: &Method, patch: Option<&Patch>) -> Need {
        let Some(name) = self.name() else { return Need::Catalog };
        let actions = match (method, self, patch) {
            (&Method::PATCH, Self::Manifest { .. }, Some(p)) if p.quarantine() => match p.locks() {
                true => Actions::of(&[Action::MetadataWrite, Action::QuarantineWrite]),
                false => Actions::of(&[Action::QuarantineWrite]),
            },
            (&Method::PATCH, ..) => Actions::of(&[Action::MetadataWrite]),
            (&Method::DELETE, ..) => Actions::of(&[Action::ContentDelete]),
            _ => Actions::of(&[Action::MetadataRead]),
        };
        Need::Repository { name: name.clone(), actions }
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
        let needs = |m: Method| match tags.need(&m, None) {
            Need::Repository { actions, .. } => actions,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(needs(Method::GET), Actions::of(&[Action::MetadataRead]));
        assert_eq!(needs(Method::PATCH), Actions::of(&[Action::MetadataWrite]));
        assert_eq!(needs(Method::DELETE), Actions::of(&[Action::ContentDelete]));
        assert_eq!(Endpoint::Catalog.need(&Method::GET, None), Need::Catalog);
        let manifest = Endpoint::Manifest { name: name("app"), digest: Digest::sha256_of(b"m") };
        let patching = |p: Patch| match manifest.need(&Method::PATCH, Some(&p)) {
            Need::Repository { actions, .. } => actions,
            other => panic!("unexpected {other:?}"),
        };
        let release = Patch { quarantine_state: Some("Passed".into()), ..Patch::default() };
        assert_eq!(patching(release.clone()), Actions::of(&[Action::QuarantineWrite]));
        let both = Patch { read_enabled: Some(false), ..release };
        assert_eq!(patching(both), Actions::of(&[Action::MetadataWrite, Action::QuarantineWrite]));
        assert_eq!(patching(Patch::default()), Actions::of(&[Action::MetadataWrite]));
    }
}
