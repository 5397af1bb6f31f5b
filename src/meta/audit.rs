//! The audit log (`audit_log`): login and repository events, appended in batches, read newest
//! first a page at a time on the (time, id) indexes, and pruned by age. Successful pushes,
//! deletes and untags are written by [`insert`] inside the transaction that makes the change,
//! so such an entry exists exactly when the change committed.

use sqlx::{Any, FromRow, Row, Transaction};

use super::{MetaStore, Result};

/// Rows per INSERT statement: 16 parameters each, well under both engines' limits.
const INSERT_BATCH: usize = 256;
/// Rows deleted per retention statement, each in a write transaction of its own, so a prune
/// of millions of rows never holds the writer long.
const PRUNE_BATCH: i64 = 5000;

const COLUMNS: &str = "at, category, operation, result, identity, method, repository, tag, digest, size, status, \
                       client_ip, user_agent, request_id, detail, count";

/// One audited event. Secrets never go in here: `identity` is a name, `detail` an error code
/// and message.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub at: i64,
    /// `login` or `repository`.
    pub category: String,
    /// `login`; or `push`, `pull`, `delete`, `untag`.
    pub operation: String,
    /// `success` or `failure`.
    pub result: String,
    /// The name signed in as, or tried (even an unknown one); `None` for anonymous.
    pub identity: Option<String>,
    /// How a login proved itself: `basic`, `password`, `refresh_token`, `access_token`.
    pub method: Option<String>,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// Bytes of the manifest pulled or pushed.
    pub size: Option<i64>,
    /// The HTTP status answered.
    pub status: Option<i64>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// On failure: the error code and message.
    pub detail: Option<String>,
    /// How many identical events this entry stands for (pulls of one manifest by one client
    /// within one batch, at the first one's time and request id); 1 for any other.
    pub count: i64,
}

/// What a listing of the audit log keeps; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
    /// Entries before this time (Unix ms).
    pub until: Option<i64>,
    pub identity: Option<String>,
    pub repository: Option<String>,
    pub operation: Option<String>,
    pub result: Option<String>,
    pub category: Option<String>,
}

/// Where the next page starts: the time and id of the last entry shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: i64,
    pub id: i64,
}

impl AuditCursor {
    /// `AT.ID`, as continuation links carry it.
    pub fn parse(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('.')?;
        Some(Self { at: at.parse().ok()?, id: id.parse().ok()? })
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at, self.id)
    }
}

/// A page of the audit log, newest first, and where the next begins if there is one.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<AuditCursor>,
}

/// Appends `entries` inside `tx`: for the transactions that store or delete manifests, so that
/// the entry of a successful change commits with it.
pub(super) async fn insert(tx: &mut Transaction<'static, Any>, entries: &[AuditEntry]) -> Result<()> {
    for chunk in entries.chunks(INSERT_BATCH) {
        let mut sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ");
        for i in 0..chunk.len() {
            let n = i * 16;
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for k in 1..=16 {
                if k > 1 {
                    sql.push(',');
                }
                sql.push_str(&format!("${}", n + k));
            }
            sql.push(')');
        }
        let mut query = sqlx::query(&sql);
        for e in chunk {
            query = query
                .bind(e.at)
                .bind(&e.category)
                .bind(&e.operation)
                .bind(&e.result)
                .bind(&e.identity)
                .bind(&e.method)
                .bind(&e.repository)
                .bind(&e.tag)
                .bind(&e.digest)
                .bind(e.size)
                .bind(e.status)
                .bind(&e.client_ip)
                .bind(&e.user_agent)
                .bind(&e.request_id)
                .bind(&e.detail)
                .bind(e.count.max(1));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl MetaStore {
    /// Appends `entries` in one write transaction: all or none.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        insert(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` entries matching `filter`, newest first, after `after` (the cursor of the
    /// previous page). A page costs the same at any depth: it is found on an index by its keys.
    pub async fn audit(&self, filter: &AuditFilter, after: Option<AuditCursor>, limit: usize) -> Result<AuditPage> {
        let mut sql = format!("SELECT id, {COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut n = 0;
        let mut param = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        let text = [
            (&filter.identity, " AND identity = ?"),
            (&filter.repository, " AND repository = ?"),
            (&filter.operation, " AND operation = ?"),
            (&filter.result, " AND result = ?"),
            (&filter.category, " AND category = ?"),
        ];
        for (value, clause) in &text {
            if value.is_some() {
                param(&mut sql, clause);
            }
        }
        if filter.since.is_some() {
            param(&mut sql, " AND at >= ?");
        }
        if filter.until.is_some() {
            param(&mut sql, " AND at < ?");
        }
        if after.is_some() {
            param(&mut sql, " AND (at < ?");
            param(&mut sql, " OR (at = ?");
            param(&mut sql, " AND id < ?))");
        }
        param(&mut sql, " ORDER BY at DESC, id DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        for value in text.iter().filter_map(|(v, _)| v.as_ref()) {
            query = query.bind(value);
        }
        for time in [filter.since, filter.until].into_iter().flatten() {
            query = query.bind(time);
        }
        if let Some(c) = after {
            query = query.bind(c.at).bind(c.at).bind(c.id);
        }
        let rows =
            query.bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)).fetch_all(&self.reader).await?;
        let mut page = AuditPage::default();
        for row in rows.iter().take(limit) {
            page.entries.push(AuditEntry::from_row(row)?);
        }
        if rows.len() > limit
            && let Some(last) = rows.get(limit.saturating_sub(1))
            && limit > 0
        {
            page.next = Some(AuditCursor { at: last.try_get("at")?, id: last.try_get("id")? });
        }
        Ok(page)
    }

    /// Deletes the entries older than `before` (Unix ms), a batch per transaction; how many.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let done = self
                .execute(
                    sqlx::query(
                        "DELETE FROM audit_log WHERE id IN
                         (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)",
                    )
                    .bind(before)
                    .bind(PRUNE_BATCH),
                )
                .await?;
            deleted += done.rows_affected();
            if done.rows_affected() < PRUNE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}
