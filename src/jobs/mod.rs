//! Background jobs, each a loop started with the application that ends when the application
//! is dropped. Each pass first takes the job's lease in the database, so that of several nodes
//! sharing one only the holder runs it, and a node that dies hands it on when the lease
//! expires. Garbage collection is the first; webhooks and replication join it later.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::registry::GcOptions;

/// How often the blob store is also listed for objects the metadata does not know.
const SWEEP_EVERY: Duration = Duration::from_secs(86_400);

/// Starts garbage collection every `gc.interval` (the first pass one interval after start).
pub fn start(app: Weak<App>, interval: Duration) {
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
            };
            match app.registry.collect_garbage(opts).await {
                Ok(r) => {
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
                Err(e) => tracing::warn!(error = %e, "garbage collection pass failed"),
            }
        }
    });
}
