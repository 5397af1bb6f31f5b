//! Usage counters: the bytes stored, each distinct blob and each distinct manifest digest once,
//! kept in `usage_counters` by the same transactions that add or remove those bytes. Reading
//! usage costs two rows however large the registry grows, and the quota is checked inside the
//! transaction that would pass it: writes are serialized (SQLite's one writer connection,
//! PostgreSQL's write lock), so two pushes cannot both fit into the last free bytes.
//! [`MetaStore::recount_usage`] recomputes the counters from the tables and repairs them.

use sqlx::{Any, AnyConnection, Executor, Row};

use super::{Error, MetaStore, Result};

/// Bytes stored, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredBytes {
    pub blobs: u64,
    pub manifests: u64,
}

impl StoredBytes {
    pub fn total(self) -> u64 {
        self.blobs.saturating_add(self.manifests)
    }
}

/// What a recount found: the counters before it, and the tables' sums (the counters now).
#[derive(Debug, Clone, Copy)]
pub struct UsageRecount {
    pub counted: StoredBytes,
    pub actual: StoredBytes,
}

impl UsageRecount {
    /// Whether the counters were wrong (and so were set to the sums).
    pub fn repaired(&self) -> bool {
        self.counted != self.actual
    }
}

/// The counter a change goes to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Counter {
    Blobs,
    Manifests,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::Blobs => "blob_bytes",
            Counter::Manifests => "manifest_bytes",
        }
    }
}

/// The counters' values; a missing row reads as 0 (a recount puts it back).
async fn counted<'e>(executor: impl Executor<'e, Database = Any>) -> Result<StoredBytes> {
    let rows = sqlx::query("SELECT name, value FROM usage_counters").fetch_all(executor).await?;
    let mut bytes = StoredBytes::default();
    for r in &rows {
        let value = r.get::<i64, _>(1).max(0) as u64;
        match r.get::<&str, _>(0) {
            "blob_bytes" => bytes.blobs = value,
            "manifest_bytes" => bytes.manifests = value,
            _ => {}
        }
    }
    Ok(bytes)
}

/// Adds `delta` bytes (negative: frees them) to `counter` inside the caller's transaction.
pub(super) async fn add(tx: &mut AnyConnection, counter: Counter, delta: i64) -> Result<()> {
    if delta != 0 {
        sqlx::query("UPDATE usage_counters SET value = value + $2 WHERE name = $1")
            .bind(counter.name())
            .bind(delta)
            .execute(tx)
            .await?;
    }
    Ok(())
}

/// Adds `bytes` to `counter` inside the caller's transaction if usage stays within `limit`
/// (nothing added always does); otherwise `QuotaExceeded`, and the caller drops its
/// transaction, so nothing is written.
pub(super) async fn add_within(tx: &mut AnyConnection, counter: Counter, bytes: u64, limit: u64) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let used = counted(&mut *tx).await?.total();
    if used.saturating_add(bytes) > limit {
        return Err(Error::QuotaExceeded { used, limit, adding: bytes });
    }
    add(tx, counter, i64::try_from(bytes).unwrap_or(i64::MAX)).await
}

impl MetaStore {
    /// Bytes stored, as counted: every distinct blob once, plus every distinct manifest once (a
    /// layer in ten images, or a manifest in two repositories, counts once).
    pub async fn usage(&self) -> Result<StoredBytes> {
        counted(&self.reader).await
    }

    /// Recomputes usage from the tables and sets the counters to it where they differ, in one
    /// write transaction (so no push changes the tables between the sums and the repair; on a
    /// large registry the sums hold other writes for as long as they take).
    pub async fn recount_usage(&self) -> Result<UsageRecount> {
        let mut tx = self.write().await?;
        let counted = counted(&mut *tx).await?;
        let row = sqlx::query(
            "SELECT CAST((SELECT COALESCE(SUM(size), 0) FROM blobs) AS BIGINT),
                    CAST((SELECT COALESCE(SUM(size), 0)
                          FROM (SELECT MAX(size) AS size FROM manifests GROUP BY digest) m) AS BIGINT)",
        )
        .fetch_one(&mut *tx)
        .await?;
        let actual =
            StoredBytes { blobs: row.get::<i64, _>(0).max(0) as u64, manifests: row.get::<i64, _>(1).max(0) as u64 };
        let recount = UsageRecount { counted, actual };
        if recount.repaired() {
            for (counter, value) in [(Counter::Blobs, actual.blobs), (Counter::Manifests, actual.manifests)] {
                sqlx::query(
                    "INSERT INTO usage_counters (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(counter.name())
                .bind(value as i64)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(recount)
    }
}

#[cfg(test)]
mod tests {
    use super::{MetaStore, StoredBytes};

    #[tokio::test]
    async fn the_migration_counts_what_a_registry_stored_before_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let earlier = dir.path().join("migrations");
        std::fs::create_dir(&earlier).expect("dir");
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).expect("migrations") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().as_ref() < "0008") {
                std::fs::copy(&path, earlier.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        sqlx::any::install_default_drivers();
        let db = dir.path().join("berth.db");
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rwc", db.display())).await.expect("open");
        sqlx::migrate::Migrator::new(earlier.as_path()).await.expect("migrator").run(&pool).await.expect("0001-0007");
        for sql in [
            "INSERT INTO repositories (name, created_at, updated_at) VALUES ('a', 0, 0), ('b', 0, 0)",
            "INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:1', 100, 0), ('sha256:2', 20, 0)",
            // One manifest in two repositories counts once.
            "INSERT INTO manifests (repository, digest, media_type, content, size, created_at, updated_at)
             VALUES ('a', 'sha256:m', 't', x'00', 50, 0, 0), ('b', 'sha256:m', 't', x'00', 50, 0, 0),
                    ('b', 'sha256:n', 't', x'00', 7, 0, 0)",
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
        let meta = MetaStore::open_sqlite(&db).await.expect("open with 0008");
        assert_eq!(meta.usage().await.expect("usage"), StoredBytes { blobs: 120, manifests: 57 });
        assert!(!meta.recount_usage().await.expect("recount").repaired());
    }
}
