//! Bundle verification: one honest bundle verifies, each kind of tampering is named.

use crate::fixture::*;
use std::sync::OnceLock;
use undersigned_core::bundle::{verify_bundle, Bundle};
use undersigned_core::entry::DisclosureChoice;
use undersigned_core::error::{BundleError, VerifyError};
use undersigned_core::record::{CloseReason, LogEntry};

/// Built once: five signatures (four disclosing role and age), one withdrawal.
fn honest() -> &'static (String, Bundle) {
    static B: OnceLock<(String, Bundle)> = OnceLock::new();
    B.get_or_init(|| {
        let (w, creds) = populated(100);
        let letter = w.letter("To the Secretary", all_disclosures());
        let sets = w.sets();
        let mut entries = vec![];
        for c in &creds[..4] {
            entries.push(sign(
                c,
                &letter,
                &sets,
                DisclosureChoice {
                    role: true,
                    age_band: true,
                    email: false,
                },
                Some("signed"),
            ));
        }
        entries.push(sign(
            &creds[4],
            &letter,
            &sets,
            DisclosureChoice::default(),
            None,
        ));
        entries.push(sign(
            &creds[5],
            &letter,
            &sets,
            DisclosureChoice::default(),
            None,
        ));
        entries.push(withdraw(&creds[5], &letter, &sets));
        let b = w.bundle(&letter, entries);
        (b.to_json(), b)
    })
}

fn json() -> serde_json::Value {
    serde_json::from_str(&honest().0).unwrap()
}

/// Verifies a tampered bundle after re-signing its checkpoint, as an operator holding the log
/// key could: the entry-level checks must catch what the log check then cannot.
fn verify_value(v: &serde_json::Value) -> Result<undersigned_core::bundle::Report, BundleError> {
    let mut b: Bundle =
        serde_json::from_value(v.clone()).map_err(|e| BundleError::Format(e.to_string()))?;
    seal(&mut b);
    verify_bundle(b.to_json().as_bytes())
}

/// Verifies a tampered bundle as is, with the original checkpoint.
fn verify_unsealed(v: &serde_json::Value) -> Result<undersigned_core::bundle::Report, BundleError> {
    verify_bundle(serde_json::to_string(v).unwrap().as_bytes())
}

fn assert_log_error(r: Result<undersigned_core::bundle::Report, BundleError>, needle: &str) {
    match r {
        Err(BundleError::Log(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a log error containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn fail_entry_dropped_reordered_or_inserted_under_old_checkpoint() {
    let mut v = json();
    v["entries"].as_array_mut().unwrap().remove(3);
    assert_log_error(verify_unsealed(&v), "dropped or inserted");
    let mut v = json();
    v["entries"].as_array_mut().unwrap().swap(2, 4);
    assert_log_error(verify_unsealed(&v), "do not hash to the signed root");
    let mut v = json();
    let extra = v["entries"][1].clone();
    v["entries"].as_array_mut().unwrap().push(extra);
    assert_log_error(verify_unsealed(&v), "dropped or inserted");
    let mut v = json();
    v["entries"][2]["comment"] = "edited".into();
    assert_log_error(verify_unsealed(&v), "do not hash to the signed root");
}

#[test]
fn fail_checkpoint_with_bad_signature_root_or_key() {
    let note = json()["checkpoint"].as_str().unwrap().to_owned();
    // A different root under the same signature.
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    lines[2] = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
    let mut v = json();
    v["checkpoint"] = (lines.join("\n") + "\n").into();
    assert_log_error(verify_unsealed(&v), "not validly signed");
    // A flipped signature byte.
    let mut v = json();
    let sig_line = note.lines().last().unwrap();
    let flipped = sig_line.replacen(
        &sig_line[sig_line.len() - 6..sig_line.len() - 5],
        if &sig_line[sig_line.len() - 6..sig_line.len() - 5] == "A" {
            "B"
        } else {
            "A"
        },
        1,
    );
    v["checkpoint"] = note.replace(sig_line, &flipped).into();
    assert_log_error(verify_unsealed(&v), "not validly signed");
    // Signed by another key, with the bundle claiming that other key: the right origin, the
    // wrong key is still caught when the reader pins the deployment's key; here the bundle is
    // self-consistent, so what must fail is a mix of the two.
    let b = &honest().1;
    let other = undersigned_core::log::LogSigner::new(
        &undersigned_core::bundle::origin(HOST, &b.letter_id),
        ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]),
    )
    .unwrap();
    let mut forged = b.clone();
    forged.seal(&other).unwrap();
    let mut v = json();
    v["checkpoint"] = forged.checkpoint.clone().unwrap().into();
    assert_log_error(verify_unsealed(&v), "not validly signed");
    // A checkpoint for another letter's log, and one under no origin at all.
    for (origin, needle) in [
        (
            format!("undersigned.test/letters/{}", "ab".repeat(32)),
            "another log",
        ),
        (
            "undersigned.test/letters/other".to_owned(),
            "is not a log origin",
        ),
    ] {
        let wrong_origin = undersigned_core::log::LogSigner::new(
            &origin,
            ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
        )
        .unwrap();
        let mut elsewhere = b.clone();
        elsewhere.seal(&wrong_origin).unwrap();
        assert_log_error(elsewhere.verify(), needle);
    }
    // No checkpoint at all.
    let mut v = json();
    v.as_object_mut().unwrap().remove("checkpoint");
    assert_log_error(verify_unsealed(&v), "no signed checkpoint");
}

#[test]
fn receipts_prove_inclusion_and_catch_omission() {
    use undersigned_core::log::{issue_receipt, PublishSchedule};
    let b = &honest().1;
    let signer = log_signer(&b.letter_id);
    let schedule = PublishSchedule::new(600, 5).unwrap();
    let leaf = b.entries[3].leaf_bytes();
    let r = issue_receipt(&signer, b.letter_id.0, &leaf, 1_700_000_000, &schedule).unwrap();
    assert_eq!(b.check_receipt(&r).unwrap(), 3);
    // The operator drops that entry and re-signs a checkpoint: the receipt exposes it.
    let mut dropped = b.clone();
    dropped.entries.remove(3);
    seal(&mut dropped);
    match dropped.check_receipt(&r) {
        Err(BundleError::Receipt(m)) => assert!(m.contains("MISSING"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A receipt signed by someone else proves nothing.
    let other = undersigned_core::log::LogSigner::new(
        signer.name(),
        ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    )
    .unwrap();
    let forged = issue_receipt(&other, b.letter_id.0, &leaf, 1_700_000_000, &schedule).unwrap();
    assert!(matches!(
        b.check_receipt(&forged),
        Err(BundleError::Receipt(_))
    ));
}

#[test]
fn honest_bundle_verifies() {
    let r = verify_bundle(honest().0.as_bytes()).unwrap();
    assert_eq!(r.summary.signatures, 5);
    assert_eq!(r.summary.withdrawn, 1);
    assert_eq!(r.summary.organizations, 2);
    assert_eq!(r.log_size, 8);
    assert!(r
        .statement()
        .starts_with("5 distinct verified signatures from 2 organizations"));
}

#[test]
fn fail_flipped_byte_in_any_proof_or_pseudonym() {
    let b = &honest().1;
    for i in 1..b.entries.len() {
        for field in ["proof", "pseudonym"] {
            let mut v = json();
            let s = v["entries"][i][field].as_str().unwrap().to_owned();
            let mut bytes = undersigned_core::encoding::from_b64url(&s, 4096, "x").unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 1;
            v["entries"][i][field] = undersigned_core::encoding::b64url(&bytes).into();
            let err = verify_value(&v).unwrap_err();
            assert_eq!(
                err,
                BundleError::Entry {
                    index: i,
                    error: VerifyError::BadProof
                },
                "{field} of {i}"
            );
        }
    }
}

#[test]
fn fail_changed_disclosed_attribute() {
    let mut v = json();
    v["entries"][1]["disclosed"]
        .as_object_mut()
        .unwrap()
        .remove("age_band");
    assert_eq!(
        verify_value(&v).unwrap_err(),
        BundleError::Entry {
            index: 1,
            error: VerifyError::BadProof
        }
    );
    let mut v = json();
    v["entries"][5]["disclosed"]["org"] = "state.gov".into();
    assert_eq!(
        verify_value(&v).unwrap_err(),
        BundleError::Entry {
            index: 5,
            error: VerifyError::BadProof
        }
    );
}

#[test]
fn fail_duplicated_entry() {
    let mut v = json();
    let dup = v["entries"][2].clone();
    v["entries"].as_array_mut().unwrap().insert(3, dup);
    assert_eq!(
        verify_value(&v).unwrap_err(),
        BundleError::Entry {
            index: 3,
            error: VerifyError::DoubleSign
        }
    );
}

#[test]
fn fail_entry_moved_to_another_letter() {
    let (w, creds) = populated(100);
    let other = w.letter("Another letter", all_disclosures());
    let foreign = sign(
        &creds[0],
        &other,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let mut v = json();
    let mut e = serde_json::to_value(LogEntry::submission(foreign)).unwrap();
    v["entries"].as_array_mut().unwrap().push(e.clone());
    assert_eq!(
        verify_value(&v).unwrap_err(),
        BundleError::Entry {
            index: 8,
            error: VerifyError::WrongLetter
        }
    );
    // Relabelled to this letter, the proof no longer verifies.
    e["letter_id"] = v["letter_id"].clone();
    let n = v["entries"].as_array().unwrap().len();
    v["entries"][n - 1] = e;
    assert_eq!(
        verify_value(&v).unwrap_err(),
        BundleError::Entry {
            index: 8,
            error: VerifyError::BadProof
        }
    );
}

#[test]
fn fail_changed_letter_text() {
    let mut v = json();
    v["letter"]["body"] = "We, the undersigned, demand nothing.\n".into();
    assert_eq!(
        verify_unsealed(&v).unwrap_err(),
        BundleError::LetterIdMismatch
    );
    // Changing the text everywhere and recomputing the id orphans every signature.
    let mut b = honest().1.clone();
    b.letter.body = "Edited after opening.\n".into();
    b.letter_id = b.letter.id();
    b.entries[0] = LogEntry::Opened {
        letter: b.letter.clone(),
        at: 1,
    };
    seal(&mut b);
    assert_eq!(
        b.verify().unwrap_err(),
        BundleError::Entry {
            index: 1,
            error: VerifyError::WrongLetter
        }
    );
}

#[test]
fn fail_small_cell_disclosure() {
    // The issuer signs a statement saying the (state.gov, analyst) cell is <k: role
    // disclosures by those signers now break the rule.
    let w = World::new(100);
    let mut signed = honest().1.issuers[0].statement.signed.clone();
    for cell in &mut signed.statement.epochs[0].cells {
        if cell.key.role.as_ref().map(|r| r.as_str()) == Some("analyst")
            && cell.key.age_band.is_none()
            && cell.key.org.as_str() == "state.gov"
        {
            cell.count = undersigned_core::anonymity::Count::BelowK;
        }
    }
    let signed = signed.statement.sign(&w.issuer.keys).unwrap();
    let mut b = honest().1.clone();
    b.issuers[0] = undersigned_core::bundle::IssuerRecord::new(relog(vec![signed]));
    assert_eq!(
        b.verify().unwrap_err(),
        BundleError::Entry {
            index: 1,
            error: VerifyError::SmallCell("role", K)
        }
    );
}

#[test]
fn fail_signature_after_close() {
    let mut b = honest().1.clone();
    let last = b.entries.pop().unwrap();
    b.entries.push(LogEntry::Closed {
        at: 5,
        reason: CloseReason::Organizer,
    });
    b.entries.push(last);
    seal(&mut b);
    assert_eq!(
        b.verify().unwrap_err(),
        BundleError::Entry {
            index: 8,
            error: VerifyError::LetterNotOpen
        }
    );
}

#[test]
fn fail_swapped_issuer_key() {
    let mut v = json();
    let other = World::new(999);
    v["issuers"][0]["public_key"] =
        undersigned_core::encoding::b64url(&other.issuer.keys.public_key().to_bytes()).into();
    let err = verify_value(&v).unwrap_err();
    assert!(err.to_string().starts_with("issuer statement:"), "{err}");
}

#[test]
fn fail_truncated_empty_and_garbage_files() {
    let text = &honest().0;
    for cut in [0, 1, 10, text.len() / 3, text.len() / 2, text.len() - 2] {
        let err = verify_bundle(&text.as_bytes()[..cut]).unwrap_err();
        assert!(matches!(err, BundleError::Format(_)), "cut at {cut}: {err}");
    }
    for garbage in [
        &b"\x00\xff\xfe"[..],
        b"null",
        b"[]",
        b"{}",
        b"{\"format\":\"undersigned-bundle/9\"}",
        b"\xef\xbb\xbf{",
    ] {
        assert!(verify_bundle(garbage).is_err());
    }
    assert!(matches!(
        verify_bundle(b"{\"format\":\"other/1\"}").unwrap_err(),
        BundleError::UnsupportedFormat(_)
    ));
}

// --- witnesses ------------------------------------------------------------------------------

mod witnessed {
    use super::honest;
    use undersigned_core::bundle::Bundle;
    use undersigned_core::error::BundleError;
    use undersigned_core::log::{add_cosignatures, WitnessSigner};
    use undersigned_core::pins::Pins;

    fn witness(name: &str, seed: u8) -> WitnessSigner {
        WitnessSigner::new(name, ed25519_dalek::SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn three() -> [WitnessSigner; 3] {
        [
            witness("w1.example/w", 1),
            witness("w2.example/w", 2),
            witness("w3.example/w", 3),
        ]
    }

    fn body(note: &str) -> &str {
        &note[..note.rfind("\n\n").unwrap() + 1]
    }

    fn cosign(note: &str, by: &[&WitnessSigner], ts: u64) -> String {
        let lines: Vec<String> = by
            .iter()
            .map(|w| w.cosign(body(note), ts).unwrap())
            .collect();
        add_cosignatures(note, &lines)
    }

    /// The honest bundle with its letter checkpoint and issuer log checkpoint cosigned by `by`.
    fn cosigned(by: &[&WitnessSigner]) -> Bundle {
        let mut b = honest().1.clone();
        b.checkpoint = Some(cosign(b.checkpoint.as_deref().unwrap(), by, 1_790_000_000));
        for i in &mut b.issuers {
            i.statement.checkpoint = cosign(&i.statement.checkpoint, by, 1_790_000_001);
        }
        b
    }

    fn pins(quorum: usize) -> Pins {
        let vkeys = three().iter().map(|w| w.verifier().to_vkey()).collect();
        Pins::default().with_witnesses(vkeys, Some(quorum)).unwrap()
    }

    fn assert_cosignature_error(b: &Bundle, pins: &Pins, needle: &str) {
        match b.verify_pinned(pins) {
            Err(BundleError::Cosignature(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a cosignature error with {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn quorum_of_named_witnesses_verifies_and_is_named() {
        let [w1, w2, _] = three();
        let b = cosigned(&[&w1, &w2]);
        let r = b.verify_pinned(&pins(2)).unwrap();
        let names: Vec<&str> = r.cosigned_by.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["w1.example/w", "w2.example/w"]);
        assert_eq!(r.cosigned_by[0].timestamp, 1_790_000_000);
        let s = r.statement();
        assert!(
            s.contains("cosignatures from 2 of the pinned witnesses (quorum 2)"),
            "{s}"
        );
        assert!(
            s.contains("w1.example/w") && s.contains("w2.example/w"),
            "{s}"
        );
        // The cosignature lines do not disturb a verifier that pins no witness, which says so.
        let r = b.verify().unwrap();
        assert!(
            r.statement().contains("no witnesses were pinned"),
            "{}",
            r.statement()
        );
    }

    #[test]
    fn fail_too_few_cosignatures() {
        let [w1, w2, _] = three();
        assert_cosignature_error(&cosigned(&[&w1]), &pins(2), "letter's checkpoint");
        assert_cosignature_error(&honest().1, &pins(1), "letter's checkpoint");
        // Quorum of all three by default.
        let all = Pins::default()
            .with_witnesses(
                three().iter().map(|w| w.verifier().to_vkey()).collect(),
                None,
            )
            .unwrap();
        assert_cosignature_error(&cosigned(&[&w1, &w2]), &all, "2");
    }

    #[test]
    fn fail_cosignature_from_unnamed_key() {
        let [w1, _, _] = three();
        // A key nobody named, even under a named witness's name, counts for nothing.
        let stranger = witness("stranger.example/w", 9);
        let impostor = witness("w2.example/w", 10);
        assert_cosignature_error(
            &cosigned(&[&w1, &stranger]),
            &pins(2),
            "letter's checkpoint",
        );
        assert_cosignature_error(
            &cosigned(&[&w1, &impostor]),
            &pins(2),
            "letter's checkpoint",
        );
    }

    #[test]
    fn fail_cosignature_over_another_checkpoint() {
        let [w1, w2, _] = three();
        let mut b = cosigned(&[&w1]);
        // w2's genuine cosignature, but over the issuer log's checkpoint, moved to the letter's.
        let other = cosign(&b.issuers[0].statement.checkpoint, &[&w2], 1_790_000_002);
        let line = other.lines().last().unwrap();
        b.checkpoint = Some(add_cosignatures(b.checkpoint.as_deref().unwrap(), [line]));
        assert_cosignature_error(&b, &pins(2), "letter's checkpoint");
    }

    #[test]
    fn fail_issuer_log_checkpoint_without_quorum() {
        let [w1, w2, _] = three();
        let mut b = honest().1.clone();
        b.checkpoint = Some(cosign(b.checkpoint.as_deref().unwrap(), &[&w1, &w2], 1));
        assert_cosignature_error(&b, &pins(2), "issuer");
    }

    #[test]
    fn fail_pins_with_impossible_quorum() {
        let vkeys: Vec<String> = three().iter().map(|w| w.verifier().to_vkey()).collect();
        assert!(Pins::default()
            .with_witnesses(vkeys.clone(), Some(4))
            .is_err());
        assert!(Pins::default().with_witnesses(vkeys, Some(0)).is_err());
        assert!(Pins::default()
            .with_witnesses(vec!["not a key".into()], None)
            .is_err());
    }
}

/// Issue 21, finding 1: the operator holds the log key, so it can sign any history under any
/// name. Only exact origins under a pinned host keep a second history from passing.
mod forked_origins {
    use super::honest;
    use crate::fixture::HOST;
    use ed25519_dalek::SigningKey;
    use undersigned_core::bundle::Bundle;
    use undersigned_core::error::BundleError;
    use undersigned_core::log::{add_cosignatures, LogSigner, MerkleLog, WitnessSigner};
    use undersigned_core::pins::Pins;
    use undersigned_core::statement::LoggedStatement;

    fn witnesses() -> Vec<WitnessSigner> {
        (1..=3u8)
            .map(|i| {
                WitnessSigner::new(&format!("w{i}.example/w"), SigningKey::from_bytes(&[i; 32]))
                    .unwrap()
            })
            .collect()
    }

    fn cosign(note: &str) -> String {
        let body = &note[..note.rfind("\n\n").unwrap() + 1];
        let lines: Vec<String> = witnesses()
            .iter()
            .map(|w| w.cosign(body, 1_790_000_000).unwrap())
            .collect();
        add_cosignatures(note, &lines)
    }

    /// The honest bundle with two signatures dropped, re-signed with the deployment's log key
    /// under `letter_origin` and its issuer statement re-logged under `issuer_origin`, both
    /// cosigned by every witness: what the attack review built.
    fn fork(letter_origin: &str, issuer_origin: &str) -> Bundle {
        let mut b = honest().1.clone();
        b.entries.truncate(3);
        let key = SigningKey::from_bytes(&[7u8; 32]);
        b.seal(&LogSigner::new(letter_origin, key.clone()).unwrap())
            .unwrap();
        let statement = b.issuers[0].statement.signed.clone();
        let mut tree = MerkleLog::new();
        tree.append(&statement.leaf_bytes());
        let signer = LogSigner::new(issuer_origin, key).unwrap();
        let mut logged = LoggedStatement::prove(statement, 0, &tree, &signer).unwrap();
        logged.checkpoint = cosign(&logged.checkpoint);
        b.issuers[0].statement = logged;
        b.checkpoint = Some(cosign(b.checkpoint.as_deref().unwrap()));
        b
    }

    /// Everything a deployment publishes about itself, pinned: keys, host and witnesses.
    fn pinned() -> Pins {
        let b = &honest().1;
        Pins {
            issuers: Some(b.issuers.iter().map(|i| i.id).collect()),
            log_key: Some(b.verifier().unwrap().verifying_key().to_bytes()),
            host: Some(Pins::parse_host(HOST).unwrap()),
            ..Pins::default()
        }
        .with_witnesses(
            witnesses().iter().map(|w| w.verifier().to_vkey()).collect(),
            Some(2),
        )
        .unwrap()
    }

    #[test]
    fn honest_bundle_verifies_under_its_pinned_host() {
        let r = cosign_honest().verify_pinned(&pinned()).unwrap();
        assert!(r.keys.host_pinned);
        assert_eq!(r.keys.host, HOST);
        assert!(
            r.statement()
                .contains("kept by the pinned host undersigned.test"),
            "{}",
            r.statement()
        );
    }

    fn cosign_honest() -> Bundle {
        let mut b = honest().1.clone();
        b.checkpoint = Some(cosign(b.checkpoint.as_deref().unwrap()));
        for i in &mut b.issuers {
            i.statement.checkpoint = cosign(&i.statement.checkpoint);
        }
        b
    }

    #[test]
    fn fail_nested_origin_fork_even_cosigned_by_every_witness() {
        let id = honest().1.letter_id;
        let issuer = honest().1.issuers[0].id;
        let nested = fork(
            &format!("{HOST}/letters/x/letters/{id}"),
            &format!("{HOST}/letters/x/issuers/{issuer}"),
        );
        // Refused with the pins and without them: such an origin is no origin at all.
        for pins in [pinned(), Pins::default()] {
            match nested.verify_pinned(&pins) {
                Err(BundleError::Log(m)) => assert!(m.contains("is not a log origin"), "{m}"),
                other => panic!("a nested origin must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn fail_other_spellings_of_the_origin() {
        let id = honest().1.letter_id;
        let issuer = honest().1.issuers[0].id;
        let upper = id.to_hex().to_uppercase();
        for letter_origin in [
            format!("{HOST}/letters/{upper}"),
            format!("{HOST}/letters/{id}/"),
            format!("{HOST}//letters/{id}"),
            format!("https://{HOST}/letters/{id}"),
            format!("{HOST}/path/letters/{id}"),
            format!("UNDERSIGNED.TEST/letters/{id}"),
            format!("{HOST}:0443/letters/{id}"),
            format!("{HOST}/issuers/{id}"),
        ] {
            let b = fork(&letter_origin, &format!("{HOST}/issuers/{issuer}"));
            assert!(
                matches!(b.verify_pinned(&pinned()), Err(BundleError::Log(_))),
                "{letter_origin} must be refused"
            );
        }
    }

    #[test]
    fn fail_exact_origin_of_another_host_when_the_host_is_pinned() {
        let id = honest().1.letter_id;
        let issuer = honest().1.issuers[0].id;
        let other = fork(
            &format!("undersigned.test.evil/letters/{id}"),
            &format!("undersigned.test.evil/issuers/{issuer}"),
        );
        // Unpinned, it is a consistent bundle of another deployment, and says so.
        let r = other.verify().unwrap();
        assert!(!r.keys.host_pinned);
        assert!(r.statement().contains("not pinned"), "{}", r.statement());
        // Pinned, its host is not the pinned one, though keys and witnesses all match.
        match other.verify_pinned(&pinned()) {
            Err(BundleError::Pin(m)) => {
                assert!(
                    m.contains("undersigned.test.evil") && m.contains("pinned host"),
                    "{m}"
                )
            }
            other => panic!("another host must be refused, got {other:?}"),
        }
    }

    #[test]
    fn fail_issuer_log_under_another_origin() {
        let id = honest().1.letter_id;
        let issuer = honest().1.issuers[0].id;
        for issuer_origin in [
            format!("{HOST}/letters/x/issuers/{issuer}"),
            format!("{HOST}/issuers/{issuer}/x"),
            format!("evil.test/issuers/{issuer}"),
            format!("{HOST}/letters/{issuer}"),
        ] {
            let b = fork(&format!("{HOST}/letters/{id}"), &issuer_origin);
            assert!(
                b.verify_pinned(&pinned()).is_err(),
                "an issuer log under {issuer_origin} must be refused"
            );
        }
    }
}

/// Each share of a split outcome, as the browser's workers give it to `share::combine`.
fn outcomes(b: &Bundle, of: usize) -> Vec<undersigned_core::share::ShareOutcome> {
    use undersigned_core::share::{Share, ShareOutcome};
    (0..of)
        .map(|index| {
            let share = Share::new(index, of).unwrap();
            let result = b
                .verify_share(
                    &undersigned_core::pins::Pins::default(),
                    &mut b.batch_rng(),
                    &mut |_, _| {},
                    share,
                )
                .map(|(report, checked)| (serde_json::to_value(report).unwrap(), checked));
            ShareOutcome::of_result(share, result)
        })
        .collect()
}

#[test]
fn shares_of_any_split_join_into_the_whole_verdict() {
    use undersigned_core::share::combine;
    let b = &honest().1;
    let whole = serde_json::to_value(verify_bundle(honest().0.as_bytes()).unwrap()).unwrap();
    // More shares than proofs too: a share may own none.
    for of in 1..=9 {
        let split = outcomes(b, of);
        assert_eq!(combine(&split).unwrap(), Ok(whole.clone()), "{of} shares");
    }
}

#[test]
fn fail_a_forged_proof_fails_the_split_whichever_share_owns_it() {
    use undersigned_core::share::combine;
    let b = &honest().1;
    for i in [1, 4, b.entries.len() - 1] {
        let mut v = json();
        let s = v["entries"][i]["proof"].as_str().unwrap().to_owned();
        let mut bytes = undersigned_core::encoding::from_b64url(&s, 4096, "x").unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        v["entries"][i]["proof"] = undersigned_core::encoding::b64url(&bytes).into();
        let mut forged: Bundle = serde_json::from_value(v).unwrap();
        seal(&mut forged);
        let whole = verify_bundle(forged.to_json().as_bytes()).unwrap_err();
        for of in 1..=4 {
            let split = outcomes(&forged, of);
            // Only the share that owns the proof sees it fail; the split fails all the same,
            // with the whole verification's error.
            assert_eq!(
                combine(&split).unwrap(),
                Err(whole.to_string()),
                "entry {i}, {of} shares"
            );
        }
    }
    // Two forged proofs in different shares: the first in log order is the one reported.
    let mut v = json();
    for i in [2, 3] {
        let s = v["entries"][i]["proof"].as_str().unwrap().to_owned();
        let mut bytes = undersigned_core::encoding::from_b64url(&s, 4096, "x").unwrap();
        bytes[10] ^= 1;
        v["entries"][i]["proof"] = undersigned_core::encoding::b64url(&bytes).into();
    }
    let mut forged: Bundle = serde_json::from_value(v).unwrap();
    seal(&mut forged);
    let whole = verify_bundle(forged.to_json().as_bytes()).unwrap_err();
    assert!(whole.to_string().contains("entry 2"), "{whole}");
    let mut split = outcomes(&forged, 2);
    split.reverse();
    assert_eq!(combine(&split).unwrap(), Err(whole.to_string()));
}

#[test]
fn fail_combine_refuses_outcomes_that_do_not_cover_every_proof_once() {
    use undersigned_core::share::{combine, Share, ShareError, ShareResult};
    let b = &honest().1;
    let split = outcomes(b, 3);
    let incomplete = |r: Result<_, ShareError>| matches!(r, Err(ShareError::Incomplete(_)));
    // A share left out, or one given twice in place of another.
    assert!(incomplete(combine(&split[..2])));
    assert!(incomplete(combine(&[])));
    let twice = vec![split[0].clone(), split[1].clone(), split[1].clone()];
    assert!(incomplete(combine(&twice)));
    // Shares of two different splits.
    let mixed = vec![
        split[0].clone(),
        split[1].clone(),
        outcomes(b, 2)[1].clone(),
    ];
    assert!(incomplete(combine(&mixed)));
    // A share that claims to have checked fewer proofs than it owns.
    let mut short = split.clone();
    if let ShareResult::Passed { checked, .. } = &mut short[1].result {
        checked.checked -= 1;
    }
    assert!(incomplete(combine(&short)));
    // Shares whose reports differ.
    let mut differ = split.clone();
    if let ShareResult::Passed { report, .. } = &mut differ[2].result {
        report["signatures"] = 6.into();
    }
    assert_eq!(combine(&differ), Err(ShareError::Disagree));
    // A share must be one of 1 to 64.
    for (index, of) in [(0, 0), (3, 3), (0, 65)] {
        assert_eq!(Share::new(index, of), Err(ShareError::BadShare));
    }
}
