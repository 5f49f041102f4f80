//! Outgoing mail over SMTP (lettre), with errors classified for retry decisions.
//!
//! Privacy: this module never logs. Error texts that may be shown or logged by callers
//! are scrubbed of anything that looks like an email or IP address, because SMTP
//! servers like to echo the recipient (`550 <bob@example.org>: unknown user`).

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text. Only for the dev outbox / localhost relays.
    None,
    /// Plain connect, then mandatory STARTTLS (usually port 587). Fails rather than
    /// falling back to plain text, to avoid downgrade attacks.
    StartTls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Wrapper,
}

/// SMTP client settings.
#[derive(Clone)]
pub struct MailerConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Authentication is used only if both username and password are set.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `From:` header and envelope sender, e.g. `"Undersigned <noreply@example.org>"`.
    pub from: String,
    /// Upper bound for one whole `send` (connect, TLS, dialogue). Also used as
    /// lettre's per-command timeout.
    pub timeout: Duration,
    /// Name sent in EHLO; `None` uses the machine's hostname.
    pub helo_name: Option<String>,
}

impl MailerConfig {
    /// Plain-text config for a local server such as the dev outbox.
    pub fn plain(host: impl Into<String>, port: u16, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: from.into(),
            timeout: Duration::from_secs(30),
            helo_name: None,
        }
    }
}

// Manual impl so the password can never end up in logs or panic messages.
impl fmt::Debug for MailerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("helo_name", &self.helo_name)
            .finish()
    }
}

/// Why sending failed. Use [`MailError::is_transient`] to decide whether to retry.
///
/// Texts never contain email or IP addresses (see module docs).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Configuration is unusable (bad `from`, half-set credentials, TLS setup, or a
    /// capability the server lacks such as STARTTLS/AUTH). Permanent until fixed.
    #[error("mailer configuration error: {0}")]
    Config(String),
    /// The recipient is not a syntactically valid address. Permanent.
    #[error("invalid recipient address")]
    InvalidRecipient,
    /// The message could not be built. Permanent.
    #[error("could not build message: {0}")]
    Build(String),
    /// The server answered 4xx (e.g. 421 service not available, 451, 452). Retry later.
    #[error("temporary SMTP failure ({code}): {detail}")]
    Transient { code: u16, detail: String },
    /// The server answered 5xx (e.g. 550 mailbox unavailable, 552). Do not retry.
    #[error("permanent SMTP failure ({code}): {detail}")]
    Permanent { code: u16, detail: String },
    /// Could not connect or the connection broke (refused, reset, DNS, TLS handshake,
    /// malformed reply). Retry later.
    #[error("SMTP connection failed: {0}")]
    Connection(String),
    /// The whole send took longer than the configured timeout. Retry later.
    #[error("SMTP send timed out after {0:?}")]
    Timeout(Duration),
}

impl MailError {
    /// True if the same send may succeed later (connection problems, 4xx, timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient { .. } | Self::Connection(_) | Self::Timeout(_)
        )
    }

    /// The SMTP reply code, if the server gave one.
    pub fn smtp_code(&self) -> Option<u16> {
        match self {
            Self::Transient { code, .. } | Self::Permanent { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Sends plain-text mail. Cheap to clone. Each `send` opens its own connection (no
/// pooling: mail volume is low, and a fresh connection makes failure handling and
/// tests predictable — a pooled connection would outlive a server outage).
#[derive(Clone)]
pub struct Mailer {
    /// `None`: no relay is configured; every send fails with a configuration error, so the
    /// server still serves pages and reads while issuance and delivery say what is missing.
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The transport holds credentials; show nothing of it.
        f.debug_struct("Mailer")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Validates the config and prepares the transport. Does not connect.
    pub fn new(cfg: MailerConfig) -> Result<Self, MailError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| MailError::Config("invalid `from` address".to_owned()))?;
        let tls = match cfg.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params(&cfg.host)?),
            TlsMode::Wrapper => Tls::Wrapper(tls_params(&cfg.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        match (cfg.username, cfg.password) {
            (Some(u), Some(p)) => builder = builder.credentials(Credentials::new(u, p)),
            (None, None) => {}
            // Silently sending unauthenticated would fail later in a confusing way.
            _ => {
                return Err(MailError::Config(
                    "username and password must be set together".to_owned(),
                ))
            }
        }
        if let Some(name) = cfg.helo_name {
            builder = builder.hello_name(ClientId::Domain(name));
        }
        Ok(Self {
            transport: Some(builder.build()),
            from,
            timeout: cfg.timeout,
        })
    }

    /// A mailer with no relay: sending fails with `MailError::Config` naming the fix.
    pub fn unconfigured(from: &str) -> Result<Self, MailError> {
        Ok(Self {
            transport: None,
            from: from
                .parse()
                .map_err(|_| MailError::Config("invalid sender address".into()))?,
            timeout: Duration::from_secs(30),
        })
    }

    /// Whether a relay is configured at all (a deployment-wide fact, the same for every
    /// address).
    pub fn has_relay(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one plain-text message and returns the server's final reply, e.g.
    /// `"250 2.0.0 Ok: queued as 1A2B"` (multi-line replies joined with `\n`,
    /// email/IP addresses scrubbed).
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body_text: &str,
    ) -> Result<String, MailError> {
        let Some(transport) = &self.transport else {
            return Err(MailError::Config(
                "no mail relay is configured; start the server with --smtp HOST:PORT (or --dev)"
                    .into(),
            ));
        };
        let to: Mailbox = to.parse().map_err(|_| MailError::InvalidRecipient)?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            // lettre picks 7bit, quoted-printable or base64 as appropriate.
            .body(body_text.to_owned())
            .map_err(|e| MailError::Build(scrub(&e.to_string())))?;
        let response = tokio::time::timeout(self.timeout, transport.send(message))
            .await
            .map_err(|_| MailError::Timeout(self.timeout))?
            .map_err(classify)?;
        Ok(format_response(&response))
    }
}

fn tls_params(host: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_owned())
        .map_err(|e| MailError::Config(format!("TLS setup: {}", scrub(&e.to_string()))))
}

fn format_response(r: &Response) -> String {
    let code = r.code().to_string();
    let lines: Vec<String> = r.message().map(|l| format!("{code} {l}")).collect();
    if lines.is_empty() {
        code
    } else {
        scrub(&lines.join("\n"))
    }
}

fn classify(e: lettre::transport::smtp::Error) -> MailError {
    let detail = scrub(&e.to_string());
    let code = e
        .status()
        .and_then(|c| c.to_string().parse::<u16>().ok())
        .unwrap_or(0);
    if e.is_transient() {
        MailError::Transient { code, detail }
    } else if e.is_permanent() {
        MailError::Permanent { code, detail }
    } else if e.is_timeout() {
        MailError::Connection(detail)
    } else if e.is_client() {
        // lettre uses "client" errors for missing STARTTLS/AUTH support, i.e. a
        // mismatch between our config and the server that retrying will not fix.
        MailError::Config(detail)
    } else {
        // Connection/network/TLS/response-parse problems: worth retrying.
        MailError::Connection(detail)
    }
}

/// Replaces tokens that look like email addresses or IP addresses with `[redacted]`.
/// Deliberately over-eager: losing a bit of diagnostic text is better than leaking.
fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            if looks_sensitive(token) {
                out.push_str("[redacted]");
            } else {
                out.push_str(token);
            }
            token.clear();
        }
    };
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\'') {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn looks_sensitive(token: &str) -> bool {
    if token.contains('@') {
        return true;
    }
    let t = token.trim_matches(|c: char| matches!(c, '[' | ']' | '.' | ':'));
    let t = t.strip_prefix("IPv6:").unwrap_or(t);
    // "host:port" forms, e.g. "127.0.0.1:25".
    let host = t.rsplit_once(':').map_or(t, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) && h.contains('.') {
            h
        } else {
            t
        }
    });
    host.parse::<std::net::IpAddr>().is_ok()
        || t.parse::<std::net::IpAddr>().is_ok()
        || t.parse::<std::net::SocketAddr>().is_ok()
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
    fn scrub_removes_addresses() {
        let s = scrub("550 5.1.1 <bob@example.org>: unknown, from [192.0.2.1] via 10.0.0.1:25 and [IPv6:2001:db8::1] 2001:db8::2");
        assert!(!s.contains("bob") && !s.contains("192.0.2.1") && !s.contains("10.0.0.1"));
        assert!(!s.contains("2001:db8"), "{s}");
        assert!(s.starts_with("550 5.1.1 <[redacted]>"), "{s}");
        assert_eq!(
            scrub("250 2.0.0 Ok: queued as 1A2B"),
            "250 2.0.0 Ok: queued as 1A2B"
        );
    }

    #[test]
    fn debug_redacts_password() {
        let mut cfg = MailerConfig::plain("localhost", 25, "a@b.example");
        cfg.username = Some("user".into());
        cfg.password = Some("hunter2".into());
        let d = format!("{cfg:?}");
        assert!(!d.contains("hunter2") && d.contains("[redacted]"));
    }
}
