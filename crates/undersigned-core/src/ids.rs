//! Validated identifiers and attribute values: if you hold one, it is well-formed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::error::Error;

/// Longest attribute value we accept; keeps every message and encoding bounded.
pub(crate) const MAX_ATTRIBUTE_LEN: usize = 253;

fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ATTRIBUTE_LEN
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A verified organization: the lowercased domain of its work email, e.g. `state.gov`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        if is_domain(&lower) {
            Ok(Self(lower))
        } else {
            Err(Error::InvalidAttribute("org"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An issuance epoch such as `2026-Q4`: one credential per address per epoch.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(String);

impl Epoch {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidAttribute("epoch"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The calendar-quarter epoch `YYYY-Qn`, always valid.
    pub fn quarter(year: i64, quarter: u8) -> Self {
        Self(format!("{year}-Q{}", quarter.clamp(1, 4)))
    }
}

/// The value every self-declared attribute takes when the holder declines to declare it.
pub(crate) const UNSPECIFIED: &str = "unspecified";

/// A self-declared role from the deployment's role list, or `unspecified`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role(String);

impl Role {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b' ' || b == b'_'
            })
            && !s.starts_with(' ')
            && !s.ends_with(' ');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidAttribute("role"))
        }
    }
    pub fn unspecified() -> Self {
        Self(UNSPECIFIED.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A self-declared age band, or unspecified.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum AgeBand {
    Under30,
    From30To39,
    From40To49,
    From50To59,
    Over60,
    Unspecified,
}

impl AgeBand {
    pub const ALL: [AgeBand; 6] = [
        AgeBand::Under30,
        AgeBand::From30To39,
        AgeBand::From40To49,
        AgeBand::From50To59,
        AgeBand::Over60,
        AgeBand::Unspecified,
    ];
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or(Error::InvalidAttribute("age_band"))
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            AgeBand::Under30 => "under-30",
            AgeBand::From30To39 => "30-39",
            AgeBand::From40To49 => "40-49",
            AgeBand::From50To59 => "50-59",
            AgeBand::Over60 => "60+",
            AgeBand::Unspecified => UNSPECIFIED,
        }
    }
}

/// A verified work email address, normalized (trimmed, lowercased).
///
/// Debug and Display never print it: addresses must not reach logs.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        let (local, domain) = lower
            .rsplit_once('@')
            .ok_or(Error::InvalidAttribute("email"))?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"' && b != b'\\');
        if local_ok && is_domain(domain) && lower.len() <= MAX_ATTRIBUTE_LEN {
            Ok(Self(lower))
        } else {
            Err(Error::InvalidAttribute("email"))
        }
    }
    /// The address the one-credential rule counts: lowercased (by `parse`), a `+tag` stripped
    /// from the local part, then the organization's own rules. Two spellings of one mailbox
    /// that these rules know about normalize to the same address; aliases a mail system keeps
    /// outside them (forwarding, second names) remain a limit of email attestation.
    pub fn normalize(&self, rules: &AddressRules) -> Result<Self, Error> {
        let (local, domain) = self
            .0
            .rsplit_once('@')
            .ok_or(Error::InvalidAttribute("email"))?;
        let base = local.split_once('+').map_or(local, |(base, _tag)| base);
        let base: String = if rules.strip_dots {
            base.chars().filter(|&c| c != '.').collect()
        } else {
            base.to_owned()
        };
        // An address that is nothing but a tag or dots names no mailbox we could count.
        if base.is_empty() {
            return Err(Error::InvalidAttribute("email"));
        }
        Self::parse(&format!("{base}@{domain}"))
    }

    /// The organization is the domain of the address.
    pub fn org(&self) -> OrgId {
        // parse() checked the domain, so this cannot fail; fall back defensively anyway.
        let domain = self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        OrgId(domain.to_owned())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// Per-organization address rules a deployment may set on top of the fixed ones (lowercase,
/// strip a `+tag`), for mail systems that deliver more spellings to one mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRules {
    /// Dots in the local part are ignored, as Gmail-like systems do (`a.nn@` is `ann@`).
    #[serde(default)]
    pub strip_dots: bool,
}

macro_rules! string_newtype_common {
    ($t:ty) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.as_str())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_newtype_common!(OrgId);
string_newtype_common!(Epoch);
string_newtype_common!(Role);

impl fmt::Display for AgeBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl Serialize for AgeBand {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for AgeBand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AgeBand::parse(&s).map_err(serde::de::Error::custom)
    }
}
impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}
impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A 32-byte SHA-256 identifier, printed as lowercase hex.
macro_rules! digest_id {
    ($(#[$m:meta])* $t:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $t(pub [u8; 32]);

        impl $t {
            pub fn from_hex(s: &str) -> Result<Self, Error> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| Error::InvalidId(stringify!($t)))?;
                Ok(Self(out))
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $t::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

digest_id!(
    /// SHA-256 of an issuer's BBS public key.
    IssuerId
);
digest_id!(
    /// SHA-256 of a letter's canonical encoding at opening.
    LetterId
);
