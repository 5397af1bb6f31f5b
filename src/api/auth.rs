//! Authentication and authorization at the HTTP edge: credentials from the `Authorization`
//! header (Basic or Bearer), the `401` challenge in ACR's exact format, `403 DENIED` naming what
//! is missing, and the per-client throttle on failed sign-ins.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, header};
use base64::Engine as _;

use super::{ApiError, audit};
use crate::access::{self, Caller, Refusal};
use crate::app::AppState;
use crate::auth::{self, Action, Need};
use crate::events::metrics::{AuthMethod, AuthReason};
use crate::oci::ErrorCode;

/// The registry as the client addressed it: `service` names it in tokens, `realm` is the token
/// endpoint's URL.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) service: String,
    pub(crate) realm: String,
}

impl Origin {
    /// The `Host` the client addressed (the router refuses one that is not a host and port)
    /// makes the realm, so a client is sent back to where it is; the service (the audience of
    /// tokens) is `auth.login_server` if set, whatever the `Host`.
    pub(crate) fn of(app: &AppState, headers: &HeaderMap) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| super::valid_authority(h))
            .map_or_else(|| app.config.listen.to_string(), str::to_ascii_lowercase);
        // Behind a load balancer that ends TLS, the scheme clients use is the one it forwards.
        // Trusting it is harmless: the realm only tells this client where to ask for a token.
        let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
        let scheme = match forwarded.map(str::trim) {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ if app.config.tls.enabled() => "https",
            _ => "http",
        };
        let service = app.config.auth.login_server.as_deref().map_or_else(|| host.clone(), str::to_ascii_lowercase);
        Origin { realm: format!("{scheme}://{host}/oauth2/token"), service }
    }

    /// `Bearer realm="…",service="…",scope="…"`: quoted values, no spaces, as ACR sends it.
    /// `GET /v2/` needs no scope, and then names none (as ACR). `also` names a further scope
    /// the request can use (a mount's source), space-separated as Distribution does.
    pub(crate) fn challenge(&self, need: &Need, also: Option<&str>) -> String {
        match (challenge_scope(need), also) {
            (Some(scope), Some(also)) => self.challenge_for(&format!("{scope} {also}")),
            (Some(scope), None) => self.challenge_for(&scope),
            (None, _) => format!("Bearer realm=\"{}\",service=\"{}\"", self.realm, self.service),
        }
    }

    /// The challenge naming `scope`.
    pub(crate) fn challenge_for(&self, scope: &str) -> String {
        format!("Bearer realm=\"{}\",service=\"{}\",scope=\"{scope}\"", self.realm, self.service)
    }
}

/// The scope a client should ask for: what docker asks for itself (`pull,push` to push).
fn challenge_scope(need: &Need) -> Option<String> {
    match need {
        Need::Authenticated => None,
        Need::Catalog => Some("registry:catalog:*".into()),
        Need::Repository { name, actions, .. } => {
            let mut names: Vec<&str> = Vec::new();
            if actions.has(Action::ContentWrite) || actions.has(Action::ContentRead) {
                names.push("pull");
            }
            names.extend(actions.iter().filter(|a| *a != Action::ContentRead).map(Action::token_name));
            Some(format!("repository:{name}:{}", names.join(",")))
        }
    }
}

/// Credentials as sent.
pub(crate) enum Credentials {
    None,
    Basic(String, String),
    Bearer(String),
    Malformed,
}

impl Credentials {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Credentials::None };
        let Ok(value) = value.to_str() else { return Credentials::Malformed };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((user, pass)) => Credentials::Basic(user.to_owned(), pass.to_owned()),
                None => Credentials::Malformed,
            }
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest.to_owned())
        } else {
            Credentials::Malformed
        }
    }
}

/// The client's address, for the sign-in throttle.
pub(crate) fn client_ip<B>(req: &Request<B>) -> IpAddr {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Where credentials were presented, which decides what the audit log records of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// The `Authorization` header of any request: a sign-in is recorded when a password is
    /// verified or refused, not when credentials proven earlier are sent again (as a bearer
    /// token is not recorded on every request).
    Header,
    /// A token endpoint (`/oauth2/…`) taking credentials by this method (`basic`, `password`):
    /// every attempt is recorded, anonymous ones too.
    TokenEndpoint(&'static str),
}

/// Signs the caller in from its credentials (or as anonymous when it sent none and anonymous
/// pull is on). `Ok(None)`: no credentials and no anonymous access.
pub(crate) async fn sign_in(
    app: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    service: &str,
) -> Result<Option<Caller>, ApiError> {
    sign_in_with(app, headers, Credentials::of(headers), client, service, Via::Header).await
}

/// [`sign_in`] with `credentials` from wherever they came (a token request's form); `headers`
/// give the audit log the client's user agent and the request id.
pub(crate) async fn sign_in_with(
    app: &AppState,
    headers: &HeaderMap,
    credentials: Credentials,
    client: IpAddr,
    service: &str,
    via: Via,
) -> Result<Option<Caller>, ApiError> {
    let (method, result) = match credentials {
        Credentials::None => {
            let caller = app.access.anonymous();
            if let Via::TokenEndpoint(_) = via {
                let refused = (401, "UNAUTHORIZED: anonymous pull is disabled".to_owned());
                audit::login(app, headers, client, None, "anonymous", caller.as_ref().map(|_| ()).ok_or(refused));
            }
            return Ok(caller);
        }
        Credentials::Malformed => (AuthMethod::Basic, Err(access::Error::Unauthorized(Refusal::Malformed))),
        Credentials::Basic(user, pass) => {
            let r = app.access.basic(&user, &pass, service, client).await;
            let token = user == access::REFRESH_TOKEN_USER;
            let method = match via {
                _ if token => "refresh_token",
                Via::Header => "basic",
                Via::TokenEndpoint(method) => method,
            };
            match &r {
                Ok((caller, verified)) if *verified || matches!(via, Via::TokenEndpoint(_)) => {
                    let name = caller.name.as_deref().or((!token).then_some(user.as_str()));
                    audit::login(app, headers, client, name, method, Ok(()));
                }
                Ok(_) => {}
                Err(e) => {
                    if let access::Error::Unauthorized(reason) = e {
                        tracing::info!(user, reason = reason.as_str(), %client, "sign-in failed");
                    }
                    let name = (!token).then_some(user.as_str());
                    audit::login(app, headers, client, name, method, Err(refusal(e)));
                }
            }
            (AuthMethod::Basic, r.map(|(caller, _)| caller))
        }
        Credentials::Bearer(token) => (AuthMethod::Bearer, app.access.bearer(&token, service).await),
    };
    if let Err(e) = &result {
        count_refusal(app, method, e);
    }
    match result {
        Ok(caller) => Ok(Some(caller)),
        Err(access::Error::Unauthorized(reason)) => {
            tracing::debug!(reason = reason.as_str(), "credentials refused");
            Err(ApiError::new(ErrorCode::Unauthorized, "invalid or expired credentials"))
        }
        Err(other) => Err(ApiError::from(other)),
    }
}

/// Counts `error` in the metrics if it refused credentials (not if the server failed).
pub(crate) fn count_refusal(app: &AppState, method: AuthMethod, error: &access::Error) {
    let reason = match error {
        access::Error::Unauthorized(refusal) => match refusal {
            Refusal::WrongPassword => AuthReason::WrongPassword,
            Refusal::UnknownPrincipal => AuthReason::UnknownIdentity,
            Refusal::PrincipalDisabled | Refusal::AdminDisabled | Refusal::PrincipalExpired => AuthReason::Disabled,
            Refusal::CredentialGone => AuthReason::ExpiredCredential,
            Refusal::InvalidToken | Refusal::WrongTokenKind => AuthReason::BadToken,
            Refusal::Malformed => AuthReason::Malformed,
            Refusal::AnonymousPullDisabled | Refusal::AnonymousRefreshToken | Refusal::ShuttingDown => {
                AuthReason::Other
            }
        },
        access::Error::Throttled(_) => AuthReason::Throttled,
        _ => return,
    };
    app.metrics.auth_failure(method, reason);
}

/// A token endpoint's sign-in with a token (`method`: `refresh_token`, `access_token`),
/// recorded in the audit log; a refusal answers `401`.
pub(crate) fn token_sign_in(
    app: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    method: &str,
    result: access::Result<Caller>,
) -> Result<Caller, ApiError> {
    match result {
        Ok(caller) => {
            audit::login(app, headers, client, caller.name.as_deref(), method, Ok(()));
            Ok(caller)
        }
        Err(e) => {
            count_refusal(app, AuthMethod::RefreshToken, &e);
            audit::login(app, headers, client, None, method, Err(refusal(&e)));
            Err(ApiError::new(ErrorCode::Unauthorized, "invalid or expired credentials"))
        }
    }
}

/// A refused sign-in's status and `CODE: reason`, for the audit log.
fn refusal(e: &access::Error) -> (u16, String) {
    match e {
        access::Error::Unauthorized(reason) => (401, format!("UNAUTHORIZED: {}", reason.as_str())),
        access::Error::Throttled(r) => {
            (429, format!("TOO_MANY_REQUESTS: {}; retry after {} s", r.reason, r.retry_after))
        }
        _ => (500, "UNKNOWN: internal error".to_owned()),
    }
}

/// Signs the caller in and checks `need`: `401` with a challenge when credentials are missing
/// or wrong; `403 DENIED` naming the missing action when the caller may not, with the challenge
/// too (`insufficient_scope`) when only its token is too narrow (`401` for the catalog).
pub(crate) async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    need: &Need,
) -> Result<Caller, ApiError> {
    authorize_naming(app, headers, client, need, None).await
}

/// [`authorize`], with challenges that also name the scope `also` (`repository:SRC:pull` for a
/// cross-repository mount, so a client that asks for exactly the challenged scope can mount).
pub(crate) async fn authorize_naming(
    app: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    need: &Need,
    also: Option<&str>,
) -> Result<Caller, ApiError> {
    let origin = Origin::of(app, headers);
    let challenge = |e: ApiError| e.header(header::WWW_AUTHENTICATE, origin.challenge(need, also));
    let caller = match sign_in(app, headers, client, &origin.service).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Err(challenge(ApiError::new(ErrorCode::Unauthorized, "authentication required"))),
        Err(e) if e.code() == ErrorCode::Unauthorized => return Err(challenge(e)),
        Err(e) => return Err(e),
    };
    if caller.name.is_none() && *need == Need::Authenticated {
        return Err(challenge(ApiError::new(ErrorCode::Unauthorized, "authentication required")));
    }
    let Err(missing) = auth::check(need, |r| caller.on(r), caller.catalog()) else { return Ok(caller) };
    if caller.name.is_none() {
        return Err(challenge(ApiError::new(ErrorCode::Unauthorized, format!("authentication required: {missing}"))));
    }
    let who = caller.name.as_deref().unwrap_or_default();
    let denied = ApiError::new(ErrorCode::Denied, format!("access denied: {who:?} {missing}"));
    // A token narrower than its principal's rights: the challenge names the scope to ask for
    // (`insufficient_scope`). Clients differ in what makes them ask: podman's search fetches a
    // catalog token only after a 401, oras-py a wider repository token only after a 403.
    let principal_may = auth::check(need, |r| caller.permissions.on(r), caller.permissions.catalog()).is_ok();
    if caller.token.is_none() || !principal_may {
        return Err(denied);
    }
    let narrow = match need {
        Need::Catalog => {
            ApiError::new(ErrorCode::Unauthorized, format!("the token presented does not carry this: {missing}"))
        }
        _ => denied,
    };
    Err(narrow
        .header(header::WWW_AUTHENTICATE, format!("{},error=\"insufficient_scope\"", origin.challenge(need, also))))
}
