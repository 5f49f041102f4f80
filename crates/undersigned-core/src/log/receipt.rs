//! Signed submission receipts: the log's immediate, verifiable promise that an
//! entry was received and will appear in a published tree by a deadline.

use serde::{Deserialize, Serialize};

use super::encoding::{b64url_array, hex_array};
use super::merkle::{leaf_hash, Hash};
use super::note::{KeyId, LogSigner, LogVerifier};
use super::pool::{PoolError, PublishSchedule};

/// Receipt format version carried in the JSON and bound into the signature.
pub(crate) const RECEIPT_VERSION: u32 = 1;

/// Domain-separation prefix of the signed payload. The NUL keeps every payload
/// outside the set of valid signed-note texts, so the same key can sign both.
const PAYLOAD_PREFIX: &[u8] = b"undersigned/receipt/v1\0";

/// Largest JSON receipt [`Receipt::from_json`] will parse.
pub(crate) const MAX_RECEIPT_JSON_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("unsupported receipt version {0}")]
    UnsupportedVersion(u32),
    #[error("receipt was issued by key {found}, not {expected}")]
    WrongKey { expected: String, found: String },
    #[error("include_by precedes received_at")]
    DeadlineBeforeReceipt,
    #[error("receipt signature does not verify")]
    BadSignature,
    #[error("receipt JSON is malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Schedule(#[from] PoolError),
}

/// What the log promises about one submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub version: u32,
    #[serde(with = "hex_array")]
    pub letter_id: [u8; 32],
    /// RFC 6962 leaf hash of the entry bytes, i.e. what an inclusion proof proves.
    #[serde(with = "hex_array")]
    pub entry_hash: Hash,
    pub received_at: u64,
    pub include_by: u64,
    #[serde(with = "hex_array")]
    pub log_key_id: KeyId,
    #[serde(with = "b64url_array")]
    pub signature: [u8; 64],
}

impl Receipt {
    /// Fixed-layout bytes the signature covers: prefix, then every field in
    /// declaration order, integers big-endian. No field is variable-length, so
    /// no two receipts share a payload.
    pub(crate) fn signing_payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(PAYLOAD_PREFIX.len() + 4 + 32 + 32 + 8 + 8 + 4);
        p.extend_from_slice(PAYLOAD_PREFIX);
        p.extend_from_slice(&self.version.to_be_bytes());
        p.extend_from_slice(&self.letter_id);
        p.extend_from_slice(&self.entry_hash);
        p.extend_from_slice(&self.received_at.to_be_bytes());
        p.extend_from_slice(&self.include_by.to_be_bytes());
        p.extend_from_slice(&self.log_key_id);
        p
    }

    /// Whether this receipt is about exactly these entry bytes.
    pub fn covers_entry(&self, entry: &[u8]) -> bool {
        self.entry_hash == leaf_hash(entry)
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self, ReceiptError> {
        if s.len() > MAX_RECEIPT_JSON_BYTES {
            return Err(ReceiptError::Malformed("receipt JSON too large".into()));
        }
        serde_json::from_str(s).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }
}

/// Signs a receipt for `entry` received at `received_at`; the inclusion deadline
/// comes from `schedule` so every receipt makes the same promise.
pub fn issue_receipt(
    signer: &LogSigner,
    letter_id: [u8; 32],
    entry: &[u8],
    received_at: u64,
    schedule: &PublishSchedule,
) -> Result<Receipt, ReceiptError> {
    let mut r = Receipt {
        version: RECEIPT_VERSION,
        letter_id,
        entry_hash: leaf_hash(entry),
        received_at,
        include_by: schedule.include_by(received_at)?,
        log_key_id: signer.key_id(),
        signature: [0; 64],
    };
    r.signature = signer.sign_raw(&r.signing_payload());
    Ok(r)
}

/// Signs again the receipt of an entry that was already accepted, with the times it was
/// first given: a client retrying after a lost answer gets the same promise, not a new one.
pub fn reissue_receipt(
    signer: &LogSigner,
    letter_id: [u8; 32],
    entry_hash: Hash,
    received_at: u64,
    include_by: u64,
) -> Result<Receipt, ReceiptError> {
    if include_by < received_at {
        return Err(ReceiptError::DeadlineBeforeReceipt);
    }
    let mut r = Receipt {
        version: RECEIPT_VERSION,
        letter_id,
        entry_hash,
        received_at,
        include_by,
        log_key_id: signer.key_id(),
        signature: [0; 64],
    };
    r.signature = signer.sign_raw(&r.signing_payload());
    Ok(r)
}

/// Checks a receipt's version, issuing key, deadline sanity and signature.
pub fn verify_receipt(receipt: &Receipt, verifier: &LogVerifier) -> Result<(), ReceiptError> {
    if receipt.version != RECEIPT_VERSION {
        return Err(ReceiptError::UnsupportedVersion(receipt.version));
    }
    if receipt.log_key_id != verifier.key_id() {
        return Err(ReceiptError::WrongKey {
            expected: hex::encode(verifier.key_id()),
            found: hex::encode(receipt.log_key_id),
        });
    }
    if receipt.include_by < receipt.received_at {
        return Err(ReceiptError::DeadlineBeforeReceipt);
    }
    if !verifier.verify_raw(&receipt.signing_payload(), &receipt.signature) {
        return Err(ReceiptError::BadSignature);
    }
    Ok(())
}
