//! Garbage collection's SQL (unreferenced blobs, idle upload sessions, untagged manifests for
//! retention, object deletions decided here but carried out in the blob store), job leases and
//! reports, settings and the counts the tiers limit.

use sqlx::Row;

use super::usage::{self, Counter};
use super::{MetaStore, Result, UploadRow, now_ms};
use crate::oci::Digest;

/// When a blob `b` may be collected (`$1`: untouched since; `$2`: no repository holding it
/// active since): no manifest references it, and no push that keeps making progress needs it.
const COLLECTABLE: &str = "b.touched_at < $1
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.ref_digest = b.digest)
    AND NOT EXISTS (SELECT 1 FROM repository_blobs l JOIN upload_activity a ON a.repository = l.repository
                    WHERE l.digest = b.digest AND a.active_at >= $2)";

/// An untagged manifest that retention may delete.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub repository: String,
    pub digest: String,
}

impl MetaStore {
    /// Takes or renews the lease `name` for `holder` until `ttl_ms` from now: true if `holder`
    /// has it now (it was free, expired, or already `holder`'s). One statement, so two nodes
    /// racing for it cannot both win.
    pub async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_ms();
        let done = self
            .execute(
                sqlx::query(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.expires_at < $4 OR leases.holder = excluded.holder",
                )
                .bind(name)
                .bind(holder)
                .bind(now + ttl_ms)
                .bind(now),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up `holder`'s lease `name` (nothing if another holds it): for a job whose passes
    /// any node may run, once its pass is done.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.execute(sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(holder)).await?;
        Ok(())
    }

    /// Records the report of background job `name`'s last run, from whichever node ran it.
    pub async fn put_job_report(&self, name: &str, report: &str, finished_at: i64) -> Result<()> {
        let sql = "INSERT INTO job_reports (name, report, finished_at) VALUES ($1, $2, $3)
                   ON CONFLICT (name) DO UPDATE SET report = excluded.report, finished_at = excluded.finished_at
                   WHERE job_reports.finished_at <= excluded.finished_at";
        self.execute(sqlx::query(sql).bind(name).bind(report).bind(finished_at)).await?;
        Ok(())
    }

    pub async fn job_report(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT report FROM job_reports WHERE name = $1").bind(name).fetch_optional(&self.reader);
        Ok(row.await?.map(|r| r.get(0)))
    }

    /// (repository tokens, user-defined scope maps), which the tiers limit.
    pub async fn token_counts(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM principals WHERE kind = 'token'),
                    (SELECT COUNT(*) FROM scope_maps WHERE system = 0)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok((row.get::<i64, _>(0) as u64, row.get::<i64, _>(1) as u64))
    }

    /// The setting `name`, storing `value` first if it has none (the first writer wins, so
    /// every node uses the same one).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String> {
        self.execute(
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(value),
        )
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(&self.writer).await?;
        Ok(row.get(0))
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(&self.reader);
        Ok(row.await?.map(|r| r.get(0)))
    }

    /// Notes that `repo` made upload progress at `at` (never moving its time back).
    pub async fn note_upload_activity(&self, repo: &str, at: i64) -> Result<()> {
        let sql = "INSERT INTO upload_activity (repository, active_at) VALUES ($1, $2)
                   ON CONFLICT (repository) DO UPDATE SET active_at = excluded.active_at
                   WHERE upload_activity.active_at < excluded.active_at";
        self.execute(sqlx::query(sql).bind(repo).bind(at)).await?;
        Ok(())
    }

    /// Forgets the activity of repositories idle since `before`.
    pub async fn forget_upload_activity(&self, before: i64) -> Result<()> {
        self.execute(sqlx::query("DELETE FROM upload_activity WHERE active_at < $1").bind(before)).await?;
        Ok(())
    }

    /// Blobs no manifest in any repository references, untouched since `before`, and in no
    /// repository active since `active_since`.
    pub async fn unreferenced_blobs(&self, before: i64, active_since: i64) -> Result<Vec<(String, u64)>> {
        let sql = format!("SELECT b.digest, b.size FROM blobs b WHERE {COLLECTABLE} ORDER BY b.digest");
        let rows = sqlx::query(&sql).bind(before).bind(active_since).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get::<i64, _>(1) as u64)).collect())
    }

    /// Blobs no manifest references, collectable or not yet.
    pub async fn unreferenced_count(&self) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.ref_digest = b.digest)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.get::<i64, _>(0).max(0) as u64)
    }

    /// Forgets those of `digests` that are still collectable (see [`Self::unreferenced_blobs`];
    /// checked in the transaction, so a manifest or an upload that commits first keeps its
    /// blobs), and records that their objects are to be deleted. One transaction, which also
    /// takes their bytes off the usage counter; returns the blobs forgotten, with their sizes.
    pub async fn drop_blobs(&self, digests: &[String], before: i64, active_since: i64) -> Result<Vec<(String, u64)>> {
        let mut tx = self.write().await?;
        let check = format!("SELECT b.size FROM blobs b WHERE b.digest = $3 AND {COLLECTABLE}");
        let mut dropped = Vec::new();
        for digest in digests {
            let still =
                sqlx::query(&check).bind(before).bind(active_since).bind(digest).fetch_optional(&mut *tx).await?;
            let Some(row) = still else { continue };
            for sql in ["DELETE FROM repository_blobs WHERE digest = $1", "DELETE FROM blobs WHERE digest = $1"] {
                sqlx::query(sql).bind(digest).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO blob_deletions (digest, created_at) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            dropped.push((digest.clone(), row.get::<i64, _>(0) as u64));
        }
        let freed: u64 = dropped.iter().map(|(_, size)| size).sum();
        usage::add(&mut tx, Counter::Blobs, -i64::try_from(freed).unwrap_or(i64::MAX)).await?;
        tx.commit().await?;
        Ok(dropped)
    }

    /// Records that the object of `digest` is to be deleted unless a row for it exists when the
    /// deletion runs: for an object whose row a commit could not write (over quota, say).
    pub async fn note_deletion(&self, digest: &Digest) -> Result<()> {
        let sql = "INSERT INTO blob_deletions (digest, created_at) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING";
        self.execute(sqlx::query(sql).bind(digest.to_string()).bind(now_ms())).await?;
        Ok(())
    }

    /// Object deletions recorded but not yet confirmed done.
    pub async fn pending_deletions(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT digest FROM blob_deletions ORDER BY digest").fetch_all(&self.writer).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn deletion_done(&self, digest: &str) -> Result<()> {
        self.execute(sqlx::query("DELETE FROM blob_deletions WHERE digest = $1").bind(digest)).await?;
        Ok(())
    }

    /// Upload sessions with no activity since `before`.
    pub async fn idle_uploads(&self, before: i64) -> Result<Vec<UploadRow>> {
        let rows = sqlx::query("SELECT id, repository, size, parts, hash_state FROM uploads WHERE updated_at < $1")
            .bind(before)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .iter()
            .map(|r| UploadRow {
                id: r.get(0),
                repository: r.get(1),
                size: r.get::<i64, _>(2) as u64,
                parts: r.get::<&str, _>(3).split_whitespace().map(str::to_owned).collect(),
                hash_state: r.get(4),
            })
            .collect())
    }

    pub async fn upload_exists(&self, id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM uploads WHERE id = $1").bind(id).fetch_optional(&self.reader).await?;
        Ok(row.is_some())
    }

    /// Untagged manifests last updated before `before` that retention may delete: not locked,
    /// not listed by an index in their repository, and not a referrer of a manifest that is
    /// still there (signatures and SBOMs stay with their image).
    pub async fn untagged_before(&self, before: i64) -> Result<Vec<Untagged>> {
        let rows = sqlx::query(
            "SELECT m.repository, m.digest FROM manifests m
             WHERE m.updated_at < $1 AND m.delete_enabled = 1 AND m.write_enabled = 1
               AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.manifest_digest = m.digest)
               AND NOT EXISTS (SELECT 1 FROM manifest_refs r
                               WHERE r.repository = m.repository AND r.ref_digest = m.digest AND r.kind = 'child')
               AND (m.subject_digest IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s
                               WHERE s.repository = m.repository AND s.digest = m.subject_digest))
             ORDER BY m.repository, m.digest",
        )
        .bind(before)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(|r| Untagged { repository: r.get(0), digest: r.get(1) }).collect())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = super::MetaStore::open_sqlite(&dir.path().join("berth.db")).await.expect("open");
        assert!(meta.take_lease("gc", "node-a", 200).await.expect("take"));
        assert!(!meta.take_lease("gc", "node-b", 200).await.expect("take"), "held by node-a");
        assert!(meta.take_lease("gc", "node-a", 200).await.expect("renew"), "the holder renews");
        assert!(meta.take_lease("other", "node-b", 200).await.expect("take"), "leases are per job");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        assert!(meta.take_lease("gc", "node-b", 200).await.expect("take"), "an expired lease passes on");
        assert!(!meta.take_lease("gc", "node-a", 200).await.expect("take"));
    }
}
