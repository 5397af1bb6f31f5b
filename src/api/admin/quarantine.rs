//! The quarantine setting (ACR's `quarantinePolicy`, shown and changed as `berth config
//! quarantine`): while enabled, new manifests wait for release before anyone but quarantine
//! readers sees them.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::identities::managed;
use super::{json_body, manager};
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;

type Reply = Result<Response, ApiError>;

fn quarantine_json(enabled: bool) -> Value {
    json!({ "status": if enabled { "enabled" } else { "disabled" } })
}

/// GET /berth/v1/quarantine
pub(super) async fn show_quarantine(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(quarantine_json(app.registry.quarantine_enabled().await?)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantinePatch {
    status: Option<String>,
}

/// PATCH /berth/v1/quarantine `{"status": "enabled"|"disabled"}`. Turning it off releases
/// nothing: manifests already held stay held until set `Passed`.
pub(super) async fn update_quarantine(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let patch: QuarantinePatch = json_body(&body)?;
    let enabled = match super::identities::status(patch.status.as_deref())? {
        Some(e) => app.registry.set_quarantine_enabled(e).await?,
        None => app.registry.quarantine_enabled().await?,
    };
    Ok(Json(quarantine_json(enabled)).into_response())
}
