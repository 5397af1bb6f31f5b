//! The HTTP edge: routes, the request log, and headers every response carries. Handlers parse
//! requests into typed values, call `registry::`, and build responses; nothing else.

mod acr;
mod admin;
mod audit;
mod auth;
mod body;
mod error;
mod oauth;
mod portal;
mod probes;
mod slots;
mod storage;
pub(crate) mod time;
mod v2;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

pub(crate) use body::read_body;
pub use error::ApiError;
pub(crate) use slots::UploadSlots;

use crate::app::AppState;
use crate::events::metrics::{Metrics, Route};
use crate::oci::ErrorCode;
use error::ErrorCause;

pub fn router(state: AppState) -> Router {
    let pace = body::Pace { idle: state.config.http.body_timeout.0, min_rate: state.config.http.min_body_rate };
    let metrics = state.metrics.clone();
    let api = Router::new()
        .route("/v2", get(v2::base))
        .route("/v2/", get(v2::base))
        .route("/v2/{*path}", any(v2::dispatch))
        .route("/acr/v1/{*path}", any(acr::dispatch))
        .route("/oauth2/token", get(oauth::get_token).post(oauth::post_token))
        .route("/oauth2/exchange", post(oauth::exchange))
        .route("/oauth2/jwks", get(oauth::jwks))
        .nest("/berth/v1", admin::router())
        .route("/metrics", get(admin::metrics))
        .route("/_storage/{*key}", get(storage::get_signed))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    let routes = match state.config.portal.enabled {
        true => portal::mount(api, &state.config.portal.path),
        false => api,
    };
    routes
        .fallback(unknown_path)
        .layer(middleware::from_fn(move |req, next| body::paced(pace, req, next)))
        .layer(middleware::from_fn(check_host))
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(middleware::from_fn(move |req, next| log_request(metrics.clone(), req, next)))
        .with_state(state)
}

/// The request id: the request log puts it on the request (replacing any the client sent), for
/// the edge to read from the headers it has, and on the response.
const REQUEST_ID: &str = "x-request-id";

/// The request's id, as the request log set it.
fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A handler that panics answers 500 naming the request id (logged with the panic), instead of
/// dropping the connection.
async fn catch_panic(req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let id = request_id(req.headers()).unwrap_or_default();
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(res) => res,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let mut e = ApiError::internal(format!("handler panicked: {what}"));
            e.set_message(format!("internal error (request id {id})"));
            e.into_response()
        }
    }
}

/// `?offset=N`: where in a run's log to read from (the API's and the portal's log followers).
#[derive(serde::Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    pub(crate) offset: i64,
}

/// Whether `s` is a host and optional port (`registry.example.com:5000`, `10.0.0.1`,
/// `[::1]:5000`): what a `Host` header or `auth.login_server` may be. Anything else would end
/// up inside challenges and tokens.
pub(crate) fn valid_authority(s: &str) -> bool {
    let (host, port) = match s.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) => {
                if addr.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                ("v6", rest.strip_prefix(':').map(Some).unwrap_or(if rest.is_empty() { None } else { Some("") }))
            }
            None => return false,
        },
        None => match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        },
    };
    let host_ok = host == "v6"
        || (!host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Who makes a change through this request, for the change's event: the request's id, the
/// registry's name as the client addressed it, the method, user agent, identity and address.
pub(crate) fn actor(
    app: &AppState,
    parts: &axum::http::request::Parts,
    caller: &crate::access::Caller,
    client: std::net::IpAddr,
) -> crate::meta::Actor {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    crate::meta::Actor {
        request_id: request_id(&parts.headers),
        host: Some(auth::Origin::of(app, &parts.headers).service),
        method: Some(parts.method.to_string()),
        user_agent: header(header::USER_AGENT),
        identity: caller.name.clone(),
        client_ip: Some(client.to_string()),
        audit: app.auditor.enabled(),
        internal: false,
    }
}

/// Refuses a request whose `Host` is not a host and port (`400`), before it can reach a
/// challenge or a token's audience.
async fn check_host(req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).map(|h| h.to_str().map(valid_authority).unwrap_or(false));
    if host == Some(false) {
        return ApiError::new(ErrorCode::RequestInvalid, "the Host header is not a host name and port").into_response();
    }
    next.run(req).await
}

/// Any path outside the API: 404 in the OCI error format.
async fn unknown_path() -> ApiError {
    ApiError::new(ErrorCode::NameUnknown, "no such endpoint").with_status_not_found()
}

/// Logs one line per request (method, path, status, bytes in and out, duration, request id) and
/// counts it in `metrics`, adds the headers every response carries, and gives HTTP/2 requests
/// their `Host`. 5xx causes are logged here, once. The request id goes on the request too
/// (`X-Request-Id`, replacing any the client sent), for the audit log.
async fn log_request(metrics: Arc<Metrics>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    // HTTP/2 carries the host as the URI's authority, not a `Host` header; the rest of the
    // edge (challenges, token `service`) reads `Host`.
    if !req.headers().contains_key(header::HOST)
        && let Some(host) = req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(header::HOST, host);
    }
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let id_header = HeaderValue::from_str(&id).ok();
    match &id_header {
        Some(v) => req.headers_mut().insert(REQUEST_ID, v.clone()),
        None => req.headers_mut().remove(REQUEST_ID),
    };

    let method = req.method().clone();
    // The path only: query strings may one day carry credentials.
    let path = req.uri().path().to_owned();
    let bytes_in = content_length(req.headers()).unwrap_or(0);
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    if let Some(v) = id_header {
        headers.insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let bytes_out = res.body().size_hint().exact().or_else(|| content_length(res.headers())).unwrap_or(0);
    let seconds = start.elapsed().as_secs_f64();
    metrics.request(method.as_str(), &path, status, bytes_in, bytes_out, seconds);
    let ms = seconds * 1000.0;
    match res.extensions().get::<ErrorCause>() {
        Some(ErrorCause(cause)) => {
            tracing::warn!(request_id = %id, %method, path, status, bytes_in, bytes_out, ms, cause, "request failed")
        }
        // Load balancers probe every few seconds: their answers would drown the log.
        None if status < 500 && Route::of(&path) == Route::Health => {
            tracing::debug!(request_id = %id, %method, path, status, ms, "probe")
        }
        None => {
            tracing::info!(request_id = %id, %method, path, status, bytes_in, bytes_out, ms, "request")
        }
    }
    res
}

/// The request path after `prefix`, percent-decoded: ACR's SDKs send `%2F` inside repository
/// names and `%3A` inside digests.
fn decoded_path(path: &str, prefix: &str) -> Result<String, ApiError> {
    let rest = path.strip_prefix(prefix).unwrap_or_default();
    percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::new(ErrorCode::NameInvalid, "the path is not valid UTF-8 once decoded"))
}

fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_hosts_and_ports_only() {
        for ok in ["registry.example.com", "localhost:5000", "10.0.0.1:443", "[::1]:5000", "[fe80::1]", "a_b.local"] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in
            ["", "evil\",scope=\"x", "a b", "host:port", "host:", "[::1", "[nope]:1", "a/b", "x:123456", "ä.example"]
        {
            assert!(!valid_authority(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_request_id() {
        async fn boom() -> &'static str {
            let numbers: Vec<&str> = Vec::new();
            numbers[std::hint::black_box(3)]
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(middleware::from_fn(catch_panic))
            .layer(middleware::from_fn(|req, next| log_request(Arc::default(), req, next)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let res = reqwest::get(format!("http://{addr}/boom")).await.expect("an answer, not a dropped connection");
        assert_eq!(res.status(), 500);
        let id = res.headers()["x-request-id"].to_str().expect("id").to_owned();
        let body = res.text().await.expect("body");
        assert!(body.contains("UNKNOWN") && body.contains(&id) && !body.contains("index out of bounds"), "{body}");
    }
}
