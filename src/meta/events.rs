//! The outbox and webhooks: events written by the transactions that make the changes they
//! report, webhooks with their delivery state, and the log of delivery attempts.

use sqlx::{Any, FromRow, Transaction};

use super::audit::{self, AuditEntry};
use super::{Error, MetaStore, Result, now_ms};

/// Events per INSERT statement.
const EMIT_BATCH: usize = 100;

/// Who made a change, and through which request: what an event's `request` and an audit entry
/// say. Changes made by Berth itself (retention) name the job as identity and no request.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub request_id: Option<String>,
    pub host: Option<String>,
    pub method: Option<String>,
    pub user_agent: Option<String>,
    pub identity: Option<String>,
    pub client_ip: Option<String>,
    /// Whether the changes go into the audit log too (`audit.enabled`).
    pub audit: bool,
    /// Berth itself (a job), not a user: what it writes is trusted (never quarantined).
    pub internal: bool,
}

impl Actor {
    /// Berth's own job `job` (e.g. `retention`).
    pub fn internal(job: &str, audit: bool) -> Self {
        Actor { identity: Some(format!("berth:{job}")), audit, internal: true, ..Actor::default() }
    }
}

/// One change an event reports: a manifest pushed (`push`) or deleted (`delete`; with a tag, an
/// untag).
#[derive(Debug, Clone)]
pub(super) struct Change<'a> {
    pub action: &'static str,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: &'a str,
    pub media_type: Option<&'a str>,
    pub size: Option<i64>,
}

/// The deletions of manifests `gone` (digest, media type) from `repository`.
pub(super) fn deletions<'a>(repository: &'a str, gone: &'a [(String, String)]) -> Vec<Change<'a>> {
    gone.iter()
        .map(|(digest, media_type)| Change {
            action: "delete",
            repository,
            tag: None,
            digest,
            media_type: Some(media_type),
            size: None,
        })
        .collect()
}

/// Writes `changes` into the outbox, and into the audit log if the actor's changes are
/// audited, inside the transaction making them.
pub(super) async fn emit(tx: &mut Transaction<'static, Any>, actor: &Actor, changes: &[Change<'_>]) -> Result<()> {
    let at = now_ms();
    // What Berth pushes itself (a scan's SBOM and report) is not announced to webhooks, nor
    // queued for scanning; it is audited like any change.
    let announced: Vec<Change<'_>> =
        changes.iter().filter(|c| !(actor.internal && c.action == "push")).cloned().collect();
    for batch in announced.chunks(EMIT_BATCH) {
        // $1..$5 are shared by the rows; each row then has its 7 values.
        let rows: Vec<String> = (0..batch.len())
            .map(|i| {
                let v: Vec<String> = (6 + 7 * i..13 + 7 * i).map(|n| format!("${n}")).collect();
                format!("({}, $1, {}, $2, $3, $4, $5)", v[0], v[1..].join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (id, at, action, repository, tag, digest, media_type, size, request_id, host, method,
                                 user_agent) VALUES {}",
            rows.join(", ")
        );
        let mut insert = sqlx::query(&sql)
            .bind(at)
            .bind(actor.request_id.as_deref())
            .bind(actor.host.as_deref())
            .bind(actor.method.as_deref())
            .bind(actor.user_agent.as_deref());
        for c in batch {
            insert = insert
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(c.action)
                .bind(c.repository)
                .bind(c.tag)
                .bind(c.digest)
                .bind(c.media_type)
                .bind(c.size);
        }
        insert.execute(&mut **tx).await?;
    }
    if actor.audit {
        let entries: Vec<AuditEntry> = changes.iter().map(|c| audit_entry(at, actor, c)).collect();
        audit::insert(tx, &entries).await?;
    }
    Ok(())
}

/// A change as the audit log records it: `push`, `untag` (a delete with a tag) or `delete`.
fn audit_entry(at: i64, actor: &Actor, c: &Change<'_>) -> AuditEntry {
    let operation = match (c.action, c.tag) {
        ("delete", Some(_)) => "untag",
        (action, _) => action,
    };
    AuditEntry {
        at,
        category: "repository".into(),
        operation: operation.into(),
        result: "success".into(),
        identity: actor.identity.clone(),
        repository: Some(c.repository.to_owned()),
        tag: c.tag.map(str::to_owned),
        digest: Some(c.digest.to_owned()),
        size: c.size,
        client_ip: actor.client_ip.clone(),
        user_agent: actor.user_agent.clone(),
        request_id: actor.request_id.clone(),
        count: 1,
        ..AuditEntry::default()
    }
}

/// An event in the outbox.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub at: i64,
    pub action: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<i64>,
    pub request_id: Option<String>,
    pub host: Option<String>,
    pub method: Option<String>,
    pub user_agent: Option<String>,
}

const EVENT_COLUMNS: &str =
    "seq, id, at, action, repository, tag, digest, media_type, size, request_id, host, method, user_agent";

/// A webhook: its settings (`config` sealed) and delivery state.
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub name: String,
    pub status: String,
    pub scope: String,
    pub actions: String,
    pub config: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub done_seq: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

const WEBHOOK_COLUMNS: &str =
    "name, status, scope, actions, config, created_at, updated_at, done_seq, attempts, next_attempt_at";

/// A webhook's settings as written by create and update.
#[derive(Debug, Clone)]
pub struct WebhookSettings<'a> {
    pub status: &'a str,
    pub scope: &'a str,
    pub actions: &'a str,
    pub config: &'a str,
}

/// One delivery attempt (`request` and `response` are JSON documents).
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook: String,
    pub event_id: String,
    pub action: String,
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub request: String,
    pub response: String,
}

/// Where a webhook's delivery stands after an attempt.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryState {
    pub done_seq: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
}

impl MetaStore {
    /// Creates a webhook unless `limit` exist already (`LimitReached`) or the name is taken
    /// (`Duplicate`). It receives the events committed after it.
    pub async fn create_webhook(&self, name: &str, s: &WebhookSettings<'_>, limit: u64) -> Result<()> {
        let mut tx = self.write().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks").fetch_one(&mut *tx).await?;
        if count as u64 >= limit {
            return Err(Error::LimitReached { count: count as u64, limit });
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO webhooks (name, status, scope, actions, config, created_at, updated_at, done_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $6, (SELECT COALESCE(MAX(seq), 0) FROM events))",
        )
        .bind(name)
        .bind(s.status)
        .bind(s.scope)
        .bind(s.actions)
        .bind(s.config)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(super::error::constraint)?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a webhook's settings. One turned on again starts with the events committed
    /// after that: what happened while it was off is not sent. False if there is no such webhook.
    pub async fn update_webhook(&self, name: &str, s: &WebhookSettings<'_>) -> Result<bool> {
        let done = self
            .execute(
                sqlx::query(
                    "UPDATE webhooks SET status = $2, scope = $3, actions = $4, config = $5, updated_at = $6,
                         done_seq = CASE WHEN status <> 'enabled' AND $2 = 'enabled'
                                         THEN (SELECT COALESCE(MAX(seq), 0) FROM events) ELSE done_seq END,
                         attempts = CASE WHEN $2 = 'enabled' THEN attempts ELSE 0 END
                     WHERE name = $1",
                )
                .bind(name)
                .bind(s.status)
                .bind(s.scope)
                .bind(s.actions)
                .bind(s.config)
                .bind(now_ms()),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a webhook and its delivery log. False if there was none.
    pub async fn delete_webhook(&self, name: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook = $1").bind(name).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name");
        Ok(sqlx::query_as(&sql).fetch_all(&self.reader).await?)
    }

    pub async fn webhook(&self, name: &str) -> Result<Option<WebhookRow>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE name = $1");
        Ok(sqlx::query_as(&sql).bind(name).fetch_optional(&self.reader).await?)
    }

    pub async fn webhook_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks").fetch_one(&self.reader).await?;
        Ok(n as u64)
    }

    /// Whether the outbox has an event past the position a consumer keeps in setting `cursor`:
    /// a read-only probe, so the consumer's idle rounds never take the writer.
    pub(super) async fn events_past(&self, cursor: &str) -> Result<bool> {
        let sql = "SELECT 1 FROM events
                   WHERE seq > COALESCE((SELECT CAST(value AS BIGINT) FROM settings WHERE name = $1), 0) LIMIT 1";
        Ok(sqlx::query(sql).bind(cursor).fetch_optional(&self.reader).await?.is_some())
    }

    /// Up to `limit` events after `seq`, in commit order.
    pub async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<EventRow>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        Ok(sqlx::query_as(&sql).bind(seq).bind(i64::from(limit)).fetch_all(&self.reader).await?)
    }

    pub async fn event(&self, id: &str) -> Result<Option<EventRow>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.reader).await?)
    }

    /// Logs an attempt (if any) and moves the webhook's delivery state to `state`, in one
    /// transaction. The state only moves forward, so a node that lost the delivery lease while
    /// sending cannot move it back.
    pub async fn record_delivery(
        &self,
        webhook: &str,
        attempt: Option<&DeliveryRow>,
        state: DeliveryState,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        if let Some(d) = attempt {
            insert_delivery(&mut tx, d).await?;
        }
        sqlx::query(
            "UPDATE webhooks SET done_seq = $2, attempts = $3, next_attempt_at = $4
             WHERE name = $1 AND done_seq <= $2",
        )
        .bind(webhook)
        .bind(state.done_seq)
        .bind(state.attempts)
        .bind(state.next_attempt_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Logs an attempt made outside the queue (a ping, a redelivery).
    pub async fn log_delivery(&self, d: &DeliveryRow) -> Result<()> {
        let mut tx = self.write().await?;
        insert_delivery(&mut tx, d).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A webhook's delivery attempts, newest first.
    pub async fn deliveries(&self, webhook: &str, limit: u32) -> Result<Vec<DeliveryRow>> {
        Ok(sqlx::query_as(
            "SELECT id, webhook, event_id, action, attempt, at, status, duration_ms, request, response
             FROM webhook_deliveries WHERE webhook = $1 ORDER BY at DESC, id LIMIT $2",
        )
        .bind(webhook)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?)
    }

    /// Deletes events older than `before` that every enabled webhook is past, and delivery
    /// attempts older than `log_before`, a batch a transaction so no writer waits long.
    pub async fn prune_events(&self, before: i64, log_before: i64) -> Result<u64> {
        const PRUNE_BATCH: i64 = 1000;
        let mut total = 0;
        let old_events = "DELETE FROM events WHERE seq IN (
                 SELECT seq FROM events WHERE at < $1
                   AND seq <= (SELECT COALESCE(MIN(done_seq), (SELECT MAX(seq) FROM events))
                               FROM webhooks WHERE status = 'enabled')
                 ORDER BY seq LIMIT $2)";
        let old_attempts =
            "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE at < $1 LIMIT $2)";
        for (sql, cutoff, counted) in [(old_events, before, true), (old_attempts, log_before, false)] {
            loop {
                let gone = self.execute(sqlx::query(sql).bind(cutoff).bind(PRUNE_BATCH)).await?.rows_affected();
                if counted {
                    total += gone;
                }
                if gone < PRUNE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}

async fn insert_delivery(tx: &mut Transaction<'static, Any>, d: &DeliveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook, event_id, action, attempt, at, status, duration_ms, request, response)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&d.id)
    .bind(&d.webhook)
    .bind(&d.event_id)
    .bind(&d.action)
    .bind(d.attempt)
    .bind(d.at)
    .bind(d.status)
    .bind(d.duration_ms)
    .bind(&d.request)
    .bind(&d.response)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
