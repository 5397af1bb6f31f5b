//! ACR's changeable attributes (the locks `deleteEnabled`, `writeEnabled`, `readEnabled`,
//! `listEnabled`) on repositories, tags and manifests, and the metadata `/acr/v1` lists. The
//! lock checks that guard a write run inside that write's transaction.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::events::{self, Actor};
use super::usage::{self, Counter};
use super::{Error, MetaStore, Result};
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

/// The columns behind [`Attributes`].
pub(super) const COLUMNS: &str = "delete_enabled, write_enabled, read_enabled, list_enabled";

/// By column name, as the rows that embed it (`#[sqlx(flatten)]`) are read; the flags are
/// stored as 0/1 integers on both engines.
impl<'r> FromRow<'r, AnyRow> for Attributes {
    fn from_row(r: &'r AnyRow) -> sqlx::Result<Self> {
        let flag = |column: &str| r.try_get::<i64, _>(column).map(|v| v != 0);
        Ok(Self {
            delete_enabled: flag("delete_enabled")?,
            write_enabled: flag("write_enabled")?,
            read_enabled: flag("read_enabled")?,
            list_enabled: flag("list_enabled")?,
        })
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

/// A repository with its attributes and how many manifests and tags it holds.
#[derive(Debug, Clone, FromRow)]
pub struct RepositoryRow {
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[sqlx(flatten)]
    pub attributes: Attributes,
    #[sqlx(try_from = "i64")]
    pub manifest_count: u64,
    #[sqlx(try_from = "i64")]
    pub tag_count: u64,
}

/// What deleting a repository removed.
#[derive(Debug, Default)]
pub struct DeletedRepository {
    pub manifests: Vec<String>,
    pub tags: Vec<String>,
}

/// A tag or manifest a delete would remove, by name (or digest), with its attributes.
#[derive(FromRow)]
struct Doomable {
    key: String,
    #[sqlx(flatten)]
    attributes: Attributes,
}

/// A tag as a push that would move it sees it.
#[derive(FromRow)]
struct PushedTag {
    manifest_digest: String,
    /// 0 or 1.
    write_enabled: i64,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// The repository's attributes inside `tx`; `None` if it has no row yet.
async fn repository_attributes(tx: &mut Tx<'_>, repo: &RepoName) -> Result<Option<Attributes>> {
    let sql = format!("SELECT {COLUMNS} FROM repositories WHERE name = $1");
    Ok(sqlx::query_as(&sql).bind(repo.as_str()).fetch_optional(&mut **tx).await?)
}

/// Refuses a push into a write-locked repository, or one that moves a write-locked tag.
pub(super) async fn check_push(tx: &mut Tx<'_>, repo: &RepoName, digest: &str, tag: Option<&Tag>) -> Result<()> {
    if repository_attributes(tx, repo).await?.is_some_and(|a| !a.write_enabled) {
        let what = format!("repository {:?}", repo.as_str());
        return Err(locked(what, "writeEnabled", "nothing can be pushed to it"));
    }
    let Some(tag) = tag else { return Ok(()) };
    let sql = "SELECT manifest_digest, write_enabled FROM tags WHERE repository = $1 AND name = $2";
    let row: Option<PushedTag> =
        sqlx::query_as(sql).bind(repo.as_str()).bind(tag.as_str()).fetch_optional(&mut **tx).await?;
    if let Some(t) = row
        && t.manifest_digest != digest
        && t.write_enabled == 0
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
    let sql = format!("SELECT name AS key, {COLUMNS} FROM tags WHERE repository = $1{tags_filter}");
    for t in doomable(tx, &sql, repo, key).await? {
        if let Some(lock) = t.attributes.delete_lock() {
            let what = format!("tag {:?} of repository {:?}", t.key, repo.as_str());
            return Err(locked(what, lock, "it cannot be deleted"));
        }
    }
    let Some(filter) = manifests_filter else { return Ok(()) };
    let sql = format!("SELECT digest AS key, {COLUMNS} FROM manifests WHERE repository = $1{filter}");
    for m in doomable(tx, &sql, repo, key).await? {
        if let Some(lock) = m.attributes.delete_lock() {
            let what = format!("manifest {} of repository {:?}", m.key, repo.as_str());
            return Err(locked(what, lock, "it cannot be deleted"));
        }
    }
    Ok(())
}

/// Runs `sql` with the repository as `$1` and, if given, `key` as `$2`.
async fn doomable(tx: &mut Tx<'_>, sql: &str, repo: &RepoName, key: Option<&str>) -> Result<Vec<Doomable>> {
    let mut query = sqlx::query_as(sql).bind(repo.as_str());
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

impl MetaStore {
    /// A repository with its counts; `None` if it does not exist.
    pub async fn repository(&self, repo: &RepoName) -> Result<Option<RepositoryRow>> {
        let sql = format!(
            "SELECT name, created_at, updated_at, {COLUMNS},
                (SELECT COUNT(*) FROM manifests WHERE repository = $1) AS manifest_count,
                (SELECT COUNT(*) FROM tags WHERE repository = $1) AS tag_count
             FROM repositories WHERE name = $1"
        );
        Ok(sqlx::query_as(&sql).bind(repo.as_str()).fetch_optional(&self.reader).await?)
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
    pub async fn delete_repository(&self, repo: &RepoName, actor: &Actor) -> Result<Option<DeletedRepository>> {
        let mut tx = self.write().await?;
        if repository_attributes(&mut tx, repo).await?.is_none() {
            return Ok(None);
        }
        check_delete(&mut tx, repo, Doomed::Repository).await?;
        let names = |sql: &'static str| sqlx::query_scalar::<_, String>(sql).bind(repo.as_str());
        let gone: Vec<(String, String)> =
            sqlx::query_as("SELECT digest, media_type FROM manifests WHERE repository = $1 ORDER BY digest")
                .bind(repo.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let tags = names("SELECT name FROM tags WHERE repository = $1 ORDER BY name").fetch_all(&mut *tx).await?;
        let freed: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM manifests m WHERE m.repository = $1
               AND NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = m.digest AND o.repository <> $1)",
        )
        .bind(repo.as_str())
        .fetch_one(&mut *tx)
        .await?;
        usage::add(&mut tx, Counter::Manifests, -freed).await?;
        for sql in [
            "DELETE FROM tags WHERE repository = $1",
            "DELETE FROM manifests WHERE repository = $1",
            "DELETE FROM repository_blobs WHERE repository = $1",
            "DELETE FROM repositories WHERE name = $1",
        ] {
            sqlx::query(sql).bind(repo.as_str()).execute(&mut *tx).await?;
        }
        events::emit(&mut tx, actor, &events::deletions(repo.as_str(), &gone)).await?;
        tx.commit().await?;
        self.manifests_changed();
        let manifests = gone.into_iter().map(|(digest, _)| digest).collect();
        Ok(Some(DeletedRepository { manifests, tags }))
    }

    /// Whether anything may be pushed to `repo` (a repository not created yet may).
    pub async fn repository_writable(&self, repo: &RepoName) -> Result<bool> {
        let writable: Option<i64> = sqlx::query_scalar("SELECT write_enabled FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(writable.is_none_or(|w| w != 0))
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
