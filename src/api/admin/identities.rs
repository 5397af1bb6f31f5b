//! The admin user's credentials, registry settings, users and service principals, and role
//! assignments (`az acr credential`, `az acr update`, `az role assignment`).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{expiry, iso8601, json_body, manager, password_json};
use crate::access::{NewPrincipal, PrincipalKind, SecretValue, role_scope};
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::{Manage, Permissions, Role};
use crate::config::Sku;
use crate::meta::{PrincipalRow, RoleAssignmentRow};

type Reply = Result<Response, ApiError>;

/// Signs the caller in and requires management rights `level`; yields the caller and the
/// request body: the shape of every handler here.
macro_rules! managed {
    ($app:expr, $req:expr, $level:expr) => {{
        let client = auth::client_ip(&$req);
        let (parts, body) = $req.into_parts();
        let caller = manager(&$app, &parts.headers, client, $level).await?;
        (caller, crate::api::read_body(body, 1 << 20).await?)
    }};
}
pub(super) use managed;

fn credentials_json(username: &str, passwords: &[SecretValue]) -> Value {
    json!({
        "username": username,
        "passwords": passwords.iter().map(|p| json!({"name": p.name, "value": p.value})).collect::<Vec<_>>(),
    })
}

/// The admin user's passwords as `az acr credential show` lists them, values included (sealed
/// at rest, shown to Owners only), with the ones just generated.
fn admin_passwords(app: &AppState, fresh: &[SecretValue]) -> Result<Vec<SecretValue>, ApiError> {
    let mut stored = app.access.admin_passwords()?;
    for p in &mut stored {
        if let Some(f) = fresh.iter().find(|f| f.name == p.name) {
            *p = f.clone();
        }
    }
    Ok(stored)
}

/// The admin user has Owner's rights, so only Owner sees or changes its credentials.
pub(super) async fn show_credentials(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Owner);
    Ok(Json(credentials_json(app.access.admin_name(), &admin_passwords(&app, &[])?)).into_response())
}

#[derive(Deserialize)]
struct Renew {
    name: String,
}

/// POST /berth/v1/credentials/renew `{"name": "password" | "password2"}`
pub(super) async fn renew_credentials(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Owner);
    let Renew { name } = json_body(&body)?;
    let admin = app.access.admin_name().to_owned();
    let fresh = app.access.renew_secrets(&caller.effective(), &admin, PrincipalKind::Admin, &[name], None).await?;
    Ok(Json(credentials_json(&admin, &admin_passwords(&app, &fresh)?)).into_response())
}

/// The registry as `az acr show` prints it, as far as Berth has these fields; `name` and
/// `loginServer` are the login server the client addressed (or the configured one).
async fn settings_json(app: &AppState, login_server: &str) -> Result<Value, ApiError> {
    let s = app.access.snapshot().settings.clone();
    let limits = app.registry.limits().await?;
    Ok(json!({
        "name": login_server,
        "loginServer": login_server,
        "adminUserEnabled": s.admin_enabled,
        "anonymousPullEnabled": s.anonymous_pull,
        "adminUserPolicy": app.config.auth.admin_policy,
        "sku": {"name": limits.sku.as_str(), "tier": limits.sku.as_str()},
        "storageQuotaBytes": limits.storage_bytes,
        "type": "Microsoft.ContainerRegistry/registries",
        "provisioningState": "Succeeded",
    }))
}

/// GET /berth/v1/settings
pub(super) async fn show_settings(State(app): State<AppState>, req: Request) -> Reply {
    let server = auth::Origin::of(&app, req.headers()).service;
    managed!(app, req, Manage::Read);
    Ok(Json(settings_json(&app, &server).await?).into_response())
}

/// A change of registry settings: what `PATCH /berth/v1/settings` and the portal's Settings
/// page send. `None` keeps a setting.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::api) struct SettingsPatch {
    pub admin_user_enabled: Option<bool>,
    pub anonymous_pull_enabled: Option<bool>,
    /// `Basic`, `Standard` or `Premium`.
    pub sku: Option<String>,
    /// Storage limit in bytes; `null` returns to the tier's included storage.
    #[serde(default, deserialize_with = "present")]
    pub storage_quota_bytes: Option<Option<u64>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// Applies `patch` as `actor` (the caller's effective rights): changing the admin user needs
/// all of its rights, the rest management Write (checked by the caller).
pub(in crate::api) async fn change_settings(
    app: &AppState,
    actor: &Permissions,
    patch: SettingsPatch,
) -> Result<(), ApiError> {
    let sku = match patch.sku.as_deref() {
        Some(s) => Some(Sku::parse(s).ok_or_else(|| invalid(format!("sku {s:?}: use Basic, Standard or Premium")))?),
        None => None,
    };
    app.access.update_settings(actor, patch.admin_user_enabled, patch.anonymous_pull_enabled).await?;
    if sku.is_some() || patch.storage_quota_bytes.is_some() {
        app.registry.set_limits(sku, patch.storage_quota_bytes).await?;
    }
    Ok(())
}

/// PATCH /berth/v1/settings `{"adminUserEnabled", "anonymousPullEnabled", "sku", "storageQuotaBytes"}`
pub(super) async fn update_settings(State(app): State<AppState>, req: Request) -> Reply {
    let server = auth::Origin::of(&app, req.headers()).service;
    let (caller, body) = managed!(app, req, Manage::Write);
    change_settings(&app, &caller.effective(), json_body(&body)?).await?;
    Ok(Json(settings_json(&app, &server).await?).into_response())
}

fn user_json(app: &AppState, p: &PrincipalRow, fresh: &[SecretValue]) -> Value {
    let snapshot = app.access.snapshot();
    let passwords: Vec<Value> = snapshot
        .rows
        .secrets
        .iter()
        .filter(|s| s.principal == p.name)
        .map(|s| fresh.iter().find(|f| f.name == s.name).cloned().unwrap_or_else(|| SecretValue::hidden(s)))
        .map(|s| password_json(&s))
        .collect();
    json!({
        "name": p.name,
        "kind": p.kind,
        "status": if p.enabled { "enabled" } else { "disabled" },
        "expiry": p.expires_at.map(iso8601),
        "creationDate": iso8601(p.created_at),
        "credentials": {"username": p.name, "passwords": passwords},
    })
}

/// GET /berth/v1/users — users and service principals.
pub(super) async fn list_users(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let snapshot = app.access.snapshot();
    let users: Vec<Value> = snapshot
        .rows
        .principals
        .iter()
        .filter(|p| p.kind == PrincipalKind::User.as_str() || p.kind == PrincipalKind::ServicePrincipal.as_str())
        .map(|p| user_json(&app, p, &[]))
        .collect();
    Ok(Json(users).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    password: Option<String>,
    #[serde(default)]
    disabled: bool,
    expiration_in_days: Option<u32>,
    /// Registry-wide roles, assigned in the same transaction.
    #[serde(default)]
    roles: Vec<String>,
}

/// POST /berth/v1/users — a user (`kind` "user", name + password) or service principal
/// (`kind` "servicePrincipal", client id + secret). A password not given is generated and
/// returned once.
pub(super) async fn create_user(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let u: NewUser = json_body(&body)?;
    let kind = PrincipalKind::of_user(u.kind.as_deref())?;
    if u.password.as_deref().is_some_and(|p| p.len() < 8) {
        return Err(invalid("a password needs at least 8 characters"));
    }
    let roles = u.roles.iter().map(|r| r.parse::<Role>().map_err(invalid)).collect::<Result<Vec<_>, _>>()?;
    let new = NewPrincipal {
        enabled: !u.disabled,
        expires_at: expiry(u.expiration_in_days),
        ..NewPrincipal::user(u.name.clone(), kind, u.password, roles)
    };
    let fresh = app.access.create_principal(&caller.effective(), new).await?;
    let row = app.access.principal_of_kind(&u.name, kind)?;
    Ok((StatusCode::CREATED, Json(user_json(&app, &row, &fresh))).into_response())
}

/// GET /berth/v1/users/{name}
pub(super) async fn show_user(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let row = app.access.principal_of_kind(&name, app.access.user_kind(&name)?)?;
    Ok(Json(user_json(&app, &row, &[])).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrincipalPatch {
    status: Option<String>,
    expiration_in_days: Option<u32>,
}

pub(super) fn status(s: Option<&str>) -> Result<Option<bool>, ApiError> {
    match s {
        None => Ok(None),
        Some("enabled") => Ok(Some(true)),
        Some("disabled") => Ok(Some(false)),
        Some(other) => Err(invalid(format!("status {other:?}: use enabled or disabled"))),
    }
}

/// PATCH /berth/v1/users/{name} `{"status": "enabled"|"disabled", "expirationInDays"}`
pub(super) async fn update_user(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let patch: PrincipalPatch = json_body(&body)?;
    let kind = app.access.user_kind(&name)?;
    let expires = patch.expiration_in_days.map(|d| expiry(Some(d)));
    let enabled = status(patch.status.as_deref())?;
    let row = app.access.update_principal(&caller.effective(), &name, kind, enabled, expires, None).await?;
    Ok(Json(user_json(&app, &row, &[])).into_response())
}

/// DELETE /berth/v1/users/{name}
pub(super) async fn delete_user(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, _) = managed!(app, req, Manage::Write);
    app.access.delete_principal(&caller.effective(), &name, app.access.user_kind(&name)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /berth/v1/users/{name}/credentials — a new generated password, returned once.
pub(super) async fn renew_user_password(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, _) = managed!(app, req, Manage::Write);
    let kind = app.access.user_kind(&name)?;
    let fresh = app.access.renew_secrets(&caller.effective(), &name, kind, &["password".into()], None).await?;
    Ok(Json(credentials_json(&name, &fresh)).into_response())
}

fn role_json(app: &AppState, r: &RoleAssignmentRow) -> Value {
    let kind = app.access.snapshot().rows.principals.iter().find(|p| p.name == r.principal).map(|p| p.kind.clone());
    json!({
        "id": r.id,
        "principalName": r.principal,
        "principalType": match kind.as_deref() { Some("servicePrincipal") => "ServicePrincipal", _ => "User" },
        "roleDefinitionName": r.role,
        "scope": if r.scope.is_empty() { "/".to_owned() } else { format!("/repositories/{}", r.scope) },
        "createdOn": iso8601(r.created_at),
    })
}

/// GET /berth/v1/roleassignments
pub(super) async fn list_roles(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let snapshot = app.access.snapshot();
    Ok(Json(snapshot.rows.roles.iter().map(|r| role_json(&app, r)).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewAssignment {
    assignee: String,
    role: String,
    /// `/` or absent: the whole registry; `/repositories/<pattern>` or `<pattern>`: repositories.
    scope: Option<String>,
}

/// POST /berth/v1/roleassignments `{"assignee", "role", "scope"}` — Owner only.
pub(super) async fn assign_role(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Owner);
    let a: NewAssignment = json_body(&body)?;
    let role: Role = a.role.parse().map_err(invalid)?;
    let scope = role_scope(a.scope.as_deref().unwrap_or("/"));
    let row = app.access.assign_role(&caller.effective(), &a.assignee, role, scope).await?;
    Ok((StatusCode::CREATED, Json(role_json(&app, &row))).into_response())
}

/// DELETE /berth/v1/roleassignments/{id} — Owner only.
pub(super) async fn unassign_role(State(app): State<AppState>, Path(id): Path<String>, req: Request) -> Reply {
    let (caller, _) = managed!(app, req, Manage::Owner);
    app.access.unassign_role(&caller.effective(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(crate::oci::ErrorCode::RequestInvalid, message)
}
