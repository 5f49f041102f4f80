//! The HTTP listener of `serve` and of the witness: HTTP/1 on hyper with a bound on open
//! connections and timeouts on idle connections, slow request heads and slow bodies, so
//! clients that open connections and send nothing cannot use up the process's file
//! descriptors (20,000 idle connections once made the witness refuse every new one).
//!
//! axum's own `serve` has none of these, so this module accepts and serves connections itself:
//! it counts open connections against a budget sized below the process's `RLIMIT_NOFILE`, and a
//! watcher beside each closes it when it has been idle too long or its request head does not
//! arrive in time. When the budget is spent, a new connection is served in place of the
//! connection idle longest, which is closed, instead of being refused, so idle connections can
//! never lock out a real client; connections with a request in progress are never evicted.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::Router;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// Environment variables that set [`Limits`] (seconds may have a fraction: `0.5`).
pub const HEADER_TIMEOUT_ENV: &str = "UNDERSIGNED_HTTP_HEADER_TIMEOUT_SECS";
pub const BODY_TIMEOUT_ENV: &str = "UNDERSIGNED_HTTP_BODY_TIMEOUT_SECS";
pub const IDLE_TIMEOUT_ENV: &str = "UNDERSIGNED_HTTP_IDLE_TIMEOUT_SECS";
pub const MAX_CONNECTIONS_ENV: &str = "UNDERSIGNED_HTTP_MAX_CONNECTIONS";

/// File descriptors kept for everything but connections: database files and pool
/// connections, SMTP, tiles written to disk, the listener itself.
const RESERVED_FDS: u64 = 1024;
/// Connections served beyond the budget, each in place of an evicted idle one that has not
/// closed yet; past this, a new connection is closed at once. They hold descriptors too, so
/// they are kept out of the budget.
const MAX_OVER: usize = 256;
/// Connections the kernel completes before they are accepted. Listening again on a bound
/// socket sets it; tokio binds with 128 here, and a burst of connections past that waits a
/// second for the client's SYN to be sent again (the kernel caps it at `somaxconn`).
const BACKLOG: i32 = 4096;
/// How long a connection asked to close may still take to finish its response.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    #[error("{name}: {value:?} is not a number of seconds above zero")]
    BadSeconds { name: &'static str, value: String },
    #[error("{name}: {value:?} is not a number of connections above zero")]
    BadCount { name: &'static str, value: String },
}

/// How long a client may take, and how many connections it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Once the first byte of a request head has arrived, the whole head must within this.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this from the head (a body trickled a byte
    /// at a time would otherwise hold its connection for hours).
    pub body_timeout: Duration,
    /// A connection with no request in progress is closed after this (from when it was
    /// accepted or its last response was done). Above the usual proxy keep-alive, so a proxy
    /// in front does not reuse a connection this side just closed.
    pub idle_timeout: Duration,
    /// The most connections served at once; `None`: as many as the descriptor budget allows.
    pub max_connections: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            max_connections: None,
        }
    }
}

impl Limits {
    /// The defaults, with each limit given in its environment variable instead.
    pub fn from_env() -> Result<Self, ListenError> {
        let mut limits = Self::default();
        let var = |name: &'static str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var(HEADER_TIMEOUT_ENV) {
            limits.header_timeout = parse_seconds(HEADER_TIMEOUT_ENV, &v)?;
        }
        if let Some(v) = var(BODY_TIMEOUT_ENV) {
            limits.body_timeout = parse_seconds(BODY_TIMEOUT_ENV, &v)?;
        }
        if let Some(v) = var(IDLE_TIMEOUT_ENV) {
            limits.idle_timeout = parse_seconds(IDLE_TIMEOUT_ENV, &v)?;
        }
        if let Some(v) = var(MAX_CONNECTIONS_ENV) {
            limits.max_connections = Some(parse_count(MAX_CONNECTIONS_ENV, &v)?);
        }
        Ok(limits)
    }
}

/// A number of seconds above zero, as a flag or variable gives it.
pub fn parse_seconds(name: &'static str, value: &str) -> Result<Duration, ListenError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| ListenError::BadSeconds {
            name,
            value: value.to_owned(),
        })
}

fn parse_count(name: &'static str, value: &str) -> Result<usize, ListenError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ListenError::BadCount {
            name,
            value: value.to_owned(),
        })
}

/// Raises this process's soft limit on open files to its hard limit, and returns the soft
/// limit then in force. Many systems start processes at 1,024 while allowing far more.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current != now.maximum {
        let raised = Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return now.maximum.unwrap_or(u64::MAX);
        }
    }
    now.current.unwrap_or(u64::MAX)
}

/// How many connections to serve at once: what was asked for, but never more than the
/// descriptors left after the reserve and the connections served over it (at least 16).
pub fn connection_budget(fd_limit: u64, asked: Option<usize>) -> usize {
    let spare = fd_limit
        .saturating_sub(RESERVED_FDS)
        .saturating_sub(MAX_OVER as u64)
        .max(16);
    let spare = usize::try_from(spare).unwrap_or(usize::MAX);
    asked.map_or(spare, |n| n.min(spare))
}

/// What one connection is doing, read by its watcher and by the accept loop when it looks for
/// a connection to evict. Times are milliseconds since the listener started.
#[derive(Debug)]
struct ConnState {
    /// Requests handed to the router and not answered yet.
    busy: AtomicUsize,
    /// When the connection last became idle (accepted, or its last response done).
    idle_since: AtomicU64,
    /// When the first byte of the next request head was read, plus one; 0: none yet.
    head_since: AtomicU64,
    /// Set once the accept loop chose this connection to close for a new one.
    evicted: AtomicBool,
    close: Notify,
    /// Told when a request head begins, so the watcher moves its deadline from the idle
    /// timeout to the (usually shorter) header timeout.
    head_began: Notify,
}

impl ConnState {
    fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == 0
    }
}

/// What the listener shares with every connection task.
struct Shared {
    router: Router,
    limits: Limits,
    start: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    /// Connections being served.
    open: AtomicUsize,
    /// Connections in the order they became idle, each with the time it did: the front is the
    /// one idle longest, unless it has been busy since (its time no longer matches), so
    /// eviction costs no scan of every connection.
    idle: Mutex<VecDeque<(u64, Weak<ConnState>)>>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn idle_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Weak<ConnState>)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `state` became idle now.
    fn became_idle(&self, state: &Arc<ConnState>) {
        let now = self.now_ms();
        state.idle_since.store(now, Ordering::Release);
        let mut queue = self.idle_queue();
        queue.push_back((now, Arc::downgrade(state)));
        // Entries of connections busy again or gone pile up with every request; drop them
        // once they outnumber the connections, so the queue stays within twice their number.
        let open = self.open.load(Ordering::Acquire);
        if queue.len() > open.saturating_mul(2).max(64) {
            queue.retain(|(at, w)| w.upgrade().is_some_and(|c| is_idle_since(&c, *at)));
        }
    }

    /// Asks the connection idle longest to close, so a new one can be served in its place.
    /// Returns whether there was one.
    fn evict_one(&self) -> bool {
        let mut queue = self.idle_queue();
        while let Some((at, w)) = queue.pop_front() {
            if let Some(c) = w.upgrade() {
                if is_idle_since(&c, at) {
                    c.evicted.store(true, Ordering::Release);
                    c.close.notify_one();
                    return true;
                }
            }
        }
        false
    }
}

/// Whether `c` has been idle since `at` and not chosen for eviction yet.
fn is_idle_since(c: &ConnState, at: u64) -> bool {
    c.is_idle() && c.idle_since.load(Ordering::Acquire) == at && !c.evicted.load(Ordering::Acquire)
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in progress finish (for at most a few seconds).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let budget = connection_budget(raise_fd_limit(), limits.max_connections);
    tracing::info!(
        max_connections = budget,
        header_timeout_ms = limits.header_timeout.as_millis(),
        body_timeout_ms = limits.body_timeout.as_millis(),
        idle_timeout_ms = limits.idle_timeout.as_millis(),
        "HTTP limits"
    );
    if let Err(e) = rustix::net::listen(&listener, BACKLOG) {
        tracing::warn!(error = %e, "could not raise the listen backlog");
    }
    let shared = Arc::new(Shared {
        router,
        limits,
        start: Instant::now(),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
        open: AtomicUsize::new(0),
        idle: Mutex::new(VecDeque::new()),
    });
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of descriptors (the budget should keep this rare) or a connection
                    // reset before it was accepted: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let open = shared.open.load(Ordering::Acquire);
        // Past the budget, the connection idle longest closes and this one is served in its
        // place; if none is idle, or too many evicted ones have not closed yet, this one is
        // closed at once.
        if open >= budget && (open >= budget.saturating_add(MAX_OVER) || !shared.evict_one()) {
            drop(stream);
            continue;
        }
        shared.open.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(serve_connection(stream, shared.clone()));
    }
    drop(listener);
    for c in shared.conns().values() {
        c.close.notify_one();
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while shared.open.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    Ok(())
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let state = Arc::new(ConnState {
        busy: AtomicUsize::new(0),
        idle_since: AtomicU64::new(shared.now_ms()),
        head_since: AtomicU64::new(0),
        evicted: AtomicBool::new(false),
        close: Notify::new(),
        head_began: Notify::new(),
    });
    shared.conns().insert(id, state.clone());
    shared.became_idle(&state);
    let io = TokioIo::new(Tracked {
        stream,
        state: state.clone(),
        shared: shared.clone(),
    });
    let service = {
        let (state, shared) = (state.clone(), shared.clone());
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(state.clone(), shared.clone());
            let deadline = tokio::time::Instant::now() + shared.limits.body_timeout;
            let req = req.map(|body| TimedBody {
                body,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
            });
            let router = shared.router.clone();
            async move {
                let response = router.oneshot(req).await;
                drop(busy);
                response
            }
        })
    };
    // hyper's own header timer would also run while the connection is idle; `watch` keeps
    // the two apart.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    watch(conn, &state, &shared).await;
    shared.conns().remove(&id);
    shared.open.fetch_sub(1, Ordering::AcqRel);
}

/// Drives one connection, closing it when it is idle too long, when its request head is too
/// slow, or when the accept loop evicts it or the server stops. An idle connection
/// (no request in progress, no byte of a new one read) is simply dropped: hyper's graceful
/// shutdown leaves a connection that never had a request open, waiting for one. One with a
/// request in progress is shut down gracefully, so its response still goes out.
async fn watch<F>(conn: F, state: &ConnState, shared: &Shared)
where
    F: Future + ConnectionExt,
{
    let limits = &shared.limits;
    // While a request is in progress there is no deadline here (the body has its own); look
    // again this often. An idle connection sleeps until its deadline, so 20,000 of them cost
    // no wakeups.
    let tick = limits.header_timeout.min(limits.idle_timeout);
    let mut conn = std::pin::pin!(conn);
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let wake = match closing {
            Some(deadline) => deadline,
            None => tokio::time::Instant::now() + next_check(state, shared, tick),
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = state.close.notified(), if closing.is_none() => {
                if state.is_idle() {
                    return;
                }
                conn.as_mut().shut_down();
                closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = state.head_began.notified(), if closing.is_none() => {}
            () = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    return;
                }
                match verdict(state, shared) {
                    Verdict::Keep => {}
                    Verdict::Idle | Verdict::SlowHead => return,
                }
            }
        }
    }
}

/// hyper's graceful shutdown, behind a trait so `watch` can take the connection's future
/// without naming its service type.
trait ConnectionExt {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S> ConnectionExt for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: Body + 'static,
    <S::ResBody as Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

enum Verdict {
    Keep,
    Idle,
    SlowHead,
}

fn verdict(state: &ConnState, shared: &Shared) -> Verdict {
    if state.busy.load(Ordering::Acquire) > 0 {
        return Verdict::Keep;
    }
    let now = shared.now_ms();
    let head = state.head_since.load(Ordering::Acquire);
    if head > 0 {
        return if now.saturating_sub(head - 1) >= millis(shared.limits.header_timeout) {
            Verdict::SlowHead
        } else {
            Verdict::Keep
        };
    }
    let idle = state.idle_since.load(Ordering::Acquire);
    if now.saturating_sub(idle) >= millis(shared.limits.idle_timeout) {
        Verdict::Idle
    } else {
        Verdict::Keep
    }
}

/// How long until the connection's next deadline: the header timeout's while a head is
/// arriving, the idle timeout's while idle; `tick` while a request is in progress.
fn next_check(state: &ConnState, shared: &Shared, tick: Duration) -> Duration {
    if state.busy.load(Ordering::Acquire) > 0 {
        return tick;
    }
    let now = shared.now_ms();
    let head = state.head_since.load(Ordering::Acquire);
    let due = if head > 0 {
        (head - 1).saturating_add(millis(shared.limits.header_timeout))
    } else {
        state
            .idle_since
            .load(Ordering::Acquire)
            .saturating_add(millis(shared.limits.idle_timeout))
    };
    Duration::from_millis(due.saturating_sub(now)).max(Duration::from_millis(1))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A request in progress on a connection, from its head to its response.
struct Busy {
    state: Arc<ConnState>,
    shared: Arc<Shared>,
}

impl Busy {
    fn start(state: Arc<ConnState>, shared: Arc<Shared>) -> Self {
        state.busy.fetch_add(1, Ordering::AcqRel);
        state.head_since.store(0, Ordering::Release);
        Self { state, shared }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.state.head_since.store(0, Ordering::Release);
        if self.state.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.became_idle(&self.state);
        }
    }
}

/// The connection's socket, noting when the first byte of a request head arrives.
struct Tracked {
    stream: TcpStream,
    state: Arc<ConnState>,
    shared: Arc<Shared>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before
            && this.state.busy.load(Ordering::Acquire) == 0
            && this.state.head_since.load(Ordering::Acquire) == 0
        {
            this.state
                .head_since
                .store(this.shared.now_ms().saturating_add(1), Ordering::Release);
            this.state.head_began.notify_one();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request body that must arrive whole by a deadline. tower-http's body timeout restarts
/// with every frame, so a body trickled a byte at a time would never end; this one does.
struct TimedBody {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

/// The error a body too slow to arrive ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
