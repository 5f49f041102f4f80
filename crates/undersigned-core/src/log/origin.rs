//! Log origins, spelled exactly one way: `<host>/letters/<letter id>`,
//! `<host>/issuers/<issuer id>` and `<host>/releases/<release key id>` (the signer's client
//! releases), each id as 64 lowercase hex digits.
//!
//! An origin names the log a checkpoint commits to and the key name it is signed under. A
//! check that accepts "anything that looks like" an origin (a suffix, a prefix) let the
//! operator get a forked history cosigned under `<host>/letters/x/letters/<id>` (issue 21), so
//! every reader of an origin goes through [`Origin::parse`], and a verifier compares the host
//! it parsed with the pinned one, byte for byte.

use core::fmt;

/// Why a string is not a host or an origin. Each message quotes the input (bounded), so a
/// verifier's output says what it refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    #[error("{0:?} is not a host name (lowercase DNS labels, optionally ':' and a port)")]
    Host(String),
    #[error(
        "{0:?} is not a log origin: an origin is exactly <host>/letters/<id>, <host>/issuers/<id> or <host>/releases/<id>, the id as 64 lowercase hex digits"
    )]
    Origin(String),
    #[error("the log origin {found:?} is not for the pinned host {pinned:?}")]
    OtherHost { found: String, pinned: String },
    #[error("the log origin {found:?} is not {expected:?}")]
    Other { found: String, expected: String },
}

/// How much of a refused input an error quotes.
const QUOTED: usize = 200;

fn quoted(s: &str) -> String {
    s.chars().take(QUOTED).collect()
}

/// A deployment's host as its origins spell it: lowercase DNS labels (letters, digits, `-`,
/// not at either end of a label), at most 253 characters, optionally followed by `:` and a
/// port written without leading zeros. No path, no scheme, no uppercase: one spelling.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(String);

impl Host {
    pub fn parse(s: &str) -> Result<Self, OriginError> {
        if is_host(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(OriginError::Host(quoted(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_host(s: &str) -> bool {
    let (name, port) = match s.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (s, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && !p.starts_with('0')
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    port_ok
        && !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Which log of a deployment an origin names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKind {
    Letter,
    Issuer,
    /// The signer's client releases (`core::release`), named by the release key's SHA-256.
    Release,
}

impl LogKind {
    /// The path segment between the host and the id, slashes included.
    pub fn segment(self) -> &'static str {
        match self {
            Self::Letter => "/letters/",
            Self::Issuer => "/issuers/",
            Self::Release => "/releases/",
        }
    }
}

/// A parsed origin: host, log kind and the 32-byte id (letter id, issuer id, or the release
/// key's SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub host: Host,
    pub kind: LogKind,
    pub id: [u8; 32],
}

impl Origin {
    pub fn new(host: Host, kind: LogKind, id: [u8; 32]) -> Self {
        Self { host, kind, id }
    }

    /// The one spelling of an origin, or an error: the host rule, then exactly one of the three
    /// segments, then exactly 64 lowercase hex digits, and nothing after them.
    pub fn parse(s: &str) -> Result<Self, OriginError> {
        let bad = || OriginError::Origin(quoted(s));
        let (host, rest) = s.split_once('/').ok_or_else(bad)?;
        let host = Host::parse(host).map_err(|_| bad())?;
        let (kind, hex) = if let Some(hex) = rest.strip_prefix("letters/") {
            (LogKind::Letter, hex)
        } else if let Some(hex) = rest.strip_prefix("issuers/") {
            (LogKind::Issuer, hex)
        } else if let Some(hex) = rest.strip_prefix("releases/") {
            (LogKind::Release, hex)
        } else {
            return Err(bad());
        };
        let id = parse_id(hex).ok_or_else(bad)?;
        Ok(Self { host, kind, id })
    }

    /// Parses `s` and requires it to be exactly `expected`, naming both when it is not.
    pub fn expect(s: &str, expected: &Origin) -> Result<Self, OriginError> {
        let found = Self::parse(s)?;
        if found.host != expected.host {
            return Err(OriginError::OtherHost {
                found: quoted(s),
                pinned: expected.host.to_string(),
            });
        }
        if &found != expected {
            return Err(OriginError::Other {
                found: quoted(s),
                expected: expected.to_string(),
            });
        }
        Ok(found)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.host,
            self.kind.segment(),
            hex::encode(self.id)
        )
    }
}

/// Exactly 64 lowercase hex digits, as ids are spelled in origins; anything else is `None`.
pub fn parse_id(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut id = [0u8; 32];
    hex::decode_to_slice(hex, &mut id).ok()?;
    Some(id)
}
