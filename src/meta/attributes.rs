//! ACR's changeable attributes (the locks `deleteEnabled`, `writeEnabled`, `readEnabled`,
//! `listEnabled`) on repositories, tags and manifests, and the metadata `/acr/v1` lists. The
//! lock checks that guard a write run inside that write's transaction.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::usage::{self, Counter};
use super::{Error, MetaStore, Result, flag};
use crate::oci::{Digest, RepoName, Tag};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attributes {
    pub delete_enabled: bool,
    pub write_enabled: bool,
    pub read_enabled: bool,
    pub list_enabled: bool,
}

/// The attributes a PATCH sets; those absent stay as they are.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributesPatch {
    pub delete_enabled: Option<bool>,
    pub write_enabled: Option<bool>,
    pub read_enabled: Option<bool>,
    pub list_enabled: Option<bool>,
}

/// The columns behind [`Attributes`], in the order [`attributes_at`] reads them.
const COLUMNS: &str = "delete_enabled, write_enabled, read_enabled, list_enabled";

fn attributes_at(r: &AnyRow, first: usize) -> Attributes {
    Attributes {
        delete_enabled: flag(r, first),
        write_enabled: flag(r, first + 1),
        read_enabled: flag(r, first + 2),
        list_enabled: flag(r, first + 3),
    }
}

impl Attributes {
    /// Why this object may not be deleted (nor anything that would delete it), if it may not.
    fn delete_lock(self) -> Option<&'static str> {
        if !self.write_enabled {
            Some("writeEnabled")
        } else if !self.delete_enabled {
            Some("deleteEnabled")
        } else {
            None
        }
    }
}

fn locked(what: String, attribute: &str, consequence: &str) -> Error {
    Error::Locked(format!("{what} is locked ({attribute}: false): {consequence}"))
}

#[derive(Debug, Clone)]
pub struct RepositoryRow {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attributes: Attributes,
    pub manifest_count: u64,
    pub tag_count: u64,
}

#[derive(Debug, Clone)]
pub struct TagRow {
    pub name: String,
    pub digest: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attributes: Attributes,
}

#[derive(Debug, Clone)]
pub struct ManifestMetaRow {
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub quarantine_state: Option<String>,
    pub attributes: Attributes,
    /// Its listed tags, sorted.
    pub tags: Vec<String>,
}

/// What deleting a repository removed.
#[derive(Debug, Default)]
pub struct DeletedRepository {
    pub manifests: Vec<String>,
    pub tags: Vec<String>,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// The repository's attributes inside `tx`; `None` if it has no row yet.
async fn repository_attributes(tx: &mut Tx<'_>, repo: &RepoName) -> Result<Option<Attributes>> {
    let sql = format!("SELECT {COLUMNS} FROM repositories WHERE name = $1");
    let row = sqlx::query(&sql).bind(repo.as_str()).fetch_optional(&mut **tx).await?;
    Ok(row.map(|r| attributes_at(&r, 0)))
}

/// Refuses a push into a write-locked repository, or one that moves a write-locked tag.
pub(super) async fn check_push(tx: &mut Tx<'_>, repo: &RepoName, digest: &str, tag: Option<&Tag>) -> Result<()> {
    if repository_attributes(tx, repo).await?.is_some_and(|a| !a.write_enabled) {
        let what = format!("repository {:?}", repo.as_str());
        return Err(locked(what, "writeEnabled", "nothing can be pushed to it"));
    }
    let Some(tag) = tag else { return Ok(()) };
    let sql = "SELECT manifest_digest, write_enabled FROM tags WHERE repository = $1 AND name = $2";
    let row = sqlx::query(sql).bind(repo.as_str()).bind(tag.as_str()).fetch_optional(&mut **tx).await?;
    if let Some(r) = row
        && r.get::<&str, _>(0) != digest
        && !flag(&r, 1)
    {
        let what = format!("tag {:?} of repository {:?}", tag.as_str(), repo.as_str());
        return Err(locked(what, "writeEnabled", "it cannot be moved or overwritten"));
    }
    Ok(())
}

/// What a delete removes, for [`check_delete`].
pub(super) enum Doomed<'a> {
    /// The repository with everything in it.
    Repository,
    /// One manifest and its tags.
    Manifest(&'a str),
    /// One tag.
    Tag(&'a Tag),
}

/// Refuses a delete when the repository, or any tag or manifest it would remove, is delete-
/// or write-locked.
pub(super) async fn check_delete(tx: &mut Tx<'_>, repo: &RepoName, doomed: Doomed<'_>) -> Result<()> {
    if let Some(lock) = repository_attributes(tx, repo).await?.and_then(Attributes::delete_lock) {
        let what = format!("repository {:?}", repo.as_str());
        return Err(locked(what, lock, "nothing in it can be deleted"));
    }
    let (tags_filter, manifests_filter, key) = match doomed {
        Doomed::Repository => ("", Some(""), None),
        Doomed::Manifest(d) => (" AND manifest_digest = $2", Some(" AND digest = $2"), Some(d)),
        Doomed::Tag(t) => (" AND name = $2", None, Some(t.as_str())),
    };
    let sql = format!("SELECT name, {COLUMNS} FROM tags WHERE repository = $1{tags_filter}");
    for r in rows(tx, &sql, repo, key).await? {
        if let Some(lock) = attributes_at(&r, 1).delete_lock() {
            let what = format!("tag {:?} of repository {:?}", r.get::<&str, _>(0), repo.as_str());
            return Err(locked(what, lock, "it cannot be deleted"));
        }
    }
    let Some(filter) = manifests_filter else { return Ok(()) };
    let sql = format!("SELECT digest, {COLUMNS} FROM manifests WHERE repository = $1{filter}");
    for r in rows(tx, &sql, repo, key).await? {
        if let Some(lock) = attributes_at(&r, 1).delete_lock() {
            let what = format!("manifest {} of repository {:?}", r.get::<&str, _>(0), repo.as_str());
            return Err(locked(what, lock, "it cannot be deleted"));
        }
    }
    Ok(())
}

/// Runs `sql` with the repository as `$1` and, if given, `key` as `$2`.
async fn rows(tx: &mut Tx<'_>, sql: &str, repo: &RepoName, key: Option<&str>) -> Result<Vec<AnyRow>> {
    let mut query = sqlx::query(sql).bind(repo.as_str());
    if let Some(k) = key {
        query = query.bind(k);
    }
    Ok(query.fetch_all(&mut **tx).await?)
}

/// The UPDATE of the four attributes of the rows `key_clause` selects; the attributes are
/// bound from parameter `$first` on.
fn patch_sql(table: &str, key_clause: &str, first: usize) -> String {
    let [d, w, r, l] = [first, first + 1, first + 2, first + 3];
    format!(
        "UPDATE {table} SET delete_enabled = COALESCE(${d}, delete_enabled), write_enabled = COALESCE(${w}, write_enabled),
             read_enabled = COALESCE(${r}, read_enabled), list_enabled = COALESCE(${l}, list_enabled)
         WHERE {key_clause}"
    )
}

fn manifest_meta(r: &AnyRow) -> ManifestMetaRow {
    ManifestMetaRow {
        digest: r.get(0),
        media_type: r.get(1),
        content: r.get(2),
        created_at: r.get(3),
        updated_at: r.get(4),
        architecture: r.get(5),
        os: r.get(6),
        quarantine_state: r.get(7),
        attributes: attributes_at(r, 8),
        tags: Vec::new(),
    }
}

const MANIFEST_COLUMNS: &str = "digest, media_type, content, created_at, updated_at, architecture, os, quarantine_state, delete_enabled, \
     write_enabled, read_enabled, list_enabled";

impl MetaStore {
    /// A repository with its counts; `None` if it does not exist.
    pub async fn repository(&self, repo: &RepoName) -> Result<Option<RepositoryRow>> {
        let sql = format!(
            "SELECT name, created_at, updated_at, {COLUMNS},
                (SELECT COUNT(*) FROM manifests WHERE repository = $1),
                (SELECT COUNT(*) FROM tags WHERE repository = $1)
             FROM repositories WHERE name = $1"
        );
        let row = sqlx::query(&sql).bind(repo.as_str()).fetch_optional(&self.reader).await?;
        Ok(row.map(|r| RepositoryRow {
            name: r.get(0),
            created_at: r.get(1),
            updated_at: r.get(2),
            attributes: attributes_at(&r, 3),
            manifest_count: r.get::<i64, _>(7) as u64,
            tag_count: r.get::<i64, _>(8) as u64,
        }))
    }

    /// Sets a repository's attributes; false if it does not exist.
    pub async fn update_repository(&self, repo: &RepoName, patch: &AttributesPatch) -> Result<bool> {
        self.patch(&patch_sql("repositories", "name = $1", 2), repo, None, patch).await
    }

    pub async fn update_tag(&self, repo: &RepoName, tag: &Tag, patch: &AttributesPatch) -> Result<bool> {
        self.patch(&patch_sql("tags", "repository = $1 AND name = $2", 3), repo, Some(tag.as_str()), patch).await
    }

    pub async fn update_manifest(&self, repo: &RepoName, digest: &Digest, patch: &AttributesPatch) -> Result<bool> {
        let sql = patch_sql("manifests", "repository = $1 AND digest = $2", 3);
        self.patch(&sql, repo, Some(&digest.to_string()), patch).await
    }

    async fn patch(&self, sql: &str, repo: &RepoName, key: Option<&str>, p: &AttributesPatch) -> Result<bool> {
        let mut query = sqlx::query(sql).bind(repo.as_str());
        if let Some(k) = key {
            query = query.bind(k);
        }
        for value in [p.delete_enabled, p.write_enabled, p.read_enabled, p.list_enabled] {
            query = query.bind(value.map(i64::from));
        }
        let done = self.execute(query).await?;
        // Read locks are part of what the manifest cache serves.
        self.manifests_changed();
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a repository with all its manifests and tags in one transaction, unless a lock
    /// forbids it; the manifests no other repository stores leave usage. `None` if it does not
    /// exist.
    pub async fn delete_repository(&self, repo: &RepoName) -> Result<Option<DeletedRepository>> {
        let mut tx = self.write().await?;
        if repository_attributes(&mut tx, repo).await?.is_none() {
            return Ok(None);
        }
        check_delete(&mut tx, repo, Doomed::Repository).await?;
        let names = |sql: &'static str| sqlx::query(sql).bind(repo.as_str());
        let manifests = names("SELECT digest FROM manifests WHERE repository = $1 ORDER BY digest").fetch_all(&mut *tx);
        let manifests: Vec<String> = manifests.await?.iter().map(|r| r.get(0)).collect();
        let tags = names("SELECT name FROM tags WHERE repository = $1 ORDER BY name").fetch_all(&mut *tx).await?;
        let tags: Vec<String> = tags.iter().map(|r| r.get(0)).collect();
        let freed = names(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM manifests m WHERE m.repository = $1
               AND NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = m.digest AND o.repository <> $1)",
        )
        .fetch_one(&mut *tx)
        .await?;
        usage::add(&mut tx, Counter::Manifests, -freed.get::<i64, _>(0)).await?;
        for sql in [
            "DELETE FROM tags WHERE repository = $1",
            "DELETE FROM manifests WHERE repository = $1",
            "DELETE FROM repository_blobs WHERE repository = $1",
            "DELETE FROM repositories WHERE name = $1",
        ] {
            names(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.manifests_changed();
        Ok(Some(DeletedRepository { manifests, tags }))
    }

    /// The tags of `repo` with their attributes, sorted by name; list-disabled ones only if
    /// `hidden`.
    pub async fn tag_rows(&self, repo: &RepoName, hidden: bool) -> Result<Vec<TagRow>> {
        let sql = format!(
            "SELECT name, manifest_digest, created_at, updated_at, {COLUMNS} FROM tags
             WHERE repository = $1 AND list_enabled >= $2 ORDER BY name"
        );
        let rows = sqlx::query(&sql).bind(repo.as_str()).bind(i64::from(!hidden)).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(tag_row).collect())
    }

    pub async fn tag_row(&self, repo: &RepoName, tag: &Tag) -> Result<Option<TagRow>> {
        let sql = format!(
            "SELECT name, manifest_digest, created_at, updated_at, {COLUMNS} FROM tags WHERE repository = $1 AND name = $2"
        );
        let row = sqlx::query(&sql).bind(repo.as_str()).bind(tag.as_str()).fetch_optional(&self.reader).await?;
        Ok(row.as_ref().map(tag_row))
    }

    /// The manifests of `repo` with their attributes and listed tags, sorted by digest;
    /// list-disabled ones left out.
    pub async fn manifest_rows(&self, repo: &RepoName) -> Result<Vec<ManifestMetaRow>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND list_enabled = 1 ORDER BY digest"
        );
        let mut rows: Vec<ManifestMetaRow> =
            sqlx::query(&sql).bind(repo.as_str()).fetch_all(&self.reader).await?.iter().map(manifest_meta).collect();
        let tags = self.tag_rows(repo, false).await?;
        for m in &mut rows {
            m.tags = tags.iter().filter(|t| t.digest == m.digest).map(|t| t.name.clone()).collect();
        }
        Ok(rows)
    }

    pub async fn manifest_meta(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ManifestMetaRow>> {
        let sql = format!("SELECT {MANIFEST_COLUMNS} FROM manifests WHERE repository = $1 AND digest = $2");
        let row = sqlx::query(&sql).bind(repo.as_str()).bind(digest.to_string()).fetch_optional(&self.reader).await?;
        let Some(mut m) = row.as_ref().map(manifest_meta) else { return Ok(None) };
        let tags = sqlx::query("SELECT name FROM tags WHERE repository = $1 AND manifest_digest = $2 ORDER BY name")
            .bind(repo.as_str())
            .bind(&m.digest)
            .fetch_all(&self.reader)
            .await?;
        m.tags = tags.iter().map(|r| r.get(0)).collect();
        Ok(Some(m))
    }

    /// Whether anything may be pushed to `repo` (a repository not created yet may).
    pub async fn repository_writable(&self, repo: &RepoName) -> Result<bool> {
        let row = sqlx::query("SELECT write_enabled FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_none_or(|r| flag(&r, 0)))
    }
}

fn tag_row(r: &AnyRow) -> TagRow {
    TagRow {
        name: r.get(0),
        digest: r.get(1),
        created_at: r.get(2),
        updated_at: r.get(3),
        attributes: attributes_at(r, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_lock_outranks_delete_lock() {
        let open = Attributes { delete_enabled: true, write_enabled: true, read_enabled: true, list_enabled: true };
        assert_eq!(open.delete_lock(), None);
        assert_eq!(Attributes { delete_enabled: false, ..open }.delete_lock(), Some("deleteEnabled"));
        let both = Attributes { delete_enabled: false, write_enabled: false, ..open };
        assert_eq!(both.delete_lock(), Some("writeEnabled"));
    }
}
