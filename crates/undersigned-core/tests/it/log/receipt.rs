//! Receipts: issue/verify round trip, JSON form, and must-fail tampering cases.

use crate::log::{signer, verifier};
use undersigned_core::log::*;

const NOW: u64 = 1_700_000_123;

fn schedule() -> PublishSchedule {
    PublishSchedule::new(3600, 300).unwrap()
}

fn issue() -> Receipt {
    issue_receipt(&signer(1), [9; 32], b"entry bytes", NOW, &schedule()).unwrap()
}

#[test]
fn issue_and_verify() {
    let r = issue();
    verify_receipt(&r, &verifier(1)).unwrap();
    assert_eq!(r.entry_hash, leaf_hash(b"entry bytes"));
    assert!(r.covers_entry(b"entry bytes"));
    assert!(!r.covers_entry(b"other bytes"));
    assert_eq!(r.received_at, NOW);
    assert_eq!(r.include_by, 1_700_002_800 + 300);
    assert_eq!(r.log_key_id, signer(1).key_id());
    // Ed25519 is deterministic, so receipts are too.
    assert_eq!(issue(), r);
}

#[test]
fn receipt_proves_against_log() {
    // The promised entry hash is exactly what the log's inclusion proof checks.
    let r = issue();
    let mut log = MerkleLog::new();
    log.append(b"first");
    let idx = log.append(b"entry bytes");
    let p = log.prove_inclusion(idx, log.size()).unwrap();
    verify_inclusion(&r.entry_hash, idx, log.size(), &p, &log.root()).unwrap();
}

#[test]
fn json_round_trip_and_shape() {
    let r = issue();
    let json = r.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["letter_id"], hex::encode([9u8; 32]));
    assert_eq!(v["log_key_id"], hex::encode(r.log_key_id));
    let sig = v["signature"].as_str().unwrap();
    assert_eq!(sig.len(), 86);
    assert!(!sig.contains(['+', '/', '=']));
    let back = Receipt::from_json(&json).unwrap();
    assert_eq!(back, r);
    verify_receipt(&back, &verifier(1)).unwrap();
}

fn tampered(f: impl FnOnce(&mut Receipt)) -> Result<(), ReceiptError> {
    let mut r = issue();
    f(&mut r);
    verify_receipt(&r, &verifier(1))
}

#[test]
fn fail_receipt_with_altered_entry_hash() {
    assert_eq!(
        tampered(|r| r.entry_hash[0] ^= 1),
        Err(ReceiptError::BadSignature)
    );
}

#[test]
fn fail_receipt_with_altered_fields() {
    assert_eq!(
        tampered(|r| r.letter_id[31] ^= 1),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        tampered(|r| r.received_at -= 1),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        tampered(|r| r.include_by += 1),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        tampered(|r| r.signature[5] ^= 1),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        tampered(|r| r.include_by = r.received_at - 1),
        Err(ReceiptError::DeadlineBeforeReceipt)
    );
    assert_eq!(
        tampered(|r| r.version = 2),
        Err(ReceiptError::UnsupportedVersion(2))
    );
    assert!(matches!(
        tampered(|r| r.log_key_id[0] ^= 1),
        Err(ReceiptError::WrongKey { .. })
    ));
}

#[test]
fn fail_receipt_from_another_key() {
    assert!(matches!(
        verify_receipt(&issue(), &verifier(2)),
        Err(ReceiptError::WrongKey { .. })
    ));
    // Relabelling the receipt with another key's ID does not make that key vouch for it.
    let other = undersigned_core::log::LogVerifier::new(
        "undersigned.example/log",
        signer(2).verifying_key(),
    )
    .unwrap();
    let mut r = issue();
    r.log_key_id = other.key_id();
    assert_eq!(verify_receipt(&r, &other), Err(ReceiptError::BadSignature));
}

#[test]
fn fail_receipt_json_malformed() {
    let good = issue().to_json();
    let bad = [
        good.replace("\"version\":1", "\"version\":1,\"extra\":0"),
        good.replace(&hex::encode([9u8; 32]), &hex::encode([9u8; 31])),
        good.replace(
            &hex::encode([9u8; 32]),
            &hex::encode([0xab; 32]).to_uppercase(),
        ),
        good.replace("\"received_at\":1700000123", "\"received_at\":-1"),
        good.replace(
            "\"received_at\":1700000123",
            "\"received_at\":\"1700000123\"",
        ),
        good.replace("\"version\":1,", ""),
        String::new(),
        "[]".into(),
        format!("{}{}", good, " ".repeat(5000)),
    ];
    for b in &bad {
        assert!(Receipt::from_json(b).is_err(), "{b}");
    }
    let r = issue();
    let padded_sig = good.replace(
        &serde_json::to_value(&r).unwrap()["signature"]
            .as_str()
            .unwrap()
            .to_string(),
        &format!(
            "{}==",
            serde_json::to_value(&r).unwrap()["signature"]
                .as_str()
                .unwrap()
        ),
    );
    assert!(Receipt::from_json(&padded_sig).is_err());
}

#[test]
fn fail_issue_when_deadline_overflows() {
    assert!(issue_receipt(&signer(1), [0; 32], b"x", u64::MAX - 10, &schedule()).is_err());
}
