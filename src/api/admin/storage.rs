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
use crate::meta::StoredBytes;
use crate::registry::{GcOptions, GcReport};

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

/// POST /berth/v1/gc `{"dryRun", "grace"}` — one pass now (the blob store listed for orphans too).
pub(super) async fn run_gc(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let run: RunGc = if body.is_empty() { RunGc::default() } else { json_body(&body)? };
    let grace = match run.grace.as_deref() {
        Some(g) => crate::config::Duration::parse(g).map_err(|e| invalid(format!("grace: {e}")))?.0,
        None => app.config.gc.grace.0,
    };
    let opts = GcOptions { grace, upload_ttl: app.config.gc.upload_ttl.0, sweep_store: true, dry_run: run.dry_run };
    Ok(Json(report_json(&app.registry.collect_garbage(opts).await?)).into_response())
}

fn retention_json(r: &crate::registry::Retention) -> Value {
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

/// PATCH /berth/v1/retention `{"days", "status": "enabled"|"disabled", "type": "UntaggedManifests"}`
pub(super) async fn update_retention(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let patch: RetentionPatch = json_body(&body)?;
    if patch.kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case("UntaggedManifests")) {
        return Err(invalid("type: only UntaggedManifests has a retention policy"));
    }
    if patch.days.is_some_and(|d| d > 365) {
        return Err(invalid("days: 0 to 365"));
    }
    let enabled = super::identities::status(patch.status.as_deref())?;
    Ok(Json(retention_json(&app.registry.set_retention(patch.days, enabled).await?)).into_response())
}

/// GET /metrics — storage and the last garbage-collection pass in Prometheus' text format,
/// for callers with the Reader role (Prometheus sends Basic credentials).
pub(in crate::api) async fn metrics(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let used = app.registry.storage_used().await?;
    let limit = app.registry.limits().await?.storage_bytes;
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("berth_storage_used_bytes", "Bytes stored, each distinct blob and manifest once.", used as f64);
    gauge("berth_storage_limit_bytes", "The storage limit of the tier or quota.", limit as f64);
    if let Some(r) = app.registry.last_gc().await? {
        gauge("berth_gc_last_run_timestamp_seconds", "When the last pass finished.", r.finished_at as f64 / 1000.0);
        gauge("berth_gc_last_duration_seconds", "How long it took.", (r.finished_at - r.started_at) as f64 / 1000.0);
        gauge("berth_gc_last_blobs_deleted", "Blobs it deleted.", r.blobs_deleted as f64);
        gauge("berth_gc_last_bytes_freed", "Bytes it freed.", r.bytes_freed as f64);
        gauge("berth_gc_last_manifests_deleted", "Untagged manifests retention deleted.", r.manifests_deleted as f64);
        gauge("berth_gc_last_uploads_expired", "Idle upload sessions it dropped.", r.uploads_expired as f64);
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
