//! What the HTTP edge records in the audit log (see `events::audit`): sign-ins that check a
//! secret, as they happen, and repository events, which a handler describes in an [`Audited`]
//! response extension that the request log completes (status, size, client, request id) once
//! the answer is built. Successful pushes, deletes and untags are stored by the
//! transaction that makes the change; here they only go to the JSON-lines file. A `401` is not a repository event
//! (it is the challenge of docker's token handshake, or a failed sign-in, recorded as one).

use std::net::{IpAddr, SocketAddr};

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::events::audit::{self, AuditEntry};

/// A repository event the handler answered; the request log completes and records it.
#[derive(Debug, Clone)]
pub(super) struct Audited(pub(super) Box<AuditEntry>);

/// Why a request failed, as `CODE: message`, for the audit entry of a failure.
#[derive(Debug, Clone)]
pub(super) struct Refusal(pub(super) String);

/// Completes and records the repository event a handler attached to its answer, if it is one
/// to record: a middleware inside the request log, which has put the request id on the request.
pub(super) async fn record(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let user_agent = req.headers().get(header::USER_AGENT).cloned();
    let request_id = req.headers().get(super::REQUEST_ID).cloned();
    let bytes_in = super::content_length(req.headers());
    let mut res = next.run(req).await;
    if let Some(Audited(e)) = res.extensions_mut().remove::<Audited>() {
        let text = |v: Option<HeaderValue>| v.and_then(|v| v.to_str().ok().map(str::to_owned));
        let (user_agent, request_id) = (text(user_agent), text(request_id));
        complete(&app, &res, *e, Seen { client, user_agent, request_id, bytes_in });
    }
    res
}

/// What the middleware saw of the request.
struct Seen {
    client: Option<IpAddr>,
    user_agent: Option<String>,
    request_id: Option<String>,
    bytes_in: Option<u64>,
}

fn complete(app: &AppState, res: &Response, mut e: AuditEntry, seen: Seen) {
    let status = res.status().as_u16();
    let success = status < 400;
    if status == 401 {
        return;
    }
    e.status = Some(i64::from(status));
    e.result = audit::outcome(success).into();
    e.client_ip = seen.client.map(|ip| ip.to_string());
    e.user_agent = seen.user_agent;
    e.request_id = seen.request_id;
    if e.digest.is_none() {
        e.digest = res.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned);
    }
    let bytes_out = || res.body().size_hint().exact().or_else(|| super::content_length(res.headers()));
    e.size = match (e.operation.as_str(), success) {
        ("pull", true) => bytes_out().and_then(|n| i64::try_from(n).ok()),
        ("push", _) => seen.bytes_in.and_then(|n| i64::try_from(n).ok()),
        _ => None,
    };
    if !success {
        e.detail = res.extensions().get::<Refusal>().map(|r| r.0.clone());
    }
    if success && e.operation != "pull" {
        // The transaction that made the change stored its entries: the JSON-lines file only.
        app.auditor.committed(&e);
    } else {
        app.auditor.record(e);
    }
}

/// Attaches `entry` (if any) to `res` for the request log.
pub(super) fn attach(mut res: Response, entry: Option<AuditEntry>) -> Response {
    if let Some(e) = entry {
        res.extensions_mut().insert(Audited(Box::new(e)));
    }
    res
}

/// Records a sign-in attempt by `identity` (the name tried) with `method`: `Ok` or the
/// refusal as `CODE: message` with its status.
pub(super) fn login(
    app: &AppState,
    headers: &HeaderMap,
    client: IpAddr,
    identity: Option<&str>,
    method: &str,
    result: Result<(), (u16, String)>,
) {
    if !app.auditor.enabled() {
        return;
    }
    let mut e = audit::login(identity, method, result.is_ok());
    if let Err((status, detail)) = result {
        e.status = Some(i64::from(status));
        e.detail = Some(detail);
    }
    e.client_ip = Some(client.to_string());
    e.user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    e.request_id = super::request_id(headers);
    app.auditor.record(e);
}
