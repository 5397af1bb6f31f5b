//! Background jobs, each a loop started with the application that ends when the application
//! is dropped. Each garbage-collection pass first takes the job's lease in the database, so that
//! of several nodes sharing one only the holder runs it, and a node that dies hands it on when
//! the lease expires; each pass of the audit log's retention takes a lease too. Every node also watches the identity tables for changes made elsewhere.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::events::metrics::GcTrigger;
use crate::registry::GcOptions;

/// How often the blob store is also listed for objects the metadata does not know.
const SWEEP_EVERY: Duration = Duration::from_secs(86_400);

/// How often a node looks for identity changes made on other nodes: the longest a disabled
/// token or a renewed password keeps working there.
pub const IDENTITY_POLL: Duration = Duration::from_secs(1);

/// Reloads the identity snapshot whenever another node changed the identity tables.
pub fn watch_identities(app: Weak<App>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(IDENTITY_POLL).await;
            let Some(app) = app.upgrade() else { return };
            if let Err(e) = app.access.refreshed().await {
                tracing::warn!(error = %e, "cannot check the identity tables for changes");
            }
        }
    });
}

/// How often a node checks for webhook deliveries due when nothing woke it: events committed
/// on other nodes, and retries.
const WEBHOOK_POLL: Duration = Duration::from_secs(1);
/// How often old events and delivery attempts are dropped.
const WEBHOOK_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Delivers webhook events: the node holding the `webhooks` lease sends, so each event goes
/// out once from one node (again only if that node dies between sending and recording it).
pub fn deliver_webhooks(app: Weak<App>) {
    let node = uuid::Uuid::new_v4().to_string();
    // Only the signal is held between rounds: the application (and its database) may go.
    let Some(wake) = app.upgrade().map(|a| a.webhooks.signal()) else { return };
    tokio::spawn(async move {
        let mut last_prune: Option<Instant> = None;
        loop {
            let _ = tokio::time::timeout(WEBHOOK_POLL, wake.notified()).await;
            let Some(app) = app.upgrade() else { return };
            // Any node prunes (it is idempotent), webhooks or not: every change writes events.
            if last_prune.is_none_or(|t| t.elapsed() >= WEBHOOK_PRUNE_EVERY) {
                match app.webhooks.prune().await {
                    Ok(n) if n > 0 => tracing::info!(events = n, "dropped old webhook events"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot drop old webhook events"),
                }
                last_prune = Some(Instant::now());
            }
            match app.webhooks.any_due().await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the webhooks");
                    continue;
                }
            }
            match app.registry.take_job_lease("webhooks", &node, WEBHOOK_POLL * 10).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the webhook delivery lease");
                    continue;
                }
            }
            if let Err(e) = app.webhooks.deliver_due().await {
                tracing::warn!(error = %e, "webhook delivery round failed");
            }
        }
    });
}

/// Starts garbage collection every `gc.interval` (the first pass one interval after start).
pub fn collect_garbage(app: Weak<App>, interval: Duration) {
    let node = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut last_sweep: Option<Instant> = None;
        loop {
            tokio::time::sleep(interval).await;
            let Some(app) = app.upgrade() else { return };
            // Held for two intervals: renewed by every pass, lost soon after the node stops.
            match app.registry.take_job_lease("gc", &node, interval * 2).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the garbage-collection lease");
                    continue;
                }
            }
            let sweep = last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
            let opts = GcOptions {
                grace: app.config.gc.grace.0,
                upload_ttl: app.config.gc.upload_ttl.0,
                sweep_store: sweep,
                dry_run: false,
                audit: app.auditor.enabled(),
            };
            match app.registry.collect_garbage(opts).await {
                Ok(r) => {
                    app.metrics.gc_pass(GcTrigger::Schedule, r.blobs_deleted, r.bytes_freed);
                    if sweep {
                        last_sweep = Some(Instant::now());
                    }
                    tracing::info!(
                        blobs = r.blobs_deleted,
                        bytes = r.bytes_freed,
                        manifests = r.manifests_deleted,
                        uploads = r.uploads_expired,
                        orphans = r.orphans_deleted,
                        "garbage collection pass"
                    );
                }
                Err(e) => {
                    app.metrics.gc_failed(GcTrigger::Schedule);
                    tracing::warn!(error = %e, "garbage collection pass failed");
                }
            }
        }
    });
}

/// How often old audit entries are deleted.
const PRUNE_AUDIT_EVERY: Duration = Duration::from_secs(3600);
/// The lease of one retention pass: the longest it may run before another node may start one
/// (harmless: deleting what is past retention is idempotent).
const PRUNE_AUDIT_LEASE: Duration = Duration::from_secs(600);

/// Deletes audit entries older than `retention`: at start, then every hour. A pass takes the
/// job's lease and gives it up when done, so one node at a time prunes and any node may run
/// the next pass (a restarted node too).
pub fn prune_audit(app: Weak<App>, retention: Duration) {
    const JOB: &str = "audit-retention";
    let node = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        loop {
            let Some(app) = app.upgrade() else { return };
            match app.registry.take_job_lease(JOB, &node, PRUNE_AUDIT_LEASE).await {
                Ok(true) => {
                    let before = crate::meta::now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
                    match app.auditor.prune(before).await {
                        Ok(0) => {}
                        Ok(deleted) => tracing::info!(deleted, "deleted audit entries past their retention"),
                        Err(e) => tracing::warn!(error = %e, "cannot delete old audit entries"),
                    }
                    if let Err(e) = app.registry.release_job_lease(JOB, &node).await {
                        tracing::warn!(error = %e, "cannot give up the audit-retention lease");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot take the audit-retention lease"),
            }
            drop(app);
            tokio::time::sleep(PRUNE_AUDIT_EVERY).await;
        }
    });
}

/// How often a node looks for images to scan when nothing was queued.
const SCAN_POLL: Duration = Duration::from_secs(1);
/// A scan's lease: renewed while it runs, so a node that dies hands its scan on this soon.
const SCAN_LEASE: Duration = Duration::from_secs(60);
/// Claims of one image before it is given up as unscannable (it stopped its scanner each time).
const SCAN_ATTEMPTS: i64 = 3;
/// How often the scans of manifests deleted since are forgotten (any node may; it is idempotent).
const SCAN_CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Scans pushed images, one at a time on this node: queues what the outbox reports pushed,
/// claims the oldest queued scan with a lease (so each image is scanned by one node), runs it,
/// and matches finished scans again when the vulnerability database changed.
pub fn scan_images(app: Weak<App>, timeout: Duration) {
    let node = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut last_cleanup: Option<Instant> = None;
        loop {
            let Some(app) = app.upgrade() else { return };
            if last_cleanup.is_none_or(|t| t.elapsed() >= SCAN_CLEANUP_EVERY) {
                match app.registry.meta().forget_scans_of_deleted().await {
                    Ok(n) if n > 0 => tracing::info!(scans = n, "forgot the scans of deleted manifests"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot forget the scans of deleted manifests"),
                }
                last_cleanup = Some(Instant::now());
            }
            let audit = app.auditor.enabled();
            let registry = &app.registry;
            let worked = async {
                registry.queue_pushed().await?;
                let lease = i64::try_from(SCAN_LEASE.as_millis()).unwrap_or(i64::MAX);
                if let Some(scan) = registry.meta().claim_scan(&node, lease, SCAN_ATTEMPTS).await? {
                    let renew = async {
                        loop {
                            tokio::time::sleep(SCAN_LEASE / 3).await;
                            if !registry.meta().renew_scan(&scan.repository, &scan.digest, &node, lease).await.unwrap_or(false) {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        done = registry.run_scan(&scan, &node, timeout, audit, &app.vulndb) => done?,
                        () = renew => tracing::warn!(repository = scan.repository, digest = scan.digest, "scan lease lost"),
                    }
                    return Ok::<bool, crate::registry::Error>(true);
                }
                Ok(registry.rematch(50, audit, &app.vulndb).await? > 0)
            }
            .await;
            drop(app);
            match worked {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "scan round failed"),
            }
            tokio::time::sleep(SCAN_POLL).await;
        }
    });
}

/// How often a node looks for runs to claim, timers due and pushes of base images.
const TASK_POLL: Duration = Duration::from_secs(1);

/// Claims queued runs while fewer than `concurrency` run on this node, and runs each on a
/// task of its own with a lease (see `tasks::worker`): at once for runs this node queued, within
/// a second for others.
pub fn run_tasks(app: Weak<App>, concurrency: u32) {
    let node = uuid::Uuid::new_v4().to_string();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency as usize));
    // Only the signal is held between rounds: the application may go.
    let Some((queued, work_dir)) = app.upgrade().map(|a| (a.tasks.queued(), a.tasks.config.work_dir.clone())) else {
        return;
    };
    tokio::spawn(async move {
        // Held while this worker lives: its runs' directory is its own.
        let claim = {
            let (work_dir, node) = (work_dir.clone(), node.clone());
            tokio::task::spawn_blocking(move || crate::tasks::worker::claim_work_dir(&work_dir, &node)).await
        };
        let _lock = match claim.unwrap_or_else(|e| Err(std::io::Error::other(e))) {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(dir = %work_dir.display(), error = %e, "cannot use tasks.work_dir: this node runs no runs");
                return;
            }
        };
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let Some(app) = app.upgrade() else { return };
            let lease = i64::try_from(crate::tasks::worker::LEASE.as_millis()).unwrap_or(i64::MAX);
            match app.tasks.meta().claim_run(&node, lease).await {
                Ok(Some(run)) => {
                    let node = node.clone();
                    tokio::spawn(async move {
                        crate::tasks::worker::execute(app, run, node).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim a run"),
            }
            drop((app, slot));
            let _ = tokio::time::timeout(TASK_POLL, queued.notified()).await;
        }
    });
}

/// How often runs past `tasks.retention` are deleted.
const PRUNE_RUNS_EVERY: Duration = Duration::from_secs(3600);

/// Queues the runs of task triggers: timers due, and base images pushes moved. Any node does
/// it: each queued run is decided in one transaction, so one node queues it. Every hour it also
/// deletes the runs past `tasks.retention` (idempotent, so any node may).
pub fn trigger_tasks(app: Weak<App>) {
    tokio::spawn(async move {
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::time::sleep(TASK_POLL).await;
            let Some(app) = app.upgrade() else { return };
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_RUNS_EVERY) {
                let keep = i64::try_from(app.config.tasks.retention.0.as_millis()).unwrap_or(i64::MAX);
                match app.tasks.meta().prune_runs(crate::meta::now_ms().saturating_sub(keep)).await {
                    Ok(n) if n > 0 => tracing::info!(runs = n, "deleted runs past tasks.retention"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot delete old runs"),
                }
                last_prune = Some(Instant::now());
            }
            for fired in [app.tasks.fire_timers().await, app.tasks.fire_base_image_triggers().await] {
                match fired {
                    Ok(runs) if !runs.is_empty() => tracing::info!(?runs, "task triggers queued runs"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "task trigger round failed"),
                }
            }
        }
    });
}
