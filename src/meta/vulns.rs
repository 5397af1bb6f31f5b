//! The offline vulnerability database (`vulns`, `vuln_packages`, `vuln_imports`): OSV records
//! stored a batch per transaction, replaced only by a record with a later `modified`, and found
//! by the (ecosystem, package) pairs their `affected[]` entries name. Parsing and matching are
//! `trust::osv`'s; this module only stores and finds.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{MetaStore, Result, now_ms};

/// Package keys per lookup statement (two parameters each), well under both engines' limits.
const LOOKUP_BATCH: usize = 200;

/// A record to store, with what its row and index keep beside its JSON.
#[derive(Debug, Clone)]
pub struct NewVuln {
    pub id: String,
    /// As the record spells it (RFC 3339).
    pub modified: String,
    /// `modified` in Unix milliseconds: what decides whether a stored record is replaced.
    pub modified_at: i64,
    pub summary: String,
    /// The highest severity read from the record (`UNKNOWN` … `CRITICAL`).
    pub severity: String,
    pub aliases: Vec<String>,
    /// The record's JSON, exactly as imported.
    pub record: String,
    /// (ecosystem without release, package name as its ecosystem compares it), each once.
    pub packages: Vec<(String, String)>,
}

/// What a batch did: records stored (new or newer than the stored one), and records skipped
/// (the stored one was as new or newer), with the ids of those stored.
#[derive(Debug, Clone, Default)]
pub struct StoredVulns {
    pub stored: Vec<String>,
    pub skipped: u64,
}

/// The last import: when, and its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VulnImport {
    pub at: i64,
    pub imported: u64,
    pub skipped: u64,
    pub invalid: u64,
}

/// The database at a glance.
#[derive(Debug, Clone, Default)]
pub struct VulnSummary {
    pub records: u64,
    /// Records naming a package of each ecosystem (a record naming two counts in both).
    pub ecosystems: BTreeMap<String, u64>,
    pub last_import: Option<VulnImport>,
}

fn count(r: &sqlx::any::AnyRow, index: usize) -> u64 {
    r.get::<i64, _>(index).max(0) as u64
}

impl MetaStore {
    /// Stores `batch` in one transaction: each record whose id is new, or whose `modified_at`
    /// is later than the stored one's, replaces the row and its index entries; the others are
    /// skipped. Idempotent: storing the same batch again skips every record.
    pub async fn store_vulns(&self, batch: &[NewVuln]) -> Result<StoredVulns> {
        let mut tx = self.write().await?;
        let mut done = StoredVulns::default();
        let now = now_ms();
        for v in batch {
            let stored: Option<i64> = sqlx::query("SELECT modified_at FROM vulns WHERE id = $1")
                .bind(&v.id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0));
            if stored.is_some_and(|at| at >= v.modified_at) {
                done.skipped += 1;
                continue;
            }
            sqlx::query("DELETE FROM vuln_packages WHERE id = $1").bind(&v.id).execute(&mut *tx).await?;
            let aliases = serde_json::to_string(&v.aliases).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO vulns (id, modified, modified_at, summary, severity, aliases, record, imported_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, modified_at = excluded.modified_at,
                     summary = excluded.summary, severity = excluded.severity, aliases = excluded.aliases,
                     record = excluded.record, imported_at = excluded.imported_at",
            )
            .bind(&v.id)
            .bind(&v.modified)
            .bind(v.modified_at)
            .bind(&v.summary)
            .bind(&v.severity)
            .bind(aliases)
            .bind(&v.record)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (base, name) in &v.packages {
                sqlx::query("INSERT INTO vuln_packages (base, name, id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(base)
                    .bind(name)
                    .bind(&v.id)
                    .execute(&mut *tx)
                    .await?;
            }
            done.stored.push(v.id.clone());
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Records that the import now ending stored `imported`, skipped and refused records.
    pub async fn record_vuln_import(&self, imported: u64, skipped: u64, invalid: u64) -> Result<()> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.execute(
            sqlx::query("INSERT INTO vuln_imports (at, imported, skipped, invalid) VALUES ($1, $2, $3, $4)")
                .bind(now_ms())
                .bind(n(imported))
                .bind(n(skipped))
                .bind(n(invalid)),
        )
        .await?;
        Ok(())
    }

    /// The JSON of every record naming one of `packages` (ecosystem without release, name as
    /// indexed), each record once; one indexed lookup per batch of packages.
    pub async fn vulns_for(&self, packages: &[(String, String)]) -> Result<Vec<String>> {
        let mut records = BTreeMap::new();
        for chunk in packages.chunks(LOOKUP_BATCH) {
            let mut sql = String::from(
                "SELECT v.id, v.record FROM vulns v WHERE v.id IN (SELECT p.id FROM vuln_packages p WHERE ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str(&format!("(p.base = ${} AND p.name = ${})", 2 * i + 1, 2 * i + 2));
            }
            sql.push(')');
            let mut query = sqlx::query(&sql);
            for (base, name) in chunk {
                query = query.bind(base).bind(name);
            }
            for r in query.fetch_all(&self.reader).await? {
                records.insert(r.get::<String, _>(0), r.get::<String, _>(1));
            }
        }
        Ok(records.into_values().collect())
    }

    /// Record counts (overall and per ecosystem) and the last import.
    pub async fn vuln_summary(&self) -> Result<VulnSummary> {
        let total = sqlx::query("SELECT COUNT(*) FROM vulns").fetch_one(&self.reader).await?;
        let rows = sqlx::query("SELECT base, COUNT(DISTINCT id) FROM vuln_packages GROUP BY base ORDER BY base")
            .fetch_all(&self.reader)
            .await?;
        let last = sqlx::query("SELECT at, imported, skipped, invalid FROM vuln_imports ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        Ok(VulnSummary {
            records: count(&total, 0),
            ecosystems: rows.iter().map(|r| (r.get::<String, _>(0), count(r, 1))).collect(),
            last_import: last.map(|r| VulnImport {
                at: r.get(0),
                imported: count(&r, 1),
                skipped: count(&r, 2),
                invalid: count(&r, 3),
            }),
        })
    }
}
