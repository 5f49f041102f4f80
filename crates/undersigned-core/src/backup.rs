//! The holder's encrypted backup: Argon2id from the passphrase, XChaCha20-Poly1305 over the
//! holder's state, in a versioned text format the holder can save anywhere. The browser writes
//! it and the CLI opens it, so the format lives here, once.
//!
//! Format v1: `undersigned-credential-backup/1.` followed by base64url (no padding) of
//! `salt (16) || nonce (24) || ciphertext with tag`, over one credential's JSON. The prefix is
//! the AEAD's associated data, so a blob cannot be relabelled as another version. Argon2
//! parameters are fixed per version: changing them means a new version.
//!
//! Format v2 (`undersigned-credential-backup/2.`, same layout and parameters) holds the whole
//! holder state: every credential, the receipts per letter and the last checkpoint seen per
//! letter, so a restored device can check and withdraw a signature, and still notices a log
//! rewritten since the last check. v1 backups still open, as a state with one credential.
//!
//! Format v3 holds the same state with the same layout and parameters, but carries no
//! readable label: the file is base64url alone, indistinguishable from random text, because a
//! file saying "undersigned-credential-backup" in a Downloads or synced folder tells whoever
//! looks that its owner signs letters. Its version label (`BACKUP_LABEL_V3`) is still the
//! AEAD's associated data, so a v3 blob cannot be read as another version, nor the reverse.
//! A later version with the same Argon2 parameters is told apart by trying its label on the
//! one derived key (a cheap AEAD check); text with a readable `undersigned-credential-backup/`
//! prefix is v1, v2, or newer than this build.

use std::collections::BTreeMap;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::entry::Action;
use crate::log::Receipt;

pub const BACKUP_PREFIX: &str = "undersigned-credential-backup/1.";
pub const BACKUP_PREFIX_V2: &str = "undersigned-credential-backup/2.";
const FAMILY_PREFIX: &str = "undersigned-credential-backup/";
/// The v3 label: authenticated as associated data, never written into the file.
pub const BACKUP_LABEL_V3: &str = "undersigned-credential-backup/3.";

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// RFC 9106's second recommended Argon2id setting (64 MiB, 3 passes) with one lane, since
/// wasm runs single-threaded: about a quarter second in a desktop browser and a few seconds
/// on a slow phone, once per export or import, against offline guessing of a backup that may
/// sit in a mailbox or a cloud drive for years.
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
const ARGON2_PASSES: u32 = 3;
const ARGON2_LANES: u32 = 1;

/// Key stretching only multiplies the cost of guessing; a very short passphrase stays weak.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// A credential is about 1 KiB; anything far larger is not a v1 backup of ours.
const MAX_BACKUP_CHARS: usize = 64 * 1024;
/// The largest state a v2 backup holds (the browser glue's JSON input limit).
pub const MAX_STATE_BYTES: usize = 1 << 20;
/// A v2 backup is the state's ciphertext in base64, a third larger; twice bounds it.
const MAX_BACKUP_V2_CHARS: usize = 2 * MAX_STATE_BYTES;

/// Why a backup could not be written or opened. A wrong passphrase and a damaged backup are
/// one error: the AEAD cannot tell them apart, and neither should we pretend to.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupError {
    #[error("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")]
    ShortPassphrase,
    #[error("there is no credential to back up")]
    NoCredential,
    #[error("the backup names a letter id that is not 64 hex digits")]
    BadLetterId,
    #[error("this is not a credential backup (too large)")]
    TooLarge,
    #[error("this backup was made by a newer version; update undersigned to open it")]
    NewerVersion,
    #[error("this is not an undersigned credential backup")]
    NotABackup,
    #[error("wrong passphrase, or the backup is damaged")]
    OpenFailed,
    /// The decrypted text is not what its version holds (`what` names it).
    #[error("{0} is malformed")]
    Malformed(&'static str),
    #[error("{0} is too large")]
    ContentsTooLarge(&'static str),
    #[error("key derivation failed: {0}")]
    KeyDerivation(String),
    #[error("encryption failed")]
    Encryption,
    #[error("could not encode the backup: {0}")]
    Encoding(String),
}

/// Everything a holder keeps, as the v2 backup carries it. Debug shows no secret: a
/// credential's Debug is redacted.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderState {
    pub credentials: Vec<Credential>,
    /// Per letter id (hex): the receipts as the page keeps them (`{"action", "receipt"}`).
    #[serde(default)]
    pub receipts: BTreeMap<String, Vec<KeptReceipt>>,
    /// Per letter id (hex): the last signed checkpoint seen (a signed note).
    #[serde(default)]
    pub checkpoints: BTreeMap<String, String>,
}

/// One receipt as the page keeps it. The receipt itself is checked against the log key when
/// it is used, as on the device that got it; here only its shape is.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptReceipt {
    pub action: Action,
    pub receipt: Receipt,
}

impl HolderState {
    /// A state holding one credential: what a v1 backup opens as.
    pub fn with_credential(credential: Credential) -> Self {
        Self {
            credentials: vec![credential],
            ..Self::default()
        }
    }

    /// Every letter id the state names (its receipts' and checkpoints' keys) is 64 hex digits,
    /// so a reader can use it as a file or storage name.
    pub fn check(&self) -> Result<(), BackupError> {
        let ids = self.receipts.keys().chain(self.checkpoints.keys());
        for id in ids {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BackupError::BadLetterId);
            }
        }
        Ok(())
    }
}

fn derive_key(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; KEY_LEN]>, BackupError> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_PASSES,
        ARGON2_LANES,
        Some(KEY_LEN),
    )
    .map_err(|e| BackupError::KeyDerivation(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| BackupError::KeyDerivation(e.to_string()))?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_LEN]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

fn to_json<T: Serialize>(value: &T) -> Result<Zeroizing<String>, BackupError> {
    serde_json::to_string(value)
        .map(Zeroizing::new)
        .map_err(|e| BackupError::Encoding(e.to_string()))
}

/// Refuses a passphrase too short to protect a backup; callers may ask before anything else.
pub fn check_passphrase(passphrase: &str) -> Result<(), BackupError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::ShortPassphrase);
    }
    Ok(())
}

/// Seals a plaintext under `prefix` (the AEAD's associated data, and the version), written
/// before the base64 text (v1, v2).
fn seal(
    plaintext: &str,
    passphrase: &str,
    prefix: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    Ok(format!(
        "{prefix}{}",
        seal_unlabelled(plaintext, passphrase, prefix, rng)?
    ))
}

/// Seals a plaintext under `label` (the AEAD's associated data): the base64 text alone.
fn seal_unlabelled(
    plaintext: &str,
    passphrase: &str,
    label: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    check_passphrase(passphrase)?;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt)?;
    let ciphertext = cipher(&key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| BackupError::Encryption)?;
    let blob = [&salt[..], &nonce[..], &ciphertext].concat();
    Ok(URL_SAFE_NO_PAD.encode(blob))
}

/// The prefix's version, or why the text is none of ours.
fn unknown_version(backup: &str) -> BackupError {
    if backup.starts_with(FAMILY_PREFIX) {
        BackupError::NewerVersion
    } else {
        BackupError::NotABackup
    }
}

/// Opens the base64 part of a backup sealed under `prefix`: its plaintext.
fn unseal(
    encoded: &str,
    passphrase: &str,
    prefix: &str,
) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    let blob = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| BackupError::OpenFailed)?;
    let (salt, rest) = blob
        .split_first_chunk::<SALT_LEN>()
        .ok_or(BackupError::OpenFailed)?;
    let (nonce, ciphertext) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(BackupError::OpenFailed)?;
    let key = derive_key(passphrase, salt)?;
    cipher(&key)
        .decrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad: prefix.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BackupError::OpenFailed)
}

/// Parses decrypted text without serde's detail, which could quote a secret.
fn parse_plaintext<T: serde::de::DeserializeOwned>(
    plaintext: &[u8],
    what: &'static str,
) -> Result<T, BackupError> {
    if plaintext.len() > MAX_STATE_BYTES {
        return Err(BackupError::ContentsTooLarge(what));
    }
    let text = std::str::from_utf8(plaintext).map_err(|_| BackupError::OpenFailed)?;
    serde_json::from_str(text).map_err(|_| BackupError::Malformed(what))
}

/// Encrypts one credential under `passphrase` (format v1).
pub fn seal_credential(
    credential: &Credential,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    seal(&to_json(credential)?, passphrase, BACKUP_PREFIX, rng)
}

/// Opens a v1 backup: the one credential it holds.
pub fn open_credential(backup: &str, passphrase: &str) -> Result<Credential, BackupError> {
    let backup = backup.trim();
    if backup.len() > MAX_BACKUP_CHARS {
        return Err(BackupError::TooLarge);
    }
    let encoded = backup
        .strip_prefix(BACKUP_PREFIX)
        .ok_or_else(|| unknown_version(backup))?;
    let plaintext = unseal(encoded, passphrase, BACKUP_PREFIX)?;
    parse_plaintext(&plaintext, "the credential")
}

/// Encrypts the holder's whole state (format v3, no readable label). Only a state with a
/// credential, and letter ids a reader can trust as names, is backed up.
pub fn seal_state(
    state: &HolderState,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    checked_state(state)?;
    seal_unlabelled(&to_json(state)?, passphrase, BACKUP_LABEL_V3, rng)
}

/// Encrypts the holder's whole state in the labelled format v2, which every earlier build
/// opens; kept so the formats' compatibility stays tested.
pub fn seal_state_v2(
    state: &HolderState,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    checked_state(state)?;
    seal(&to_json(state)?, passphrase, BACKUP_PREFIX_V2, rng)
}

fn checked_state(state: &HolderState) -> Result<(), BackupError> {
    if state.credentials.is_empty() {
        return Err(BackupError::NoCredential);
    }
    state.check()
}

/// Opens a backup of any version: v3 (unlabelled), v2, or v1 as a state with its one
/// credential.
pub fn open_state(backup: &str, passphrase: &str) -> Result<HolderState, BackupError> {
    let trimmed = backup.trim();
    if trimmed.starts_with(BACKUP_PREFIX) {
        return open_credential(trimmed, passphrase).map(HolderState::with_credential);
    }
    if trimmed.len() > MAX_BACKUP_V2_CHARS {
        return Err(BackupError::TooLarge);
    }
    let plaintext = if let Some(encoded) = trimmed.strip_prefix(BACKUP_PREFIX_V2) {
        unseal(encoded, passphrase, BACKUP_PREFIX_V2)?
    } else if trimmed.starts_with(FAMILY_PREFIX) {
        return Err(BackupError::NewerVersion);
    } else if trimmed.is_empty()
        || !trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        // Not base64url at all: some other file, not a damaged backup.
        return Err(BackupError::NotABackup);
    } else {
        unseal(trimmed, passphrase, BACKUP_LABEL_V3)?
    };
    let state: HolderState = parse_plaintext(&plaintext, "the backup's contents")?;
    state.check()?;
    Ok(state)
}
