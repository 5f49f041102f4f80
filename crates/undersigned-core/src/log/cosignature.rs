//! Witness cosignatures: C2SP tlog-cosignature/v1 with Ed25519 (<https://c2sp.org/tlog-cosignature>),
//! the quorum check that every reader of a checkpoint applies, and the request body of
//! C2SP tlog-witness `add-checkpoint` (<https://c2sp.org/tlog-witness>).
//!
//! A witness cosigns a checkpoint only after checking that it is consistent with every
//! checkpoint of that log it cosigned before; a reader who requires a quorum of named
//! witnesses can then no longer be shown a history that differs from everyone else's.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::checkpoint::{Checkpoint, CheckpointError};
use super::encoding::decode_b64_array;
use super::merkle::{verify_consistency, ConsistencyProof, Hash, LogError, EMPTY_ROOT};
use super::note::{
    check_text, decode_vkey, is_valid_key_name, parse_signature_line, split_note, KeyId, NoteError,
    VkeyError, MAX_NOTE_BYTES, SIG_PREFIX,
};

/// signed-note, "Signature types": "`0x04` — Timestamped Ed25519 checkpoint cosignatures, as
/// specified by c2sp.org/tlog-cosignature."
pub(crate) const ALG_COSIGNATURE_V1: u8 = 0x04;

/// tlog-cosignature: "`timestamp` ... MUST NOT exceed 2^63 - 1".
pub(crate) const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
pub(crate) const MAX_PROOF_LINES: usize = 63;

/// Largest `add-checkpoint` body we read: the old size line, 63 proof lines of 44 base64
/// characters, the blank line and the largest note we would open anyway.
pub const MAX_ADD_CHECKPOINT_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;

/// Key ID || 8-byte timestamp || 64-byte Ed25519 signature.
const COSIGNATURE_LEN: usize = 4 + 8 + 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("witness name must be non-empty without spaces, '+' or control characters")]
    InvalidName,
    #[error("malformed witness verifier key")]
    MalformedVerifierKey,
    #[error("witness verifier key ID does not match its name and key")]
    KeyIdMismatch,
    #[error("witness key has signature type {0:#04x}, not cosignature/v1 (0x04)")]
    UnsupportedAlgorithm(u8),
    #[error("cosignature timestamp must be between 1 and 2^63-1")]
    BadTimestamp,
    #[error("checkpoint carries no cosignature by witness {0}")]
    NoCosignature(String),
    #[error("the cosignature by witness {0} does not verify over this checkpoint")]
    BadCosignature(String),
    #[error(
        "a quorum must be between 1 and the {witnesses} distinct witnesses named, not {quorum}"
    )]
    InvalidQuorum { quorum: usize, witnesses: usize },
    #[error(
        "checkpoint has {valid} valid cosignatures from the named witnesses, {needed} needed{}",
        if .missing.is_empty() { String::new() } else { format!(" (none from {})", .missing.join(", ")) }
    )]
    QuorumNotMet {
        valid: usize,
        needed: usize,
        missing: Vec<String>,
    },
}

/// `SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]`, per tlog-cosignature: "The key
/// ID for Ed25519 cosignatures MUST be computed as
/// `SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]`".
pub fn cosignature_key_id(name: &str, key: &VerifyingKey) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    id
}

/// The signed message, per tlog-cosignature "Ed25519 signed message": "two newline (U+000A)
/// terminated lines (one header line and one timestamp line) followed by the whole note body
/// of the cosigned checkpoint (including the final newline, but not including any signature
/// lines). The header line MUST be the fixed string `cosignature/v1` ... The timestamp line
/// MUST consist of the string `time`, a single space (0x20), and
/// `timestamped_signature.timestamp` encoded as an ASCII decimal with no leading zeroes."
pub fn cosignature_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A witness's private identity: its name (a schema-less URL) and Ed25519 key.
#[derive(Clone)]
pub struct WitnessSigner {
    name: String,
    key: SigningKey,
    key_id: KeyId,
}

// Hand-written so the secret key can never end up in logs.
impl core::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WitnessSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl WitnessSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(CosignatureError::InvalidName);
        }
        let key_id = cosignature_key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, CosignatureError> {
        Self::new(name, SigningKey::generate(rng))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The 32-byte seed, for the witness's key file; never printed.
    pub fn to_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Cosigns a checkpoint body (the note text without signature lines) at `timestamp`
    /// (unix seconds) and returns one note signature line, `— <name> <base64>\n`, to append
    /// to the signed checkpoint.
    ///
    /// The body must parse as a checkpoint: a cosignature says "as of the specified time, the
    /// consistent tree head with the largest size the cosigner has observed for the log
    /// identified by the origin line has the specified root hash", which means nothing for
    /// any other text. tlog-witness: "The cosignature MUST NOT omit the timestamp, i.e. the
    /// timestamp MUST NOT be zero."
    pub fn cosign(
        &self,
        checkpoint_body: &str,
        timestamp: u64,
    ) -> Result<String, CosignatureError> {
        check_text(checkpoint_body)?;
        Checkpoint::parse_body(checkpoint_body)?;
        if timestamp == 0 || timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::BadTimestamp);
        }
        let sig = self
            .key
            .sign(cosignature_message(timestamp, checkpoint_body).as_bytes());
        // tlog-cosignature: "The signature MUST be a `timestamped_signature` structure",
        // serialized "in sequence, with the timestamp encoded in big-endian order", after the
        // note's 32-bit key ID.
        let mut blob = Vec::with_capacity(COSIGNATURE_LEN);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// A witness's public identity, as a log, a verifier or a monitor is configured with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    key: VerifyingKey,
    key_id: KeyId,
}

impl WitnessVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(CosignatureError::InvalidName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, &key),
            key,
        })
    }

    /// Parses a verifier key `name+hex(key ID)+base64(0x04 || public key)`. tlog-cosignature:
    /// "Ed25519 public keys MAY be encoded as vkeys with signature type 0x04 and the 32-byte
    /// Ed25519 cosigner public key as the public key material."
    pub fn from_vkey(vkey: &str) -> Result<Self, CosignatureError> {
        let (name, key) =
            decode_vkey(vkey, ALG_COSIGNATURE_V1, cosignature_key_id).map_err(|e| match e {
                VkeyError::Malformed => CosignatureError::MalformedVerifierKey,
                VkeyError::Algorithm(alg) => CosignatureError::UnsupportedAlgorithm(alg),
                VkeyError::KeyIdMismatch => CosignatureError::KeyIdMismatch,
            })?;
        Self::new(name, key)
    }

    pub fn to_vkey(&self) -> String {
        super::note::encode_vkey(&self.name, self.key_id, ALG_COSIGNATURE_V1, &self.key)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Finds this witness's cosignature in a signed checkpoint note and checks it over the
    /// note's body; returns its timestamp.
    ///
    /// signed-note: "Verifiers MUST ignore signatures from unknown keys, even if they share a
    /// name or ID (but not both) with a known key. If the key name and ID match a known key,
    /// verifiers MUST verify the signature. If a signature from a known key fails to verify,
    /// clients SHOULD reject the whole note." So every line with this name and key ID must
    /// verify; with several, the latest timestamp is returned.
    pub fn verify(&self, note: &str) -> Result<u64, CosignatureError> {
        let (text, sigs) = split_note(note)?;
        let mut latest = None;
        for sig in sigs {
            if sig.name != self.name || sig.key_id != self.key_id {
                continue;
            }
            let timestamp = self
                .check_signature(text, &sig.signature)
                .ok_or_else(|| CosignatureError::BadCosignature(self.name.clone()))?;
            latest = latest.max(Some(timestamp));
        }
        latest.ok_or_else(|| CosignatureError::NoCosignature(self.name.clone()))
    }

    /// `signature` is the line's bytes after the key ID: the `timestamped_signature`.
    fn check_signature(&self, body: &str, signature: &[u8]) -> Option<u64> {
        let (ts, sig) = signature.split_first_chunk::<8>()?;
        let sig = <[u8; 64]>::try_from(sig).ok()?;
        let timestamp = u64::from_be_bytes(*ts);
        if timestamp > MAX_TIMESTAMP {
            return None;
        }
        // verify_strict also rejects malleable and small-order encodings.
        self.key
            .verify_strict(
                cosignature_message(timestamp, body).as_bytes(),
                &Signature::from_bytes(&sig),
            )
            .ok()?;
        Some(timestamp)
    }
}

/// A witness whose cosignature verified, and when it cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub name: String,
    pub timestamp: u64,
}

/// Checks that `note` carries valid cosignatures from at least `quorum` distinct witnesses
/// among `witnesses`, and returns those that verified.
///
/// A line by a key not in `witnesses` is ignored (signed-note: "Verifiers MUST ignore
/// signatures from unknown keys"). A line that claims a named witness's name and key ID
/// but does not verify rejects the note, as signed-note recommends: it is a cosignature
/// copied from another checkpoint, or a forgery. Witnesses are distinct by name and by key:
/// a cosignature/v1 message does not commit to the witness name, so one key listed under
/// two names must not count twice (tlog-cosignature: "the same public key can't be used
/// across multiple cosigners").
pub fn check_quorum(
    note: &str,
    witnesses: &[WitnessVerifier],
    quorum: usize,
) -> Result<Vec<Cosigned>, CosignatureError> {
    let mut distinct: Vec<&WitnessVerifier> = Vec::new();
    for w in witnesses {
        if !distinct.iter().any(|d| d.name == w.name || d.key == w.key) {
            distinct.push(w);
        }
    }
    if quorum == 0 || quorum > distinct.len() {
        return Err(CosignatureError::InvalidQuorum {
            quorum,
            witnesses: distinct.len(),
        });
    }
    let mut valid = Vec::new();
    let mut missing = Vec::new();
    for w in distinct {
        match w.verify(note) {
            Ok(timestamp) => valid.push(Cosigned {
                name: w.name.clone(),
                timestamp,
            }),
            Err(CosignatureError::NoCosignature(name)) => missing.push(name),
            Err(e) => return Err(e),
        }
    }
    if valid.len() < quorum {
        return Err(CosignatureError::QuorumNotMet {
            valid: valid.len(),
            needed: quorum,
            missing,
        });
    }
    Ok(valid)
}

/// Appends cosignature lines (as a witness returned them, one or more per item) to a signed
/// note, skipping any line that is not a well-formed note signature line or that the note
/// already carries. tlog-witness: "To parse the response, the client MAY concatenate it to the
/// checkpoint"; whether a line counts is decided later by [`check_quorum`], never here.
pub fn add_cosignatures<I, S>(note: &str, lines: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = note.to_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for item in lines {
        for line in item.as_ref().split('\n') {
            if line.is_empty() || parse_signature_line(line).is_err() {
                continue;
            }
            let full = format!("{line}\n");
            let present = out
                .rfind("\n\n")
                .and_then(|blank| out.get(blank + 1..))
                .is_some_and(|block| block.split('\n').any(|l| l == line));
            if !present {
                out.push_str(&full);
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddCheckpointError {
    #[error("add-checkpoint body is larger than {MAX_ADD_CHECKPOINT_BYTES} bytes")]
    TooLarge,
    #[error("add-checkpoint body is not valid UTF-8")]
    NotUtf8,
    #[error("add-checkpoint body must start with an `old <size>` line in canonical decimal")]
    BadOldSize,
    #[error("consistency proof line {0} is not the base64 of a 32-byte hash")]
    BadProofLine(usize),
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    #[error("add-checkpoint body has no blank line before the checkpoint")]
    MissingBlankLine,
    #[error("add-checkpoint body has no checkpoint after the blank line")]
    MissingCheckpoint,
}

/// The body of a tlog-witness `add-checkpoint` request.
///
/// tlog-witness: "The request body MUST be a sequence of an old size line, zero or more
/// consistency proof lines, and an empty line, followed by a checkpoint. Each line MUST
/// terminate in a newline character (U+000A). The old size line MUST consist of the string
/// `old`, a single space (0x20), and the tree size of the previous checkpoint encoded as an
/// ASCII decimal with no leading zeroes ... Each consistency proof line MUST encode a single
/// hash in base64. The client MUST NOT send more than 63 consistency proof lines."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, signatures included; verified by the witness, not here.
    pub checkpoint: String,
}

impl AddCheckpoint {
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for h in &self.proof {
            body.push_str(&STANDARD.encode(h));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Parses a request body strictly: bounded size, canonical size line, each proof line
    /// exactly one 32-byte hash, at most 63 of them, and a non-empty checkpoint.
    pub fn parse(body: &[u8]) -> Result<Self, AddCheckpointError> {
        if body.len() > MAX_ADD_CHECKPOINT_BYTES {
            return Err(AddCheckpointError::TooLarge);
        }
        let body = core::str::from_utf8(body).map_err(|_| AddCheckpointError::NotUtf8)?;
        let (old_line, mut rest) = body
            .split_once('\n')
            .ok_or(AddCheckpointError::BadOldSize)?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or(AddCheckpointError::BadOldSize)?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or(AddCheckpointError::MissingBlankLine)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() >= MAX_PROOF_LINES {
                return Err(AddCheckpointError::TooManyProofLines);
            }
            let hash = decode_b64_array::<32>(line)
                .ok_or(AddCheckpointError::BadProofLine(proof.len() + 1))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(AddCheckpointError::MissingCheckpoint);
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: rest.to_owned(),
        })
    }
}

/// Why a witness refuses to cosign, mapped to tlog-witness's status codes by
/// [`WitnessRefusal::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessRefusal {
    #[error("old size {old} is larger than the checkpoint size {new}")]
    OldSizeTooLarge { old: u64, new: u64 },
    #[error("old size {old} is not the size {latest} of the latest checkpoint cosigned")]
    Conflict { old: u64, latest: u64 },
    #[error("a checkpoint of size zero must have the empty tree's root")]
    BadEmptyRoot,
    #[error("a request with old size zero must carry no consistency proof")]
    ProofNotEmpty,
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(LogError),
}

impl WitnessRefusal {
    /// tlog-witness's answer: 400 for an old size above the checkpoint size, 409 Conflict
    /// when the old size is not the witness's, 422 for every consistency failure.
    pub fn status(&self) -> u16 {
        match self {
            Self::OldSizeTooLarge { .. } => 400,
            Self::Conflict { .. } => 409,
            Self::BadEmptyRoot | Self::ProofNotEmpty | Self::Inconsistent(_) => 422,
        }
    }
}

/// The witness's decision on a checkpoint whose log signature already verified, given the
/// latest checkpoint it cosigned for that origin (`None` if it never cosigned one). Pure, so
/// the witness server is only storage and HTTP around it.
///
/// tlog-witness: "The old size MUST be equal to or lower than the checkpoint size. Otherwise,
/// the witness MUST respond with a "400 Bad Request" ... The witness MUST check that the old
/// size matches the size of the latest checkpoint it cosigned for the checkpoint's origin (or
/// zero if it never cosigned a checkpoint for that origin). If it doesn't match, the witness
/// MUST respond with a "409 Conflict" ... A checkpoint of size zero MUST have the root hash of
/// the empty tree ... Otherwise, the witness MUST respond with a "422 Unprocessable Entity"
/// ... If the old size is zero, the consistency proof MUST be empty ... Otherwise, the
/// consistency proof lines MUST encode a Merkle Consistency Proof from the old size to the
/// checkpoint size according to RFC 6962, Section 2.1.2. If the proof is not empty when the
/// old size is zero, or if a Merkle Consistency Proof doesn't verify, the witness MUST
/// respond with a "422 Unprocessable Entity" ... If the old size matches the checkpoint size,
/// the witness MUST check that the root hashes are also identical. If they don't match, the
/// witness MUST respond with a "422 Unprocessable Entity"."
///
/// The proof runs from the witness's own stored root, never from anything the client sends.
pub fn check_add_checkpoint(
    latest: Option<(u64, Hash)>,
    old_size: u64,
    proof: &[Hash],
    new: &Checkpoint,
) -> Result<(), WitnessRefusal> {
    if old_size > new.size {
        return Err(WitnessRefusal::OldSizeTooLarge {
            old: old_size,
            new: new.size,
        });
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, EMPTY_ROOT));
    if old_size != latest_size {
        return Err(WitnessRefusal::Conflict {
            old: old_size,
            latest: latest_size,
        });
    }
    if new.size == 0 && new.root != EMPTY_ROOT {
        return Err(WitnessRefusal::BadEmptyRoot);
    }
    if old_size == 0 && !proof.is_empty() {
        return Err(WitnessRefusal::ProofNotEmpty);
    }
    let proof = ConsistencyProof {
        hashes: proof.to_vec(),
    };
    verify_consistency(old_size, new.size, &latest_root, &new.root, &proof)
        .map_err(WitnessRefusal::Inconsistent)
}

/// Parses a `409 Conflict` answer (`Content-Type: text/x.tlog.size`): tlog-witness: "The
/// response body MUST consist of the tree size of the latest cosigned checkpoint in decimal,
/// followed by a newline (U+000A)."
pub fn parse_tlog_size(body: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(body).ok()?;
    parse_decimal(s.strip_suffix('\n')?)
}

/// ASCII decimal without sign or leading zeros, so each size has one spelling.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}
