//! Manifests, tags, listings and referrers — spec "Pushing manifests", "Pulling manifests",
//! "Listing tags", "Listing referrers", "Deleting tags/manifests", and the `_catalog` extension.

use super::attributes::Summary;
use super::{Error, MAX_MANIFEST_SIZE, Registry, Result};
use crate::meta::{Actor, Counts, ManifestRow, NewManifest, ReferrerRow, Visibility};
use crate::oci::{Digest, Hasher, ManifestInfo, Reference, RepoName};

pub type StoredManifest = ManifestRow;

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Image configs larger than this are not read for their platform.
const MAX_CONFIG_READ: u64 = 1 << 20;

/// What a manifest push stored.
#[derive(Debug)]
pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One page of a listing, and whether more follows.
#[derive(Debug)]
pub struct Page<T = String> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// Cuts a listing fetched with one extra row down to `limit`, noting whether more follows.
    pub(super) fn cut(mut items: Vec<T>, limit: usize) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        Self { items, more }
    }
}

impl Registry {
    /// Validates and stores a manifest; a tag reference moves the tag to it in the same
    /// transaction.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: &[u8],
        actor: &Actor,
    ) -> Result<PushedManifest> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(Error::ManifestTooLarge);
        }
        let info = ManifestInfo::parse(bytes, content_type)?;
        self.note_activity(repo).await?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let mut hasher = Hasher::new(expected.algorithm());
                hasher.update(bytes);
                let actual = hasher.finish();
                if &actual != expected {
                    return Err(Error::DigestInvalid { expected: expected.clone(), actual });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(bytes),
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        let limit = self.limits().await?.storage_bytes;
        let (architecture, os) = match (&info.config_digest, info.config_media_type.as_deref()) {
            (Some(config), Some(IMAGE_CONFIG | DOCKER_CONFIG)) => self.platform(config).await,
            _ => (None, None),
        };
        let summary = Summary::of(bytes, Some(&info));
        // What Berth writes itself is trusted; a user's push waits for release if quarantine is on.
        let quarantine = !actor.internal;
        let new = NewManifest {
            digest: &digest,
            media_type: info.media_type.as_str(),
            artifact_type: info.artifact_type.as_deref(),
            content: bytes,
            config_digest: info.config_digest.as_ref(),
            subject: info.subject.as_ref(),
            annotations: info.annotations.as_deref(),
            references: &info.references,
            architecture: architecture.as_deref(),
            os: os.as_deref(),
            summary: summary.as_meta(),
            quarantine,
        };
        self.meta.put_manifest(repo, &new, tag, limit, actor).await?;
        Ok(PushedManifest { digest, subject: info.subject })
    }

    /// An image's `architecture` and `os`, read from its config blob (small, and stored
    /// already: the manifest's references were checked); `None`s if it cannot be read.
    async fn platform(&self, config: &Digest) -> (Option<String>, Option<String>) {
        #[derive(serde::Deserialize)]
        struct Platform {
            architecture: Option<String>,
            os: Option<String>,
        }
        let Ok(Some(size)) = self.meta.blob_size(config).await else { return (None, None) };
        if size > MAX_CONFIG_READ {
            return (None, None);
        }
        let Ok(bytes) = self.whole_blob(config, size).await else { return (None, None) };
        match serde_json::from_slice::<Platform>(&bytes) {
            Ok(p) => (p.architecture, p.os),
            Err(_) => (None, None),
        }
    }

    /// The manifest `reference` names, unless a read lock or quarantine (for a caller who sees
    /// only `visible`) keeps it from being pulled.
    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        visible: Visibility,
    ) -> Result<StoredManifest> {
        let found = match reference {
            Reference::Digest(d) => self.meta.manifest(repo, d).await?,
            Reference::Tag(t) => self.meta.tagged_manifest(repo, t).await?,
        };
        let found = found.ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?;
        if let Some(level) = &found.read_lock {
            let what = match level.as_str() {
                "repository" => format!("repository {:?}", repo.as_str()),
                "tag" => format!("tag {reference} of repository {:?}", repo.as_str()),
                _ => format!("manifest {} of repository {:?}", found.digest, repo.as_str()),
            };
            return Err(Error::Locked(format!("{what} is locked (readEnabled: false): it cannot be pulled")));
        }
        let image = match reference {
            Reference::Digest(d) => format!("{repo}@{d}"),
            Reference::Tag(t) => format!("{repo}:{t}"),
        };
        Self::check_released(found.quarantine_state.as_deref(), visible, &image)?;
        Ok(found)
    }

    /// By tag: removes the tag only. By digest: removes the manifest and every tag on it.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference, actor: &Actor) -> Result<()> {
        let deleted = match reference {
            Reference::Digest(d) => self.meta.delete_manifest(repo, d, actor).await?,
            Reference::Tag(t) => self.meta.delete_tag(repo, t, actor).await?,
        };
        if deleted { Ok(()) } else { Err(Error::ManifestUnknown(reference.to_string())) }
    }

    /// Tags of `repo` on manifests `visible` shows, in lexical order, `n` at most (all if
    /// `None`), after `last`.
    pub async fn list_tags(
        &self,
        repo: &RepoName,
        n: Option<u32>,
        last: Option<&str>,
        visible: Visibility,
    ) -> Result<Page> {
        if !self.meta.repository_exists(repo).await? {
            return Err(Error::NameUnknown(repo.clone()));
        }
        let limit = n.unwrap_or(u32::MAX).min(u32::MAX - 1);
        let items = self.meta.tags(repo, last.unwrap_or(""), limit + 1, visible).await?;
        Ok(Page::cut(items, limit as usize))
    }

    /// Repository names in lexical order, `n` at most (all if `None`), after `last`.
    pub async fn catalog(&self, n: Option<u32>, last: Option<&str>) -> Result<Page> {
        let limit = n.unwrap_or(u32::MAX).min(u32::MAX - 1);
        let items = self.meta.repositories(last.unwrap_or(""), limit + 1).await?;
        Ok(Page::cut(items, limit as usize))
    }

    pub async fn counts(&self) -> Result<Counts> {
        Ok(self.meta.counts().await?)
    }

    /// Repository names starting with `prefix` in lexical order, `n` at most, after `last`.
    pub async fn catalog_prefixed(&self, prefix: &str, n: u32, last: Option<&str>) -> Result<Page> {
        let limit = n.min(u32::MAX - 1);
        let items = self.meta.repositories_prefixed(prefix, last.unwrap_or(""), limit + 1).await?;
        Ok(Page::cut(items, limit as usize))
    }

    /// Repositories starting with `prefix` with when each was last updated, most recent first,
    /// `n` at most, after `last`.
    pub async fn catalog_by_time(&self, prefix: &str, n: u32, last: Option<&str>) -> Result<Page<(String, i64)>> {
        let limit = n.min(u32::MAX - 1);
        let items = self.meta.repositories_by_time(prefix, last, limit + 1).await?;
        Ok(Page::cut(items, limit as usize))
    }

    /// Manifests in `repo` `visible` shows whose subject is `subject`, optionally of one
    /// artifact type only.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
        visible: Visibility,
    ) -> Result<Vec<ReferrerRow>> {
        Ok(self.meta.referrers(repo, subject, artifact_type, visible).await?)
    }
}
