//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys: the log's
//! signing and verifying keys, their key IDs and `name+id+key` verifier strings, and
//! strict framing and opening of signed note text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

/// First four bytes of SHA-256(name || 0x0A || 0x01 || public key).
pub type KeyId = [u8; 4];

/// Signature type byte for Ed25519 in C2SP signed-note.
const ALG_ED25519: u8 = 0x01;

/// Largest note accepted by [`LogVerifier::open_note`]. A checkpoint with a few
/// dozen cosignatures fits many times over; the limit bounds parser work on
/// hostile input.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;

/// Same cap as Go's x/mod/sumdb/note; the spec requires accepting at least 16.
pub const MAX_SIGNATURES: usize = 100;

pub(super) const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note contains an ASCII control character other than newline")]
    ControlCharacter,
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    #[error("note has no blank line before its signatures")]
    MissingBlankLine,
    #[error("note has no signature lines")]
    NoSignatures,
    #[error("malformed signature line")]
    MalformedSignatureLine,
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("key name must be non-empty without spaces, '+' or control characters")]
    InvalidKeyName,
    #[error("malformed verifier key")]
    MalformedVerifierKey,
    #[error("verifier key ID does not match its name and key")]
    KeyIdMismatch,
    #[error("unsupported signature algorithm {0:#04x}")]
    UnsupportedAlgorithm(u8),
    #[error("a signature by the log key does not verify")]
    BadSignature,
    #[error("note carries no signature by the log key")]
    NoSignatureByKey,
}

/// The signed-note rule: key names sit in `+`-separated verifier strings and
/// space-separated signature lines. ASCII controls are excluded too because no
/// note may contain them, so such a name could never appear in a valid note.
pub(super) fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < ' ')
}

/// Computes the C2SP key ID for an Ed25519 key.
pub fn key_id(name: &str, key: &VerifyingKey) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    id
}

/// The log's private signing identity: a key name plus an Ed25519 key.
#[derive(Clone)]
pub struct LogSigner {
    name: String,
    key: SigningKey,
    key_id: KeyId,
}

// Hand-written so the secret key can never end up in logs.
impl core::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LogSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key_id = key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::generate(rng))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public half, as clients should be configured with it.
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Signs `text` (which must end in a newline) as a C2SP signed note.
    ///
    /// Anything signed here is a statement by the log, so only checkpoint bodies
    /// should reach it; [`super::checkpoint::Checkpoint::sign`] is the usual entry point.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&sig.to_bytes());
        let note = format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        );
        // Never emit a note our own verifier would refuse to open.
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        Ok(note)
    }

    /// Raw Ed25519 signature for payloads that are not notes (receipts). Their
    /// payloads contain a NUL byte, which no valid note text can, so a receipt
    /// signature can never be replayed as a note signature or vice versa.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Why a vkey did not decode.
pub(super) enum VkeyError {
    Malformed,
    Algorithm(u8),
    KeyIdMismatch,
}

/// A vkey, `name+hex(key id)+base64(signature type || 32-byte Ed25519 public key)`: log keys
/// (type 0x01) and witness cosignature keys (type 0x04) differ only in that byte and in how the
/// key id is computed (`key_id`). The name and the key, once the key id matches them.
pub(super) fn decode_vkey(
    vkey: &str,
    alg: u8,
    key_id: fn(&str, &VerifyingKey) -> KeyId,
) -> Result<(&str, VerifyingKey), VkeyError> {
    // The key name holds no '+', but the base64 key may: split on the first two only.
    let (name, rest) = vkey.split_once('+').ok_or(VkeyError::Malformed)?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or(VkeyError::Malformed)?;
    if !is_valid_key_name(name) || id_hex.len() != 8 {
        return Err(VkeyError::Malformed);
    }
    let id = super::encoding::decode_hex_array::<4>(id_hex).ok_or(VkeyError::Malformed)?;
    let raw = STANDARD.decode(key_b64).map_err(|_| VkeyError::Malformed)?;
    let (found, key_bytes) = raw.split_first().ok_or(VkeyError::Malformed)?;
    if *found != alg {
        return Err(VkeyError::Algorithm(*found));
    }
    let key_bytes = <[u8; 32]>::try_from(key_bytes).map_err(|_| VkeyError::Malformed)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| VkeyError::Malformed)?;
    if key_id(name, &key) != id {
        return Err(VkeyError::KeyIdMismatch);
    }
    Ok((name, key))
}

/// A vkey, `name+hex(key id)+base64(signature type || key)`: the inverse of
/// [`decode_vkey`].
pub(super) fn encode_vkey(name: &str, key_id: KeyId, alg: u8, key: &VerifyingKey) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(key.as_bytes());
    format!("{}+{}+{}", name, hex::encode(key_id), STANDARD.encode(raw))
}

/// The log's public identity as configured in clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    name: String,
    key: VerifyingKey,
    key_id: KeyId,
}

impl LogVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Parses a verifier key string `name+hexkeyid+base64(0x01||pubkey)` as
    /// produced by Go's `note.NewEd25519VerifierKey`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, key) = decode_vkey(vkey, ALG_ED25519, key_id).map_err(|e| match e {
            VkeyError::Malformed => NoteError::MalformedVerifierKey,
            VkeyError::Algorithm(alg) => NoteError::UnsupportedAlgorithm(alg),
            VkeyError::KeyIdMismatch => NoteError::KeyIdMismatch,
        })?;
        Self::new(name, key)
    }

    /// Formats the verifier key string (`name+hexkeyid+base64(0x01||pubkey)`).
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, self.key_id, ALG_ED25519, &self.key)
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

    /// Verifies a signed note and returns its text (including the final newline).
    ///
    /// Follows c2sp.org/signed-note: signatures by other keys (other name or ID)
    /// are ignored, every signature claiming to be ours must verify, and at least
    /// one must be present.
    pub fn open_note<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let (text, sigs) = split_note(note)?;
        let mut verified = false;
        for sig in sigs {
            if sig.name != self.name || sig.key_id != self.key_id {
                continue;
            }
            let bytes = <[u8; 64]>::try_from(sig.signature.as_slice())
                .map_err(|_| NoteError::BadSignature)?;
            // verify_strict also rejects malleable and small-order encodings.
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&bytes))
                .map_err(|_| NoteError::BadSignature)?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::NoSignatureByKey)
        }
    }

    /// [`LogVerifier::open_note`] for raw bytes (e.g. an HTTP body).
    pub fn open_note_bytes<'a>(&self, note: &'a [u8]) -> Result<&'a str, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        let s = core::str::from_utf8(note).map_err(|_| NoteError::NotUtf8)?;
        self.open_note(s)
    }

    pub(crate) fn verify_raw(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.key
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }
}

pub(super) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge);
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    Ok(())
}

pub(super) struct SignatureLine<'a> {
    pub(super) name: &'a str,
    pub(super) key_id: KeyId,
    pub(super) signature: Vec<u8>,
}

/// Splits a note into its text and syntactically valid signature lines.
pub(super) fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    check_text(note)?;
    // The text may itself contain blank lines; the signature block starts after
    // the last one.
    let blank = note.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let text = note.get(..=blank).ok_or(NoteError::MissingBlankLine)?;
    let block = note.get(blank + 2..).ok_or(NoteError::MissingBlankLine)?;
    let block = block.strip_suffix('\n').ok_or(NoteError::NoSignatures)?;
    if block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let mut sigs = Vec::new();
    for line in block.split('\n') {
        if sigs.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        sigs.push(parse_signature_line(line)?);
    }
    Ok((text, sigs))
}

pub(super) fn parse_signature_line(line: &str) -> Result<SignatureLine<'_>, NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::MalformedSignatureLine)?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::MalformedSignatureLine)?;
    if !is_valid_key_name(name) {
        return Err(NoteError::MalformedSignatureLine);
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| NoteError::MalformedSignatureLine)?;
    // Four bytes of key ID and at least one byte of signature.
    if raw.len() < 5 {
        return Err(NoteError::MalformedSignatureLine);
    }
    let (id, signature) = raw.split_at(4);
    let key_id = <KeyId>::try_from(id).map_err(|_| NoteError::MalformedSignatureLine)?;
    Ok(SignatureLine {
        name,
        key_id,
        signature: signature.to_vec(),
    })
}
