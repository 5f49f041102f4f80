//! Wire encodings shared by the bundle and entries: base64url without padding, SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::Error;

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, refusing anything longer than `max` bytes before decoding it.
pub fn from_b64url(s: &str, max: usize, what: &'static str) -> Result<Vec<u8>, Error> {
    if s.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(Error::Encoding(what));
    }
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| Error::Encoding(what))
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// serde helpers for fixed and bounded byte strings as base64url.
pub mod serde_b64 {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::b64url(bytes))
    }

    /// Bounded at 4 KiB: nothing we carry as base64 in an entry is larger.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::from_b64url(&s, 4096, "base64url").map_err(D::Error::custom)
    }
}
