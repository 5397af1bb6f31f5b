//! The accept loop and the life of each connection, plain or TLS, HTTP/1.1 or HTTP/2.
//!
//! No connection outlives its use: one with no request in flight for `http.idle_timeout` is
//! closed (a keep-alive connection left open, an HTTP/2 connection that sent only its preface, a
//! client that connected and said nothing), and so is one whose client stops reading a response
//! for `http.body_timeout`. Request headers must arrive within `http.header_timeout`, and
//! request bodies keep a pace (see `api::body`). When the process runs out of file descriptors,
//! the connections idle longest are closed at once so that new clients are still served.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::AppState;

/// How long a connection closing gracefully (for being idle) may take before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves the registry on `listener`, over TLS when `tls` is given, until `shutdown`
/// completes; requests in flight then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    state.tasks.listening_on(listener.local_addr()?);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let http = &state.config.http;
    let limits = Limits { header: http.header_timeout.0, idle: http.idle_timeout.0, stall: http.body_timeout.0 };
    let router = crate::api::router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header);
    builder.http2().timer(TokioTimer::new());
    let live = Arc::new(Live::default());
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    if is_out_of_descriptors(&e) {
                        let shed = live.shed_idle();
                        tracing::warn!(error = %e, shed, "out of file descriptors: closed the connections idle longest");
                    } else {
                        tracing::warn!(error = %e, "accept failed");
                    }
                    // Back off instead of spinning while descriptors are freed.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses (manifests, upload status) must not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let conn = live.add();
        let (acceptor, builder, stop, live) = (acceptor.clone(), builder.clone(), stop.clone(), live.clone());
        let service = Tracked {
            inner: TowerToHyperService::new(router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)))),
            conn: conn.clone(),
        };
        tracker.spawn(async move {
            match acceptor {
                None => {
                    connection(&builder, Watched { io: tcp, conn: conn.clone() }, service, &conn, &stop, limits).await
                }
                Some(acceptor) => match tokio::time::timeout(limits.header, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        connection(&builder, Watched { io: tls, conn: conn.clone() }, service, &conn, &stop, limits)
                            .await
                    }
                    _ => tracing::debug!(%peer, "TLS handshake failed or timed out"),
                },
            }
            live.remove(conn.id);
        });
    }
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (this process) and ENFILE (the system).
    matches!(e.raw_os_error(), Some(24 | 23))
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    idle: Duration,
    stall: Duration,
}

/// Milliseconds since the first call: the clock of connection activity.
fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What the watchdog knows of one connection.
#[derive(Debug)]
struct Conn {
    id: u64,
    in_flight: AtomicUsize,
    /// When the last request started or ended (or the connection opened).
    last_request: AtomicU64,
    /// Since when a write has been waiting for the client to read; 0 if none is.
    blocked_since: AtomicU64,
    /// Cancelled to close the connection at once.
    shed: CancellationToken,
}

impl Conn {
    /// How long it has had no request in flight, if none is.
    fn idle_for(&self) -> Option<Duration> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| Duration::from_millis(now().saturating_sub(self.last_request.load(Ordering::Acquire))))
    }

    /// How long a write has been waiting for the client to read.
    fn stalled_for(&self) -> Duration {
        match self.blocked_since.load(Ordering::Acquire) {
            0 => Duration::ZERO,
            since => Duration::from_millis(now().saturating_sub(since)),
        }
    }
}

/// The connections open now.
#[derive(Debug, Default)]
struct Live {
    next: AtomicU64,
    conns: Mutex<std::collections::HashMap<u64, Arc<Conn>>>,
}

impl Live {
    fn add(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            in_flight: AtomicUsize::new(0),
            last_request: AtomicU64::new(now()),
            blocked_since: AtomicU64::new(0),
            shed: CancellationToken::new(),
        });
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(conn.id, conn.clone());
        }
        conn
    }

    fn remove(&self, id: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&id);
        }
    }

    /// Closes the half of the idle connections that were idle longest (at least one); how many.
    fn shed_idle(&self) -> usize {
        let Ok(conns) = self.conns.lock() else { return 0 };
        let mut idle: Vec<(Duration, &Arc<Conn>)> =
            conns.values().filter_map(|c| Some((c.idle_for()?, c))).filter(|(_, c)| !c.shed.is_cancelled()).collect();
        idle.sort_by_key(|(for_how_long, _)| std::cmp::Reverse(*for_how_long));
        let n = idle.len().div_ceil(2);
        for (_, c) in &idle[..n] {
            c.shed.cancel();
        }
        n
    }
}

/// Serves one connection until it closes, the server stops, or its watchdog closes it.
async fn connection<I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    service: Tracked,
    conn: &Conn,
    stop: &CancellationToken,
    limits: Limits,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let served = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(served);
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            () = conn.shed.cancelled() => return,
            () = stop.cancelled(), if closing.is_none() => {
                served.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + Duration::from_secs(86_400));
            }
            _ = watch.tick() => {
                if closing.is_some_and(|deadline| Instant::now() >= deadline) || conn.stalled_for() >= limits.stall {
                    return;
                }
                if closing.is_none() && conn.idle_for().is_some_and(|idle| idle >= limits.idle) {
                    served.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + CLOSE_GRACE);
                }
            }
        }
    }
}

/// The router as a hyper service that counts each request in flight on its connection, from
/// its start until its response body is sent (or dropped).
#[derive(Clone)]
struct Tracked {
    inner: TowerToHyperService<axum::Router>,
    conn: Arc<Conn>,
}

/// One request in flight on `conn`.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn start(conn: Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.last_request.store(now(), Ordering::Release);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_request.store(now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = hyper::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let guard = InFlight::start(self.conn.clone());
        let response = self.inner.call(req);
        Box::pin(async move {
            let res = response.await?;
            Ok(res.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &guard;
                    frame
                }))
            }))
        })
    }
}

/// A connection's transport, noting when writes wait for the client to read.
struct Watched<I> {
    io: I,
    conn: Arc<Conn>,
}

impl<I> Watched<I> {
    fn note<T>(&self, poll: Poll<T>) -> Poll<T> {
        match &poll {
            Poll::Pending => {
                let _ = self.conn.blocked_since.compare_exchange(0, now().max(1), Ordering::AcqRel, Ordering::Acquire);
            }
            Poll::Ready(_) => self.conn.blocked_since.store(0, Ordering::Release),
        }
        poll
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.note(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
