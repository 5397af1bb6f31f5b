//! Online garbage collection, decided from the metadata while pushes and pulls go on:
//! retention of untagged manifests, idle upload sessions, unreferenced blobs past their grace
//! period, object deletions a crash interrupted, and (on request) objects the metadata does
//! not know at all.
//!
//! Safety: a blob row is dropped in a transaction that re-checks it is unreferenced, untouched
//! for the grace period and held by no repository receiving uploads (see `activity`), so a
//! manifest that commits first keeps it, and so does a push that keeps making progress however
//! long it takes; the object goes only after that commit, while new blobs' commits (object,
//! then row) are held off by the metadata store's blob fence (on every node), so an object
//! written again under the same digest is never deleted. Blobs go in batches of [`BATCH`], so a
//! push waits for one batch at most, not for a whole pass.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Registry, Result};
use crate::meta::{Actor, now_ms};
use crate::oci::{Digest, Reference, RepoName};

/// What one pass should do.
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    pub grace: Duration,
    pub upload_ttl: Duration,
    /// Also list the blob store for objects with no metadata (slow on large stores).
    pub sweep_store: bool,
    pub dry_run: bool,
    /// Whether retention's deletions go into the audit log (`audit.enabled`).
    pub audit: bool,
}

/// What a pass did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub started_at: i64,
    pub finished_at: i64,
    pub dry_run: bool,
    pub manifests_deleted: u64,
    /// Idle upload sessions, and build contexts no run needs.
    pub uploads_expired: u64,
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    /// Unreferenced blobs kept: still in their grace period, or in a repository receiving uploads.
    #[serde(default)]
    pub blobs_waiting: u64,
    pub orphans_deleted: u64,
}

/// Retention of untagged manifests (ACR `az acr config retention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub days: u32,
    pub enabled: bool,
}

/// Blobs dropped (and their objects deleted) while the blob fence is held once.
const BATCH: usize = 256;

/// The job report a pass records.
const GC_REPORT: &str = "gc";
const RETENTION_DAYS: &str = "retention_days";
const RETENTION_ENABLED: &str = "retention_enabled";

/// The instant `d` before `start` (ms since the epoch).
fn cutoff(start: i64, d: Duration) -> i64 {
    start.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Registry {
    pub async fn retention(&self) -> Result<Retention> {
        let days = self.meta.setting(RETENTION_DAYS).await?.and_then(|d| d.parse().ok()).unwrap_or(7);
        let enabled = self.meta.setting(RETENTION_ENABLED).await?.is_some_and(|e| e == "true");
        Ok(Retention { days, enabled })
    }

    pub async fn set_retention(&self, days: Option<u32>, enabled: Option<bool>) -> Result<Retention> {
        if let Some(d) = days {
            self.meta.set_setting(RETENTION_DAYS, &d.to_string()).await?;
        }
        if let Some(e) = enabled {
            self.meta.set_setting(RETENTION_ENABLED, if e { "true" } else { "false" }).await?;
        }
        self.retention().await
    }

    /// Takes or renews the lease on background job `name` for this node (`holder`): with
    /// several nodes on one database, only the holder runs the job.
    pub async fn take_job_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        Ok(self.meta.take_lease(name, holder, i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)).await?)
    }

    /// Gives up this node's lease on job `name`.
    pub async fn release_job_lease(&self, name: &str, holder: &str) -> Result<()> {
        Ok(self.meta.release_lease(name, holder).await?)
    }

    /// The last pass any node ran (not a dry run).
    pub async fn last_gc(&self) -> Result<Option<GcReport>> {
        let Some(json) = self.meta.job_report(GC_REPORT).await? else { return Ok(None) };
        Ok(serde_json::from_str(&json).ok())
    }

    /// One garbage-collection pass.
    pub async fn collect_garbage(&self, opts: GcOptions) -> Result<GcReport> {
        let mut report = GcReport { started_at: now_ms(), dry_run: opts.dry_run, ..GcReport::default() };
        // Every cutoff counts from the pass's start: the steps before the blobs' (listing a
        // remote store) can take seconds, and must not shorten anyone's grace period.
        let ago = |d| cutoff(report.started_at, d);
        let idle_before = ago(opts.upload_ttl);
        let retention = self.retention().await?;
        if retention.enabled {
            let actor = Actor::internal("retention", opts.audit);
            let before = ago(Duration::from_secs(u64::from(retention.days) * 86_400));
            for m in self.meta.untagged_before(before).await? {
                let (Ok(repo), Ok(digest)) = (RepoName::parse(&m.repository), Digest::parse(&m.digest)) else {
                    continue;
                };
                // A manifest locked meanwhile is refused by the delete and kept.
                if opts.dry_run || self.delete_manifest(&repo, &Reference::Digest(digest), &actor).await.is_ok() {
                    report.manifests_deleted += 1;
                }
            }
        }
        for upload in self.meta.idle_uploads(idle_before).await? {
            if opts.dry_run {
                report.uploads_expired += 1;
            } else if self.meta.delete_upload(&upload.id).await?
                && let Ok(id) = uuid::Uuid::parse_str(&upload.id)
            {
                self.blobs.discard(&id, &upload.parts).await?;
                self.blobs.remove_upload(&id).await?;
                report.uploads_expired += 1;
            }
        }
        // Build contexts uploaded for runs: those no queued or running run needs (one whose run
        // was never asked for, or whose run ended on a node that died), once as old as an idle
        // upload session.
        let in_use = self.meta.sources_in_use().await?;
        for (id, modified) in self.blobs.list_sources().await? {
            if modified < idle_before && !in_use.contains(&format!("upload:{id}")) {
                if !opts.dry_run {
                    self.blobs.delete_source(&id).await?;
                }
                report.uploads_expired += 1;
            }
        }
        let before = ago(opts.grace);
        // Activity is written at most once a RESOLUTION: allow for it (unless there is no grace).
        let slack = if opts.grace.is_zero() { 0 } else { super::activity::RESOLUTION.as_millis() as i64 };
        let active_since = before - slack;
        let candidates = self.meta.unreferenced_blobs(before, active_since).await?;
        if opts.dry_run {
            report.blobs_deleted = candidates.len() as u64;
            report.bytes_freed = candidates.iter().map(|(_, size)| size).sum();
        } else {
            for batch in candidates.chunks(BATCH) {
                let _writers_wait = self.meta.blob_deletions().await?;
                let digests: Vec<String> = batch.iter().map(|(d, _)| d.clone()).collect();
                for (_, size) in self.meta.drop_blobs(&digests, before, active_since).await? {
                    report.blobs_deleted += 1;
                    report.bytes_freed += size;
                }
                self.finish_deletions().await?;
            }
            self.meta.forget_upload_activity(active_since).await?;
        }
        let unreferenced = self.meta.unreferenced_count().await?;
        report.blobs_waiting = unreferenced.saturating_sub(if opts.dry_run { report.blobs_deleted } else { 0 });
        if opts.sweep_store {
            report.orphans_deleted = self.sweep_store(before, idle_before, opts.dry_run).await?;
        }
        report.finished_at = now_ms();
        if !opts.dry_run {
            let json = serde_json::to_string(&report).unwrap_or_default();
            self.meta.put_job_report(GC_REPORT, &json, report.finished_at).await?;
        }
        Ok(report)
    }

    /// Deletes the object of `digest` unless it has a row: after a commit wrote the object but
    /// not its row. Recorded as a pending deletion first (a crash leaves it to the next pass),
    /// then done under the exclusive blob fence, when no commit of the same digest is between
    /// writing its object and its row.
    pub(super) async fn delete_unrecorded(&self, digest: &Digest) -> Result<()> {
        self.meta.note_deletion(digest).await?;
        let _writers_wait = self.meta.blob_deletions().await?;
        self.finish_deletions().await
    }

    /// Deletes the objects of dropped blobs, unless the digest was stored again since.
    async fn finish_deletions(&self) -> Result<()> {
        for digest in self.meta.pending_deletions().await? {
            let Ok(parsed) = Digest::parse(&digest) else {
                self.meta.deletion_done(&digest).await?;
                continue;
            };
            if self.meta.blob_size(&parsed).await?.is_none() {
                self.blobs.delete(&parsed).await?;
            }
            self.meta.deletion_done(&digest).await?;
        }
        Ok(())
    }

    /// Objects under `blobs/` with no row, older than `before`, and upload directories with no
    /// session, idle since `idle_before` (a monolithic push streams into one before any row
    /// exists): what a crash between writing an object and recording it leaves behind.
    async fn sweep_store(&self, before: i64, idle_before: i64, dry_run: bool) -> Result<u64> {
        let _writers_wait = self.meta.blob_deletions().await?;
        let mut removed = 0;
        for (digest, modified) in self.blobs.list_blobs().await? {
            if modified < before && self.meta.blob_size(&digest).await?.is_none() {
                if !dry_run {
                    self.blobs.delete(&digest).await?;
                }
                removed += 1;
            }
        }
        for (id, modified) in self.blobs.list_uploads().await? {
            if modified < idle_before && !self.meta.upload_exists(&id.to_string()).await? {
                if !dry_run {
                    self.blobs.remove_upload(&id).await?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }
}
