//! The management API under `/berth/v1`: admin credentials
//! and registry settings, repository tokens and scope maps, users, service principals and role
//! assignments, storage, the quarantine setting, scans and policies, the audit log and the vulnerability
//! database, tasks and runs, documented in `docs/openapi.json`. JSON field names follow `az acr`'s output;
//! errors use the OCI error envelope.
//! Callers sign in like on `/v2/` (Basic or bearer); reading needs Reader, changing Contributor,
//! role assignments and the admin user Owner. A bearer token reaches this API only if it carries
//! the scope `registry:management:read|write|owner`, which the token endpoint grants only when
//! asked for.

mod audit;
mod identities;
mod keys;
mod quarantine;
mod storage;

pub(super) use identities::{SettingsPatch, change_settings};
pub(super) use storage::{change_retention, collect_garbage_now, metrics};
pub(super) use webhooks::{LISTED_EVENTS, add_webhook};
mod tasks;
mod tokens;
mod trust;
mod vulndb;
mod webhooks;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use super::time::iso8601;
use super::{ApiError, auth};
use crate::access::{Caller, SecretValue};
use crate::app::AppState;
use crate::auth::Manage;
use crate::auth::scope::Scope;
use crate::oci::ErrorCode;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/credentials", get(identities::show_credentials))
        .route("/credentials/renew", post(identities::renew_credentials))
        .route("/settings", get(identities::show_settings).patch(identities::update_settings))
        .route("/users", get(identities::list_users).post(identities::create_user))
        .route(
            "/users/{name}",
            get(identities::show_user).patch(identities::update_user).delete(identities::delete_user),
        )
        .route("/users/{name}/credentials", post(identities::renew_user_password))
        .route("/roleassignments", get(identities::list_roles).post(identities::assign_role))
        .route("/roleassignments/{id}", axum::routing::delete(identities::unassign_role))
        .route("/tokens", get(tokens::list_tokens).post(tokens::create_token))
        .route("/tokens/{name}", get(tokens::show_token).patch(tokens::update_token).delete(tokens::delete_token))
        .route("/tokens/{name}/credentials", post(tokens::generate_credentials))
        .route("/tokens/{name}/credentials/{password}", axum::routing::delete(tokens::delete_credential))
        .route("/signingkeys", get(keys::list_signing_keys))
        .route("/signingkeys/rotate", post(keys::rotate_signing_key))
        .route("/usage", get(storage::show_usage))
        .route("/audit", get(audit::list_audit))
        .route("/usage/check", post(storage::check_usage))
        .route("/gc", get(storage::show_gc).post(storage::run_gc))
        .route("/retention", get(storage::show_retention).patch(storage::update_retention))
        .route("/quarantine", get(quarantine::show_quarantine).patch(quarantine::update_quarantine))
        .route("/vulndb", get(vulndb::show_vulndb).post(vulndb::import_vulndb))
        .route("/webhooks", get(webhooks::list_webhooks).post(webhooks::create_webhook))
        .route(
            "/webhooks/{name}",
            get(webhooks::show_webhook).patch(webhooks::update_webhook).delete(webhooks::delete_webhook),
        )
        .route("/webhooks/{name}/config", get(webhooks::webhook_config))
        .route("/webhooks/{name}/ping", post(webhooks::ping_webhook))
        .route("/webhooks/{name}/events", get(webhooks::list_webhook_events))
        .route("/webhooks/{name}/events/{id}/redeliver", post(webhooks::redeliver_webhook_event))
        .route("/scans", get(trust::show_scan).post(trust::scan_now))
        .route("/policies/{kind}", get(trust::list_policies))
        .route("/policies/{kind}/{name}", axum::routing::put(trust::put_policy).delete(trust::delete_policy))
        .route("/runs", get(tasks::list_runs).post(tasks::schedule_run))
        .route("/runs/sources", post(tasks::upload_source))
        .route("/runs/{id}", get(tasks::show_run))
        .route("/runs/{id}/log", get(tasks::run_log))
        .route("/runs/{id}/cancel", post(tasks::cancel_run))
        .route("/tasks", get(tasks::list_tasks).post(tasks::create_task))
        .route("/tasks/{name}", get(tasks::show_task).patch(tasks::update_task).delete(tasks::delete_task))
        .route("/tasks/{name}/run", post(tasks::run_task))
        .route("/tasks/{name}/webhook", post(tasks::source_webhook))
        .route("/scopemaps", get(tokens::list_scope_maps).post(tokens::create_scope_map))
        .route(
            "/scopemaps/{name}",
            get(tokens::show_scope_map).patch(tokens::update_scope_map).delete(tokens::delete_scope_map),
        )
}

/// Signs the caller in and requires management rights of at least `level`.
async fn manager(
    app: &AppState,
    headers: &HeaderMap,
    client: std::net::IpAddr,
    level: Manage,
) -> Result<Caller, ApiError> {
    let origin = auth::Origin::of(app, headers);
    let caller = match auth::sign_in(app, headers, client, &origin.service).await {
        Ok(Some(c)) if c.name.is_some() => c,
        Ok(_) => {
            return Err(ApiError::new(ErrorCode::Unauthorized, "authentication required")
                .header(header::WWW_AUTHENTICATE, "Basic realm=\"berth\""));
        }
        Err(e) => return Err(e.header(header::WWW_AUTHENTICATE, "Basic realm=\"berth\"")),
    };
    if caller.manage() >= level {
        return Ok(caller);
    }
    let who = caller.name.as_deref().unwrap_or_default();
    if caller.permissions.manage < level {
        let role = level.roles();
        return Err(ApiError::new(
            ErrorCode::Denied,
            format!("access denied: {who:?} needs the {role} role on the registry"),
        ));
    }
    // The principal may, but the token it presented does not carry the management scope.
    let scope = Scope::Management(level).to_challenge();
    let message = format!(
        "access denied: the token of {who:?} does not carry {scope}; ask the token endpoint for it, or sign in with a password"
    );
    let challenge = format!("{},error=\"insufficient_scope\"", origin.challenge_for(&scope));
    Err(ApiError::new(ErrorCode::Denied, message).header(header::WWW_AUTHENTICATE, challenge))
}

/// A JSON request body, with a `BAD_REQUEST` naming what is wrong.
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::RequestInvalid, format!("invalid request body: {e}")))
}

/// `expirationInDays` from now, in Unix milliseconds.
fn expiry(days: Option<u32>) -> Option<i64> {
    days.map(|d| crate::meta::now_ms() + i64::from(d) * 86_400_000)
}

/// A password as `az acr` prints it.
fn password_json(s: &SecretValue) -> serde_json::Value {
    serde_json::json!({
        "name": s.name,
        "value": s.value,
        "creationTime": iso8601(s.created_at),
        "expiry": s.expires_at.map(iso8601),
    })
}
