//! Repositories, tags and manifests with their attributes (ACR's locks) and details, for the
//! `/acr/v1` API; and the lock checks the `/v2/` operations share.

use super::{Error, Page, Registry, Result};
use crate::meta::{
    Actor, AttributesPatch, DeletedRepository, ManifestMetaRow, ManifestSummary, RepositoryRow, TagRow, Visibility,
};
use crate::oci::{ChildPlatform, Digest, ManifestInfo, RepoName, Tag};

pub use crate::meta::Order;

/// Manifests summarized per transaction at start-up (each read whole, up to 4 MiB).
const SUMMARY_BATCH: usize = 32;

/// A manifest as `/acr/v1` shows it: the stored row and what its bytes say.
#[derive(Debug, Clone)]
pub struct ManifestDetails {
    pub row: ManifestMetaRow,
    /// The manifest's own bytes plus the config and layers it names.
    pub image_size: u64,
    /// An index's children with their platforms.
    pub platforms: Vec<ChildPlatform>,
}

impl ManifestDetails {
    fn of(row: ManifestMetaRow) -> Self {
        // A row not summarized yet (stored by an older node) still lists, with its own size
        // and no platforms.
        let s = &row.summary;
        Self {
            image_size: s.image_size.and_then(|n| u64::try_from(n).ok()).unwrap_or(row.size),
            platforms: s.child_platforms.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default(),
            row,
        }
    }
}

/// What listings show of a manifest that only its bytes say, read from them once, when the
/// manifest is stored.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    image_size: u64,
    config_media_type: Option<String>,
    child_platforms: Option<String>,
}

impl Summary {
    /// From the manifest's bytes and what parsing them gave (`None`: they did not parse, which a
    /// stored manifest only does if corrupt: it lists with its own size).
    pub(super) fn of(bytes: &[u8], info: Option<&ManifestInfo>) -> Self {
        let referenced = info.map_or(0, |i| i.referenced_size);
        let platforms = info.map(|i| &i.platforms).filter(|p| !p.is_empty());
        Self {
            image_size: (bytes.len() as u64).saturating_add(referenced),
            config_media_type: info.and_then(|i| i.config_media_type.clone()),
            child_platforms: platforms.and_then(|p| serde_json::to_string(p).ok()),
        }
    }

    pub(super) fn as_meta(&self) -> ManifestSummary<'_> {
        ManifestSummary {
            image_size: self.image_size,
            config_media_type: self.config_media_type.as_deref(),
            child_platforms: self.child_platforms.as_deref(),
        }
    }
}

impl Registry {
    /// Refuses pushes into a write-locked repository before any bytes are taken.
    pub(super) async fn ensure_writable(&self, repo: &RepoName) -> Result<()> {
        if self.meta.repository_writable(repo).await? {
            Ok(())
        } else {
            Err(Error::Locked(format!(
                "repository {:?} is locked (writeEnabled: false): nothing can be pushed to it",
                repo.as_str()
            )))
        }
    }

    /// `NameUnknown` unless `repo` exists (cheaper than [`Self::repository`], which counts).
    async fn ensure_exists(&self, repo: &RepoName) -> Result<()> {
        if self.meta.repository_exists(repo).await? { Ok(()) } else { Err(Error::NameUnknown(repo.clone())) }
    }

    /// Records the summaries of manifests stored before they were recorded at push (a database
    /// from before migration 0009), a batch per transaction; returns how many. Run at start-up:
    /// nothing to do costs one lookup in an empty index.
    pub async fn summarize_stored_manifests(&self) -> Result<u64> {
        let mut after = (String::new(), String::new());
        let mut done = 0;
        loop {
            let batch = self.meta.unsummarized((&after.0, &after.1), SUMMARY_BATCH).await?;
            let Some(last) = batch.last() else { return Ok(done) };
            after = (last.repository.clone(), last.digest.clone());
            let summaries: Vec<Summary> = batch
                .iter()
                .map(|m| Summary::of(&m.content, ManifestInfo::parse(&m.content, Some(&m.media_type)).ok().as_ref()))
                .collect();
            let rows: Vec<(&str, &str, ManifestSummary<'_>)> = batch
                .iter()
                .zip(&summaries)
                .map(|(m, s)| (m.repository.as_str(), m.digest.as_str(), s.as_meta()))
                .collect();
            self.meta.set_summaries(&rows).await?;
            done += batch.len() as u64;
        }
    }

    pub async fn repository(&self, repo: &RepoName) -> Result<RepositoryRow> {
        self.meta.repository(repo).await?.ok_or_else(|| Error::NameUnknown(repo.clone()))
    }

    pub async fn update_repository(&self, repo: &RepoName, patch: &AttributesPatch) -> Result<RepositoryRow> {
        if !self.meta.update_repository(repo, patch).await? {
            return Err(Error::NameUnknown(repo.clone()));
        }
        self.repository(repo).await
    }

    /// Deletes a repository with every manifest and tag in it, unless a lock forbids it.
    pub async fn delete_repository(&self, repo: &RepoName, actor: &Actor) -> Result<DeletedRepository> {
        self.meta.delete_repository(repo, actor).await?.ok_or_else(|| Error::NameUnknown(repo.clone()))
    }

    /// Up to `n` listed tags on manifests `visible` shows after `last` in `order`, optionally
    /// only those on `digest`.
    pub async fn tag_details(
        &self,
        repo: &RepoName,
        digest: Option<&Digest>,
        order: Order,
        visible: Visibility,
        last: Option<&str>,
        n: usize,
    ) -> Result<Page<TagRow>> {
        self.ensure_exists(repo).await?;
        let digest = digest.map(Digest::to_string);
        let tags = self.meta.tag_page(repo, digest.as_deref(), order, visible, last, n.saturating_add(1)).await?;
        Ok(Page::cut(tags, n))
    }

    /// Tag `tag`, unknown if it is on a manifest `visible` does not show.
    pub async fn tag_detail(&self, repo: &RepoName, tag: &Tag, visible: Visibility) -> Result<TagRow> {
        self.ensure_exists(repo).await?;
        self.meta.tag_row(repo, tag, visible).await?.ok_or_else(|| Error::TagUnknown(tag.to_string()))
    }

    pub async fn update_tag(
        &self,
        repo: &RepoName,
        tag: &Tag,
        patch: &AttributesPatch,
        visible: Visibility,
    ) -> Result<TagRow> {
        // Checked first, so that a held manifest's tag stays unknown to who may not see it.
        self.tag_detail(repo, tag, visible).await?;
        if !self.meta.update_tag(repo, tag, patch).await? {
            return Err(Error::TagUnknown(tag.to_string()));
        }
        self.tag_detail(repo, tag, visible).await
    }

    /// Removes a tag (the manifest stays), unless a lock forbids it.
    pub async fn untag(&self, repo: &RepoName, tag: &Tag, actor: &Actor) -> Result<()> {
        self.ensure_exists(repo).await?;
        if self.meta.delete_tag(repo, tag, actor).await? { Ok(()) } else { Err(Error::TagUnknown(tag.to_string())) }
    }

    /// Up to `n` listed manifests `visible` shows after `last` (a digest) in `order`.
    pub async fn manifest_details(
        &self,
        repo: &RepoName,
        order: Order,
        visible: Visibility,
        last: Option<&str>,
        n: usize,
    ) -> Result<Page<ManifestDetails>> {
        self.ensure_exists(repo).await?;
        let rows = self.meta.manifest_page(repo, order, visible, last, n.saturating_add(1)).await?;
        Ok(Page::cut(rows.into_iter().map(ManifestDetails::of).collect(), n))
    }

    /// Manifest `digest`, unknown if `visible` does not show it.
    pub async fn manifest_detail(
        &self,
        repo: &RepoName,
        digest: &Digest,
        visible: Visibility,
    ) -> Result<ManifestDetails> {
        self.ensure_exists(repo).await?;
        let row = self.meta.manifest_meta(repo, digest, visible).await?;
        row.map(ManifestDetails::of).ok_or_else(|| Error::ManifestUnknown(digest.to_string()))
    }

    pub async fn update_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        patch: &AttributesPatch,
        visible: Visibility,
    ) -> Result<ManifestDetails> {
        // Checked first, so that a held manifest stays unknown to who may not see it.
        self.manifest_detail(repo, digest, visible).await?;
        if !self.meta.update_manifest(repo, digest, patch).await? {
            return Err(Error::ManifestUnknown(digest.to_string()));
        }
        self.manifest_detail(repo, digest, visible).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderby_accepts_acr_and_az_spellings() {
        assert_eq!(Order::parse("timedesc"), Some(Order::TimeDesc));
        assert_eq!(Order::parse("time_asc"), Some(Order::TimeAsc));
        assert_eq!(Order::parse(""), Some(Order::Name));
        assert_eq!(Order::parse("size"), None);
    }

    #[test]
    fn summaries_hold_what_listings_show() {
        let index = br#"{"schemaVersion":2,"manifests":[{"mediaType":"x","size":1,
            "digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "platform":{"architecture":"arm64","os":"linux"}}]}"#;
        let info = ManifestInfo::parse(index, None).ok();
        let s = Summary::of(index, info.as_ref());
        assert_eq!(s.image_size, index.len() as u64);
        let platforms: Vec<ChildPlatform> =
            serde_json::from_str(s.child_platforms.as_deref().unwrap_or_default()).expect("JSON list");
        assert_eq!(platforms, info.map(|i| i.platforms).unwrap_or_default());
        let corrupt = Summary::of(b"not json", None);
        assert_eq!((corrupt.image_size, corrupt.child_platforms), (8, None));
    }
}
