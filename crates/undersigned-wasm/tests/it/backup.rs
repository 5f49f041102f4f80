//! The encrypted credential backup: round trip, and every way opening it must fail.

use undersigned_wasm::backup::{decrypt_import, encrypt_export, BACKUP_PREFIX};

use crate::fixture::{populated, rng, PASSPHRASE};

fn export(seed: u64) -> String {
    encrypt_export(&populated().state[0], PASSPHRASE, &mut rng(seed)).unwrap()
}

#[test]
fn export_import_round_trip() {
    let backup = export(1);
    assert!(backup.starts_with(BACKUP_PREFIX), "{backup}");
    let original: serde_json::Value = serde_json::from_str(&populated().state[0]).unwrap();
    // Nothing of the credential shows through the ciphertext.
    let email = original["attributes"]["email"].as_str().unwrap();
    assert!(!backup.contains(email));
    let restored: serde_json::Value =
        serde_json::from_str(&decrypt_import(&format!("  {backup}\n"), PASSPHRASE).unwrap())
            .unwrap();
    assert_eq!(restored, original);
    // Fresh salt and nonce each time.
    assert_ne!(export(1), export(2));
}

#[test]
fn fail_wrong_passphrase() {
    let err = decrypt_import(&export(3), "correct horse battery stapler").unwrap_err();
    assert_eq!(err, "wrong passphrase, or the backup is damaged");
}

#[test]
fn fail_tampered_or_truncated_backup() {
    let backup = export(4);
    let mut chars: Vec<char> = backup.chars().collect();
    let i = BACKUP_PREFIX.len() + 40;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert!(decrypt_import(&tampered, PASSPHRASE).is_err());
    assert!(decrypt_import(&backup[..backup.len() - 4], PASSPHRASE).is_err());
    assert!(decrypt_import(&backup[..BACKUP_PREFIX.len() + 20], PASSPHRASE).is_err());
    assert!(decrypt_import(BACKUP_PREFIX, PASSPHRASE).is_err());
}

#[test]
fn fail_other_version_or_not_a_backup() {
    let backup = export(5);
    let relabelled = backup.replacen("/1.", "/2.", 1);
    let err = decrypt_import(&relabelled, PASSPHRASE).unwrap_err();
    assert!(err.contains("newer version"), "{err}");
    let err = decrypt_import(&populated().state[0], PASSPHRASE).unwrap_err();
    assert!(
        err.contains("not an undersigned credential backup"),
        "{err}"
    );
}

#[test]
fn fail_short_passphrase_or_non_credential() {
    let err = encrypt_export(&populated().state[0], "short", &mut rng(6)).unwrap_err();
    assert!(err.contains("at least 8"), "{err}");
    let err = encrypt_export(r#"{"not":"a credential"}"#, PASSPHRASE, &mut rng(6)).unwrap_err();
    assert_eq!(err, "the credential is malformed");
}
