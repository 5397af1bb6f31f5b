//! The token server, in ACR's wire format: `GET /oauth2/token` (Basic credentials, or none for
//! anonymous pull), `POST /oauth2/token` (`grant_type=password|refresh_token`) and
//! `POST /oauth2/exchange` (a refresh token for a password, or for a token Berth issued: Berth's
//! stand-in for ACR's Entra tokens). The JWKS that verifies tokens is at `/oauth2/jwks`.
//!
//! A token never yields more than it carries: what is issued for a token is limited to that
//! token's scope and expires no later than it does. The management API's scope
//! (`registry:management:…`) is granted only when asked for.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use super::auth::{self, Origin};
use crate::access::{ACCESS_TOKEN_TTL, Caller};
use crate::app::AppState;
use crate::auth::jwt;
use crate::auth::scope::Scope;
use crate::oci::ErrorCode;

/// Form bodies are small; anything larger is not a token request.
const MAX_FORM: usize = 64 << 10;

/// Parameters of a token request (query string or form), `scope` repeatable.
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(s: &str) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(s).map(Params).map_err(|e| invalid(format!("malformed parameters: {e}")))
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn scopes(&self) -> Vec<Scope> {
        self.0.iter().filter(|(k, _)| k == "scope").flat_map(|(_, v)| Scope::parse_all(v)).collect()
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::RequestInvalid, message)
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "invalid or expired credentials")
}

/// No credentials, and anonymous pull is off.
fn anonymous_refused() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "authentication required: anonymous pull is disabled on this registry")
}

/// The service the request names must be this registry.
fn service(origin: &Origin, params: &Params) -> Result<String, ApiError> {
    match params.get("service") {
        Some(s) if !s.eq_ignore_ascii_case(&origin.service) => {
            Err(invalid(format!("unknown service {s:?}: this registry is {:?}", origin.service)))
        }
        _ => Ok(origin.service.clone()),
    }
}

/// GET /oauth2/token?service=…&scope=… — Docker's token flow with Basic credentials.
pub(super) async fn get_token(State(app): State<AppState>, req: Request) -> Response {
    let client = auth::client_ip(&req);
    let (parts, _) = req.into_parts();
    let result = async {
        let params = Params::parse(parts.uri.query().unwrap_or_default())?;
        let origin = Origin::of(&app, &parts.headers);
        let service = service(&origin, &params)?;
        if matches!(auth::Credentials::of(&parts.headers), auth::Credentials::Bearer(_)) {
            return Err(invalid("send Basic credentials (or a refresh token as the password), not a bearer token"));
        }
        let credentials = auth::Credentials::of(&parts.headers);
        let via = auth::Via::TokenEndpoint("basic");
        let caller = auth::sign_in_with(&app, &parts.headers, credentials, client, &service, via)
            .await?
            .ok_or_else(anonymous_refused)?;
        let offline = params.get("offline_token") == Some("true");
        token_response(&app, &caller, &params.scopes(), &service, offline)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// POST /oauth2/token — `grant_type=password` (no username: anonymous pull) or `refresh_token`.
pub(super) async fn post_token(State(app): State<AppState>, req: Request) -> Response {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    let result = async {
        let params = form(body).await?;
        let origin = Origin::of(&app, &parts.headers);
        let service = service(&origin, &params)?;
        let caller = match params.get("grant_type") {
            Some("password") => match (params.get("username"), params.get("password")) {
                (Some(u), Some(p)) => basic(&app, &parts.headers, u, p, client, &service).await?,
                (None, None) => {
                    let via = auth::Via::TokenEndpoint("password");
                    auth::sign_in_with(&app, &parts.headers, auth::Credentials::None, client, &service, via)
                        .await?
                        .ok_or_else(anonymous_refused)?
                }
                _ => return Err(invalid("grant_type=password needs both username and password")),
            },
            Some("refresh_token") => {
                let token = params.get("refresh_token").ok_or_else(|| invalid("refresh_token is missing"))?;
                let result = app.access.bearer_of_kind(token, &service, jwt::Grant::RefreshToken).await;
                auth::token_sign_in(&app, &parts.headers, client, "refresh_token", result)?
            }
            other => return Err(invalid(format!("unsupported grant_type {other:?}: use password or refresh_token"))),
        };
        let offline = params.get("access_type") == Some("offline");
        token_response(&app, &caller, &params.scopes(), &service, offline)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// POST /oauth2/exchange — a refresh token for `grant_type=password` (username, password),
/// `grant_type=access_token` (an access or refresh token this registry issued, as ACR's SDKs
/// send their credential) or `grant_type=refresh_token`, as ACR's `az acr login`. An optional
/// `scope` limits it; else it carries what the presented token did, or the data plane.
pub(super) async fn exchange(State(app): State<AppState>, req: Request) -> Response {
    let client = auth::client_ip(&req);
    let (parts, body) = req.into_parts();
    let result = async {
        let params = form(body).await?;
        let origin = Origin::of(&app, &parts.headers);
        let service = service(&origin, &params)?;
        let caller = match params.get("grant_type") {
            Some("password") => {
                let (u, p) = params
                    .get("username")
                    .zip(params.get("password"))
                    .ok_or_else(|| invalid("grant_type=password needs username and password"))?;
                basic(&app, &parts.headers, u, p, client, &service).await?
            }
            Some("access_token") => {
                let token = params.get("access_token").ok_or_else(|| invalid("access_token is missing"))?;
                let result = match app.access.bearer(token, &service).await {
                    Ok(caller) => Ok(caller),
                    Err(_) => app.access.bearer_of_kind(token, &service, jwt::Grant::RefreshToken).await,
                };
                auth::token_sign_in(&app, &parts.headers, client, "access_token", result)?
            }
            Some("refresh_token") => {
                let token = params.get("refresh_token").ok_or_else(|| invalid("refresh_token is missing"))?;
                let result = app.access.bearer_of_kind(token, &service, jwt::Grant::RefreshToken).await;
                auth::token_sign_in(&app, &parts.headers, client, "refresh_token", result)?
            }
            other => {
                return Err(invalid(format!(
                    "unsupported grant_type {other:?}: use password, access_token or refresh_token"
                )));
            }
        };
        let refresh = app.access.refresh_token(&caller, &service, &params.scopes())?;
        Ok(Json(json!({ "refresh_token": refresh })).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// GET /oauth2/jwks — the public key that verifies Berth's tokens.
pub(super) async fn jwks(State(app): State<AppState>) -> Response {
    Json(app.access.jwks()).into_response()
}

/// Username and password from a form, through the same throttle as Basic credentials.
async fn basic(
    app: &AppState,
    headers: &HeaderMap,
    user: &str,
    pass: &str,
    client: std::net::IpAddr,
    service: &str,
) -> Result<Caller, ApiError> {
    let credentials = auth::Credentials::Basic(user.to_owned(), pass.to_owned());
    let via = auth::Via::TokenEndpoint("password");
    auth::sign_in_with(app, headers, credentials, client, service, via).await?.ok_or_else(unauthorized)
}

async fn form(body: axum::body::Body) -> Result<Params, ApiError> {
    let bytes = super::read_body(body, MAX_FORM).await?;
    Params::parse(std::str::from_utf8(&bytes).map_err(|_| invalid("form body is not UTF-8"))?)
}

fn token_response(
    app: &AppState,
    caller: &Caller,
    scopes: &[Scope],
    service: &str,
    offline: bool,
) -> Result<Response, ApiError> {
    let access = app.access.access_token(caller, scopes, service)?;
    let now = crate::meta::now_ms() as u64 / 1000;
    let expires_in = caller.expires.map_or(ACCESS_TOKEN_TTL, |e| e.saturating_sub(now).min(ACCESS_TOKEN_TTL));
    let mut body = json!({ "access_token": access, "token": access, "expires_in": expires_in });
    if offline && caller.name.is_some() {
        body["refresh_token"] = app.access.refresh_token(caller, service, &[])?.into();
    }
    Ok(Json(body).into_response())
}
