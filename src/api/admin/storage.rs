//! Storage: usage against the tier's limits (`az acr show-usage`) and its recount, garbage
//! collection (the last pass, or one now), and the retention policy for untagged manifests
//! (`az acr config retention`).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::identities::{invalid, managed};
use super::{json_body, manager};
use crate::api::time::iso8601;
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::events::metrics::{self, GcTrigger, LastGc, Scrape};
use crate::meta::StoredBytes;
use crate::registry::{GcOptions, GcReport, Retention};

type Reply = Result<Response, ApiError>;

/// GET /berth/v1/usage — ACR's `{"value": [{"name", "currentValue", "limit", "unit"}]}`.
pub(super) async fn show_usage(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let items: Vec<Value> = app
        .registry
        .usage()
        .await?
        .iter()
        .map(|u| json!({"name": u.name, "currentValue": u.current, "limit": u.limit, "unit": u.unit}))
        .collect();
    Ok(Json(json!({ "value": items })).into_response())
}

fn stored_json(b: StoredBytes) -> Value {
    json!({"blobBytes": b.blobs, "manifestBytes": b.manifests, "totalBytes": b.total()})
}

/// POST /berth/v1/usage/check — recomputes usage from the stored blobs and manifests, compares
/// it with the counters that usage and the quota read, and repairs them if they differ
/// (Berth's own: ACR keeps no counters a user could check).
pub(super) async fn check_usage(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    let recount = app.registry.recount_usage().await?;
    if recount.repaired() {
        tracing::warn!(counted = ?recount.counted, actual = ?recount.actual, "usage counters were wrong: repaired");
    }
    Ok(Json(json!({
        "counted": stored_json(recount.counted),
        "recomputed": stored_json(recount.actual),
        "repaired": recount.repaired(),
    }))
    .into_response())
}

fn report_json(r: &GcReport) -> Value {
    json!({
        "startTime": iso8601(r.started_at),
        "finishTime": iso8601(r.finished_at),
        "dryRun": r.dry_run,
        "manifestsDeleted": r.manifests_deleted,
        "uploadsExpired": r.uploads_expired,
        "blobsDeleted": r.blobs_deleted,
        "bytesFreed": r.bytes_freed,
        "blobsWaiting": r.blobs_waiting,
        "orphansDeleted": r.orphans_deleted,
    })
}

/// GET /berth/v1/gc — the schedule and the last pass (run by any node).
pub(super) async fn show_gc(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let gc = &app.config.gc;
    Ok(Json(json!({
        "enabled": gc.enabled,
        "intervalSeconds": gc.interval.0.as_secs(),
        "graceSeconds": gc.grace.0.as_secs(),
        "uploadTtlSeconds": gc.upload_ttl.0.as_secs(),
        "lastRun": app.registry.last_gc().await?.as_ref().map(report_json),
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RunGc {
    #[serde(default)]
    dry_run: bool,
    /// Instead of `gc.grace`, as `30s`, `10m`, `1h`.
    grace: Option<String>,
}

/// One garbage-collection pass now (the blob store listed for orphans too), with `grace` (as
/// `30s`, `10m`, `1h`) instead of `gc.grace` if given, counted in the metrics as a manual pass:
/// what `POST /berth/v1/gc` and the portal's "GC now" run.
pub(in crate::api) async fn collect_garbage_now(
    app: &AppState,
    dry_run: bool,
    grace: Option<&str>,
) -> Result<GcReport, ApiError> {
    let grace = match grace {
        Some(g) => crate::config::Duration::parse(g).map_err(|e| invalid(format!("grace: {e}")))?.0,
        None => app.config.gc.grace.0,
    };
    let opts = GcOptions {
        grace,
        upload_ttl: app.config.gc.upload_ttl.0,
        sweep_store: true,
        dry_run,
        audit: app.auditor.enabled(),
    };
    let report = app.registry.collect_garbage(opts).await;
    match &report {
        Ok(r) if !r.dry_run => app.metrics.gc_pass(GcTrigger::Manual, r.blobs_deleted, r.bytes_freed),
        Ok(_) => {}
        Err(_) => app.metrics.gc_failed(GcTrigger::Manual),
    }
    Ok(report?)
}

/// POST /berth/v1/gc `{"dryRun", "grace"}` — one pass now (the blob store listed for orphans too).
pub(super) async fn run_gc(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let run: RunGc = if body.is_empty() { RunGc::default() } else { json_body(&body)? };
    let report = collect_garbage_now(&app, run.dry_run, run.grace.as_deref()).await?;
    Ok(Json(report_json(&report)).into_response())
}

fn retention_json(r: &Retention) -> Value {
    json!({
        "days": r.days,
        "status": if r.enabled { "enabled" } else { "disabled" },
        "type": "UntaggedManifests",
    })
}

/// GET /berth/v1/retention
pub(super) async fn show_retention(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(retention_json(&app.registry.retention().await?)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RetentionPatch {
    days: Option<u32>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Changes the retention of untagged manifests: `days` 0 to 365, `status` `enabled` or
/// `disabled` (`None` keeps either).
pub(in crate::api) async fn change_retention(
    app: &AppState,
    days: Option<u32>,
    status: Option<&str>,
) -> Result<Retention, ApiError> {
    if days.is_some_and(|d| d > 365) {
        return Err(invalid("days: 0 to 365"));
    }
    let enabled = super::identities::status(status)?;
    Ok(app.registry.set_retention(days, enabled).await?)
}

/// PATCH /berth/v1/retention `{"days", "status": "enabled"|"disabled", "type": "UntaggedManifests"}`
pub(super) async fn update_retention(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let patch: RetentionPatch = json_body(&body)?;
    if patch.kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case("UntaggedManifests")) {
        return Err(invalid("type: only UntaggedManifests has a retention policy"));
    }
    Ok(Json(retention_json(&change_retention(&app, patch.days, patch.status.as_deref()).await?)).into_response())
}

/// GET /metrics — the process's counters, and storage, the last garbage-collection pass and
/// database pools as read now, in Prometheus' text format, for callers with the Reader role
/// (Prometheus sends Basic credentials).
pub(in crate::api) async fn metrics(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let last_gc = app.registry.last_gc().await?.map(|r| LastGc {
        finished_at_ms: r.finished_at,
        duration_ms: r.finished_at - r.started_at,
        blobs_deleted: r.blobs_deleted,
        bytes_freed: r.bytes_freed,
        manifests_deleted: r.manifests_deleted,
        uploads_expired: r.uploads_expired,
    });
    let scrape = Scrape {
        storage_used: app.registry.storage_used().await?,
        storage_limit: app.registry.limits().await?.storage_bytes,
        last_gc,
        pools: app.registry.meta().pools(),
        audit_dropped: app.auditor.dropped(),
    };
    let text = app.metrics.encode(&scrape).map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}
