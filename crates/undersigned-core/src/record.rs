//! The entries of a letter's log and their deterministic, versioned leaf encoding.

use serde::{Deserialize, Serialize};

use crate::entry::{Action, SignatureEntry};
use crate::letter::Letter;

/// Every leaf starts with this line, so a future v2 encoding can never collide with v1.
pub const LEAF_TAG: &[u8] = b"undersigned/entry/v1\n";

/// One entry of a letter's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LogEntry {
    /// The first entry: the canonical letter, frozen.
    Opened {
        letter: Letter,
        at: u64,
    },
    Signature(SignatureEntry),
    Withdrawal(SignatureEntry),
    Closed {
        at: u64,
        reason: CloseReason,
    },
    Delivered {
        recipient: String,
        at: u64,
        /// The SMTP server's acceptance line, e.g. `250 2.0.0 Ok: queued as 1234`.
        smtp_reply: String,
    },
    Acknowledged {
        recipient: String,
        at: u64,
    },
    Response {
        recipient: String,
        at: u64,
        /// SHA-256 of the response text, hex; the text itself travels beside the log.
        text_sha256: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Organizer,
    Deadline,
}

impl LogEntry {
    /// The log kind follows the action, so an entry can't be a "signature" that withdraws.
    pub fn submission(e: SignatureEntry) -> Self {
        match e.action {
            Action::Sign => LogEntry::Signature(e),
            Action::Withdraw => LogEntry::Withdrawal(e),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            LogEntry::Opened { .. } => "opened",
            LogEntry::Signature(_) => "signature",
            LogEntry::Withdrawal(_) => "withdrawal",
            LogEntry::Closed { .. } => "closed",
            LogEntry::Delivered { .. } => "delivered",
            LogEntry::Acknowledged { .. } => "acknowledged",
            LogEntry::Response { .. } => "response",
        }
    }

    /// The leaf bytes: tag line, then compact JSON with fields in declaration order.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut out = LEAF_TAG.to_vec();
        // Serializing our own plain data types cannot fail.
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    /// Reads leaf bytes back. `None` for anything that is not an entry; a reader that must
    /// reproduce the log's root checks `leaf_bytes()` of the result against what it read.
    pub fn from_leaf_bytes(leaf: &[u8]) -> Option<Self> {
        leaf.strip_prefix(LEAF_TAG)
            .and_then(|json| serde_json::from_slice(json).ok())
    }
}
