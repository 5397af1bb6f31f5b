//! Background jobs, each a loop started with the application that ends when the application
//! is dropped. Garbage collection is the first; webhooks and replication join it later (with
//! a lease in the database once several nodes share one).

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::registry::GcOptions;

/// How often the blob store is also listed for objects the metadata does not know.
const SWEEP_EVERY: Duration = Duration::from_secs(86_400);

/// Starts garbage collection every `gc.interval` (the first pass one interval after start).
pub fn start(app: Weak<App>, interval: Duration) {
    tokio::spawn(async move {
        let mut last_sweep: Option<Instant> = None;
        loop {
            tokio::time::sleep(interval).await;
            let Some(app) = app.upgrade() else { return };
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
