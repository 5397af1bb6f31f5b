//! Quarantine (ACR's model): which manifests a caller may see, and their state as set by the
//! scanner or an AcrQuarantineWriter. A manifest is held while its `quarantine_state` is
//! `Quarantined` or `Failed`; `NULL` (pushed while quarantine was off) and `Passed` are released.

use super::audit::{self, AuditEntry};
use super::{Actor, MetaStore, Result, now_ms};
use crate::oci::{Digest, RepoName};

/// The setting that turns quarantine on (`"true"`), read by every user's push inside its
/// transaction.
pub const QUARANTINE_ENABLED: &str = "quarantine_enabled";

/// Which manifests a read shows: those released only, or held ones too (for callers with
/// quarantine/read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Released,
    All,
}

/// The condition that manifest alias `m` is released.
pub(super) fn released(m: &str) -> String {
    format!("({m}.quarantine_state IS NULL OR {m}.quarantine_state = 'Passed')")
}

/// The condition that the manifest a row of `tags` (named `t`) is on is released: a tag moved
/// onto a held manifest is held with it.
pub(super) fn tag_released(t: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM manifests q WHERE q.repository = {t}.repository AND q.digest = {t}.manifest_digest
                     AND NOT {})",
        released("q")
    )
}

impl Visibility {
    /// ` AND <condition>` narrowing a read to what this visibility shows, or nothing.
    pub(super) fn and(self, condition: impl FnOnce() -> String) -> String {
        match self {
            Visibility::All => String::new(),
            Visibility::Released => format!(" AND {}", condition()),
        }
    }
}

impl MetaStore {
    /// Sets the quarantine state and details of manifest `digest` of `repo`, with its audit
    /// entry (if the actor's changes are audited) in the same transaction; false if there is no
    /// such manifest.
    pub async fn set_quarantine(
        &self,
        repo: &RepoName,
        digest: &Digest,
        state: &str,
        details: Option<&str>,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE manifests SET quarantine_state = $3, quarantine_details = $4 WHERE repository = $1 AND digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .bind(state)
        .bind(details)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if actor.audit {
            let entry = AuditEntry {
                at: now_ms(),
                category: "repository".into(),
                operation: "quarantine".into(),
                result: "success".into(),
                identity: actor.identity.clone(),
                repository: Some(repo.as_str().to_owned()),
                digest: Some(digest.to_string()),
                client_ip: actor.client_ip.clone(),
                user_agent: actor.user_agent.clone(),
                request_id: actor.request_id.clone(),
                detail: Some(state.to_owned()),
                count: 1,
                ..AuditEntry::default()
            };
            audit::insert(&mut tx, &[entry]).await?;
        }
        tx.commit().await?;
        // What a pull may see is part of what the manifest cache serves.
        self.manifests_changed();
        Ok(true)
    }
}
