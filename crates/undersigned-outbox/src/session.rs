//! One SMTP session (the RFC 5321 subset a relay for our own mailer needs): the dialogue as an
//! explicit state, one function per state, and one per command that changes it.
//!
//! Where the session is lives in [`State`], not in flags: a command is answered by the function
//! of the state the session is in, so "MAIL before EHLO" or "DATA without RCPT" is a
//! function's `match` arm, not a combination of a `bool` and two `Option`s.

use std::io;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt};

use crate::line::{read_line, Line};
use crate::{mime, Message, OutboxConfig, Shared};

/// Where a session is in the dialogue (RFC 5321 4.1.4: the order of commands).
#[derive(Debug)]
enum State {
    /// Connected, greeted by us but not yet by the client (EHLO/HELO).
    Connected,
    /// Greeted, no mail transaction open.
    Greeted,
    /// MAIL FROM accepted, no recipient yet.
    Mail { from: String },
    /// At least one recipient accepted; DATA may follow.
    Rcpt { from: String, to: Vec<String> },
}

/// Whether the session continues after a command.
pub(crate) enum Flow {
    Continue,
    Close,
}

/// The verb of a command line, case-insensitive (RFC 5321 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    /// A known SMTP verb or extension this server does not implement.
    NotImplemented,
    Unknown,
}

impl Verb {
    fn parse(verb: &str) -> Self {
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => Self::Ehlo,
            "HELO" => Self::Helo,
            "MAIL" => Self::Mail,
            "RCPT" => Self::Rcpt,
            "DATA" => Self::Data,
            "RSET" => Self::Rset,
            "NOOP" => Self::Noop,
            "QUIT" => Self::Quit,
            "VRFY" => Self::Vrfy,
            "HELP" => Self::Help,
            "EXPN" | "TURN" | "ETRN" | "STARTTLS" | "AUTH" | "BDAT" | "SEND" | "SOML" | "SAML" => {
                Self::NotImplemented
            }
            _ => Self::Unknown,
        }
    }
}

/// What the DATA phase received.
enum Received {
    /// The message text, dot-unstuffed, each line ending in CRLF.
    Message(Vec<u8>),
    /// Above `max_message_size`: drained to the terminator, not kept.
    TooBig,
    /// A line above `max_data_line`: drained, not kept.
    LineTooLong,
    /// The peer vanished before the terminator: RFC 5321 says discard the transaction.
    Vanished,
}

pub(crate) struct Session<'a> {
    shared: &'a Shared,
    state: State,
    errors: u32,
}

impl<'a> Session<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            state: State::Connected,
            errors: 0,
        }
    }

    fn cfg(&self) -> &OutboxConfig {
        &self.shared.cfg
    }

    /// RSET, and what EHLO/HELO imply (RFC 5321 4.1.4): any open transaction is dropped.
    fn reset(&mut self) {
        if matches!(self.state, State::Mail { .. } | State::Rcpt { .. }) {
            self.state = State::Greeted;
        }
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

    /// Replies and continues.
    async fn ok<W: AsyncWrite + Unpin>(&self, w: &mut W, text: &str) -> io::Result<Flow> {
        self.reply(w, text).await?;
        Ok(Flow::Continue)
    }

    /// Sends an error reply and counts it; closes the session once too many accumulate.
    async fn error<W: AsyncWrite + Unpin>(&mut self, w: &mut W, text: &str) -> io::Result<Flow> {
        self.errors = self.errors.saturating_add(1);
        if self.errors > self.cfg().max_errors {
            self.reply(w, "421 4.7.0 Too many errors, closing connection")
                .await?;
            return Ok(Flow::Close);
        }
        self.ok(w, text).await
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

    /// The whole session: greeting, then one command line at a time until QUIT, an error
    /// limit, a timeout or the peer's close.
    pub(crate) async fn run<R, W>(&mut self, r: &mut R, w: &mut W) -> io::Result<()>
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

    /// One command line: the commands valid in every state here, the mail transaction's by
    /// the function of the state the session is in.
    async fn command<R, W>(&mut self, line: &str, r: &mut R, w: &mut W) -> io::Result<Flow>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, a.trim()),
            None => (line.trim_end(), ""),
        };
        let verb = Verb::parse(verb);
        match verb {
            Verb::Ehlo | Verb::Helo if arg.is_empty() => {
                self.error(w, "501 5.5.4 Syntax: EHLO hostname").await
            }
            Verb::Ehlo => self.ehlo(w).await,
            Verb::Helo => {
                self.reset();
                self.state = State::Greeted;
                let text = format!("250 {}", self.cfg().hostname);
                self.ok(w, &text).await
            }
            Verb::Mail | Verb::Rcpt | Verb::Data => match self.state {
                State::Connected => self.connected(verb, arg, w).await,
                State::Greeted => self.greeted(verb, arg, w).await,
                State::Mail { .. } => self.after_mail(verb, arg, w).await,
                State::Rcpt { .. } => self.after_rcpt(verb, arg, r, w).await,
            },
            Verb::Rset => {
                self.reset();
                self.ok(w, "250 2.0.0 Ok").await
            }
            Verb::Noop => self.ok(w, "250 2.0.0 Ok").await,
            Verb::Quit => {
                self.reply(w, "221 2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            // RFC 5321 3.5.3: 252 when the server will not verify but will accept.
            Verb::Vrfy => {
                self.ok(w, "252 2.5.2 Cannot VRFY user, but will accept message")
                    .await
            }
            Verb::Help => {
                self.ok(
                    w,
                    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT",
                )
                .await
            }
            Verb::NotImplemented => self.error(w, "502 5.5.1 Command not implemented").await,
            Verb::Unknown => self.error(w, "500 5.5.2 Command not recognized").await,
        }
    }

    /// EHLO: greeted, with the extensions we implement. PIPELINING is deliberately not among
    /// them, so well-behaved clients wait for every reply.
    async fn ehlo<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<Flow> {
        self.reset();
        self.state = State::Greeted;
        let text = format!(
            "250-{} Hello\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE {}",
            self.cfg().hostname,
            self.cfg().max_message_size
        );
        self.ok(w, &text).await
    }

    /// Before EHLO/HELO no transaction can start.
    async fn connected<W: AsyncWrite + Unpin>(
        &mut self,
        verb: Verb,
        arg: &str,
        w: &mut W,
    ) -> io::Result<Flow> {
        match verb {
            Verb::Mail => self.error(w, "503 5.5.1 Send EHLO/HELO first").await,
            _ => self.no_transaction(verb, arg, w).await,
        }
    }

    /// Greeted: MAIL opens a transaction.
    async fn greeted<W: AsyncWrite + Unpin>(
        &mut self,
        verb: Verb,
        arg: &str,
        w: &mut W,
    ) -> io::Result<Flow> {
        if verb != Verb::Mail {
            return self.no_transaction(verb, arg, w).await;
        }
        match parse_mail(arg, self.cfg().max_message_size) {
            Err(reply) => self.error(w, reply).await,
            Ok(from) => {
                self.state = State::Mail { from };
                self.ok(w, "250 2.1.0 Ok").await
            }
        }
    }

    /// RCPT or DATA with no transaction open.
    async fn no_transaction<W: AsyncWrite + Unpin>(
        &mut self,
        verb: Verb,
        arg: &str,
        w: &mut W,
    ) -> io::Result<Flow> {
        match verb {
            Verb::Data if !arg.is_empty() => self.error(w, "501 5.5.4 Syntax: DATA").await,
            Verb::Data => self.error(w, "503 5.5.1 Need MAIL command").await,
            _ => self.error(w, "503 5.5.1 Need MAIL before RCPT").await,
        }
    }

    /// MAIL accepted, no recipient yet: RCPT adds the first.
    async fn after_mail<W: AsyncWrite + Unpin>(
        &mut self,
        verb: Verb,
        arg: &str,
        w: &mut W,
    ) -> io::Result<Flow> {
        match verb {
            Verb::Mail => self.error(w, "503 5.5.1 Nested MAIL command").await,
            Verb::Rcpt => self.rcpt(arg, w).await,
            _ if !arg.is_empty() => self.error(w, "501 5.5.4 Syntax: DATA").await,
            _ => self.error(w, "503 5.5.1 Need RCPT command").await,
        }
    }

    /// Recipients accepted: more RCPT, or DATA and the message.
    async fn after_rcpt<R, W>(
        &mut self,
        verb: Verb,
        arg: &str,
        r: &mut R,
        w: &mut W,
    ) -> io::Result<Flow>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        match verb {
            Verb::Mail => self.error(w, "503 5.5.1 Nested MAIL command").await,
            Verb::Rcpt => self.rcpt(arg, w).await,
            _ if !arg.is_empty() => self.error(w, "501 5.5.4 Syntax: DATA").await,
            _ => self.data(r, w).await,
        }
    }

    /// RCPT TO in an open transaction, within `max_recipients`.
    async fn rcpt<W: AsyncWrite + Unpin>(&mut self, arg: &str, w: &mut W) -> io::Result<Flow> {
        let addr = match parse_rcpt(arg) {
            Ok(addr) => addr,
            Err(reply) => return self.error(w, reply).await,
        };
        if let State::Rcpt { to, .. } = &self.state {
            if to.len() >= self.cfg().max_recipients {
                // RFC 5321 4.5.3.1.10: 452 for too many recipients (client may retry later).
                return self.error(w, "452 4.5.3 Too many recipients").await;
            }
        }
        self.state = match std::mem::replace(&mut self.state, State::Greeted) {
            State::Mail { from } => State::Rcpt {
                from,
                to: vec![addr],
            },
            State::Rcpt { from, mut to } => {
                to.push(addr);
                State::Rcpt { from, to }
            }
            other => other,
        };
        self.ok(w, "250 2.1.5 Ok").await
    }

    /// DATA: the message, then the transaction ends whatever came of it.
    async fn data<R, W>(&mut self, r: &mut R, w: &mut W) -> io::Result<Flow>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.reply(w, "354 End data with <CR><LF>.<CR><LF>").await?;
        let received = self.receive(r).await?;
        let State::Rcpt { from, to } = std::mem::replace(&mut self.state, State::Greeted) else {
            return Ok(Flow::Close);
        };
        match received {
            Received::Vanished => Ok(Flow::Close),
            Received::TooBig => {
                self.error(
                    w,
                    "552 5.3.4 Message size exceeds fixed maximum message size",
                )
                .await
            }
            Received::LineTooLong => self.error(w, "500 5.5.2 Line too long").await,
            Received::Message(content) => self.accept(from, to, &content, w).await,
        }
    }

    /// Reads the message text to its terminating `.` line, dot-unstuffed (RFC 5321 4.5.2),
    /// within `max_message_size` and `max_data_line`. Past a bound it keeps draining to the
    /// terminator without buffering, so the reply stays in sync with the client.
    async fn receive<R: AsyncBufRead + Unpin>(&self, r: &mut R) -> io::Result<Received> {
        let max_size = self.cfg().max_message_size;
        let max_line = self.cfg().max_data_line;
        let mut content: Vec<u8> = Vec::new();
        let mut too_big = false;
        let mut line_too_long = false;
        let mut buf = Vec::new();
        loop {
            match self.read_line(r, max_line, &mut buf).await? {
                Line::Eof => return Ok(Received::Vanished),
                Line::TooLong => line_too_long = true,
                Line::Ok if buf.as_slice() == b"." => break,
                Line::Ok if too_big => {}
                Line::Ok => {
                    let text = buf.strip_prefix(b".").unwrap_or(&buf);
                    if content.len().saturating_add(text.len() + 2) > max_size {
                        too_big = true;
                        content = Vec::new();
                    } else {
                        content.extend_from_slice(text);
                        content.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        Ok(if too_big {
            Received::TooBig
        } else if line_too_long {
            Received::LineTooLong
        } else {
            Received::Message(content)
        })
    }

    /// Stores a received message (after the simulated relay's delay, if any) and confirms it.
    async fn accept<W: AsyncWrite + Unpin>(
        &mut self,
        from: String,
        to: Vec<String>,
        content: &[u8],
        w: &mut W,
    ) -> io::Result<Flow> {
        let data = String::from_utf8_lossy(content).into_owned();
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
        self.ok(w, &reply).await
    }
}

/// `MAIL FROM:<path> [params]`: the sender, or the error reply. Of the parameters, SIZE is
/// checked against `max_size`, BODY must name 7BIT or 8BITMIME, SMTPUTF8 is accepted.
fn parse_mail(arg: &str, max_size: usize) -> Result<String, &'static str> {
    let rest = strip_prefix_ci(arg, "FROM:").ok_or("501 5.5.4 Syntax: MAIL FROM:<address>")?;
    let (addr, params) = parse_path(rest).ok_or("501 5.1.7 Bad sender address syntax")?;
    for p in params.split_whitespace() {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => match value.parse::<u64>() {
                Ok(n) if n > max_size as u64 => {
                    return Err("552 5.3.4 Message size exceeds fixed maximum message size")
                }
                Ok(_) => {}
                Err(_) => return Err("501 5.5.4 Bad SIZE parameter"),
            },
            "BODY" => {
                let v = value.to_ascii_uppercase();
                if v != "7BIT" && v != "8BITMIME" {
                    return Err("501 5.5.4 Bad BODY parameter");
                }
            }
            // Not advertised, but harmless to accept: we store whatever arrives.
            "SMTPUTF8" => {}
            _ => return Err("555 5.5.4 MAIL FROM parameter not recognized"),
        }
    }
    Ok(addr)
}

/// `RCPT TO:<path>`: the recipient (an address or `postmaster`), or the error reply.
fn parse_rcpt(arg: &str) -> Result<String, &'static str> {
    let rest = strip_prefix_ci(arg, "TO:").ok_or("501 5.5.4 Syntax: RCPT TO:<address>")?;
    let (addr, params) = parse_path(rest).ok_or("501 5.1.3 Bad recipient address syntax")?;
    if !params.trim().is_empty() {
        return Err("555 5.5.4 RCPT TO parameters not recognized");
    }
    if addr.is_empty() || !(addr.contains('@') || addr.eq_ignore_ascii_case("postmaster")) {
        return Err("501 5.1.3 Bad recipient address syntax");
    }
    Ok(addr)
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
