//! Dev outbox: a small in-process SMTP server (RFC 5321 subset) that stores received mail in memory.
//!
//! It serves two purposes: `undersigned serve --dev` uses it so that a newcomer can try
//! issuance without configuring a mail server, and the integration tests start one to
//! observe what the server actually sends over the wire.
//!
//! Design notes:
//! - Everything is bounded: command/data line lengths, message size, recipients per
//!   transaction, concurrent connections, errors per connection, stored messages, and
//!   the time a peer may take to send one line. A misbehaving client can therefore
//!   neither exhaust memory nor pin a connection forever.
//! - Input is never trusted: nothing here indexes, unwraps or panics on peer data.
//! - Nothing is logged. Mail contains addresses, and the peer address is an IP; the
//!   project's privacy rule forbids logging either, so observers get the data through
//!   [`Outbox::messages`] / [`Outbox::subscribe`] and decide for themselves.
//! - The SMTP side is ours, the MIME side is not. Reading a message (headers, encoded
//!   words, multipart, transfer encodings, charsets) is `mail-parser`'s job. For the server
//!   side we found no crate to trust with these bounds: the async SMTP server crates on
//!   crates.io (minismtp, smtpd, rust-smtp-server, rs-smtp) are small projects with one or two
//!   releases and few users, and `mailin-embedded` is synchronous, with a thread pool of its own
//!   beside tokio's. `mailin` (the state machine under it, IO left to the caller) was tried
//!   and would weaken what this server promises (mailin 0.6.5): its parser refuses the null
//!   sender `MAIL FROM:<>` that RFC 5321 4.5.5 requires and every MAIL parameter but BODY
//!   (so a declared SIZE cannot be checked, and the EHLO reply, which it writes itself, cannot
//!   advertise one); a refusal at the end of DATA (too big, line too long) leaves its machine
//!   in the DATA state, so the client's next commands would be read as message text; and it
//!   logs every command line, addresses included, through `log` at trace level, which a
//!   `tracing` subscriber forwards.
//!   What remains here is the RFC 5321 subset a relay for our own mailer needs: the dialogue
//!   as an explicit state with one function per state (`session`), one reader of bounded
//!   lines (`line`).
//! - PIPELINING is deliberately not advertised, so well-behaved clients wait for every
//!   reply; the reader still copes with pipelined input because it is line-buffered.
#![forbid(unsafe_code)]

mod line;
mod mime;
mod session;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

use session::Session;

/// Limits and identity of an [`Outbox`]. `Default` gives values suitable for dev and tests.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Name used in the greeting and EHLO reply. Not the machine's hostname, so the
    /// dev outbox reveals nothing about the host it runs on.
    pub hostname: String,
    /// Oldest messages are dropped once more than this many are stored.
    pub max_messages: usize,
    /// Maximum size of one message (DATA content after dot-unstuffing), in bytes.
    pub max_message_size: usize,
    /// Maximum accepted RCPT TO per transaction (RFC 5321 4.5.3.1.8 minimum is 100).
    pub max_recipients: usize,
    /// Maximum simultaneously served connections; extra ones get 421.
    pub max_connections: usize,
    /// Maximum command line length including CRLF (RFC 5321 4.5.3.1.4: 512).
    pub max_command_line: usize,
    /// Maximum text line length in DATA including CRLF (RFC 5321 4.5.3.1.6: 1000).
    /// Kept strict on purpose: if our own mail ever violates it, strict real MTAs
    /// would break it, and we want to find out in dev rather than in production.
    pub max_data_line: usize,
    /// Time a peer may take to deliver one complete line (or to accept a reply).
    pub line_timeout: Duration,
    /// After this many error replies the connection is closed with 421.
    pub max_errors: u32,
    /// How long accepting a message takes, as a remote relay's does (queueing, spam checks,
    /// writing to disk): `None` answers at once. For the timing-oracle bench.
    pub accept_delay: Option<AcceptDelay>,
}

/// A random delay before a message is accepted: normal with this mean and standard deviation
/// (never below zero).
#[derive(Debug, Clone, Copy)]
pub struct AcceptDelay {
    pub mean: Duration,
    pub sd: Duration,
}

impl AcceptDelay {
    fn sample(&self) -> Duration {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        // Irwin–Hall: the sum of 12 uniforms less 6 is close to a standard normal, which is
        // all a simulated relay needs.
        let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
        let secs = self.mean.as_secs_f64() + z * self.sd.as_secs_f64();
        Duration::from_secs_f64(secs.max(0.0))
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_messages: 1000,
            max_message_size: 10 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 64,
            max_command_line: 512,
            max_data_line: 1000,
            line_timeout: Duration::from_secs(60),
            max_errors: 20,
            accept_delay: None,
        }
    }
}

/// One received message.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Queue id, as returned in the `250 ... queued as <id>` reply.
    pub id: String,
    /// Envelope sender (MAIL FROM), without angle brackets; empty for the null sender.
    pub from: String,
    /// Envelope recipients (RCPT TO), without angle brackets, in command order.
    pub to: Vec<String>,
    /// Raw message content (headers and body) after dot-unstuffing, lines ending in CRLF.
    /// Bytes that are not UTF-8 are replaced by U+FFFD.
    pub data: String,
    /// Decoded `Subject:` header (RFC 2047 encoded-words resolved); empty if absent.
    pub subject: String,
    /// Decoded text body: transfer encoding (quoted-printable/base64) and charset undone,
    /// the `text/plain` alternative picked from multipart mail (falling back to the
    /// first `text/*` part), line endings normalised to `\n`, trailing line breaks trimmed.
    pub body_text: String,
    /// When the final `.` of DATA was received.
    pub received_at: SystemTime,
}

/// Handle to a running outbox. Cheap to clone; the server stops (listener closed,
/// connections aborted) when the last clone is dropped.
#[derive(Clone)]
pub struct Outbox {
    handle: Arc<Handle>,
}

struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

// Manual Debug impls: the derived ones would print addresses, which must never end up
// in logs. Only ids, sizes and counts are shown.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("recipients", &self.to.len())
            .field("data_len", &self.data.len())
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("Outbox")
            .field("port", &self.handle.addr.port())
            .field("available", &shared.available.load(Ordering::Relaxed))
            .field("stored", &shared.lock_store().len())
            .finish_non_exhaustive()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.accept_task.abort();
    }
}

struct Shared {
    cfg: OutboxConfig,
    available: AtomicBool,
    store: Mutex<VecDeque<Arc<Message>>>,
    /// Bumped on every stored message; `wait_for` sleeps on it.
    seq: watch::Sender<u64>,
    /// Fan-out for live observers (e.g. the dev console).
    events: broadcast::Sender<Message>,
    next_id: AtomicU64,
    /// Prefix that keeps queue ids unique across restarts of the dev server.
    id_prefix: u64,
}

impl Shared {
    fn lock_store(&self) -> MutexGuard<'_, VecDeque<Arc<Message>>> {
        // A poisoned lock only means another thread panicked while holding it; the
        // queue itself is still structurally valid, so keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store_message(&self, msg: Message) {
        let msg = Arc::new(msg);
        {
            let mut store = self.lock_store();
            store.push_back(Arc::clone(&msg));
            while store.len() > self.cfg.max_messages {
                store.pop_front();
            }
        }
        // No subscribers is normal; the error only says nobody is listening.
        let _ = self.events.send((*msg).clone());
        self.seq.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:X}{:06X}", self.id_prefix, n)
    }
}

impl Outbox {
    /// Binds `addr` (use port 0 for an ephemeral port) and starts serving with default limits.
    pub async fn start(addr: SocketAddr) -> io::Result<Outbox> {
        Self::start_with_config(addr, OutboxConfig::default()).await
    }

    /// Like [`Outbox::start`] with explicit limits.
    pub async fn start_with_config(addr: SocketAddr, cfg: OutboxConfig) -> io::Result<Outbox> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(256);
        let (seq, _) = watch::channel(0);
        let id_prefix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            cfg,
            available: AtomicBool::new(true),
            store: Mutex::new(VecDeque::new()),
            seq,
            events,
            next_id: AtomicU64::new(1),
            id_prefix,
        });
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Outbox {
            handle: Arc::new(Handle {
                addr,
                shared,
                accept_task,
            }),
        })
    }

    /// The bound address (with the actual port if 0 was requested).
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// All stored messages, oldest first (at most `max_messages`).
    pub fn messages(&self) -> Vec<Message> {
        self.handle
            .shared
            .lock_store()
            .iter()
            .map(|m| (**m).clone())
            .collect()
    }

    /// Forgets all stored messages.
    pub fn clear(&self) {
        self.handle.shared.lock_store().clear();
    }

    /// Returns the first stored message (oldest first) matching `pred`, waiting up to
    /// `timeout` for one to arrive. Already-received messages count.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.handle.shared.seq.subscribe();
        loop {
            // Mark the current value as seen *before* scanning, so a message stored
            // during the scan still wakes us up.
            rx.borrow_and_update();
            // Snapshot of Arcs so `pred` runs without the lock (it may call `messages()`).
            let snapshot: Vec<Arc<Message>> =
                self.handle.shared.lock_store().iter().cloned().collect();
            if let Some(m) = snapshot.iter().find(|m| pred(m)) {
                return Some((**m).clone());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // Timeout, or the sender is gone (cannot happen while `self` holds it).
                _ => return None,
            }
        }
    }

    /// Receives every message as it is stored (e.g. to print it on the dev console).
    /// A slow receiver may observe `RecvError::Lagged`; the store is unaffected.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.handle.shared.events.subscribe()
    }

    /// Simulates the mail server being down (`false`) or back up (`true`). While down,
    /// new connections get `421` and are closed; established sessions continue.
    pub fn set_available(&self, up: bool) {
        self.handle.shared.available.store(up, Ordering::SeqCst);
    }

    /// Whether new connections are currently accepted.
    pub fn is_available(&self) -> bool {
        self.handle.shared.available.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            res = listener.accept() => match res {
                // The peer address is deliberately ignored: it is an IP, which we never log
                // or keep.
                Ok((stream, _peer)) => {
                    if conns.len() >= shared.cfg.max_connections {
                        // Best effort, non-blocking so a slow peer cannot stall accepting.
                        let _ = stream.try_write(b"421 4.7.0 Too many connections, try again later\r\n");
                        continue;
                    }
                    conns.spawn(handle_connection(stream, Arc::clone(&shared)));
                }
                // Typically EMFILE; back off briefly instead of spinning on the error.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            // Reap finished connections so `conns.len()` reflects live ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    // Latency matters more than throughput for short SMTP exchanges.
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.split();
    let mut rd = BufReader::new(rd);
    // Any error here is the peer's connection failing; there is nobody to report it to.
    let _ = Session::new(&shared).run(&mut rd, &mut wr).await;
    let _ = wr.shutdown().await;
}
