//! Repositories, tags and manifests with their attributes (ACR's locks) and details, for the
//! `/acr/v1` API; and the lock checks the `/v2/` operations share.

use super::{Error, Registry, Result};
use crate::meta::{AttributesPatch, DeletedRepository, ManifestMetaRow, RepositoryRow, TagRow};
use crate::oci::{ChildPlatform, Digest, ManifestInfo, RepoName, Tag};

/// How `/acr/v1` orders a listing: by name (digest for manifests), or by last update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    Name,
    TimeDesc,
    TimeAsc,
}

impl Order {
    /// ACR's `orderby`: `timedesc`, `timeasc` (also `time_desc`, `time_asc`, as `az` sends them).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('_', "").as_str() {
            "" | "none" => Some(Self::Name),
            "timedesc" => Some(Self::TimeDesc),
            "timeasc" => Some(Self::TimeAsc),
            _ => None,
        }
    }

    fn sort<T>(self, items: &mut [T], key: impl Fn(&T) -> (i64, &str)) {
        match self {
            Self::Name => {}
            Self::TimeAsc => items.sort_by(|a, b| key(a).cmp(&key(b))),
            Self::TimeDesc => items.sort_by(|a, b| key(b).0.cmp(&key(a).0).then_with(|| key(a).1.cmp(key(b).1))),
        }
    }
}

/// A manifest as `/acr/v1` shows it: the stored row and what its bytes say.
#[derive(Debug, Clone)]
pub struct ManifestDetails {
    pub row: ManifestMetaRow,
    /// The manifest's own bytes plus the config and layers it names.
    pub image_size: u64,
    pub config_media_type: Option<String>,
    /// An index's children with their platforms.
    pub platforms: Vec<ChildPlatform>,
}

impl ManifestDetails {
    fn of(row: ManifestMetaRow) -> Self {
        // Stored manifests parsed once already; a failure here would mean a corrupt row, which
        // still lists, with the details left empty.
        let info = ManifestInfo::parse(&row.content, Some(&row.media_type)).ok();
        let referenced = info.as_ref().map_or(0, |i| i.referenced_size);
        Self {
            image_size: (row.content.len() as u64).saturating_add(referenced),
            config_media_type: info.as_ref().and_then(|i| i.config_media_type.clone()),
            platforms: info.map(|i| i.platforms).unwrap_or_default(),
            row,
        }
    }
}

/// The items after `last` (by `key`), at most `n`; and whether more follow.
pub fn page_after<T>(items: Vec<T>, last: Option<&str>, n: usize, key: impl Fn(&T) -> &str) -> (Vec<T>, bool) {
    let start = match last {
        Some(last) => items.iter().position(|i| key(i) == last).map_or(0, |p| p + 1),
        None => 0,
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > n;
    rest.truncate(n);
    (rest, more)
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
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<DeletedRepository> {
        self.meta.delete_repository(repo).await?.ok_or_else(|| Error::NameUnknown(repo.clone()))
    }

    /// Listed tags, optionally only those on `digest`, in `order`.
    pub async fn tag_details(&self, repo: &RepoName, digest: Option<&Digest>, order: Order) -> Result<Vec<TagRow>> {
        self.repository(repo).await?;
        let mut tags = self.meta.tag_rows(repo, false).await?;
        if let Some(d) = digest {
            let d = d.to_string();
            tags.retain(|t| t.digest == d);
        }
        order.sort(&mut tags, |t| (t.updated_at, t.name.as_str()));
        Ok(tags)
    }

    pub async fn tag_detail(&self, repo: &RepoName, tag: &Tag) -> Result<TagRow> {
        self.repository(repo).await?;
        self.meta.tag_row(repo, tag).await?.ok_or_else(|| Error::TagUnknown(tag.to_string()))
    }

    pub async fn update_tag(&self, repo: &RepoName, tag: &Tag, patch: &AttributesPatch) -> Result<TagRow> {
        if !self.meta.update_tag(repo, tag, patch).await? {
            return Err(Error::TagUnknown(tag.to_string()));
        }
        self.tag_detail(repo, tag).await
    }

    /// Removes a tag (the manifest stays), unless a lock forbids it.
    pub async fn untag(&self, repo: &RepoName, tag: &Tag) -> Result<()> {
        self.repository(repo).await?;
        if self.meta.delete_tag(repo, tag).await? { Ok(()) } else { Err(Error::TagUnknown(tag.to_string())) }
    }

    /// Listed manifests in `order`.
    pub async fn manifest_details(&self, repo: &RepoName, order: Order) -> Result<Vec<ManifestDetails>> {
        self.repository(repo).await?;
        let mut rows: Vec<ManifestDetails> =
            self.meta.manifest_rows(repo).await?.into_iter().map(ManifestDetails::of).collect();
        order.sort(&mut rows, |m| (m.row.updated_at, m.row.digest.as_str()));
        Ok(rows)
    }

    pub async fn manifest_detail(&self, repo: &RepoName, digest: &Digest) -> Result<ManifestDetails> {
        self.repository(repo).await?;
        let row = self.meta.manifest_meta(repo, digest).await?;
        row.map(ManifestDetails::of).ok_or_else(|| Error::ManifestUnknown(digest.to_string()))
    }

    pub async fn update_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
        patch: &AttributesPatch,
    ) -> Result<ManifestDetails> {
        if !self.meta.update_manifest(repo, digest, patch).await? {
            return Err(Error::ManifestUnknown(digest.to_string()));
        }
        self.manifest_detail(repo, digest).await
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
    fn time_order_breaks_ties_by_name() {
        let mut items = vec![(2, "b"), (1, "c"), (2, "a")];
        Order::TimeDesc.sort(&mut items, |i| (i.0, i.1));
        assert_eq!(items, [(2, "a"), (2, "b"), (1, "c")]);
        Order::TimeAsc.sort(&mut items, |i| (i.0, i.1));
        assert_eq!(items, [(1, "c"), (2, "a"), (2, "b")]);
    }

    #[test]
    fn pages_continue_after_last() {
        let items = vec!["a", "b", "c", "d"];
        assert_eq!(page_after(items.clone(), None, 2, |s| s), (vec!["a", "b"], true));
        assert_eq!(page_after(items.clone(), Some("b"), 2, |s| s), (vec!["c", "d"], false));
        assert_eq!(page_after(items, Some("d"), 2, |s| s), (vec![], false));
    }
}
