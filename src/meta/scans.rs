//! The scan queue and its results, and the scan and trust policies. Scans are queued from the
//! outbox's push events (so a push needs no second write) and claimed with a lease per image.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{MetaStore, Result, now_ms, set_setting_in, setting_in};

/// The setting holding the last outbox event the scan queue has read.
const CURSOR: &str = "scan_cursor";
/// The setting counting the vulnerability database's changes: scans matched against an older
/// generation are matched again.
const GENERATION: &str = "vulndb_generation";

/// A scan's row: its state and, once done, what it found.
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub repository: String,
    pub digest: String,
    /// `queued`, `running`, `done`, `skipped` (not an image) or `unscannable`.
    pub status: String,
    pub attempts: i64,
    pub queued_at: i64,
    pub scanned_at: Option<i64>,
    pub db_generation: i64,
    /// The report's summary, JSON.
    pub summary: Option<String>,
    /// The package inventory, JSON.
    pub inventory: Option<String>,
    pub sbom_digest: Option<String>,
    pub report_digest: Option<String>,
    pub reason: Option<String>,
}

/// How a claimed scan ended.
#[derive(Debug)]
pub enum ScanEnd<'a> {
    Done {
        generation: i64,
        summary: &'a str,
        inventory: &'a str,
        sbom_digest: Option<&'a str>,
        report_digest: Option<&'a str>,
    },
    Skipped(&'a str),
    Unscannable(&'a str),
}

const SCAN_COLUMNS: &str = "repository, digest, status, attempts, queued_at, scanned_at, db_generation, summary,
     inventory, sbom_digest, report_digest, reason";

fn scan_row(r: &AnyRow) -> ScanRow {
    ScanRow {
        repository: r.get(0),
        digest: r.get(1),
        status: r.get(2),
        attempts: r.get::<i64, _>(3),
        queued_at: r.get(4),
        scanned_at: r.get(5),
        db_generation: r.get(6),
        summary: r.get(7),
        inventory: r.get(8),
        sbom_digest: r.get(9),
        report_digest: r.get(10),
        reason: r.get(11),
    }
}

impl MetaStore {
    /// Reads up to `limit` outbox events past the scan cursor, queues a scan of each manifest
    /// pushed, and moves the cursor past them, in one transaction; the number of events read.
    pub async fn queue_pushed(&self, limit: u32) -> Result<usize> {
        if !self.events_past(CURSOR).await? {
            return Ok(0);
        }
        let mut tx = self.write().await?;
        let cursor = setting_in(&mut tx, CURSOR).await?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let rows =
            sqlx::query("SELECT seq, action, repository, digest FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(cursor)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
        let Some(last) = rows.last().map(|r| r.get::<i64, _>(0)) else { return Ok(0) };
        let now = now_ms();
        for r in &rows {
            let (action, repository, digest): (String, String, Option<String>) = (r.get(1), r.get(2), r.get(3));
            let Some(digest) = digest.filter(|_| action == "push") else { continue };
            sqlx::query(
                "INSERT INTO scans (repository, digest, status, queued_at) VALUES ($1, $2, 'queued', $3)
                 ON CONFLICT (repository, digest) DO NOTHING",
            )
            .bind(repository)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        set_setting_in(&mut tx, CURSOR, &last.to_string()).await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// The vulnerability database's generation (0 before any import changed it).
    pub async fn vuln_generation(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT value FROM settings WHERE name = $1").bind(GENERATION).fetch_optional(&self.reader);
        Ok(row.await?.and_then(|r| r.get::<String, _>(0).parse().ok()).unwrap_or(0))
    }

    /// Counts one more change of the vulnerability database.
    pub async fn bump_vuln_generation(&self) -> Result<()> {
        let mut tx = self.write().await?;
        let current = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(GENERATION)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|r| r.get::<String, _>(0).parse::<i64>().ok())
            .unwrap_or(0);
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
            .bind(GENERATION)
            .bind((current + 1).to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues (again) a scan of `digest` in `repository`, unless one is running.
    pub async fn queue_scan(&self, repository: &str, digest: &str) -> Result<()> {
        let sql = "INSERT INTO scans (repository, digest, status, queued_at) VALUES ($1, $2, 'queued', $3)
                   ON CONFLICT (repository, digest) DO UPDATE SET status = 'queued', attempts = 0, queued_at = $3
                   WHERE scans.status <> 'running'";
        self.execute(sqlx::query(sql).bind(repository).bind(digest).bind(now_ms())).await?;
        Ok(())
    }

    /// Claims the oldest queued scan (or a running one whose holder's lease ran out) for
    /// `holder` until `lease_ms` from now; a scan claimed `max_attempts` times already ends
    /// unscannable instead (a scan that keeps killing its node is not retried forever).
    pub async fn claim_scan(&self, holder: &str, lease_ms: i64, max_attempts: i64) -> Result<Option<ScanRow>> {
        let now = now_ms();
        let due = "status = 'queued' OR (status = 'running' AND lease_until < $1)";
        let probe = format!("SELECT 1 FROM scans WHERE {due} LIMIT 1");
        if sqlx::query(&probe).bind(now).fetch_optional(&self.reader).await?.is_none() {
            return Ok(None);
        }
        let mut tx = self.write().await?;
        let sql = format!("SELECT {SCAN_COLUMNS} FROM scans WHERE {due} ORDER BY queued_at LIMIT 1");
        let Some(row) = sqlx::query(&sql).bind(now).fetch_optional(&mut *tx).await? else { return Ok(None) };
        let scan = scan_row(&row);
        if scan.attempts >= max_attempts {
            sqlx::query(
                "UPDATE scans SET status = 'unscannable', holder = NULL, scanned_at = $3,
                 reason = $4
                 WHERE repository = $1 AND digest = $2",
            )
            .bind(&scan.repository)
            .bind(&scan.digest)
            .bind(now)
            .bind(format!("the scanner stopped without finishing it {max_attempts} times"))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE scans SET status = 'running', holder = $3, lease_until = $4, attempts = attempts + 1
             WHERE repository = $1 AND digest = $2",
        )
        .bind(&scan.repository)
        .bind(&scan.digest)
        .bind(holder)
        .bind(now + lease_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(scan))
    }

    /// Extends `holder`'s lease on a running scan; false if another holder took it over.
    pub async fn renew_scan(&self, repository: &str, digest: &str, holder: &str, lease_ms: i64) -> Result<bool> {
        let sql = "UPDATE scans SET lease_until = $4 WHERE repository = $1 AND digest = $2 AND holder = $3
                   AND status = 'running'";
        let done =
            self.execute(sqlx::query(sql).bind(repository).bind(digest).bind(holder).bind(now_ms() + lease_ms)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how `holder`'s scan ended; false if it no longer held it.
    pub async fn finish_scan(&self, repository: &str, digest: &str, holder: &str, end: &ScanEnd<'_>) -> Result<bool> {
        let (status, generation, summary, inventory, sbom, report, reason) = match *end {
            ScanEnd::Done { generation, summary, inventory, sbom_digest, report_digest } => {
                ("done", generation, Some(summary), Some(inventory), sbom_digest, report_digest, None)
            }
            ScanEnd::Skipped(why) => ("skipped", 0, None, None, None, None, Some(why)),
            ScanEnd::Unscannable(why) => ("unscannable", 0, None, None, None, None, Some(why)),
        };
        let sql = "UPDATE scans SET status = $4, holder = NULL, scanned_at = $5, db_generation = $6, summary = $7,
                   inventory = $8, sbom_digest = $9, report_digest = $10, reason = $11
                   WHERE repository = $1 AND digest = $2 AND holder = $3 AND status = 'running'";
        let done = self
            .execute(
                sqlx::query(sql)
                    .bind(repository)
                    .bind(digest)
                    .bind(holder)
                    .bind(status)
                    .bind(now_ms())
                    .bind(generation)
                    .bind(summary)
                    .bind(inventory)
                    .bind(sbom)
                    .bind(report)
                    .bind(reason),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a finished scan's findings after matching its stored inventory again (its
    /// report too, if a new one was attached), unless it was matched against `generation` or a
    /// newer database meanwhile.
    pub async fn rematched(
        &self,
        repository: &str,
        digest: &str,
        generation: i64,
        summary: &str,
        report_digest: Option<&str>,
    ) -> Result<bool> {
        let sql = "UPDATE scans SET db_generation = $3, summary = $4, report_digest = COALESCE($5, report_digest),
                   scanned_at = $6 WHERE repository = $1 AND digest = $2 AND status = 'done' AND db_generation < $3";
        let q = sqlx::query(sql).bind(repository).bind(digest).bind(generation).bind(summary).bind(report_digest);
        Ok(self.execute(q.bind(now_ms())).await?.rows_affected() == 1)
    }

    pub async fn scan(&self, repository: &str, digest: &str) -> Result<Option<ScanRow>> {
        let sql = format!("SELECT {SCAN_COLUMNS} FROM scans WHERE repository = $1 AND digest = $2");
        let row = sqlx::query(&sql).bind(repository).bind(digest).fetch_optional(&self.reader).await?;
        Ok(row.as_ref().map(scan_row))
    }

    /// Finished scans matched against a database older than `generation`, `limit` at most.
    pub async fn scans_older_than(&self, generation: i64, limit: u32) -> Result<Vec<ScanRow>> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans WHERE status = 'done' AND db_generation < $1
             ORDER BY repository, digest LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(generation).bind(i64::from(limit)).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(scan_row).collect())
    }

    /// Forgets the scans of manifests no longer stored.
    pub async fn forget_scans_of_deleted(&self) -> Result<u64> {
        let sql = "DELETE FROM scans WHERE status <> 'running' AND NOT EXISTS
                   (SELECT 1 FROM manifests m WHERE m.repository = scans.repository AND m.digest = scans.digest)";
        Ok(self.execute(sqlx::query(sql)).await?.rows_affected())
    }

    /// Those of `digests` (manifests of `repository`) that have a signature: a referrer of one
    /// of `signature_types`, or a cosign tag `sha256-<hex>.sig`. Two statements for a page.
    pub async fn signed_of(
        &self,
        repository: &str,
        digests: &[String],
        signature_types: &[&str],
    ) -> Result<std::collections::HashSet<String>> {
        let mut signed = std::collections::HashSet::new();
        for batch in digests.chunks(200) {
            let marks = |from: usize| (0..batch.len()).map(|i| format!("${}", i + from)).collect::<Vec<_>>().join(", ");
            let types = (0..signature_types.len()).map(|i| format!("${}", i + 2 + batch.len())).collect::<Vec<_>>();
            let sql = format!(
                "SELECT DISTINCT subject_digest FROM manifests WHERE repository = $1 AND subject_digest IN ({})
                 AND artifact_type IN ({})",
                marks(2),
                types.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(repository);
            for d in batch {
                q = q.bind(d);
            }
            for t in signature_types {
                q = q.bind(*t);
            }
            signed.extend(q.fetch_all(&self.reader).await?.iter().map(|r| r.get::<String, _>(0)));
            let tags: Vec<String> = batch.iter().map(|d| format!("{}.sig", d.replacen(':', "-", 1))).collect();
            let sql = format!("SELECT name FROM tags WHERE repository = $1 AND name IN ({})", marks(2));
            let mut q = sqlx::query(&sql).bind(repository);
            for t in &tags {
                q = q.bind(t);
            }
            for r in q.fetch_all(&self.reader).await? {
                let name: String = r.get(0);
                if let Some(d) = name.strip_suffix(".sig") {
                    signed.insert(d.replacen('-', ":", 1));
                }
            }
        }
        Ok(signed)
    }

    /// The indexes of `repository` that list manifest `digest` (16 at most).
    pub async fn indexes_listing(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT manifest_digest FROM manifest_refs WHERE repository = $1 AND ref_digest = $2 AND kind = 'child'
             ORDER BY manifest_digest LIMIT 16",
        )
        .bind(repository)
        .bind(digest)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The policies of `kind` (`scan` or `trust`), as stored JSON, by name.
    pub async fn policies(&self, kind: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT body FROM policies WHERE kind = $1 ORDER BY name")
            .bind(kind)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Creates or replaces policy `name` of `kind`.
    pub async fn put_policy(&self, kind: &str, name: &str, body: &str) -> Result<()> {
        let sql = "INSERT INTO policies (kind, name, body, created_at) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body";
        self.execute(sqlx::query(sql).bind(kind).bind(name).bind(body).bind(now_ms())).await?;
        Ok(())
    }

    pub async fn delete_policy(&self, kind: &str, name: &str) -> Result<bool> {
        let done = self
            .execute(sqlx::query("DELETE FROM policies WHERE kind = $1 AND name = $2").bind(kind).bind(name))
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::MetaStore;

    #[tokio::test]
    async fn scans_are_claimed_once_and_forgotten_with_their_manifest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = MetaStore::open_sqlite(&dir.path().join("berth.db")).await.expect("open");
        let (digest, gone) = ("sha256:aa", "sha256:bb");
        meta.queue_scan("app", digest).await.expect("queue");
        meta.queue_scan("app", gone).await.expect("queue");
        let first = meta.claim_scan("node-1", 60_000, 3).await.expect("claim").expect("a scan");
        let second = meta.claim_scan("node-2", 60_000, 3).await.expect("claim").expect("the other scan");
        assert_ne!(first.digest, second.digest, "each scan goes to one node");
        assert!(meta.claim_scan("node-3", 60_000, 3).await.expect("claim").is_none(), "both are leased");
        assert!(!meta.renew_scan("app", &first.digest, "node-2", 60_000).await.expect("renew"), "not its lease");
        // Neither manifest is stored: a finished scan is forgotten, a running one is kept.
        let end = super::ScanEnd::Skipped("test");
        assert!(meta.finish_scan("app", &first.digest, "node-1", &end).await.expect("finish"));
        assert_eq!(meta.forget_scans_of_deleted().await.expect("forget"), 1);
        assert!(meta.scan("app", &first.digest).await.expect("scan").is_none());
        assert!(meta.scan("app", &second.digest).await.expect("scan").is_some());

        // A node that dies hands its scan on when its lease runs out; a scan that stops its
        // scanner every time ends unscannable.
        meta.queue_scan("app", "sha256:cc").await.expect("queue");
        let lost = meta.claim_scan("node-1", -1, 2).await.expect("claim").expect("a scan");
        let taken = meta.claim_scan("node-2", -1, 2).await.expect("claim").expect("taken over");
        assert_eq!((lost.digest.as_str(), taken.digest.as_str(), taken.attempts), ("sha256:cc", "sha256:cc", 1));
        assert!(meta.claim_scan("node-3", 60_000, 2).await.expect("claim").is_none());
        let given_up = meta.scan("app", "sha256:cc").await.expect("scan").expect("row");
        assert_eq!(given_up.status, "unscannable");
        assert!(given_up.reason.is_some_and(|r| r.contains("2 times")));
    }
}
