//! `/healthz` and `/readyz` for load balancers and Kubernetes: unauthenticated, cheap, and
//! saying nothing about the registry beyond whether it can serve.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::time::error::Elapsed;

use crate::app::AppState;

/// The longest a store may take to answer a readiness probe (probes time out at 1 s by
/// default in Kubernetes; a slower store is as good as down).
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// GET /healthz — the process answers.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// GET /readyz — the database answers a trivial query and the blob store a HEAD-like call,
/// each within [`READY_TIMEOUT`]: `200 {"status":"ready","database":"ok","storage":"ok"}`, else
/// `503` naming what failed. The causes go to the log only.
pub(super) async fn readyz(State(app): State<AppState>) -> Response {
    let database = tokio::time::timeout(READY_TIMEOUT, app.registry.meta().ping());
    let storage = tokio::time::timeout(READY_TIMEOUT, app.registry.blobs().ping());
    let (database, storage) = tokio::join!(database, storage);
    let (database, storage) = (verdict("database", database), verdict("storage", storage));
    let ready = database == "ok" && storage == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": database,
        "storage": storage,
    });
    (status, Json(body)).into_response()
}

/// `ok`, `failed` or `timeout`, with the cause logged.
fn verdict<E: std::fmt::Display>(store: &str, outcome: Result<Result<(), E>, Elapsed>) -> &'static str {
    match outcome {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(store, error = %e, "readiness probe failed");
            "failed"
        }
        Err(_) => {
            tracing::warn!(store, timeout_s = READY_TIMEOUT.as_secs(), "readiness probe timed out");
            "timeout"
        }
    }
}
