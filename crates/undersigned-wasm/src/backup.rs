//! The encrypted backup as the page calls it: JSON in, backup text out, and back. The format,
//! its versions and its checks are core's (`undersigned_core::backup`), which the CLI opens too.

use rand_core::CryptoRngCore;
use undersigned_core::backup as format;

use crate::json;

pub use undersigned_core::backup::{
    HolderState, KeptReceipt, BACKUP_LABEL_V3, BACKUP_PREFIX, BACKUP_PREFIX_V2,
    MIN_PASSPHRASE_CHARS,
};

/// Encrypts a credential under `passphrase` (format v1). The credential is parsed first, so
/// only a real credential is ever backed up.
pub fn encrypt_export(
    credential_json: &str,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, String> {
    format::check_passphrase(passphrase).map_err(|e| e.to_string())?;
    let credential = json::credential(credential_json)?;
    format::seal_credential(&credential, passphrase, rng).map_err(|e| e.to_string())
}

/// Opens a v1 backup and returns the credential JSON.
pub fn decrypt_import(backup: &str, passphrase: &str) -> Result<String, String> {
    let credential = format::open_credential(backup, passphrase).map_err(|e| e.to_string())?;
    json::to_string(&credential)
}

/// Encrypts the holder's whole state (format v3: base64url alone, no readable label).
pub fn encrypt_backup(
    state_json: &str,
    passphrase: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<String, String> {
    let state: HolderState = json::parse_secret(state_json, "the holder state")?;
    format::seal_state(&state, passphrase, rng).map_err(|e| e.to_string())
}

/// Opens a v3 or v2 backup (or a v1 one, as a state with one credential) and returns the
/// state JSON.
pub fn decrypt_backup(backup: &str, passphrase: &str) -> Result<String, String> {
    let state = format::open_state(backup, passphrase).map_err(|e| e.to_string())?;
    json::to_string(&state)
}
