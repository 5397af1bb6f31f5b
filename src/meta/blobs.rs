//! Blobs, their repository links, and upload sessions.

use sqlx::Row;

use super::usage::{self, Counter};
use super::{MetaStore, Result, flag, now_ms};
use crate::oci::{Digest, RepoName};

/// An upload session as stored.
#[derive(Debug, Clone)]
pub struct UploadRow {
    pub id: String,
    pub repository: String,
    pub size: u64,
    /// Names of the stored parts, in order.
    pub parts: Vec<String>,
    pub hash_state: Vec<u8>,
}

impl MetaStore {
    /// Size of `digest` if `repo` holds it, and whether the repository is readable (no read lock).
    pub async fn linked_blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<(u64, bool)>> {
        let row = sqlx::query(
            "SELECT b.size, COALESCE(r.read_enabled, 1) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
             LEFT JOIN repositories r ON r.name = l.repository
             WHERE l.repository = $1 AND l.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| (r.get::<i64, _>(0) as u64, flag(&r, 1))))
    }

    /// Size of `digest` if the registry stores it, in any repository.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Records a verified, stored blob (idempotent) and links it to `repo`, in one transaction.
    /// A blob new to the registry is counted in usage there, or refused with `QuotaExceeded`
    /// (nothing written) if it would take usage past `limit` bytes.
    pub async fn add_blob(&self, repo: &RepoName, digest: &Digest, size: u64, limit: u64) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let added = sqlx::query(
            "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 1 {
            usage::add_within(&mut tx, Counter::Blobs, size, limit).await?;
        }
        link(&mut tx, repo, digest, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Links a blob the registry already stores to `repo` (a push of bytes it has already),
    /// checking inside the transaction that its row is still there. False if it is not: the
    /// caller then stores the bytes it has.
    pub async fn link_stored_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        self.link_if_found(repo, digest, None).await
    }

    /// Links an existing blob to `repo` (a cross-repository mount). False if the blob is not
    /// linked to `from`, the repository it is mounted from.
    pub async fn mount_blob(&self, repo: &RepoName, from: &RepoName, digest: &Digest) -> Result<bool> {
        self.link_if_found(repo, digest, Some(from)).await
    }

    /// Links `digest` to `repo` in one transaction if it is stored (linked to `from`, when
    /// given); whether it was.
    async fn link_if_found(&self, repo: &RepoName, digest: &Digest, from: Option<&RepoName>) -> Result<bool> {
        let mut tx = self.write().await?;
        let check = match from {
            Some(from) => sqlx::query("SELECT 1 FROM repository_blobs WHERE digest = $1 AND repository = $2")
                .bind(digest.to_string())
                .bind(from.as_str()),
            None => sqlx::query("SELECT 1 FROM blobs WHERE digest = $1").bind(digest.to_string()),
        };
        let found = check.fetch_optional(&mut *tx).await?.is_some();
        if found {
            link(&mut tx, repo, digest, now_ms()).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Removes `repo`'s link to a blob; the bytes stay for garbage collection. False if absent.
    pub async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let done = self
            .execute(
                sqlx::query("DELETE FROM repository_blobs WHERE repository = $1 AND digest = $2")
                    .bind(repo.as_str())
                    .bind(digest.to_string()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_upload(&self, upload: &UploadRow) -> Result<()> {
        let now = now_ms();
        self.execute(
            sqlx::query(
                "INSERT INTO uploads (id, repository, size, parts, hash_state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&upload.id)
            .bind(&upload.repository)
            .bind(upload.size as i64)
            .bind(upload.parts.join(" "))
            .bind(&upload.hash_state)
            .bind(now),
        )
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let row = sqlx::query("SELECT id, repository, size, parts, hash_state FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row.map(|r| UploadRow {
            id: r.get(0),
            repository: r.get(1),
            size: r.get::<i64, _>(2) as u64,
            parts: r.get::<&str, _>(3).split_whitespace().map(str::to_owned).collect(),
            hash_state: r.get(4),
        }))
    }

    /// Records one more stored part. Conditional on the session still having the parts it had
    /// when `next` was derived from it, so of two racing appends exactly one wins; the loser
    /// gets `Conflict`.
    pub async fn advance_upload(&self, previous_parts: &[String], next: &UploadRow) -> Result<()> {
        let done = self.execute(sqlx::query(
            "UPDATE uploads SET size = $1, parts = $2, hash_state = $3, updated_at = $4 WHERE id = $5 AND parts = $6",
        )
        .bind(next.size as i64)
        .bind(next.parts.join(" "))
        .bind(&next.hash_state)
        .bind(now_ms())
        .bind(&next.id)
        .bind(previous_parts.join(" "))
        )
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(super::Error::Conflict("upload session changed concurrently"))
        }
    }

    /// Ends a session. False if it did not exist (already finished or cancelled).
    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = self.execute(sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id)).await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Links a blob to `repo` and restarts its garbage-collection grace period: a manifest that
/// needs it is expected soon.
async fn link(tx: &mut sqlx::AnyConnection, repo: &RepoName, digest: &Digest, now: i64) -> Result<()> {
    sqlx::query("UPDATE blobs SET touched_at = $2 WHERE digest = $1")
        .bind(digest.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO repository_blobs (repository, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (repository, digest) DO NOTHING",
    )
    .bind(repo.as_str())
    .bind(digest.to_string())
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}
