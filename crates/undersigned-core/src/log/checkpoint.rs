//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): the log's signed tree
//! head, formatted as origin / size / base64 root lines and signed as a note.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::encoding::decode_b64_array;
use super::merkle::Hash;
use super::note::{LogSigner, LogVerifier, NoteError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("checkpoint needs origin, tree size and root hash lines")]
    MissingLines,
    #[error("checkpoint lines must be non-empty")]
    EmptyLine,
    #[error("origin or extension line contains a newline or ASCII control character")]
    InvalidLine,
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("tree size is not a canonical decimal u64")]
    BadSize,
    #[error("root hash is not base64 of 32 bytes")]
    BadRoot,
    #[error("signing key name {key:?} differs from the origin {origin:?}")]
    KeyNameMismatch { key: String, origin: String },
}

/// A tree head: which log, how many leaves, and the root over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extra body lines, kept so a parsed checkpoint re-serializes to the
    /// exact bytes that were signed.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size and root lines, then any extensions, each
    /// newline-terminated. Fails if a field would break the line framing.
    pub fn to_body(&self) -> Result<String, CheckpointError> {
        for line in core::iter::once(&self.origin).chain(&self.extensions) {
            if line.is_empty() {
                return Err(CheckpointError::EmptyLine);
            }
            if line.chars().any(is_note_control) {
                return Err(CheckpointError::InvalidLine);
            }
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        Ok(body)
    }

    /// Parses note text (already verified) into a checkpoint.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        let mut lines = text.split('\n');
        let mut next = || -> Result<&str, CheckpointError> {
            let line = lines.next().ok_or(CheckpointError::MissingLines)?;
            if line.is_empty() {
                return Err(CheckpointError::EmptyLine);
            }
            Ok(line)
        };
        let origin = next()?;
        let size = parse_size(next()?)?;
        let root = decode_b64_array::<32>(next()?).ok_or(CheckpointError::BadRoot)?;
        let mut extensions = Vec::new();
        for ext in lines {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyLine);
            }
            extensions.push(ext.to_owned());
        }
        // Redundant after note verification, but this parser is also public.
        if origin.chars().any(is_note_control)
            || extensions.iter().any(|e| e.chars().any(is_note_control))
        {
            return Err(CheckpointError::InvalidLine);
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint as a note. The signer's key name must equal the origin,
    /// as tlog-checkpoint recommends, so clients can find the log key by origin.
    pub fn sign(&self, signer: &LogSigner) -> Result<String, CheckpointError> {
        if signer.name() != self.origin {
            return Err(CheckpointError::KeyNameMismatch {
                key: signer.name().to_owned(),
                origin: self.origin.clone(),
            });
        }
        Ok(signer.sign_note(&self.to_body()?)?)
    }

    /// Verifies a signed checkpoint against the log key and parses it.
    ///
    /// With `expected_origin`, a checkpoint for any other log is rejected even if
    /// the same key signed it.
    pub fn open(
        note: &str,
        verifier: &LogVerifier,
        expected_origin: Option<&str>,
    ) -> Result<Self, CheckpointError> {
        let text = verifier.open_note(note)?;
        Self::finish_open(text, expected_origin)
    }

    fn finish_open(text: &str, expected_origin: Option<&str>) -> Result<Self, CheckpointError> {
        let cp = Self::parse_body(text)?;
        if let Some(expected) = expected_origin {
            if cp.origin != expected {
                return Err(CheckpointError::WrongOrigin {
                    expected: expected.to_owned(),
                    found: cp.origin,
                });
            }
        }
        Ok(cp)
    }

    /// [`Checkpoint::open`] for raw bytes, rejecting invalid UTF-8.
    pub fn open_bytes(
        note: &[u8],
        verifier: &LogVerifier,
        expected_origin: Option<&str>,
    ) -> Result<Self, CheckpointError> {
        let text = verifier.open_note_bytes(note)?;
        Self::finish_open(text, expected_origin)
    }
}

/// ASCII decimal without sign or leading zeros, so each size has one spelling.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    if !line.bytes().all(|b| b.is_ascii_digit()) || (line.len() > 1 && line.starts_with('0')) {
        return Err(CheckpointError::BadSize);
    }
    line.parse::<u64>().map_err(|_| CheckpointError::BadSize)
}

/// Signed notes forbid ASCII control characters (newline only as a separator);
/// a line containing one cannot be framed as a note line.
fn is_note_control(c: char) -> bool {
    c < ' '
}
