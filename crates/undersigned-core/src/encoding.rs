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
pub(crate) mod serde_b64 {
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

/// The UTC calendar date of a unix time, `YYYY-MM-DD` (proleptic Gregorian, H. Hinnant's
/// civil-from-days). Shown in statements; the log itself keeps unix seconds.
pub fn date(unix: u64) -> String {
    let (y, m, d) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (year, month, day) of a unix time in UTC.
pub fn civil(unix: u64) -> (i64, u32, u32) {
    let days = (unix / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
