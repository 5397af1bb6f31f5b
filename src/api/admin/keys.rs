//! The token-signing keys: which verify tokens now, and a rotation that signs new tokens with a
//! new key while the previous one keeps verifying what it signed until that expires.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::identities::managed;
use super::manager;
use crate::api::time::iso8601;
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;

type Reply = Result<Response, ApiError>;

fn keys_json(app: &AppState) -> Value {
    let snapshot = app.access.snapshot();
    let keys: Vec<Value> = snapshot
        .rows
        .signing_keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.id,
                "createdAt": iso8601(k.created_at),
                "current": k.retires_at.is_none(),
                "retiresAt": k.retires_at.map(iso8601),
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// GET /berth/v1/signingkeys — the current key and the rotated ones still verifying.
pub(super) async fn list_signing_keys(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(keys_json(&app)).into_response())
}

/// POST /berth/v1/signingkeys/rotate — Owner only.
pub(super) async fn rotate_signing_key(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Owner);
    app.access.rotate_signing_key().await?;
    Ok(Json(keys_json(&app)).into_response())
}
