//! Serde adapters shared by the log's wire types: base64 proof hashes, hex ids and
//! base64url signatures, each decoded strictly to a fixed length.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// No valid proof for a tree of at most 2^64 leaves has more hashes than this, so
/// longer lists are rejected while decoding instead of being allocated and walked.
pub(crate) const MAX_PROOF_HASHES: usize = 65;

pub(crate) fn decode_b64_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    // Go's encoding/base64 and base64 0.22's STANDARD engine both reject non-canonical
    // padding and trailing bits, so each value has exactly one accepted spelling.
    let bytes = STANDARD.decode(s).ok()?;
    <[u8; N]>::try_from(bytes.as_slice()).ok()
}

pub(crate) fn decode_hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    // Uppercase hex would give the same bytes two spellings; keep one canonical form.
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(out)
}

pub(crate) mod b64_hash_list {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|h| STANDARD.encode(h)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Vec<[u8; 32]>;

            fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                write!(
                    f,
                    "a list of at most {MAX_PROOF_HASHES} base64 SHA-256 hashes"
                )
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    if out.len() >= MAX_PROOF_HASHES {
                        return Err(A::Error::custom("too many proof hashes"));
                    }
                    let h = decode_b64_array::<32>(&s)
                        .ok_or_else(|| A::Error::custom("proof hash is not base64 of 32 bytes"))?;
                    out.push(h);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(ListVisitor)
    }
}

pub(crate) mod hex_array {
    use super::*;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        decode_hex_array::<N>(&s)
            .ok_or_else(|| D::Error::custom(format!("expected {} lowercase hex digits", N * 2)))
    }
}

pub(crate) mod b64url_array {
    use super::*;

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        v: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(&s)
            .map_err(|_| D::Error::custom("expected unpadded base64url"))?;
        <[u8; N]>::try_from(bytes.as_slice())
            .map_err(|_| D::Error::custom(format!("expected {N} bytes of base64url")))
    }
}
