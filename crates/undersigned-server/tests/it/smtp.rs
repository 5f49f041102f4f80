//! Integration tests: the mailer talking to the dev outbox, and raw SMTP abuse of the outbox.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use undersigned_outbox::{Message, Outbox, OutboxConfig};
use undersigned_server::mailer::{MailError, Mailer, MailerConfig, TlsMode};

const FROM: &str = "Undersigned <noreply@undersigned.test>";
const WAIT: Duration = Duration::from_secs(5);

async fn outbox() -> Outbox {
    Outbox::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn mailer_for(ob: &Outbox) -> Mailer {
    let mut cfg = MailerConfig::plain("127.0.0.1", ob.addr().port(), FROM);
    cfg.timeout = Duration::from_secs(10);
    cfg.helo_name = Some("client.test".into());
    Mailer::new(cfg).unwrap()
}

fn header<'a>(m: &'a Message, name: &str) -> Option<&'a str> {
    m.data.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sends, then checks the envelope, headers and decoded body; returns the message.
async fn roundtrip(subject: &str, body: &str) -> Message {
    let ob = outbox().await;
    let reply = mailer_for(&ob)
        .send("alice@example.test", subject, body)
        .await
        .unwrap();
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    let msgs = ob.messages();
    assert_eq!(msgs.len(), 1);
    let m = msgs.into_iter().next().unwrap();
    assert!(reply.ends_with(&m.id), "reply {reply} vs id {}", m.id);
    assert_eq!(m.from, "noreply@undersigned.test");
    assert_eq!(m.to, vec!["alice@example.test".to_owned()]);
    assert_eq!(m.subject, subject);
    assert_eq!(m.body_text, body.trim_end_matches('\n'));
    m
}

#[tokio::test]
async fn ascii_body_with_dot_lines_is_unstuffed() {
    let body = "Hello,\n.hidden line\n..two dots\n.\nafter lone dot\nend";
    let m = roundtrip("Plain subject", body).await;
    assert_eq!(header(&m, "Content-Transfer-Encoding"), Some("7bit"));
    // Unstuffed on the wire representation too, not only in body_text.
    assert!(m
        .data
        .contains("\r\n.hidden line\r\n..two dots\r\n.\r\nafter"));
}

#[tokio::test]
async fn non_ascii_and_long_line_use_quoted_printable() {
    let long = "word ".repeat(300); // 1500 chars: must be soft-wrapped by the encoder
    let body = format!(
        "Départment — ✓\n.starts with dot\n{}\nlast",
        long.trim_end()
    );
    let m = roundtrip("Départment — ✓", &body).await;
    assert_eq!(
        header(&m, "Content-Transfer-Encoding"),
        Some("quoted-printable")
    );
    assert!(m.data.lines().all(|l| l.len() <= 998));
}

#[tokio::test]
async fn mostly_non_ascii_uses_base64() {
    let body = format!("{}\n.точка\n{}", "✓ Подпись — ".repeat(40), "ü".repeat(700));
    let m = roundtrip("Письмо ✓ ".repeat(12).trim_end(), &body).await;
    assert_eq!(header(&m, "Content-Transfer-Encoding"), Some("base64"));
}

#[tokio::test]
async fn fail_send_while_unavailable_is_transient_then_recovers() {
    let ob = outbox().await;
    let mailer = mailer_for(&ob);
    ob.set_available(false);
    let err = mailer.send("bob@example.test", "s", "b").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.smtp_code(), Some(421));
    assert!(ob.messages().is_empty());

    ob.set_available(true);
    mailer.send("bob@example.test", "s", "b").await.unwrap();
    assert_eq!(ob.messages().len(), 1);
}

#[tokio::test]
async fn fail_connection_refused_is_transient() {
    // Bind and drop to get a port that is (very likely) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = Mailer::new(MailerConfig::plain("127.0.0.1", port, FROM)).unwrap();
    let err = mailer.send("bob@example.test", "s", "b").await.unwrap_err();
    assert!(matches!(err, MailError::Connection(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn fail_bad_addresses_are_permanent() {
    let ob = outbox().await;
    let err = mailer_for(&ob)
        .send("not an address", "s", "b")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::InvalidRecipient));
    assert!(!err.is_transient());
    let err = mailer_for(&ob)
        .send("x@y.test\r\nBcc: evil@z.test", "s", "b")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::InvalidRecipient));
    let err = Mailer::new(MailerConfig::plain("127.0.0.1", 25, "nope")).unwrap_err();
    assert!(matches!(err, MailError::Config(_)));
    let mut cfg = MailerConfig::plain("127.0.0.1", 25, FROM);
    cfg.username = Some("u".into());
    assert!(matches!(Mailer::new(cfg), Err(MailError::Config(_))));
}

#[tokio::test]
async fn fail_permanent_reply_is_classified_and_scrubbed() {
    // A one-shot fake server that rejects the recipient, echoing the address as real
    // servers do.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 fake\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            let reply: &[u8] = match line.get(..4).unwrap_or("") {
                "EHLO" => b"250 fake\r\n",
                "MAIL" => b"250 ok\r\n",
                "RCPT" => b"550 5.1.1 <bob@example.test>: Recipient address rejected\r\n",
                "QUIT" => b"221 bye\r\n",
                _ => b"250 ok\r\n",
            };
            w.write_all(reply).await.unwrap();
        }
    });
    let mailer = Mailer::new(MailerConfig::plain("127.0.0.1", port, FROM)).unwrap();
    let err = mailer.send("bob@example.test", "s", "b").await.unwrap_err();
    assert!(
        matches!(err, MailError::Permanent { code: 550, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("bob@"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_all_arrive() {
    let ob = outbox().await;
    let mailer = mailer_for(&ob);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let mailer = mailer.clone();
        tasks.spawn(async move {
            mailer
                .send(
                    &format!("user{i}@example.test"),
                    &format!("n{i}"),
                    &format!("body {i} ✓"),
                )
                .await
        });
    }
    let mut replies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        replies.push(r.unwrap().unwrap());
    }
    replies.sort();
    replies.dedup();
    assert_eq!(replies.len(), 20, "queue ids must be unique");
    let msgs = ob.messages();
    assert_eq!(msgs.len(), 20);
    for i in 0..20 {
        let m = msgs.iter().find(|m| m.subject == format!("n{i}")).unwrap();
        assert_eq!(m.to, vec![format!("user{i}@example.test")]);
        assert_eq!(m.body_text, format!("body {i} ✓"));
    }
}

#[tokio::test]
async fn wait_for_subscribe_and_bounded_store() {
    let cfg = OutboxConfig {
        max_messages: 3,
        ..OutboxConfig::default()
    };
    let ob = Outbox::start_with_config(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)
        .await
        .unwrap();
    let mut events = ob.subscribe();
    assert!(ob
        .wait_for(|_| true, Duration::from_millis(50))
        .await
        .is_none());

    let mailer = mailer_for(&ob);
    let waiter = {
        let ob = ob.clone();
        tokio::spawn(async move { ob.wait_for(|m| m.subject == "s4", WAIT).await })
    };
    for i in 0..5 {
        mailer
            .send("a@example.test", &format!("s{i}"), "x")
            .await
            .unwrap();
    }
    assert_eq!(waiter.await.unwrap().unwrap().subject, "s4");
    assert_eq!(events.recv().await.unwrap().subject, "s0");
    let subjects: Vec<_> = ob.messages().into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, ["s2", "s3", "s4"]);
    ob.clear();
    assert!(ob.messages().is_empty());
}

/// Minimal raw SMTP client for protocol abuse.
struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> (Raw, String) {
        let s = TcpStream::connect(addr).await.unwrap();
        let (r, w) = s.into_split();
        let mut raw = Raw {
            r: BufReader::new(r),
            w,
        };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    /// Reads one (possibly multi-line) reply; empty string on EOF.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, self.r.read_line(&mut line))
                .await
                .expect("reply timed out")
                .unwrap();
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

fn code(reply: &str) -> &str {
    reply.get(..3).unwrap_or(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_raw_protocol_abuse_gets_error_codes() {
    let ob = outbox().await;
    let (mut c, greeting) = Raw::connect(ob.addr()).await;
    assert_eq!(code(&greeting), "220");

    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test>").await), "503");
    assert_eq!(code(&c.cmd("hello there").await), "500");
    assert_eq!(code(&c.cmd("\u{0}\u{7f}\u{1b}[31m💥").await), "500");
    assert_eq!(code(&c.cmd("").await), "500");
    assert_eq!(code(&c.cmd("EHLO").await), "501");
    c.send_raw(&[0xff, 0xfe, b'\r', b'\n']).await;
    assert_eq!(code(&c.reply().await), "500");

    let ehlo = c.cmd("EHLO raw.test").await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(
        ehlo.contains("8BITMIME") && ehlo.contains("SIZE 10485760"),
        "{ehlo}"
    );
    assert!(!ehlo.contains("PIPELINING"), "{ehlo}");

    assert_eq!(code(&c.cmd("RCPT TO:<a@b.test>").await), "503");
    assert_eq!(code(&c.cmd("DATA").await), "503");
    assert_eq!(code(&c.cmd("STARTTLS").await), "502");
    assert_eq!(code(&c.cmd("AUTH PLAIN AAAA").await), "502");
    assert_eq!(code(&c.cmd(&"X".repeat(5000)).await), "500");
    assert_eq!(code(&c.cmd("MAIL FROM:a@b.test").await), "501");
    assert_eq!(
        code(&c.cmd("MAIL FROM:<a@b.test> SIZE=99999999999").await),
        "552"
    );
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test> SIZE=abc").await), "501");
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test> FOO=1").await), "555");
    assert_eq!(code(&c.cmd("NOOP").await), "250");
    assert_eq!(
        code(&c.cmd("MAIL FROM:<a@b.test> BODY=8BITMIME").await),
        "250"
    );
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test>").await), "503");
    assert_eq!(code(&c.cmd("DATA").await), "503");
    assert_eq!(code(&c.cmd("RCPT TO:<no-at-sign>").await), "501");
    assert_eq!(code(&c.cmd("RCPT TO:<x@y.test> NOTIFY=NEVER").await), "555");

    // Recipient limit.
    for i in 0..100 {
        assert_eq!(code(&c.cmd(&format!("rcpt to:<r{i}@y.test>")).await), "250");
    }
    assert_eq!(code(&c.cmd("RCPT TO:<r100@y.test>").await), "452");

    // Meanwhile other connections are served normally.
    mailer_for(&ob)
        .send("other@example.test", "during abuse", "fine")
        .await
        .unwrap();

    // Fresh connection for the DATA abuse: the one above is close to the error limit.
    assert_eq!(code(&c.cmd("QUIT").await), "221");
    let (mut c, _) = Raw::connect(ob.addr()).await;
    assert_eq!(code(&c.cmd("HELO raw.test").await), "250");
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test>").await), "250");
    assert_eq!(code(&c.cmd("RCPT TO:<x@y.test>").await), "250");

    // Oversized DATA: drained to the terminator, then 552, connection still usable.
    assert_eq!(code(&c.cmd("DATA").await), "354");
    let line = format!("{}\r\n", "a".repeat(998));
    let chunk = line.repeat(1024); // ~1 MiB
    for _ in 0..11 {
        c.send_raw(chunk.as_bytes()).await;
    }
    assert_eq!(code(&c.cmd(".").await), "552");

    // Overlong DATA line (RFC limit 1000 incl. CRLF).
    assert_eq!(code(&c.cmd("MAIL FROM:<>").await), "250");
    assert_eq!(code(&c.cmd("RCPT TO:<postmaster>").await), "250");
    assert_eq!(code(&c.cmd("DATA").await), "354");
    c.send_raw(format!("{}\r\n", "b".repeat(5000)).as_bytes())
        .await;
    assert_eq!(code(&c.cmd(".").await), "500");

    // RSET clears the transaction; a good message still goes through on this connection.
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test>").await), "250");
    assert_eq!(code(&c.cmd("RSET").await), "250");
    assert_eq!(code(&c.cmd("RCPT TO:<x@y.test>").await), "503");
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.test>").await), "250");
    assert_eq!(code(&c.cmd("RCPT TO:<x@y.test>").await), "250");
    assert_eq!(code(&c.cmd("DATA").await), "354");
    // Bare LF line endings and a stuffed dot.
    c.send_raw(b"Subject: raw\n\nline one\n..dot\n").await;
    let done = c.cmd(".").await;
    assert!(done.starts_with("250 2.0.0 Ok: queued as "), "{done}");
    assert_eq!(code(&c.cmd("QUIT").await), "221");
    assert_eq!(c.reply().await, "", "closed after QUIT");

    let m = ob
        .wait_for(|m| m.subject == "raw", WAIT)
        .await
        .expect("raw message stored");
    assert_eq!(m.from, "a@b.test");
    assert_eq!(m.body_text, "line one\n.dot");
    assert_eq!(ob.messages().len(), 2);
}

#[tokio::test]
async fn fail_too_many_errors_closes_connection() {
    let ob = outbox().await;
    let (mut c, _) = Raw::connect(ob.addr()).await;
    let mut last = String::new();
    for _ in 0..30 {
        last = c.cmd("BOGUS").await;
        if !last.starts_with("500") {
            break;
        }
    }
    assert!(last.starts_with("421"), "{last}");
    assert_eq!(c.reply().await, "");
    // The server itself keeps going.
    let (_c2, greeting) = Raw::connect(ob.addr()).await;
    assert_eq!(code(&greeting), "220");
}

#[tokio::test]
async fn fail_unavailable_raw_gets_421_and_close() {
    let ob = outbox().await;
    ob.set_available(false);
    assert!(!ob.is_available());
    let (mut c, greeting) = Raw::connect(ob.addr()).await;
    assert!(greeting.starts_with("421 "), "{greeting}");
    assert_eq!(c.reply().await, "");
}

#[tokio::test]
async fn fail_line_timeout_closes_idle_connection() {
    let cfg = OutboxConfig {
        line_timeout: Duration::from_millis(200),
        ..OutboxConfig::default()
    };
    let ob = Outbox::start_with_config(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)
        .await
        .unwrap();
    let (mut c, _) = Raw::connect(ob.addr()).await;
    c.send_raw(b"EHLO slow").await; // never finish the line
    let r = c.reply().await;
    assert!(r.starts_with("421"), "{r}");
}

#[tokio::test]
async fn outbox_stops_when_last_handle_dropped() {
    let ob = outbox().await;
    let addr = ob.addr();
    drop(ob);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn fail_starttls_required_but_not_offered_is_config_error() {
    // TLS configs build (ring provider, webpki roots) without touching the network.
    for tls in [TlsMode::StartTls, TlsMode::Wrapper] {
        let mut cfg = MailerConfig::plain("smtp.example.test", 587, FROM);
        cfg.tls = tls;
        Mailer::new(cfg).unwrap();
    }
    // The outbox does not offer STARTTLS; the mailer must refuse to continue in plain
    // text (no downgrade), and retrying would not help.
    let ob = outbox().await;
    let mut cfg = MailerConfig::plain("127.0.0.1", ob.addr().port(), FROM);
    cfg.tls = TlsMode::StartTls;
    let err = Mailer::new(cfg)
        .unwrap()
        .send("a@example.test", "s", "b")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Config(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(ob.messages().is_empty());
}
