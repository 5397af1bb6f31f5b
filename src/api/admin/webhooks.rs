//! Webhooks (`az acr webhook`): settings in ACR's resource shape, `get-config`, `ping`,
//! `list-events` in ACR's `eventRequestMessage` / `eventResponseMessage` shape, and Berth's
//! `redeliver`. Reading needs Reader; changing, and reading the callback settings (which carry
//! credentials), Contributor.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::identities::{invalid, managed};
use super::{iso8601, json_body, manager};
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::events::{Webhook, WebhookSpec};
use crate::meta::DeliveryRow;

type Reply = Result<Response, ApiError>;

/// Attempts `list-events` (and the portal's delivery log) shows.
pub(in crate::api) const LISTED_EVENTS: u32 = 100;

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "name": w.name,
        "id": format!("/berth/v1/webhooks/{}", w.name),
        "type": "Microsoft.ContainerRegistry/registries/webhooks",
        "status": if w.enabled { "enabled" } else { "disabled" },
        "scope": w.scope,
        "actions": w.actions,
        "provisioningState": "Succeeded",
        "creationDate": iso8601(w.created_at),
        "lastUpdated": iso8601(w.updated_at),
    })
}

/// A logged attempt as ACR's `list-events` prints an event: the request and response
/// messages, with Berth's attempt number, time and duration beside them.
fn delivery_json(d: &DeliveryRow) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    json!({
        "id": d.event_id,
        "eventRequestMessage": parse(&d.request),
        "eventResponseMessage": parse(&d.response),
        "action": d.action,
        "attempt": d.attempt,
        "timestamp": iso8601(d.at),
        "durationMs": d.duration_ms,
    })
}

/// GET /berth/v1/webhooks
pub(super) async fn list_webhooks(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let hooks: Vec<Value> = app.webhooks.list().await?.iter().map(webhook_json).collect();
    Ok(Json(hooks).into_response())
}

/// POST /berth/v1/webhooks — `{"name", "serviceUri", "actions", "customHeaders", "scope",
/// "status", "secret"}`; at most the tier's number of webhooks.
pub(super) async fn create_webhook(State(app): State<AppState>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let mut fields: serde_json::Map<String, Value> = json_body(&body)?;
    let Some(Value::String(name)) = fields.remove("name") else {
        return Err(invalid("the webhook needs a \"name\""));
    };
    let spec: WebhookSpec =
        serde_json::from_value(Value::Object(fields)).map_err(|e| invalid(format!("invalid request body: {e}")))?;
    let created = add_webhook(&app, &name, spec).await?;
    Ok((StatusCode::CREATED, Json(webhook_json(&created))).into_response())
}

/// Creates webhook `name` (its service URI checked by the webhook code's rules), at most the
/// tier's number of them.
pub(in crate::api) async fn add_webhook(app: &AppState, name: &str, spec: WebhookSpec) -> Result<Webhook, ApiError> {
    let limit = app.registry.limits().await?.webhooks;
    Ok(app.webhooks.create(name, spec, limit).await?)
}

/// GET /berth/v1/webhooks/{name}
pub(super) async fn show_webhook(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(webhook_json(&app.webhooks.show(&name).await?)).into_response())
}

/// PATCH /berth/v1/webhooks/{name} — the fields given change; the others stay.
pub(super) async fn update_webhook(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (_, body) = managed!(app, req, Manage::Write);
    let spec: WebhookSpec = json_body(&body)?;
    Ok(Json(webhook_json(&app.webhooks.update(&name, spec).await?)).into_response())
}

/// DELETE /berth/v1/webhooks/{name}
pub(super) async fn delete_webhook(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    app.webhooks.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /berth/v1/webhooks/{name}/config — `get-config`: `{"serviceUri", "customHeaders"}`
/// (and `secret` if set).
pub(super) async fn webhook_config(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    let c = app.webhooks.callback(&name).await?;
    let mut out = json!({ "serviceUri": c.service_uri, "customHeaders": c.custom_headers });
    if let Some(secret) = c.secret {
        out["secret"] = json!(secret);
    }
    Ok(Json(out).into_response())
}

/// POST /berth/v1/webhooks/{name}/ping — `{"id"}` of the ping event sent.
pub(super) async fn ping_webhook(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let host = auth::Origin::of(&app, req.headers()).service;
    managed!(app, req, Manage::Write);
    let id = app.webhooks.ping(&name, &host).await?;
    Ok(Json(json!({ "id": id })).into_response())
}

/// GET /berth/v1/webhooks/{name}/events — the latest delivery attempts, newest first.
pub(super) async fn list_webhook_events(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let events: Vec<Value> = app.webhooks.deliveries(&name, LISTED_EVENTS).await?.iter().map(delivery_json).collect();
    Ok(Json(events).into_response())
}

/// POST /berth/v1/webhooks/{name}/events/{id}/redeliver — sends the event again now.
pub(super) async fn redeliver_webhook_event(
    State(app): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    req: Request,
) -> Reply {
    managed!(app, req, Manage::Write);
    let attempt = app.webhooks.redeliver(&name, &id).await?;
    Ok(Json(delivery_json(&attempt)).into_response())
}
