//! The encrypted credential backup: Argon2id from the passphrase, XChaCha20-Poly1305 over the
//! credential JSON, in a versioned text format the holder can save anywhere.
//!
//! Format v1: `undersigned-credential-backup/1.` followed by base64url (no padding) of
//! `salt (16) || nonce (24) || ciphertext with tag`. The prefix is the AEAD's associated data,
//! so a blob cannot be relabelled as another version. Argon2 parameters are fixed per version:
//! changing them means a new version.
//!
//! Format v2 (`undersigned-credential-backup/2.`, same layout and parameters) holds the whole
//! holder state: every credential, the receipts per letter and the last checkpoint seen per
//! letter, so a restored device can check and withdraw a signature, and still notices a log
//! rewritten since the last check. v1 backups still open, as a state with one credential.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::json;

pub const BACKUP_PREFIX: &str = "undersigned-credential-backup/1.";
pub const BACKUP_PREFIX_V2: &str = "undersigned-credential-backup/2.";
const FAMILY_PREFIX: &str = "undersigned-credential-backup/";

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
/// A v2 state holds receipts and checkpoints too; the JSON input limit bounds it.
const MAX_BACKUP_V2_CHARS: usize = 2 * json::MAX_INPUT_BYTES;

const OPEN_FAILED: &str = "wrong passphrase, or the backup is damaged";

fn derive_key(passphrase: &str, salt: &[u8; SALT_LEN]) -> Result<Zeroizing<[u8; KEY_LEN]>, String> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_PASSES,
        ARGON2_LANES,
        Some(KEY_LEN),
    )
    .map_err(|e| format!("key derivation parameters: {e}"))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| format!("key derivation failed: {e}"))?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_LEN]) -> Result<XChaCha20Poly1305, String> {
    XChaCha20Poly1305::new_from_slice(key).map_err(|_| "bad key length".to_owned())
}

/// Encrypts a credential under `passphrase`. The credential is parsed first, so only a real
/// credential is ever backed up.
pub fn encrypt_export(
    credential_json: &str,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, String> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!(
            "the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"
        ));
    }
    let credential = json::credential(credential_json)?;
    let plaintext = Zeroizing::new(json::to_string(&credential)?);
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt)?;
    let ciphertext = cipher(&key)?
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: BACKUP_PREFIX.as_bytes(),
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    let blob = [&salt[..], &nonce[..], &ciphertext].concat();
    Ok(format!("{BACKUP_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
}

/// Opens a backup and returns the credential JSON. A wrong passphrase and a damaged backup
/// are the same error: the AEAD cannot tell them apart, and neither should we pretend to.
pub fn decrypt_import(backup: &str, passphrase: &str) -> Result<String, String> {
    let backup = backup.trim();
    if backup.len() > MAX_BACKUP_CHARS {
        return Err("this is not a credential backup (too large)".into());
    }
    let Some(encoded) = backup.strip_prefix(BACKUP_PREFIX) else {
        return Err(if backup.starts_with(FAMILY_PREFIX) {
            "this backup was made by a newer version; update undersigned to open it".into()
        } else {
            "this is not an undersigned credential backup".into()
        });
    };
    let blob = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| OPEN_FAILED.to_owned())?;
    let (salt, rest) = blob
        .split_first_chunk::<SALT_LEN>()
        .ok_or_else(|| OPEN_FAILED.to_owned())?;
    let (nonce, ciphertext) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(|| OPEN_FAILED.to_owned())?;
    let key = derive_key(passphrase, salt)?;
    let plaintext = Zeroizing::new(
        cipher(&key)?
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: BACKUP_PREFIX.as_bytes(),
                },
            )
            .map_err(|_| OPEN_FAILED.to_owned())?,
    );
    let text = std::str::from_utf8(&plaintext).map_err(|_| OPEN_FAILED.to_owned())?;
    let credential = json::credential(text)?;
    json::to_string(&credential)
}

/// Everything a holder keeps in the browser, as the v2 backup carries it. Debug shows no
/// secret: a credential's Debug is redacted.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderState {
    pub credentials: Vec<undersigned_core::credential::Credential>,
    /// Per letter id (hex): the receipts as the page keeps them (`{"action", "receipt"}`).
    #[serde(default)]
    pub receipts: std::collections::BTreeMap<String, Vec<KeptReceipt>>,
    /// Per letter id (hex): the last signed checkpoint seen (a signed note).
    #[serde(default)]
    pub checkpoints: std::collections::BTreeMap<String, String>,
}

/// One receipt as the page keeps it. The receipt itself is checked against the log key when
/// it is used, as on the device that got it; here only its shape is.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptReceipt {
    pub action: undersigned_core::entry::Action,
    pub receipt: undersigned_core::log::Receipt,
}

fn check_letter_key(id: &str) -> Result<(), String> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("the backup names a letter id that is not 64 hex digits".into())
    }
}

/// Seals a plaintext under `prefix` (the AEAD's associated data, and the version).
fn seal(
    plaintext: &str,
    passphrase: &str,
    prefix: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, String> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!(
            "the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"
        ));
    }
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt)?;
    let ciphertext = cipher(&key)?
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: prefix.as_bytes(),
            },
        )
        .map_err(|_| "encryption failed".to_owned())?;
    let blob = [&salt[..], &nonce[..], &ciphertext].concat();
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(blob)))
}

/// Encrypts the holder's whole state (v2). Each credential is parsed first, so only real
/// credentials and well-formed receipts are ever backed up.
pub fn encrypt_backup(
    state_json: &str,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, String> {
    let state: HolderState = json::parse_secret(state_json, "the holder state")?;
    if state.credentials.is_empty() {
        return Err("there is no credential to back up".into());
    }
    for id in state.receipts.keys().chain(state.checkpoints.keys()) {
        check_letter_key(id)?;
    }
    let plaintext = Zeroizing::new(json::to_string(&state)?);
    seal(&plaintext, passphrase, BACKUP_PREFIX_V2, rng)
}

/// Opens a v2 backup (or a v1 one, as a state with one credential) and returns the state JSON.
pub fn decrypt_backup(backup: &str, passphrase: &str) -> Result<String, String> {
    let trimmed = backup.trim();
    if trimmed.starts_with(BACKUP_PREFIX) {
        let credential = json::credential(&decrypt_import(trimmed, passphrase)?)?;
        return json::to_string(&HolderState {
            credentials: vec![credential],
            receipts: Default::default(),
            checkpoints: Default::default(),
        });
    }
    if trimmed.len() > MAX_BACKUP_V2_CHARS {
        return Err("this is not a credential backup (too large)".into());
    }
    let Some(encoded) = trimmed.strip_prefix(BACKUP_PREFIX_V2) else {
        return Err(if trimmed.starts_with(FAMILY_PREFIX) {
            "this backup was made by a newer version; update undersigned to open it".into()
        } else {
            "this is not an undersigned credential backup".into()
        });
    };
    let blob = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| OPEN_FAILED.to_owned())?;
    let (salt, rest) = blob
        .split_first_chunk::<SALT_LEN>()
        .ok_or_else(|| OPEN_FAILED.to_owned())?;
    let (nonce, ciphertext) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(|| OPEN_FAILED.to_owned())?;
    let key = derive_key(passphrase, salt)?;
    let plaintext = Zeroizing::new(
        cipher(&key)?
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: BACKUP_PREFIX_V2.as_bytes(),
                },
            )
            .map_err(|_| OPEN_FAILED.to_owned())?,
    );
    let text = std::str::from_utf8(&plaintext).map_err(|_| OPEN_FAILED.to_owned())?;
    let state: HolderState = json::parse_secret(text, "the backup's contents")?;
    for id in state.receipts.keys().chain(state.checkpoints.keys()) {
        check_letter_key(id)?;
    }
    json::to_string(&state)
}
