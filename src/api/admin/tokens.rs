//! Repository tokens and scope maps (`az acr token`, `az acr scope-map`).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::identities::{invalid, managed};
use super::{expiry, iso8601, json_body, manager, password_json};
use crate::access::{NewPrincipal, PrincipalKind, SecretValue, TokenScope};
use crate::api::{ApiError, auth};
use crate::app::AppState;
use crate::auth::Manage;
use crate::meta::{PrincipalRow, ScopeMapRow};

type Reply = Result<Response, ApiError>;

const TOKEN: PrincipalKind = PrincipalKind::Token;

fn token_json(app: &AppState, p: &PrincipalRow, fresh: &[SecretValue]) -> Value {
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
        "id": format!("/berth/v1/tokens/{}", p.name),
        "type": "Microsoft.ContainerRegistry/registries/tokens",
        "creationDate": iso8601(p.created_at),
        "status": if p.enabled { "enabled" } else { "disabled" },
        "scopeMapId": p.scope_map.as_ref().map(|m| format!("/berth/v1/scopemaps/{m}")),
        "provisioningState": "Succeeded",
        "credentials": {"username": p.name, "passwords": passwords, "certificates": []},
    })
}

fn scope_map_json(m: &ScopeMapRow) -> Value {
    json!({
        "name": m.name,
        "id": format!("/berth/v1/scopemaps/{}", m.name),
        "type": "Microsoft.ContainerRegistry/registries/scopeMaps",
        "description": m.description,
        "actions": m.actions,
        "scopeMapType": if m.system { "SystemDefined" } else { "UserDefined" },
        "creationDate": iso8601(m.created_at),
        "provisioningState": "Succeeded",
    })
}

/// GET /berth/v1/tokens
pub(super) async fn list_tokens(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let snapshot = app.access.snapshot();
    let tokens: Vec<Value> = snapshot
        .rows
        .principals
        .iter()
        .filter(|p| p.kind == TOKEN.as_str())
        .map(|p| token_json(&app, p, &[]))
        .collect();
    Ok(Json(tokens).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewToken {
    name: String,
    /// An existing scope map, or…
    scope_map: Option<String>,
    /// …actions per repository, from which a scope map `<name>-scope-map` is made (as
    /// `az acr token create --repository REPO ACTION…`).
    #[serde(default)]
    repositories: Vec<RepositoryActions>,
    status: Option<String>,
    expiration_in_days: Option<u32>,
    #[serde(default)]
    no_passwords: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryActions {
    repository: String,
    actions: Vec<String>,
}

/// POST /berth/v1/tokens — creates a token with `password1` and `password2` (returned once).
pub(super) async fn create_token(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let t: NewToken = json_body(&body)?;
    app.registry.check_room(false).await?;
    if t.scope_map.is_none() {
        app.registry.check_room(true).await?;
    }
    let scope = match (t.scope_map, t.repositories.is_empty()) {
        (Some(map), true) => TokenScope::Map(map),
        (None, false) => {
            TokenScope::Repositories(t.repositories.into_iter().map(|r| (r.repository, r.actions)).collect())
        }
        _ => return Err(invalid("give either scopeMap or repositories")),
    };
    let enabled = super::identities::status(t.status.as_deref())?.unwrap_or(true);
    let secrets = if t.no_passwords { Vec::new() } else { vec!["password1".into(), "password2".into()] };
    let new = NewPrincipal {
        enabled,
        secret_expires_at: expiry(t.expiration_in_days),
        ..NewPrincipal::token(t.name.clone(), scope, secrets)
    };
    let fresh = app.access.create_principal(&caller.effective(), new).await?;
    let row = app.access.principal_of_kind(&t.name, TOKEN)?;
    Ok((StatusCode::CREATED, Json(token_json(&app, &row, &fresh))).into_response())
}

/// GET /berth/v1/tokens/{name}
pub(super) async fn show_token(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let row = app.access.principal_of_kind(&name, TOKEN)?;
    Ok(Json(token_json(&app, &row, &[])).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenPatch {
    status: Option<String>,
    scope_map: Option<String>,
}

/// PATCH /berth/v1/tokens/{name} `{"status", "scopeMap"}` — takes effect on the next request.
pub(super) async fn update_token(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let patch: TokenPatch = json_body(&body)?;
    let enabled = super::identities::status(patch.status.as_deref())?;
    let row = app.access.update_principal(&caller.effective(), &name, TOKEN, enabled, None, patch.scope_map).await?;
    Ok(Json(token_json(&app, &row, &[])).into_response())
}

/// DELETE /berth/v1/tokens/{name}
pub(super) async fn delete_token(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, _) = managed!(app, req, Manage::Write);
    app.access.delete_principal(&caller.effective(), &name, TOKEN).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Generate {
    /// Which passwords to (re)generate: `password1`, `password2`; absent: both.
    names: Option<Vec<String>>,
    expiration_in_days: Option<u32>,
}

/// POST /berth/v1/tokens/{name}/credentials — `az acr token credential generate`.
pub(super) async fn generate_credentials(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let g: Generate =
        if body.is_empty() { Generate { names: None, expiration_in_days: None } } else { json_body(&body)? };
    let names = g.names.unwrap_or_else(|| vec!["password1".into(), "password2".into()]);
    let fresh =
        app.access.renew_secrets(&caller.effective(), &name, TOKEN, &names, expiry(g.expiration_in_days)).await?;
    Ok(Json(json!({
        "username": name,
        "passwords": fresh.iter().map(password_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// DELETE /berth/v1/tokens/{name}/credentials/{password} — `az acr token credential delete`.
pub(super) async fn delete_credential(
    State(app): State<AppState>,
    Path((name, password)): Path<(String, String)>,
    req: Request,
) -> Reply {
    let (caller, _) = managed!(app, req, Manage::Write);
    app.access.delete_secret(&caller.effective(), &name, TOKEN, &password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /berth/v1/scopemaps — user-defined and system scope maps.
pub(super) async fn list_scope_maps(State(app): State<AppState>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    let snapshot = app.access.snapshot();
    Ok(Json(snapshot.rows.scope_maps.iter().map(scope_map_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewScopeMap {
    name: String,
    #[serde(default)]
    description: String,
    actions: Vec<String>,
}

/// POST /berth/v1/scopemaps `{"name", "description", "actions": ["repositories/<repo>/<action>"]}`
pub(super) async fn create_scope_map(State(app): State<AppState>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let m: NewScopeMap = json_body(&body)?;
    app.registry.check_room(true).await?;
    app.access.put_scope_map(&caller.effective(), &m.name, &m.description, m.actions, true).await?;
    Ok((StatusCode::CREATED, Json(scope_map_json(&find_map(&app, &m.name)?))).into_response())
}

fn find_map(app: &AppState, name: &str) -> Result<ScopeMapRow, ApiError> {
    let snapshot = app.access.snapshot();
    snapshot
        .rows
        .scope_maps
        .iter()
        .find(|m| m.name == name)
        .cloned()
        .ok_or_else(|| crate::access::Error::NotFound(format!("scope map {name:?} does not exist")).into())
}

/// GET /berth/v1/scopemaps/{name}
pub(super) async fn show_scope_map(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Read);
    Ok(Json(scope_map_json(&find_map(&app, &name)?)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScopeMapPatch {
    description: Option<String>,
    #[serde(default)]
    add_actions: Vec<String>,
    #[serde(default)]
    remove_actions: Vec<String>,
}

/// PATCH /berth/v1/scopemaps/{name} `{"description", "addActions", "removeActions"}` — the
/// tokens bound to it get the new actions on their next request.
pub(super) async fn update_scope_map(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    let (caller, body) = managed!(app, req, Manage::Write);
    let patch: ScopeMapPatch = json_body(&body)?;
    let current = find_map(&app, &name)?;
    if current.system {
        return Err(invalid(format!("{name:?} is a system scope map and cannot be changed")));
    }
    let mut actions: Vec<String> = current.actions.into_iter().filter(|a| !patch.remove_actions.contains(a)).collect();
    for a in patch.add_actions {
        if !actions.contains(&a) {
            actions.push(a);
        }
    }
    let description = patch.description.unwrap_or(current.description);
    app.access.put_scope_map(&caller.effective(), &name, &description, actions, false).await?;
    Ok(Json(scope_map_json(&find_map(&app, &name)?)).into_response())
}

/// DELETE /berth/v1/scopemaps/{name}
pub(super) async fn delete_scope_map(State(app): State<AppState>, Path(name): Path<String>, req: Request) -> Reply {
    managed!(app, req, Manage::Write);
    app.access.delete_scope_map(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
