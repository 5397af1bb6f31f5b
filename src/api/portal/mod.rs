//! The portal: server-rendered pages for browsing the registry in a browser, compiled into the
//! binary (maud templates, one stylesheet, one small script no page needs to read). A browser signs in through a form with
//! the registry's own identities and then carries a session cookie; every page authorizes the
//! session's caller exactly as the API authorizes a token, through the same `Caller`.
//!
//! The session is a signed token (`access::Access::session_token`), so it holds on every node
//! behind a load balancer and a change of rights or a disabled identity takes effect on the next
//! page. The cookie is HttpOnly and SameSite=Strict; forms also carry a CSRF token derived from
//! the session (a browser on another site can neither read the cookie nor compute it), and a
//! POST from another origin is refused before anything else.

mod access;
mod manifest;
mod overview;
mod repositories;
mod repository;
mod settings;
mod signin;
mod tasks;
mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

use super::ApiError;
use super::auth::Origin;
use crate::access::{Caller, SESSION_TTL};
use crate::app::AppState;
use crate::auth::{self, Manage, Need};
use crate::meta::Actor;
use crate::registry;

/// The session cookie's name.
const COOKIE: &str = "berth_session";
/// Rows per page of a listing.
const PAGE: u32 = 100;
const STYLESHEET: &str = include_str!("portal.css");
/// Search as you type and a running task's log followed in place: the only script, and no
/// page needs it to read.
const SCRIPT: &str = include_str!("portal.js");
/// Scripts only from the portal's own file (no inline script, so nothing a page shows can
/// run), nothing from elsewhere, never inside a frame.
const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// Adds the portal's pages to `router` at `path` (`/` or a prefix).
pub(super) fn mount(router: Router<AppState>, path: &str) -> Router<AppState> {
    if path == "/" { router.merge(routes()) } else { router.nest(path, routes()) }
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show_overview))
        .route("/signin", get(signin::show_sign_in).post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .route("/repositories", get(repositories::list_repositories))
        .route("/repository", get(repository::show_repository))
        .route("/repository/locks", post(repository::set_lock))
        .route("/repository/untag", post(repository::untag))
        .route("/repository/delete-manifest", post(repository::delete_manifest))
        .route("/repository/quarantine", post(repository::set_quarantine))
        .route("/repository/delete", post(repository::delete_repository))
        .route("/manifest", get(manifest::show_manifest))
        .route("/access", get(access::show_access))
        .route("/access/admin/status", post(access::set_admin_status))
        .route("/access/admin/renew", post(access::renew_admin_password))
        .route("/access/users", post(access::create_user))
        .route("/access/users/status", post(access::set_user_status))
        .route("/access/users/renew", post(access::renew_user_password))
        .route("/access/users/delete", post(access::delete_user))
        .route("/access/roles", post(access::assign_role))
        .route("/access/roles/delete", post(access::remove_role))
        .route("/access/tokens", post(access::create_token))
        .route("/access/tokens/status", post(access::set_token_status))
        .route("/access/tokens/renew", post(access::renew_token_password))
        .route("/access/tokens/delete", post(access::delete_token))
        .route("/access/scopemaps", post(access::create_scope_map))
        .route("/access/scopemaps/delete", post(access::delete_scope_map))
        .route("/settings", get(settings::show_settings))
        .route("/settings/registry", post(settings::update_registry))
        .route("/settings/retention", post(settings::update_retention))
        .route("/settings/gc", post(settings::run_gc))
        .route("/settings/webhooks", post(webhooks::create_webhook))
        .route("/settings/webhook", get(webhooks::show_webhook))
        .route("/settings/webhook/status", post(webhooks::set_webhook_status))
        .route("/settings/webhook/ping", post(webhooks::ping_webhook))
        .route("/settings/webhook/redeliver", post(webhooks::redeliver_event))
        .route("/settings/webhook/delete", post(webhooks::delete_webhook))
        .route("/tasks", get(tasks::list_tasks))
        .route("/runs", get(tasks::list_runs))
        .route("/runs/{id}", get(tasks::show_run))
        .route("/runs/{id}/log", get(tasks::run_log))
        .route("/runs/{id}/cancel", post(tasks::cancel_run))
        .route("/portal.css", get(stylesheet))
        .route("/portal.js", get(script))
        .layer(middleware::from_fn(security_headers))
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
        .into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], SCRIPT)
        .into_response()
}

/// The headers every portal response carries: what the page may load, and no sniffing,
/// framing, referrers or caching of pages that show what one caller may see.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    res
}

/// What a page could not do, as the page that says so.
#[derive(Debug, thiserror::Error)]
pub(super) enum PortalError {
    /// No session, or one that no longer holds: the sign-in page, at this portal's `base`.
    #[error("sign in first")]
    SignInRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Access(#[from] crate::access::Error),
    /// A failure the API's error already describes (and logs).
    #[error("{0:?}")]
    Api(ApiError),
}

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        PortalError::Api(e)
    }
}

/// Webhook errors as the API maps them (unknown: 404, invalid: 400, duplicate: 409).
impl From<crate::events::webhooks::Error> for PortalError {
    fn from(e: crate::events::webhooks::Error) -> Self {
        PortalError::Api(e.into())
    }
}

/// Task and run errors as the API maps them (unknown: 404, invalid: 400, conflict: 409).
impl From<crate::tasks::Error> for PortalError {
    fn from(e: crate::tasks::Error) -> Self {
        PortalError::Api(e.into())
    }
}

impl IntoResponse for PortalError {
    /// The error page, with the status and message the API gives the same error (its
    /// internal failures logged, never shown).
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PortalError::SignInRequired(base) => {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, format!("{base}/signin"))]).into_response();
            }
            PortalError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            PortalError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PortalError::Registry(e) => return api_error_page(e.into()),
            PortalError::Access(e) => return api_error_page(e.into()),
            PortalError::Api(e) => return api_error_page(e),
        };
        error_page(status, &message)
    }
}

/// The page that says what went wrong.
fn error_page(status: StatusCode, message: &str) -> Response {
    // Unstyled: an error does not know where this portal's stylesheet is.
    let body = layout("Error", None, None, None, html! { h1 { "Error" } p.error role="alert" { (message) } });
    (status, body).into_response()
}

/// An API error as a page: its status and message, and what it carries for the request log
/// (never its `WWW-Authenticate`, which would make a browser ask for Basic credentials).
fn api_error_page(e: ApiError) -> Response {
    let (status, message) = (e.status_code(), e.message().to_owned());
    let (parts, _) = e.into_response().into_parts();
    let mut res = error_page(status, &message);
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        res.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    res.extensions_mut().extend(parts.extensions);
    res
}

type PageResult = Result<Response, PortalError>;

/// The portal's path prefix as links start with it: empty at `/`.
fn base(app: &AppState) -> String {
    app.config.portal.path.trim_end_matches('/').to_owned()
}

/// A signed-in browser: who it is, and the token its forms carry.
pub(super) struct Session {
    caller: Caller,
    csrf: String,
    base: String,
    /// Who makes the changes a form asks for, for their events and audit entries.
    actor: Actor,
}

impl Session {
    /// The session the request's cookie holds; [`PortalError::SignInRequired`] without one
    /// that holds now (expired, signed by a retired key, or its identity changed).
    async fn of(app: &AppState, headers: &HeaderMap) -> Result<Self, PortalError> {
        let base = base(app);
        let Some(token) = cookie(headers) else { return Err(PortalError::SignInRequired(base)) };
        let service = Origin::of(app, headers).service;
        match app.access.session(token, &service).await {
            Ok(caller) => {
                let actor = Actor { identity: caller.name.clone(), audit: app.auditor.enabled(), ..Actor::default() };
                Ok(Session { caller, csrf: csrf_token(token), base, actor })
            }
            Err(crate::access::Error::Unauthorized(_)) => Err(PortalError::SignInRequired(base)),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of this session.
    fn page(&self, title: &str, main: Markup) -> Response {
        layout(title, Some(&self.base), Some(self), None, main)
    }

    /// A page of this session with `head` added to its `<head>`.
    fn page_with_head(&self, title: &str, head: Markup, main: Markup) -> Response {
        layout(title, Some(&self.base), Some(self), Some(head), main)
    }

    /// `Forbidden` unless the caller may do what `need` names, as the API checks it.
    fn check(&self, need: &Need) -> Result<(), PortalError> {
        auth::check(need, |r| self.caller.on(r), self.caller.catalog())
            .map_err(|missing| PortalError::Forbidden(format!("access denied: {missing}")))
    }

    /// Whether the caller may read management pages (Reader or more).
    fn manages(&self) -> bool {
        self.caller.manage() >= Manage::Read
    }

    /// `Forbidden` unless the caller has management rights `level`, as the API requires them.
    fn check_manage(&self, level: Manage) -> Result<(), PortalError> {
        match self.caller.manage() >= level {
            true => Ok(()),
            false => Err(PortalError::Forbidden(format!("access denied: needs management rights ({level:?})"))),
        }
    }

    /// A form POSTed by a page of this portal: refused from another site, without a session
    /// that holds, or without this session's CSRF token; else the session and the form.
    async fn form<T: DeserializeOwned>(app: &AppState, req: Request) -> Result<(Self, T), PortalError> {
        let client = super::auth::client_ip(&req);
        let (parts, body) = req.into_parts();
        if !same_origin(&parts.headers) {
            return Err(PortalError::Forbidden("a form from another site is refused".into()));
        }
        let mut session = Session::of(app, &parts.headers).await?;
        session.actor = super::actor(app, &parts, &session.caller, client);
        let bytes = read_form_bytes(body).await?;
        let CsrfForm { csrf } = parse_form(&bytes)?;
        session.check_csrf(csrf.as_deref())?;
        Ok((session, parse_form(&bytes)?))
    }

    /// The hidden field every form of this session carries.
    fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// Asks before an action that cannot be undone: a page with `question` and a form that
    /// POSTs `fields` to `action` again, with `confirm=yes` (and a way back to `back`).
    fn confirm(&self, question: &str, action: &str, fields: &[(&str, &str)], back: &str) -> Response {
        let body = html! {
            h1 { "Are you sure?" }
            p #question { (question) }
            form.confirm method="post" action=(format!("{}{action}", self.base)) {
                (self.csrf_field())
                @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { "Yes, do it" }
                " " a href=(back) { "Cancel" }
            }
        };
        self.page("Confirm", body)
    }

    /// `Forbidden` unless the form's CSRF token is this session's.
    fn check_csrf(&self, sent: Option<&str>) -> Result<(), PortalError> {
        // Compared in constant time: how far a guess matched must not show in the timing.
        let equal = sent.is_some_and(|s| {
            s.len() == self.csrf.len() && s.bytes().zip(self.csrf.bytes()).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
        });
        match equal {
            true => Ok(()),
            false => Err(PortalError::Forbidden("the form is stale or came from elsewhere: reload the page".into())),
        }
    }
}

/// Every form's CSRF field.
#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// The largest form read.
const MAX_FORM: usize = 16 * 1024;

/// A URL-encoded form body, whole (small: [`MAX_FORM`]).
async fn read_form_bytes(body: axum::body::Body) -> Result<axum::body::Bytes, PortalError> {
    axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| PortalError::BadRequest("the form is too large or was cut off".into()))
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PortalError> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| PortalError::BadRequest(format!("the form is malformed: {e}")))
}

/// Whether a form's `confirm` field says the user confirmed.
fn confirmed(value: &Option<String>) -> bool {
    value.as_deref() == Some("yes")
}

/// A redirect after a form's action (POST, then GET the page that shows its result).
fn see_other(location: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The session token in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: a hash of its token, which only the browser holding the cookie
/// (and the server) can compute.
fn csrf_token(session: &str) -> String {
    let digest = Sha256::new().chain_update(b"berth portal csrf\0").chain_update(session.as_bytes()).finalize();
    hex::encode(&digest[..16])
}

/// Whether a POST comes from a page of this portal: browsers say where a request comes from
/// (`Sec-Fetch-Site`, else `Origin`); a client that says neither is not a browser another site
/// can drive.
fn same_origin(headers: &HeaderMap) -> bool {
    let value = |name| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = value("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match value(header::ORIGIN.as_str()) {
        Some(origin) => {
            let host = value(header::HOST.as_str()).unwrap_or_default();
            origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        }
        None => true,
    }
}

/// The `Set-Cookie` value of a session (`None`: the one that ends it).
fn session_cookie(app: &AppState, headers: &HeaderMap, base: &str, token: Option<&str>) -> String {
    let path = if base.is_empty() { "/" } else { base };
    let secure = if Origin::of(app, headers).realm.starts_with("https:") { "; Secure" } else { "" };
    match token {
        Some(t) => {
            format!("{COOKIE}={t}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_TTL)
        }
        None => format!("{COOKIE}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The overview's path.
fn home(base: &str) -> String {
    if base.is_empty() { "/".to_owned() } else { base.to_owned() }
}

/// A page: the shared frame (the stylesheet at `base`, `head` if any, and navigation and
/// sign-out for a session) around `main`.
fn layout(title: &str, base: Option<&str>, session: Option<&Session>, head: Option<Markup>, main: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Berth" }
                @if let Some(base) = base { link rel="stylesheet" href=(format!("{base}/portal.css")); }
                @if let Some(head) = head { (head) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if let Some(s) = session {
                    header {
                        nav aria-label="Portal" {
                            a href=(home(&s.base)) { "Overview" }
                            a href=(format!("{}/repositories", s.base)) { "Repositories" }
                            @if s.manages() {
                                a href=(format!("{}/tasks", s.base)) { "Tasks" }
                                a href=(format!("{}/access", s.base)) { "Access" }
                                a href=(format!("{}/settings", s.base)) { "Settings" }
                            }
                        }
                        form method="post" action=(format!("{}/signout", s.base)) {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span.who { (s.caller.name.as_deref().unwrap_or_default()) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (main) }
            }
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response()
}

/// A link to `path` with the query `params`, encoded.
fn link(base: &str, path: &str, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") }
}

/// A time (ms since the epoch) to the second as people read it, `2026-11-29 22:24:38Z`: a
/// valid `<time>` as it stands, so a page of them carries no second copy for machines.
fn when(ms: i64) -> Markup {
    let exact = crate::api::time::iso8601_z(ms);
    let shown = format!("{}Z", exact.get(..19).unwrap_or(&exact).replacen('T', " ", 1));
    html! { time { (shown) } }
}

/// `1.5 MiB` and the like.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; berth_session=tok; b=2"));
        assert_eq!(cookie(&headers), Some("tok"));
        headers.insert(header::COOKIE, HeaderValue::from_static("berth_sessionx=no; berth_session="));
        assert_eq!(cookie(&headers), None);
    }

    #[test]
    fn posts_from_other_sites_are_not_same_origin() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("reg.example:5000"));
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            same_origin(&h)
        };
        assert!(with(&[]));
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(!with(&[("sec-fetch-site", "cross-site")]));
        assert!(with(&[("origin", "http://reg.example:5000")]));
        assert!(!with(&[("origin", "http://evil.example")]));
        assert!(!with(&[("origin", "null")]));
    }

    #[test]
    fn times_read_to_the_second_in_utc() {
        assert_eq!(when(1_795_990_202_123).into_string(), "<time>2026-11-29 22:10:02Z</time>");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
