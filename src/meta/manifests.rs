//! Repositories, manifests, their references, and tags.

use sqlx::{FromRow, Row};

use super::events::{self, Actor, Change};
use super::quarantine::{self, Visibility};
use super::usage::{self, Counter};
use super::{Error, ManifestSummary, MetaStore, Result, attributes, now_ms};
use crate::oci::{Digest, ManifestRef, RefKind, RepoName, Tag};

/// A manifest to store: its exact bytes and what was read from them.
#[derive(Debug)]
pub struct NewManifest<'a> {
    pub digest: &'a Digest,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub content: &'a [u8],
    pub config_digest: Option<&'a Digest>,
    pub subject: Option<&'a Digest>,
    pub annotations: Option<&'a str>,
    pub references: &'a [ManifestRef],
    /// An image's platform, read from its config.
    pub architecture: Option<&'a str>,
    pub os: Option<&'a str>,
    /// What listings show that only the bytes say.
    pub summary: ManifestSummary<'a>,
    /// Whether a digest new to the repository starts `Quarantined` if quarantine is on (a
    /// user's push; Berth's own are trusted).
    pub quarantine: bool,
}

/// A stored manifest, as served by GET.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub content: bytes::Bytes,
    pub subject: Option<Digest>,
    /// Which read lock (`readEnabled: false`) keeps it from being pulled: "repository", "tag"
    /// or "manifest".
    pub read_lock: Option<String>,
    /// `Quarantined`, `Passed` or `Failed`; `None` if pushed while quarantine was off.
    pub quarantine_state: Option<String>,
}

/// How much the registry holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub repositories: u64,
    pub manifests: u64,
    pub tags: u64,
}

/// A manifest whose `subject` is the digest asked about, as the referrers API lists it.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// A referrer as read, before its digest is parsed.
#[derive(FromRow)]
struct StoredReferrer {
    digest: String,
    media_type: String,
    size: i64,
    artifact_type: Option<String>,
    annotations: Option<String>,
}

/// A stored manifest as read, before its digests are parsed.
#[derive(FromRow)]
struct StoredManifest {
    digest: String,
    media_type: String,
    content: Vec<u8>,
    subject_digest: Option<String>,
    read_lock: Option<String>,
    quarantine_state: Option<String>,
}

/// The state a manifest new to its repository starts in while quarantine is on.
const QUARANTINED: &str = "Quarantined";

/// Rows one batched statement reads or writes: far under either engine's limit on parameters.
pub(super) const BATCH: usize = 400;

/// The first of `wanted` that `table` (`repository_blobs` or `manifests`) does not hold for
/// `repo`, looked up a batch at a time.
async fn missing_in<'a>(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    repo: &RepoName,
    wanted: &[&'a Digest],
) -> Result<Option<&'a Digest>> {
    for batch in wanted.chunks(BATCH) {
        let params: Vec<String> = (0..batch.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("SELECT digest FROM {table} WHERE repository = $1 AND digest IN ({})", params.join(", "));
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(repo.as_str());
        for d in batch {
            query = query.bind(d.to_string());
        }
        let found: std::collections::HashSet<String> = query.fetch_all(&mut *tx).await?.into_iter().collect();
        if let Some(missing) = batch.iter().find(|d| !found.contains(&d.to_string())) {
            return Ok(Some(missing));
        }
    }
    Ok(None)
}

/// Whether any repository stores manifest `digest` (its bytes are counted in usage once).
async fn stored_anywhere(tx: &mut sqlx::AnyConnection, digest: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM manifests WHERE digest = $1 LIMIT 1").bind(digest).fetch_optional(tx);
    Ok(row.await?.is_some())
}

fn parse_digest(s: &str) -> Result<Digest> {
    Digest::parse(s).map_err(|e| Error::Corrupt(e.to_string()))
}

impl TryFrom<StoredManifest> for ManifestRow {
    type Error = Error;

    fn try_from(m: StoredManifest) -> Result<Self> {
        Ok(Self {
            digest: parse_digest(&m.digest)?,
            media_type: m.media_type,
            content: m.content.into(),
            subject: m.subject_digest.as_deref().map(parse_digest).transpose()?,
            read_lock: m.read_lock,
            quarantine_state: m.quarantine_state,
        })
    }
}

impl MetaStore {
    /// Stores a manifest, replaces its reference list and points `tag` at it, in one transaction,
    /// with its `push` event (and `quarantine` event, when it starts quarantined), after checking inside that transaction that every blob and child manifest it needs is in
    /// the repository (`Error::MissingReference` otherwise) and, for a digest new to the
    /// registry, that its bytes fit within `limit` (`Error::QuotaExceeded`); nothing is written
    /// then.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &NewManifest<'_>,
        tag: Option<&Tag>,
        limit: u64,
        actor: &Actor,
    ) -> Result<()> {
        let now = now_ms();
        let digest = m.digest.to_string();
        let mut tx = self.write().await?;
        attributes::check_push(&mut tx, repo, &digest, tag).await?;
        for (kind, table) in [(RefKind::Blob, "repository_blobs"), (RefKind::Child, "manifests")] {
            let wanted: Vec<&Digest> = m.references.iter().filter(|r| r.kind == kind).map(|r| &r.digest).collect();
            if let Some(missing) = missing_in(&mut tx, table, repo, &wanted).await? {
                return Err(Error::MissingReference { digest: missing.clone(), kind });
            }
        }
        // Only a digest new to the repository enters quarantine: pushing one again (or tagging
        // it) keeps the state it has, released or not. One statement, and only for a user's push.
        let quarantined = m.quarantine && {
            let row = sqlx::query(
                "SELECT (SELECT value FROM settings WHERE name = $3),
                        (SELECT COUNT(*) FROM manifests WHERE repository = $1 AND digest = $2)",
            )
            .bind(repo.as_str())
            .bind(&digest)
            .bind(super::QUARANTINE_ENABLED)
            .fetch_one(&mut *tx)
            .await?;
            row.get::<Option<String>, _>(0).as_deref() == Some("true") && row.get::<i64, _>(1) == 0
        };
        if !stored_anywhere(&mut tx, &digest).await? {
            usage::add_within(&mut tx, Counter::Manifests, m.content.len() as u64, limit).await?;
        }
        sqlx::query(
            "INSERT INTO repositories (name, created_at, updated_at) VALUES ($1, $2, $2)
             ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
        )
        .bind(repo.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO manifests (repository, digest, media_type, artifact_type, content, size, config_digest,
                                    subject_digest, annotations, created_at, updated_at, architecture, os,
                                    image_size, config_media_type, child_platforms, quarantine_state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (repository, digest) DO UPDATE SET media_type = excluded.media_type,
                 artifact_type = excluded.artifact_type, updated_at = excluded.updated_at,
                 image_size = excluded.image_size, config_media_type = excluded.config_media_type,
                 child_platforms = excluded.child_platforms",
        )
        .bind(repo.as_str())
        .bind(&digest)
        .bind(m.media_type)
        .bind(m.artifact_type)
        .bind(m.content)
        .bind(m.content.len() as i64)
        .bind(m.config_digest.map(Digest::to_string))
        .bind(m.subject.map(Digest::to_string))
        .bind(m.annotations)
        .bind(now)
        .bind(m.architecture)
        .bind(m.os)
        .bind(i64::try_from(m.summary.image_size).unwrap_or(i64::MAX))
        .bind(m.summary.config_media_type)
        .bind(m.summary.child_platforms)
        .bind(quarantined.then_some(QUARANTINED))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM manifest_refs WHERE repository = $1 AND manifest_digest = $2")
            .bind(repo.as_str())
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        for batch in m.references.chunks(BATCH) {
            let rows: Vec<String> =
                (0..batch.len()).map(|i| format!("($1, $2, ${}, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
            let sql = format!(
                "INSERT INTO manifest_refs (repository, manifest_digest, ref_digest, kind) VALUES {} ON CONFLICT DO NOTHING",
                rows.join(", ")
            );
            let mut insert = sqlx::query(&sql).bind(repo.as_str()).bind(&digest);
            for r in batch {
                insert = insert.bind(r.digest.to_string()).bind(r.kind.as_str());
            }
            insert.execute(&mut *tx).await?;
        }
        if let Some(tag) = tag {
            sqlx::query(
                "INSERT INTO tags (repository, name, manifest_digest, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (repository, name) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                     updated_at = excluded.updated_at",
            )
            .bind(repo.as_str())
            .bind(tag.as_str())
            .bind(&digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let pushed = Change {
            action: "push",
            repository: repo.as_str(),
            tag: tag.map(Tag::as_str),
            digest: &digest,
            media_type: Some(m.media_type),
            size: Some(m.content.len() as i64),
        };
        let held = Change { action: "quarantine", ..pushed.clone() };
        let changes = if quarantined { vec![pushed, held] } else { vec![pushed] };
        events::emit(&mut tx, actor, &changes).await?;
        tx.commit().await?;
        self.manifests_changed();
        Ok(())
    }

    /// The manifest `digest` of `repo`.
    pub async fn manifest(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ManifestRow>> {
        let sql = "SELECT m.digest, m.media_type, m.content, m.subject_digest,
                       CASE WHEN r.read_enabled = 0 THEN 'repository' WHEN m.read_enabled = 0 THEN 'manifest' END
                           AS read_lock, m.quarantine_state
                   FROM manifests m JOIN repositories r ON r.name = m.repository
                   WHERE m.repository = $1 AND m.digest = $2";
        self.cached_manifest(repo, &digest.to_string(), sql).await
    }

    /// The manifest `tag` of `repo` points at.
    pub async fn tagged_manifest(&self, repo: &RepoName, tag: &Tag) -> Result<Option<ManifestRow>> {
        let sql = "SELECT m.digest, m.media_type, m.content, m.subject_digest,
                       CASE WHEN r.read_enabled = 0 THEN 'repository' WHEN t.read_enabled = 0 THEN 'tag'
                            WHEN m.read_enabled = 0 THEN 'manifest' END AS read_lock, m.quarantine_state
                   FROM tags t JOIN manifests m ON m.repository = t.repository AND m.digest = t.manifest_digest
                   JOIN repositories r ON r.name = t.repository
                   WHERE t.repository = $1 AND t.name = $2";
        self.cached_manifest(repo, tag.as_str(), sql).await
    }

    /// Answers from the cache, or runs `sql` (bound to repo and reference) and caches the row.
    async fn cached_manifest(
        &self,
        repo: &RepoName,
        reference: &str,
        sql: &'static str,
    ) -> Result<Option<ManifestRow>> {
        let fetch = sqlx::query_as::<_, StoredManifest>(sql).bind(repo.as_str()).bind(reference);
        let Some(cache) = &self.manifests else {
            return fetch.fetch_optional(&self.reader).await?.map(ManifestRow::try_from).transpose();
        };
        if let Some(hit) = cache.get(repo.as_str(), reference) {
            return Ok(Some(hit));
        }
        let generation = cache.generation();
        let row = fetch.fetch_optional(&self.reader).await?.map(ManifestRow::try_from).transpose()?;
        if let Some(found) = &row {
            cache.insert(generation, repo.as_str(), reference, found);
        }
        Ok(row)
    }

    /// Deletes a manifest with its tags and reference list, unless a lock forbids it (checked
    /// in the same transaction). An index takes along the children nothing else holds: no tag,
    /// no other index in the repository, no lock. A digest whose last copy goes leaves usage.
    /// Refused (`ListedByIndex`) while an index in the repository lists the manifest. False if it
    /// was not there.
    pub async fn delete_manifest(&self, repo: &RepoName, digest: &Digest, actor: &Actor) -> Result<bool> {
        let digest = digest.to_string();
        let mut tx = self.write().await?;
        attributes::check_delete(&mut tx, repo, attributes::Doomed::Manifest(&digest)).await?;
        let listing: Option<String> = sqlx::query_scalar(
            "SELECT manifest_digest FROM manifest_refs WHERE repository = $1 AND ref_digest = $2 AND kind = 'child'
             ORDER BY manifest_digest LIMIT 1",
        )
        .bind(repo.as_str())
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(index) = listing {
            return Err(Error::ListedByIndex { manifest: digest, index });
        }
        let mut queue = vec![digest];
        let mut first = true;
        let mut freed = 0;
        let mut gone: Vec<(String, String)> = Vec::new();
        while let Some(d) = queue.pop() {
            let children: Vec<String> = sqlx::query_scalar(
                "SELECT ref_digest FROM manifest_refs WHERE repository = $1 AND manifest_digest = $2 AND kind = 'child'",
            )
            .bind(repo.as_str())
            .bind(&d)
            .fetch_all(&mut *tx)
            .await?;
            let deleted: Option<(i64, String)> = sqlx::query_as(
                "DELETE FROM manifests WHERE repository = $1 AND digest = $2 RETURNING size, media_type",
            )
            .bind(repo.as_str())
            .bind(&d)
            .fetch_optional(&mut *tx)
            .await?;
            if first && deleted.is_none() {
                return Ok(false);
            }
            first = false;
            if let Some((size, media_type)) = deleted {
                if !stored_anywhere(&mut tx, &d).await? {
                    freed += size;
                }
                gone.push((d.clone(), media_type));
            }
            for child in children {
                let held = sqlx::query(
                    "SELECT 1 FROM manifests m WHERE m.repository = $1 AND m.digest = $2
                       AND (m.delete_enabled = 0 OR m.write_enabled = 0
                            OR EXISTS (SELECT 1 FROM tags t WHERE t.repository = $1 AND t.manifest_digest = $2)
                            OR EXISTS (SELECT 1 FROM manifest_refs r
                                       WHERE r.repository = $1 AND r.ref_digest = $2 AND r.kind = 'child'))",
                )
                .bind(repo.as_str())
                .bind(&child)
                .fetch_optional(&mut *tx)
                .await?;
                if held.is_none() {
                    queue.push(child);
                }
            }
        }
        // A repository exists while it holds a manifest (as in ACR, where it then leaves both
        // catalogs): its row, with its attributes, goes with its last manifest. A repository
        // delete- or write-locked never gets here empty: check_delete refused above.
        sqlx::query(
            "DELETE FROM repositories WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM manifests WHERE repository = $1)",
        )
        .bind(repo.as_str())
        .execute(&mut *tx)
        .await?;
        usage::add(&mut tx, Counter::Manifests, -freed).await?;
        events::emit(&mut tx, actor, &events::deletions(repo.as_str(), &gone)).await?;
        tx.commit().await?;
        self.manifests_changed();
        Ok(true)
    }

    /// Deletes a tag only, unless a lock forbids it; the manifest stays. False if the tag was
    /// not there.
    pub async fn delete_tag(&self, repo: &RepoName, tag: &Tag, actor: &Actor) -> Result<bool> {
        let mut tx = self.write().await?;
        attributes::check_delete(&mut tx, repo, attributes::Doomed::Tag(tag)).await?;
        let untagged: Option<(String, String)> = sqlx::query_as(
            "SELECT m.digest, m.media_type FROM tags t
             JOIN manifests m ON m.repository = t.repository AND m.digest = t.manifest_digest
             WHERE t.repository = $1 AND t.name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((digest, media_type)) = untagged else { return Ok(false) };
        sqlx::query("DELETE FROM tags WHERE repository = $1 AND name = $2")
            .bind(repo.as_str())
            .bind(tag.as_str())
            .execute(&mut *tx)
            .await?;
        let change = Change {
            action: "delete",
            repository: repo.as_str(),
            tag: Some(tag.as_str()),
            digest: &digest,
            media_type: Some(&media_type),
            size: None,
        };
        events::emit(&mut tx, actor, &[change]).await?;
        tx.commit().await?;
        self.manifests_changed();
        Ok(true)
    }

    pub async fn repository_exists(&self, repo: &RepoName) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }

    /// Up to `limit` listed tags of `repo` sorted bytewise, starting after `last`, of the
    /// manifests `visible` shows.
    pub async fn tags(&self, repo: &RepoName, last: &str, limit: u32, visible: Visibility) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT name FROM tags WHERE repository = $1 AND name > $2 AND list_enabled = 1{} ORDER BY name LIMIT $3",
            visible.and(|| quarantine::tag_released("tags"))
        );
        let query = sqlx::query_scalar(&sql).bind(repo.as_str()).bind(last).bind(i64::from(limit));
        Ok(query.fetch_all(&self.reader).await?)
    }

    /// Up to `limit` listed repository names sorted bytewise, starting after `last`.
    pub async fn repositories(&self, last: &str, limit: u32) -> Result<Vec<String>> {
        let sql = "SELECT name FROM repositories WHERE name > $1 AND list_enabled = 1 ORDER BY name LIMIT $2";
        Ok(sqlx::query_scalar(sql).bind(last).bind(i64::from(limit)).fetch_all(&self.reader).await?)
    }

    /// How many repositories there are (listed or not).
    /// How many repositories, manifests and tags the registry holds, read in one statement
    /// (one snapshot).
    pub async fn counts(&self) -> Result<Counts> {
        let (repositories, manifests, tags): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM repositories), (SELECT COUNT(*) FROM manifests), \
             (SELECT COUNT(*) FROM tags)",
        )
        .fetch_one(&self.reader)
        .await?;
        let n = |v: i64| v.max(0) as u64;
        Ok(Counts { repositories: n(repositories), manifests: n(manifests), tags: n(tags) })
    }

    /// Listed repository names starting with `prefix` after `last`, in lexical order: one range
    /// of the primary key (names are lowercase ASCII, every character below `~`), so a page costs
    /// the same however many names there are. The range starts at whichever of `prefix` and
    /// `last` comes later, as one bound: given two, SQLite may scan from the lesser.
    pub async fn repositories_prefixed(&self, prefix: &str, last: &str, limit: u32) -> Result<Vec<String>> {
        let (from, op) = if last >= prefix { (last, ">") } else { (prefix, ">=") };
        let sql = format!(
            "SELECT name FROM repositories WHERE name {op} $1 AND name < $2 AND list_enabled = 1 ORDER BY name LIMIT $3"
        );
        let query = sqlx::query_scalar(&sql).bind(from).bind(format!("{prefix}~"));
        Ok(query.bind(i64::from(limit)).fetch_all(&self.reader).await?)
    }

    /// Listed repositories starting with `prefix`, most recently updated first (ties by name),
    /// after `last`, with when each was updated. As the `/acr/v1` listings do, the rows tied
    /// with `last` come first, then those strictly older. Without a prefix both are range scans
    /// of `repositories_by_time_desc`; with one, of the primary key's range of the prefix (the
    /// name range is left out without a prefix, or SQLite walks the whole key and sorts). A
    /// `last` that is not there starts from the newest.
    pub async fn repositories_by_time(
        &self,
        prefix: &str,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>> {
        let limit = i64::from(limit);
        let upper = format!("{prefix}~");
        let anchor: Option<i64> = match last {
            Some(last) => {
                let sql = "SELECT updated_at FROM repositories WHERE name = $1";
                sqlx::query_scalar(sql).bind(last).fetch_optional(&self.reader).await?
            }
            None => None,
        };
        // The prefix's range, with its parameters numbered after the `n` others.
        let range = |n: usize| match prefix.is_empty() {
            true => String::new(),
            false => format!(" AND name >= ${} AND name < ${}", n + 1, n + 2),
        };
        let mut rows: Vec<(String, i64)> = Vec::new();
        if let (Some(time), Some(last)) = (anchor, last) {
            let sql = format!(
                "SELECT name, updated_at FROM repositories WHERE list_enabled = 1 AND updated_at = $1 AND name > $2{}
                 ORDER BY name LIMIT $3",
                range(3)
            );
            let mut query = sqlx::query_as(&sql).bind(time).bind(last).bind(limit);
            if !prefix.is_empty() {
                query = query.bind(prefix).bind(&upper);
            }
            rows = query.fetch_all(&self.reader).await?;
        }
        let wanted = limit - rows.len() as i64;
        if wanted > 0 {
            let sql = format!(
                "SELECT name, updated_at FROM repositories WHERE list_enabled = 1 AND updated_at < $1{}
                 ORDER BY updated_at DESC, name LIMIT $2",
                range(2)
            );
            let mut query = sqlx::query_as(&sql).bind(anchor.unwrap_or(i64::MAX)).bind(wanted);
            if !prefix.is_empty() {
                query = query.bind(prefix).bind(&upper);
            }
            rows.extend(query.fetch_all(&self.reader).await?);
        }
        Ok(rows)
    }

    /// Manifests of `repo` whose subject is `subject`, optionally only those of `artifact_type`,
    /// of those `visible` shows.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
        visible: Visibility,
    ) -> Result<Vec<ReferrerRow>> {
        let sql = format!(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests m
             WHERE repository = $1 AND subject_digest = $2 AND ($3 IS NULL OR artifact_type = $3){}
             ORDER BY created_at, digest",
            visible.and(|| quarantine::released("m"))
        );
        let query = sqlx::query_as(&sql).bind(repo.as_str()).bind(subject.to_string()).bind(artifact_type);
        let rows: Vec<StoredReferrer> = query.fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ReferrerRow {
                    digest: parse_digest(&r.digest)?,
                    media_type: r.media_type,
                    size: r.size.max(0) as u64,
                    artifact_type: r.artifact_type,
                    annotations: r.annotations,
                })
            })
            .collect()
    }
}
