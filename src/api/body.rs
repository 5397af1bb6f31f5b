//! Request bodies on every route: a body must keep coming (no pause longer than
//! `http.body_timeout`, as nginx's `client_body_timeout`) and keep a minimum pace (at least
//! `http.min_body_rate` bytes a second over each window of that length), so that a client
//! trickling bytes cannot hold a request, its connection and what it holds open for longer
//! than its progress justifies. Small bodies (JSON, forms) are read whole, up to a limit.
//!
//! A body a handler did not read (an early 401, 403 or 404) is read and discarded after the
//! answer, up to [`DRAIN_LIMIT`]: many clients send each chunk once without credentials,
//! expecting the 401, and one that is still writing when the connection closes never reads it
//! (over TLS its write fails first). Past the limit the connection is closed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::ApiError;
use crate::oci::ErrorCode;

/// How a request body must keep coming.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    /// Longest pause between two pieces.
    pub(crate) idle: Duration,
    /// Bytes a second the body must average over each window of `idle`; 0: no floor.
    pub(crate) min_rate: u64,
}

/// Middleware: every request's body paced by `pace`.
pub(crate) async fn paced(pace: Pace, req: Request, next: Next) -> Response {
    next.run(req.map(|body| pace.apply(body))).await
}

/// Where a paced body stands.
struct Progress {
    window_start: Instant,
    window_bytes: u64,
    last: Instant,
}

impl Pace {
    fn apply(self, body: Body) -> Body {
        use axum::body::HttpBody as _;
        if body.size_hint().exact() == Some(0) {
            return body;
        }
        let chunks = body.into_data_stream();
        let stream = futures_util::stream::unfold(Some((chunks, None::<Progress>)), move |state| async move {
            let (mut chunks, progress) = state?;
            // The clock starts when the body is first read, not when the request arrived.
            let now = Instant::now();
            let mut p = progress.unwrap_or(Progress { window_start: now, window_bytes: 0, last: now });
            loop {
                let now = Instant::now();
                if now >= p.window_start + self.idle {
                    let floor = self.min_rate.saturating_mul(self.idle.as_secs().max(1));
                    if p.window_bytes < floor {
                        let message = format!(
                            "request body slower than {} bytes a second for {} s",
                            self.min_rate,
                            self.idle.as_secs()
                        );
                        return Some((Err(io::Error::new(io::ErrorKind::TimedOut, message)), None));
                    }
                    p.window_start = now;
                    p.window_bytes = 0;
                }
                let wake = (p.last + self.idle).min(p.window_start + self.idle);
                match tokio::time::timeout_at(wake, chunks.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        p.window_bytes = p.window_bytes.saturating_add(chunk.len() as u64);
                        p.last = Instant::now();
                        return Some((Ok(chunk), Some((chunks, Some(p)))));
                    }
                    Ok(Some(Err(e))) => return Some((Err(io::Error::other(e)), None)),
                    Ok(None) => return None,
                    Err(_) if Instant::now() >= p.last + self.idle => {
                        let message = format!("no request body for {} s", self.idle.as_secs());
                        return Some((Err(io::Error::new(io::ErrorKind::TimedOut, message)), None));
                    }
                    // A window ended: check the pace above.
                    Err(_) => {}
                }
            }
        });
        Body::from_stream(Unread { inner: Some(stream.boxed()), ended: false })
    }
}

/// Bytes of an unread request body drained after the answer, at most.
const DRAIN_LIMIT: u64 = 8 << 20;

/// A request body that, dropped before its end, is drained in the background (paced, and up to
/// [`DRAIN_LIMIT`]), so the client can finish sending and read the answer.
struct Unread {
    inner: Option<BoxStream<'static, io::Result<Bytes>>>,
    ended: bool,
}

impl Stream for Unread {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let next = inner.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(None | Some(Err(_)))) {
            self.ended = true;
        }
        next
    }
}

impl Drop for Unread {
    fn drop(&mut self) {
        let (false, Some(mut inner)) = (self.ended, self.inner.take()) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let mut drained = 0u64;
            while let Some(Ok(chunk)) = inner.next().await {
                drained += chunk.len() as u64;
                if drained > DRAIN_LIMIT {
                    break;
                }
            }
        });
    }
}

/// A small request body, whole: `413 SIZE_INVALID` past `limit` bytes, `400` if it fails or
/// stalls.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::RequestInvalid, format!("request body failed: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!("request body over {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.into())
}
