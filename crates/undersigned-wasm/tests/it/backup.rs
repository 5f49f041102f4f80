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

/// A kept receipt as the page stores it: `{"action", "receipt"}`, signed by the letter's log.
fn kept_receipt() -> (String, serde_json::Value) {
    use undersigned_core::log::{issue_receipt, PublishSchedule};
    let letter = undersigned_core::ids::LetterId([7u8; 32]);
    let signer = crate::fixture::log_signer(&letter);
    let schedule = PublishSchedule::new(600, 60).unwrap();
    let receipt = issue_receipt(&signer, letter.0, b"leaf", 1_700_000_100, &schedule).unwrap();
    let value: serde_json::Value = serde_json::from_str(&receipt.to_json()).unwrap();
    (
        letter.to_hex(),
        serde_json::json!({"action": "sign", "receipt": value}),
    )
}

fn holder_state() -> serde_json::Value {
    let (id, kept) = kept_receipt();
    let creds: Vec<serde_json::Value> = populated().state[..2]
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    serde_json::json!({
        "credentials": creds,
        "receipts": { id.clone(): [kept] },
        "checkpoints": { id: "example.org/letters/x\n3\nAAAA\n\n— sig\n" },
    })
}

#[test]
fn state_backup_round_trip_carries_receipts_and_checkpoints() {
    use undersigned_wasm::backup::{decrypt_backup, encrypt_backup, BACKUP_PREFIX_V2};
    let state = holder_state();
    let backup = encrypt_backup(&state.to_string(), PASSPHRASE, &mut rng(11)).unwrap();
    // Nothing readable says what the file is: base64url alone, no label, no product name.
    assert!(!backup.starts_with(BACKUP_PREFIX_V2), "{backup}");
    assert!(!backup.to_lowercase().contains("undersigned"), "{backup}");
    assert!(
        backup
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{backup}"
    );
    let email = state["credentials"][0]["attributes"]["email"]
        .as_str()
        .unwrap();
    assert!(!backup.contains(email));
    let restored: serde_json::Value =
        serde_json::from_str(&decrypt_backup(&backup, PASSPHRASE).unwrap()).unwrap();
    assert_eq!(restored, state);
    // A v1 backup still opens, as a state holding its one credential.
    let old: serde_json::Value =
        serde_json::from_str(&decrypt_backup(&export(12), PASSPHRASE).unwrap()).unwrap();
    assert_eq!(old["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(old["receipts"], serde_json::json!({}));
    // A labelled v2 backup from an earlier build still opens.
    let parsed: undersigned_core::backup::HolderState =
        serde_json::from_value(state.clone()).unwrap();
    let v2 = undersigned_core::backup::seal_state_v2(&parsed, PASSPHRASE, &mut rng(18)).unwrap();
    assert!(v2.starts_with(BACKUP_PREFIX_V2));
    let restored: serde_json::Value =
        serde_json::from_str(&decrypt_backup(&v2, PASSPHRASE).unwrap()).unwrap();
    assert_eq!(restored, state);
}

#[test]
fn fail_state_backup_wrong_passphrase_tampered_or_malformed() {
    use undersigned_wasm::backup::{decrypt_backup, encrypt_backup, BACKUP_PREFIX_V2};
    let backup = encrypt_backup(&holder_state().to_string(), PASSPHRASE, &mut rng(13)).unwrap();
    assert_eq!(
        decrypt_backup(&backup, "correct horse battery stapler").unwrap_err(),
        "wrong passphrase, or the backup is damaged"
    );
    let mut chars: Vec<char> = backup.chars().collect();
    let i = 50;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    assert_eq!(
        decrypt_backup(&chars.into_iter().collect::<String>(), PASSPHRASE).unwrap_err(),
        "wrong passphrase, or the backup is damaged"
    );
    // A truncated backup does not open.
    assert!(decrypt_backup(&backup[..backup.len() - 7], PASSPHRASE).is_err());
    // The version is authenticated although it is not written: an unlabelled blob labelled
    // as v2 or v1 does not open, and a v2 blob stripped of its label does not open as v3.
    for label in [BACKUP_PREFIX_V2, BACKUP_PREFIX] {
        assert!(decrypt_backup(&format!("{label}{backup}"), PASSPHRASE).is_err());
    }
    let parsed: undersigned_core::backup::HolderState =
        serde_json::from_value(holder_state()).unwrap();
    let v2 = undersigned_core::backup::seal_state_v2(&parsed, PASSPHRASE, &mut rng(19)).unwrap();
    assert!(decrypt_backup(&v2[BACKUP_PREFIX_V2.len()..], PASSPHRASE).is_err());
    // Some other file is not "a damaged backup", and a newer labelled version says so.
    assert_eq!(
        decrypt_backup("Dear Secretary,\nplease find attached…", PASSPHRASE).unwrap_err(),
        "this is not an undersigned credential backup"
    );
    assert_eq!(
        decrypt_backup("undersigned-credential-backup/9.AAAA", PASSPHRASE).unwrap_err(),
        "this backup was made by a newer version; update undersigned to open it"
    );
    // Only real credentials, well-formed receipts and letter ids are backed up.
    let mut bad = holder_state();
    bad["credentials"][0]["secrets"] = serde_json::json!("nope");
    assert!(encrypt_backup(&bad.to_string(), PASSPHRASE, &mut rng(14)).is_err());
    let mut bad = holder_state();
    bad["receipts"] = serde_json::json!({"not-a-letter": []});
    assert!(encrypt_backup(&bad.to_string(), PASSPHRASE, &mut rng(15)).is_err());
    let mut bad = holder_state();
    bad["credentials"] = serde_json::json!([]);
    assert!(encrypt_backup(&bad.to_string(), PASSPHRASE, &mut rng(16)).is_err());
    assert!(encrypt_backup(&holder_state().to_string(), "short", &mut rng(17)).is_err());
}
