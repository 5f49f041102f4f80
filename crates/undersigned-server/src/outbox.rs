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
//!   beside tokio's.
//!   What remains here is the RFC 5321 subset a relay for our own mailer needs, one function
//!   per command.
//! - PIPELINING is deliberately not advertised, so well-behaved clients wait for every
//!   reply; the reader still copes with pipelined input because it is line-buffered.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

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

/// Outcome of reading one line.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A complete line, without its line terminator, in the caller's buffer.
    Ok,
    /// The line exceeded the limit; it was consumed and discarded.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads one `\n`-terminated line of at most `max` bytes (terminator included) into
/// `out`, stripping the `\n` and an optional preceding `\r`. Overlong lines are drained
/// without being buffered, so memory stays bounded by `max`.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
    out: &mut Vec<u8>,
) -> io::Result<Line> {
    out.clear();
    let mut overflow = false;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (avail.get(..=i).unwrap_or(avail), true),
            None => (avail, false),
        };
        let n = chunk.len();
        if !overflow {
            if out.len().saturating_add(n) > max {
                overflow = true;
                out.clear();
            } else {
                out.extend_from_slice(chunk);
            }
        }
        r.consume(n);
        if done {
            break;
        }
    }
    if overflow {
        return Ok(Line::TooLong);
    }
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    Ok(Line::Ok)
}

/// Whether the session continues after a command.
enum Flow {
    Continue,
    Close,
}

struct Session<'a> {
    shared: &'a Shared,
    greeted: bool,
    /// `Some` once MAIL FROM was accepted.
    from: Option<String>,
    to: Vec<String>,
    errors: u32,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            greeted: false,
            from: None,
            to: Vec::new(),
            errors: 0,
        }
    }

    fn cfg(&self) -> &OutboxConfig {
        &self.shared.cfg
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    async fn reply<W: AsyncWrite + Unpin>(&self, w: &mut W, text: &str) -> io::Result<()> {
        let fut = async {
            w.write_all(text.as_bytes()).await?;
            w.write_all(b"\r\n").await?;
            w.flush().await
        };
        // A peer that does not read its replies must not pin the connection.
        tokio::time::timeout(self.cfg().line_timeout, fut)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    /// Sends an error reply and counts it; closes the session once too many accumulate.
    async fn error<W: AsyncWrite + Unpin>(&mut self, w: &mut W, text: &str) -> io::Result<Flow> {
        self.errors = self.errors.saturating_add(1);
        if self.errors > self.cfg().max_errors {
            self.reply(w, "421 4.7.0 Too many errors, closing connection")
                .await?;
            return Ok(Flow::Close);
        }
        self.reply(w, text).await?;
        Ok(Flow::Continue)
    }

    async fn read_line<R: AsyncBufRead + Unpin>(
        &self,
        r: &mut R,
        max: usize,
        buf: &mut Vec<u8>,
    ) -> io::Result<Line> {
        tokio::time::timeout(self.cfg().line_timeout, read_line(r, max, buf))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    async fn run<R, W>(&mut self, r: &mut R, w: &mut W) -> io::Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if !self.shared.available.load(Ordering::SeqCst) {
            return self
                .reply(
                    w,
                    "421 4.3.2 Service not available, closing transmission channel",
                )
                .await;
        }
        let greeting = format!("220 {} ESMTP undersigned dev outbox", self.cfg().hostname);
        self.reply(w, &greeting).await?;

        let mut buf = Vec::new();
        loop {
            let max = self.cfg().max_command_line;
            let flow = match self.read_line(r, max, &mut buf).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    // RFC 5321 4.2.2: 421 when the server must close the channel.
                    let _ = self.reply(w, "421 4.4.2 Timeout, closing connection").await;
                    return Ok(());
                }
                Err(e) => return Err(e),
                Ok(Line::Eof) => return Ok(()),
                Ok(Line::TooLong) => self.error(w, "500 5.5.2 Line too long").await?,
                Ok(Line::Ok) => {
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    self.command(&line, r, w).await?
                }
            };
            if let Flow::Close = flow {
                return Ok(());
            }
        }
    }

    async fn command<R, W>(&mut self, line: &str, r: &mut R, w: &mut W) -> io::Result<Flow>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a.trim()),
            None => (line.trim_end(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => {
                self.error(w, "501 5.5.4 Syntax: EHLO hostname").await
            }
            "EHLO" => {
                // RFC 5321 4.1.4: EHLO implies RSET.
                self.reset();
                self.greeted = true;
                let text = format!(
                    "250-{} Hello\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE {}",
                    self.cfg().hostname,
                    self.cfg().max_message_size
                );
                self.reply(w, &text).await?;
                Ok(Flow::Continue)
            }
            "HELO" => {
                self.reset();
                self.greeted = true;
                let text = format!("250 {}", self.cfg().hostname);
                self.reply(w, &text).await?;
                Ok(Flow::Continue)
            }
            "MAIL" => self.mail(arg, w).await,
            "RCPT" => self.rcpt(arg, w).await,
            "DATA" => self.data(arg, r, w).await,
            "RSET" => {
                self.reset();
                self.reply(w, "250 2.0.0 Ok").await?;
                Ok(Flow::Continue)
            }
            "NOOP" => {
                self.reply(w, "250 2.0.0 Ok").await?;
                Ok(Flow::Continue)
            }
            "QUIT" => {
                self.reply(w, "221 2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            // RFC 5321 3.5.3: 252 when the server will not verify but will accept.
            "VRFY" => {
                self.reply(w, "252 2.5.2 Cannot VRFY user, but will accept message")
                    .await?;
                Ok(Flow::Continue)
            }
            "HELP" => {
                self.reply(
                    w,
                    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT",
                )
                .await?;
                Ok(Flow::Continue)
            }
            // Known SMTP verbs/extensions this server does not implement.
            "EXPN" | "TURN" | "ETRN" | "STARTTLS" | "AUTH" | "BDAT" | "SEND" | "SOML" | "SAML" => {
                self.error(w, "502 5.5.1 Command not implemented").await
            }
            _ => self.error(w, "500 5.5.2 Command not recognized").await,
        }
    }

    async fn mail<W: AsyncWrite + Unpin>(&mut self, arg: &str, w: &mut W) -> io::Result<Flow> {
        if !self.greeted {
            return self.error(w, "503 5.5.1 Send EHLO/HELO first").await;
        }
        if self.from.is_some() {
            return self.error(w, "503 5.5.1 Nested MAIL command").await;
        }
        let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
            return self.error(w, "501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        let Some((addr, params)) = parse_path(rest) else {
            return self.error(w, "501 5.1.7 Bad sender address syntax").await;
        };
        for p in params.split_whitespace() {
            let (key, value) = p.split_once('=').unwrap_or((p, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(n) if n > self.cfg().max_message_size as u64 => {
                        return self
                            .error(
                                w,
                                "552 5.3.4 Message size exceeds fixed maximum message size",
                            )
                            .await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.error(w, "501 5.5.4 Bad SIZE parameter").await,
                },
                "BODY" => {
                    let v = value.to_ascii_uppercase();
                    if v != "7BIT" && v != "8BITMIME" {
                        return self.error(w, "501 5.5.4 Bad BODY parameter").await;
                    }
                }
                // Not advertised, but harmless to accept: we store whatever arrives.
                "SMTPUTF8" => {}
                _ => {
                    return self
                        .error(w, "555 5.5.4 MAIL FROM parameter not recognized")
                        .await;
                }
            }
        }
        self.from = Some(addr);
        self.to.clear();
        self.reply(w, "250 2.1.0 Ok").await?;
        Ok(Flow::Continue)
    }

    async fn rcpt<W: AsyncWrite + Unpin>(&mut self, arg: &str, w: &mut W) -> io::Result<Flow> {
        if self.from.is_none() {
            return self.error(w, "503 5.5.1 Need MAIL before RCPT").await;
        }
        let Some(rest) = strip_prefix_ci(arg, "TO:") else {
            return self.error(w, "501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let Some((addr, params)) = parse_path(rest) else {
            return self
                .error(w, "501 5.1.3 Bad recipient address syntax")
                .await;
        };
        if !params.trim().is_empty() {
            return self
                .error(w, "555 5.5.4 RCPT TO parameters not recognized")
                .await;
        }
        if addr.is_empty() || !(addr.contains('@') || addr.eq_ignore_ascii_case("postmaster")) {
            return self
                .error(w, "501 5.1.3 Bad recipient address syntax")
                .await;
        }
        if self.to.len() >= self.cfg().max_recipients {
            // RFC 5321 4.5.3.1.10: 452 for too many recipients (client may retry later).
            return self.error(w, "452 4.5.3 Too many recipients").await;
        }
        self.to.push(addr);
        self.reply(w, "250 2.1.5 Ok").await?;
        Ok(Flow::Continue)
    }

    async fn data<R, W>(&mut self, arg: &str, r: &mut R, w: &mut W) -> io::Result<Flow>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if !arg.is_empty() {
            return self.error(w, "501 5.5.4 Syntax: DATA").await;
        }
        let Some(from) = self.from.clone() else {
            return self.error(w, "503 5.5.1 Need MAIL command").await;
        };
        if self.to.is_empty() {
            return self.error(w, "503 5.5.1 Need RCPT command").await;
        }
        self.reply(w, "354 End data with <CR><LF>.<CR><LF>").await?;

        let max_size = self.cfg().max_message_size;
        let max_line = self.cfg().max_data_line;
        let mut content: Vec<u8> = Vec::new();
        let mut too_big = false;
        let mut line_too_long = false;
        let mut buf = Vec::new();
        loop {
            match self.read_line(r, max_line, &mut buf).await? {
                // Peer vanished mid-DATA: RFC 5321 says discard the transaction.
                Line::Eof => return Ok(Flow::Close),
                Line::TooLong => line_too_long = true,
                Line::Ok => {
                    if buf.as_slice() == b"." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let text = buf.strip_prefix(b".").unwrap_or(&buf);
                    if !too_big {
                        if content.len().saturating_add(text.len() + 2) > max_size {
                            // Keep draining to the terminator without buffering, so the
                            // reply stays in sync with the client.
                            too_big = true;
                            content = Vec::new();
                        } else {
                            content.extend_from_slice(text);
                            content.extend_from_slice(b"\r\n");
                        }
                    }
                }
            }
        }
        let to = std::mem::take(&mut self.to);
        self.reset();
        if too_big {
            return self
                .error(
                    w,
                    "552 5.3.4 Message size exceeds fixed maximum message size",
                )
                .await;
        }
        if line_too_long {
            return self.error(w, "500 5.5.2 Line too long").await;
        }

        let data = String::from_utf8_lossy(&content).into_owned();
        let (subject, body_text) = mime::summarize(&data);
        let id = self.shared.new_id();
        let reply = format!("250 2.0.0 Ok: queued as {id}");
        if let Some(delay) = self.cfg().accept_delay {
            tokio::time::sleep(delay.sample()).await;
        }
        self.shared.store_message(Message {
            id,
            from,
            to,
            data,
            subject,
            body_text,
            received_at: SystemTime::now(),
        });
        self.reply(w, &reply).await?;
        Ok(Flow::Continue)
    }
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Parses `<path> [params]` (leading spaces tolerated) into the address without
/// brackets and the parameter string. Source routes (`<@a,@b:user@host>`) are reduced
/// to the mailbox, as RFC 5321 4.1.1.3 allows.
fn parse_path(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('<')?;
    let (inner, params) = s.split_once('>')?;
    let addr = match inner.strip_prefix('@') {
        Some(route) => route.split_once(':')?.1,
        None => inner,
    };
    // 256 is the RFC 5321 4.5.3.1.3 path limit including brackets.
    if addr.len() > 254
        || addr
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<')
    {
        return None;
    }
    Some((addr.to_owned(), params))
}

/// What a message says, for the outbox page and the tests: its subject and its text body, read
/// by `mail-parser` (RFC 5322 headers, RFC 2045-2047 MIME, transfer encodings and charsets).
/// Lenient by design: malformed input yields best-effort text, never an error.
mod mime {
    /// Returns `(subject, body_text)` for a raw message: the `text/plain` body (or the text of
    /// the first HTML part when there is none), line endings normalised to `\n`, trailing line
    /// breaks trimmed.
    pub(super) fn summarize(raw: &str) -> (String, String) {
        let Some(msg) = mail_parser::MessageParser::default().parse(raw.as_bytes()) else {
            return (String::new(), String::new());
        };
        let subject = msg.subject().unwrap_or_default().to_owned();
        let text = msg
            .body_text(0)
            .map(|t| t.replace("\r\n", "\n").trim_end_matches('\n').to_owned())
            .unwrap_or_default();
        (subject, text)
    }

    #[cfg(test)]
    #[allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    mod tests {
        use super::*;

        #[test]
        fn quoted_printable_soft_breaks_and_escapes() {
            let raw = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\
                       Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                       D=C3=A9part=\r\nment =E2=80=94 ok\r\nnext\r\n";
            assert_eq!(summarize(raw).1, "Départment — ok\nnext");
        }

        #[test]
        fn encoded_words_adjacent() {
            let raw = "Subject: =?utf-8?b?RMOp?= =?utf-8?q?part_=E2=9C=93?= tail\r\n\r\nbody";
            assert_eq!(
                summarize(raw),
                ("Départ ✓ tail".to_owned(), "body".to_owned())
            );
        }

        #[test]
        fn latin1_body() {
            let raw = "Content-Type: text/plain; charset=iso-8859-1\r\n\
                       Content-Transfer-Encoding: quoted-printable\r\n\r\nD=E9part\r\n";
            assert_eq!(summarize(raw).1, "Départ");
        }

        #[test]
        fn garbage_does_not_panic() {
            for s in [
                "Subject: =?",
                "Subject: =?utf-8?b??=",
                "Subject: =?=?=?",
                "Subject: =?é?q?é?=",
                "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
                "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
                "\n",
                "",
            ] {
                let _ = summarize(s);
            }
        }

        #[test]
        fn random_input_does_not_panic() {
            const TOKENS: &[&str] = &[
                "=?",
                "?=",
                "?b?",
                "?Q?",
                "utf-8",
                "latin1",
                "--",
                "b1",
                "\r\n",
                "\n",
                " ",
                "\t",
                "Content-Type: multipart/alternative; boundary=b1\r\n",
                "Content-Type: text/plain; charset=\"utf-8\"\r\n",
                "Content-Transfer-Encoding: base64\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "Subject: ",
                "=",
                "=E2",
                "=\r\n",
                "é",
                "✓",
                ";",
                "\"",
                "\\",
                "boundary=",
                ":",
                "AAAA",
                "_",
                "\u{0}",
            ];
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..3000 {
                let mut s = String::new();
                let n = (x % 60) as usize;
                for _ in 0..n {
                    // xorshift64: deterministic, no extra dependency.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    s.push_str(TOKENS[(x % TOKENS.len() as u64) as usize]);
                }
                let _ = summarize(&s);
            }
        }

        #[test]
        fn multipart_alternative_picks_plain() {
            let raw = "Subject: hi\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
                       preamble\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n\
                       --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
                       Content-Transfer-Encoding: base64\r\n\r\ncGxhaW4gdGV4dA==\r\n--b1--\r\n";
            assert_eq!(summarize(raw), ("hi".to_owned(), "plain text".to_owned()));
        }
    }
}
