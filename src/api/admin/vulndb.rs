//! The offline vulnerability database (Berth's own; ACR scans with Defender): `POST
//! /berth/v1/vulndb` imports OSV records (a zip of them as OSV exports each ecosystem, one
//! record, or an array), `GET` shows what is loaded. The body streams to a spool file; the
//! rules and bounds are `trust::vulndb`'s.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::manager;
use crate::api::time::iso8601;
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::meta::VulnSummary;

type Reply = Result<Response, ApiError>;

fn summary_json(s: &VulnSummary) -> Value {
    json!({
        "records": s.records,
        "ecosystems": s.ecosystems,
        "lastImport": s.last_import.map(|i| json!({
            "time": iso8601(i.at),
            "imported": i.imported,
            "skipped": i.skipped,
            "invalid": i.invalid,
        })),
    })
}

/// GET /berth/v1/vulndb — record counts per ecosystem and the last import.
pub(super) async fn show_vulndb(State(app): State<AppState>, req: Request) -> Reply {
    let client = auth::client_ip(&req);
    manager(&app, req.headers(), client, Manage::Read).await?;
    Ok(Json(summary_json(&app.vulndb.summary().await?)).into_response())
}

/// POST /berth/v1/vulndb — imports the body: `{imported, skipped, invalid, invalidReasons,
/// changed}` and the database as `GET` shows it. `changed` says whether scanned images should
/// be scanned again (the scanner also hears it through `VulnDb::subscribe`).
pub(super) async fn import_vulndb(State(app): State<AppState>, req: Request) -> Reply {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    manager(&app, &parts.headers, client, Manage::Write).await?;
    let limit = app.config.vulndb.max_import_size;
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(format!("the upload is over the {limit}-byte limit (vulndb.max_import_size)")));
    }
    let spool = app.vulndb.spool(body.into_data_stream(), limit).await?;
    let report = app.vulndb.import(&spool).await?;
    drop(spool);
    let mut answer = summary_json(&app.vulndb.summary().await?);
    answer["imported"] = json!(report.imported);
    answer["skipped"] = json!(report.skipped);
    answer["invalid"] = json!(report.invalid);
    answer["invalidReasons"] = json!(report.reasons);
    answer["changed"] = json!(report.changed());
    Ok(Json(answer).into_response())
}
