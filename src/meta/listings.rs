//! The `/acr/v1` listings of tags and manifests, paged in SQL. A page is found from its keys
//! (`last`'s name or digest, and for the time orders `last`'s update time) on an index that
//! serves its order, so it costs the same at any depth and holds no more rows than it shows.
//! Manifests are listed from what was recorded when they were stored, never from their bytes.

use std::collections::HashMap;

use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::attributes::COLUMNS;
use super::manifests::BATCH;
use super::quarantine::{self, Visibility};
use super::{Attributes, MetaStore, Result};
use crate::oci::{Digest, RepoName, Tag};

/// How `/acr/v1` orders a listing: by name (digest for manifests), or by last update with
/// ties by name ascending.
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
}

#[derive(Debug, Clone, FromRow)]
pub struct TagRow {
    pub name: String,
    #[sqlx(rename = "manifest_digest")]
    pub digest: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[sqlx(flatten)]
    pub attributes: Attributes,
}

/// A manifest as `/acr/v1` shows it, without its bytes.
#[derive(Debug, Clone, FromRow)]
pub struct ManifestMetaRow {
    pub digest: String,
    pub media_type: String,
    /// Bytes of the manifest itself.
    #[sqlx(try_from = "i64")]
    pub size: u64,
    #[sqlx(flatten)]
    pub summary: StoredSummary,
    pub created_at: i64,
    pub updated_at: i64,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub quarantine_state: Option<String>,
    /// What set the state said (a scanner's summary, a reviewer's note).
    pub quarantine_details: Option<String>,
    #[sqlx(flatten)]
    pub attributes: Attributes,
    /// Its tags, sorted (in a listing, only the listed ones).
    #[sqlx(skip)]
    pub tags: Vec<String>,
}

/// What listings show of a manifest that only its bytes say, as recorded when it was stored:
/// `None`s in a row that start-up has not filled in yet.
#[derive(Debug, Clone, Default, FromRow)]
pub struct StoredSummary {
    /// The manifest's bytes plus the config and layers it names.
    pub image_size: Option<i64>,
    pub config_media_type: Option<String>,
    /// An index's children with their platforms, as a JSON list.
    pub child_platforms: Option<String>,
}

/// [`StoredSummary`] as it is written.
#[derive(Debug, Clone, Copy)]
pub struct ManifestSummary<'a> {
    pub image_size: u64,
    pub config_media_type: Option<&'a str>,
    pub child_platforms: Option<&'a str>,
}

/// A manifest stored before summaries were recorded, with the bytes to summarize it from.
#[derive(Debug, FromRow)]
pub struct Unsummarized {
    pub repository: String,
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

const TAG_COLUMNS: &str = "name, manifest_digest, created_at, updated_at";
const MANIFEST_COLUMNS: &str = "digest, media_type, size, image_size, config_media_type, child_platforms, \
     created_at, updated_at, architecture, os, quarantine_state, quarantine_details";

/// One listing: the listed rows of `table` in `repo`, keyed by `key` within the repository.
#[derive(Clone, Copy)]
struct Listing<'a> {
    table: &'static str,
    key: &'static str,
    columns: &'static str,
    repo: &'a RepoName,
    /// Only the tags on this manifest.
    manifest: Option<&'a str>,
    visible: Visibility,
}

/// A value bound to a statement.
enum Param {
    Text(String),
    Int(i64),
}

/// A statement with its parameters, numbered as they are added.
struct Statement {
    sql: String,
    params: Vec<Param>,
}

impl Statement {
    /// Adds a parameter; returns its placeholder.
    fn param(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    async fn fetch<T>(self, store: &MetaStore) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let mut query = sqlx::query_as(&self.sql);
        for p in self.params {
            query = match p {
                Param::Text(s) => query.bind(s),
                Param::Int(i) => query.bind(i),
            };
        }
        Ok(query.fetch_all(&store.reader).await?)
    }
}

impl Listing<'_> {
    /// `SELECT … WHERE` the listed rows of this listing, to be continued with `AND …`.
    fn select(&self) -> Statement {
        let mut s = Statement { sql: String::new(), params: Vec::new() };
        let repo = s.param(Param::Text(self.repo.as_str().to_owned()));
        s.sql = format!(
            "SELECT {}, {COLUMNS} FROM {} WHERE repository = {repo} AND list_enabled = 1{}",
            self.columns,
            self.table,
            self.visible.and(|| match self.table {
                "tags" => quarantine::tag_released("tags"),
                _ => quarantine::released(self.table),
            })
        );
        if let Some(digest) = self.manifest {
            let p = s.param(Param::Text(digest.to_owned()));
            s.sql.push_str(&format!(" AND manifest_digest = {p}"));
        }
        s
    }

    /// Up to `limit` rows after `last` in `order`. In a time order, the rows tied with `last`
    /// come first, then those strictly later (or earlier): two range scans, each on an index.
    /// A `last` that is not there starts a time order from its beginning (its time is unknown),
    /// and a name order after its name.
    ///
    /// The tags of one manifest are few, and found through `tags_by_manifest`: in a time order
    /// they are sorted, and their time is written `updated_at + 0` so that SQLite does not
    /// prefer walking the repository's whole time index in order, filtering as it goes.
    async fn page<T>(self, store: &MetaStore, order: Order, last: Option<&str>, limit: usize) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let key = self.key;
        let column = if self.manifest.is_some() { "updated_at + 0" } else { "updated_at" };
        let (direction, beyond) = match order {
            Order::Name => {
                let mut s = self.select();
                let after = s.param(Param::Text(last.unwrap_or_default().to_owned()));
                let n = s.param(Param::Int(limit));
                s.sql.push_str(&format!(" AND {key} > {after} ORDER BY {key} LIMIT {n}"));
                return s.fetch(store).await;
            }
            Order::TimeAsc => ("ASC", ">"),
            Order::TimeDesc => ("DESC", "<"),
        };
        let anchor = match last {
            Some(last) => self.updated_at(store, last).await?.map(|t| (t, last)),
            None => None,
        };
        let mut rows = Vec::new();
        let mut rest = self.select();
        if let Some((time, last)) = anchor {
            let mut ties = self.select();
            let (t, after, n) =
                (ties.param(Param::Int(time)), ties.param(Param::Text(last.to_owned())), ties.param(Param::Int(limit)));
            ties.sql.push_str(&format!(" AND {column} = {t} AND {key} > {after} ORDER BY {key} LIMIT {n}"));
            rows = ties.fetch(store).await?;
            let t = rest.param(Param::Int(time));
            rest.sql.push_str(&format!(" AND {column} {beyond} {t}"));
        }
        let wanted = limit - rows.len() as i64;
        if wanted > 0 {
            let n = rest.param(Param::Int(wanted));
            rest.sql.push_str(&format!(" ORDER BY {column} {direction}, {key} LIMIT {n}"));
            rows.extend(rest.fetch::<T>(store).await?);
        }
        Ok(rows)
    }

    /// When the row `key` (listed or not) was last updated.
    async fn updated_at(&self, store: &MetaStore, key: &str) -> Result<Option<i64>> {
        let sql = format!("SELECT updated_at FROM {} WHERE repository = $1 AND {} = $2", self.table, self.key);
        let query = sqlx::query_scalar(&sql).bind(self.repo.as_str()).bind(key);
        Ok(query.fetch_optional(&store.reader).await?)
    }
}

/// A tag's name and the manifest it is on.
#[derive(FromRow)]
struct TagOf {
    manifest_digest: String,
    name: String,
}

impl MetaStore {
    /// Up to `limit` listed tags of `repo` (only those on `manifest`, if given) after `last`
    /// in `order`, of the manifests `visible` shows.
    pub async fn tag_page(
        &self,
        repo: &RepoName,
        manifest: Option<&str>,
        order: Order,
        visible: Visibility,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TagRow>> {
        let listing = Listing { table: "tags", key: "name", columns: TAG_COLUMNS, repo, manifest, visible };
        listing.page(self, order, last, limit).await
    }

    /// Tag `tag` of `repo`, if it is on a manifest `visible` shows.
    pub async fn tag_row(&self, repo: &RepoName, tag: &Tag, visible: Visibility) -> Result<Option<TagRow>> {
        let sql = format!(
            "SELECT {TAG_COLUMNS}, {COLUMNS} FROM tags WHERE repository = $1 AND name = $2{}",
            visible.and(|| quarantine::tag_released("tags"))
        );
        Ok(sqlx::query_as(&sql).bind(repo.as_str()).bind(tag.as_str()).fetch_optional(&self.reader).await?)
    }

    /// Up to `limit` listed manifests of `repo` that `visible` shows after `last` in `order`,
    /// with their listed tags.
    pub async fn manifest_page(
        &self,
        repo: &RepoName,
        order: Order,
        visible: Visibility,
        last: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManifestMetaRow>> {
        let listing =
            Listing { table: "manifests", key: "digest", columns: MANIFEST_COLUMNS, repo, manifest: None, visible };
        let mut rows: Vec<ManifestMetaRow> = listing.page(self, order, last, limit).await?;
        self.fill_tags(repo, &mut rows, true).await?;
        Ok(rows)
    }

    /// Manifest `digest` of `repo`, with all its tags, if `visible` shows it.
    pub async fn manifest_meta(
        &self,
        repo: &RepoName,
        digest: &Digest,
        visible: Visibility,
    ) -> Result<Option<ManifestMetaRow>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS}, {COLUMNS} FROM manifests WHERE repository = $1 AND digest = $2{}",
            visible.and(|| quarantine::released("manifests"))
        );
        let row = sqlx::query_as::<_, ManifestMetaRow>(&sql).bind(repo.as_str()).bind(digest.to_string());
        let row = row.fetch_optional(&self.reader);
        let Some(row) = row.await? else { return Ok(None) };
        let mut rows = [row];
        self.fill_tags(repo, &mut rows, false).await?;
        let [row] = rows;
        Ok(Some(row))
    }

    /// Sets the tags of each of `rows` (only the listed ones if `listed`), a batch of
    /// manifests per statement.
    async fn fill_tags(&self, repo: &RepoName, rows: &mut [ManifestMetaRow], listed: bool) -> Result<()> {
        let filter = if listed { " AND list_enabled = 1" } else { "" };
        for batch in rows.chunks_mut(BATCH) {
            let params: Vec<String> = (0..batch.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT manifest_digest, name FROM tags
                 WHERE repository = $1{filter} AND manifest_digest IN ({}) ORDER BY manifest_digest, name",
                params.join(", ")
            );
            let mut query = sqlx::query_as(&sql).bind(repo.as_str());
            for m in batch.iter() {
                query = query.bind(m.digest.as_str());
            }
            let found: Vec<TagOf> = query.fetch_all(&self.reader).await?;
            let mut tags: HashMap<String, Vec<String>> = HashMap::new();
            for t in found {
                tags.entry(t.manifest_digest).or_default().push(t.name);
            }
            for m in batch {
                m.tags = tags.remove(&m.digest).unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Up to `limit` manifests stored without a summary, after (`repository`, `digest`) `after`.
    pub async fn unsummarized(&self, after: (&str, &str), limit: usize) -> Result<Vec<Unsummarized>> {
        let sql = "SELECT repository, digest, media_type, content FROM manifests
                   WHERE image_size IS NULL AND (repository, digest) > ($1, $2)
                   ORDER BY repository, digest LIMIT $3";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(sqlx::query_as(sql).bind(after.0).bind(after.1).bind(limit).fetch_all(&self.reader).await?)
    }

    /// Records the summaries of manifests stored without one, in one transaction.
    pub async fn set_summaries(&self, summaries: &[(&str, &str, ManifestSummary<'_>)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (repo, digest, s) in summaries {
            sqlx::query(
                "UPDATE manifests SET image_size = $3, config_media_type = $4, child_platforms = $5
                 WHERE repository = $1 AND digest = $2 AND image_size IS NULL",
            )
            .bind(*repo)
            .bind(*digest)
            .bind(i64::try_from(s.image_size).unwrap_or(i64::MAX))
            .bind(s.config_media_type)
            .bind(s.child_platforms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
