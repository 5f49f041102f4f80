//! Logs followed by origin prefix: every log a deployment opens, one per letter, under the
//! deployment's one log key, without a restart of the witness for each.

use ed25519_dalek::VerifyingKey;
use undersigned_core::log::LogVerifier;

use crate::WitnessError;

/// Every log whose origin starts with `prefix` and whose checkpoints are signed by `key`
/// under that origin as key name: one deployment's letter logs, say (`example.org/letters/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPrefix {
    prefix: String,
    key: VerifyingKey,
}

impl LogPrefix {
    /// From a signed-note verifier key whose name is the prefix, ending in `/`, as a
    /// deployment publishes it (`/api/v1/deployment`, `witness_logs_under`). The `/` keeps
    /// `example.org/letters` from also covering `example.org/letters-old/...`.
    pub fn from_vkey(vkey: &str) -> Result<Self, WitnessError> {
        let v = LogVerifier::from_vkey(vkey)
            .map_err(|e| WitnessError::Prefix(vkey.to_owned(), e.to_string()))?;
        if !v.name().ends_with('/') {
            return Err(WitnessError::Prefix(
                v.name().to_owned(),
                "a prefix ends with '/'".into(),
            ));
        }
        Ok(Self {
            prefix: v.name().to_owned(),
            key: *v.verifying_key(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The verifier of `origin`, if it is this prefix followed by one id: the key ID is the one
    /// the log signs with, computed from the origin's own name. Protocol v1.2 "The record":
    /// only the prefix plus 64 lowercase hex digits is an origin under it. Anything longer
    /// (`<prefix>x/letters/<id>`) would be a second log the deployment's key could sign, and a
    /// fork of a letter's history cosigned under it.
    pub fn verifier_for(&self, origin: &str) -> Option<LogVerifier> {
        match origin.strip_prefix(self.prefix.as_str()) {
            Some(id) if is_log_id(id) => LogVerifier::new(origin, self.key).ok(),
            _ => None,
        }
    }

    /// The smallest and largest origin under this prefix, for a range over the stored origins
    /// (every origin under it has the same length, so byte order brackets them).
    pub(crate) fn origin_range(&self) -> (String, String) {
        (
            format!("{}{}", self.prefix, "0".repeat(LOG_ID_HEX)),
            format!("{}{}", self.prefix, "f".repeat(LOG_ID_HEX)),
        )
    }
}

/// A letter or issuer id in an origin: SHA-256, as 64 lowercase hex digits.
const LOG_ID_HEX: usize = 64;

/// Whether `id` is spelled as an origin's id must be: exactly 64 lowercase hex digits, so one
/// log has one origin. Core's rule, the same one every verifier parses origins with.
fn is_log_id(id: &str) -> bool {
    undersigned_core::log::origin::parse_id(id).is_some()
}
