//! Witness cosignatures (C2SP tlog-cosignature/v1): round trips, the quorum rule, the
//! `add-checkpoint` body and the witness's decision, must-fail cases, and a differential
//! check against crosscheck/cosignature.mjs, written from the C2SP text with node's own
//! Ed25519. No node means a failure, not a skip.

use crate::log::{rng, signer, ORIGIN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use undersigned_core::log::*;

fn witness(name: &str, seed: u64) -> WitnessSigner {
    WitnessSigner::generate(name, &mut rng(1000 + seed)).unwrap()
}

fn three() -> Vec<WitnessSigner> {
    vec![
        witness("w1.example/witness", 1),
        witness("w2.example/witness", 2),
        witness("w3.example/witness", 3),
    ]
}

fn tree(size: u32) -> MerkleLog {
    let mut log = MerkleLog::new();
    for i in 0..size {
        log.append(format!("leaf {i}").as_bytes());
    }
    log
}

fn checkpoint(size: u32) -> (Checkpoint, String) {
    let log = tree(size);
    let cp = Checkpoint::new(ORIGIN, log.size(), log.root());
    let note = cp.sign(&signer(1)).unwrap();
    (cp, note)
}

fn body(note: &str) -> &str {
    &note[..note.rfind("\n\n").unwrap() + 1]
}

fn cosigned_by(note: &str, ws: &[&WitnessSigner], ts: u64) -> String {
    let lines: Vec<String> = ws
        .iter()
        .map(|w| w.cosign(body(note), ts).unwrap())
        .collect();
    add_cosignatures(note, &lines)
}

fn verifiers(ws: &[WitnessSigner]) -> Vec<WitnessVerifier> {
    ws.iter().map(WitnessSigner::verifier).collect()
}

// --- format -----------------------------------------------------------------

#[test]
fn line_layout_is_key_id_timestamp_signature() {
    let w = witness("w1.example/witness", 1);
    let (_, note) = checkpoint(7);
    let line = w.cosign(body(&note), 1_700_000_123).unwrap();
    let rest = line
        .strip_prefix("\u{2014} w1.example/witness ")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    let raw = STANDARD.decode(rest).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(raw[..4], w.key_id());
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1_700_000_123
    );
    // The signature is Ed25519 over exactly the cosignature/v1 message.
    let msg = format!("cosignature/v1\ntime 1700000123\n{}", body(&note));
    let sig = ed25519_dalek::Signature::from_bytes(&raw[12..].try_into().unwrap());
    w.verifier()
        .verifying_key()
        .verify_strict(msg.as_bytes(), &sig)
        .unwrap();
}

#[test]
fn spec_example_layout() {
    // tlog-cosignature's example line: key ID 8d66cf3f, timestamp 1679315147 (the time in its
    // example message), 64 bytes of signature. The spec gives no public key to verify it with.
    let raw = STANDARD
        .decode("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==")
        .unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(raw[..4], [0x8d, 0x66, 0xcf, 0x3f]);
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1679315147
    );
    // transparency-dev/formats note_cosigv1_test.go TestCoSigV1Timestamp: 1727964367.
    let raw = STANDARD
        .decode("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==")
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1727964367
    );
    // The spec's example message, byte for byte.
    assert_eq!(
        undersigned_core::log::cosignature::cosignature_message(
            1679315147,
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        ),
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
}

#[test]
fn key_id_follows_the_spec_formula() {
    use sha2::{Digest, Sha256};
    let w = witness("w1.example/witness", 1);
    let mut h = Sha256::new();
    h.update(b"w1.example/witness\n\x04");
    h.update(w.verifier().verifying_key().as_bytes());
    assert_eq!(w.key_id(), h.finalize()[..4]);
    // Not the signed-note Ed25519 (0x01) key ID of the same key and name.
    let as_log =
        LogSigner::new("w1.example/witness", SigningKey::from_bytes(&w.to_seed())).unwrap();
    assert_ne!(as_log.key_id(), w.key_id());
}

#[test]
fn vkey_round_trip() {
    let v = witness("w1.example/witness", 1).verifier();
    let vkey = v.to_vkey();
    assert!(vkey.starts_with(&format!("w1.example/witness+{}+B", hex::encode(v.key_id()))));
    assert_eq!(WitnessVerifier::from_vkey(&vkey).unwrap(), v);
    assert_eq!(
        WitnessVerifier::from_vkey(&vkey).unwrap().name(),
        "w1.example/witness"
    );
    // Base64 may contain '+', the vkey separator: such keys must round trip too.
    let mut with_plus = 0;
    for seed in 0..64 {
        let v = witness("w.example/w", seed).verifier();
        let vkey = v.to_vkey();
        with_plus += usize::from(vkey.matches('+').count() > 2);
        assert_eq!(WitnessVerifier::from_vkey(&vkey).unwrap(), v, "{vkey}");
    }
    assert!(with_plus > 0);
}

#[test]
fn fail_vkeys() {
    let v = witness("w1.example/witness", 1).verifier();
    let vkey = v.to_vkey();
    let log_vkey = signer(1).verifier().to_vkey();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (_, key) = rest.split_once('+').unwrap();
    for (bad, why) in [
        (log_vkey.clone(), "a log (0x01) key is not a witness key"),
        (format!("{name}+00000000+{key}"), "wrong key ID"),
        (format!("other.example+{}", rest), "key ID of another name"),
        (format!("{vkey}+extra"), "trailing junk"),
        (format!("{name}+{}", key), "two parts"),
        (
            format!("{name}+{}+!!!", hex::encode(v.key_id())),
            "bad base64",
        ),
        (
            format!("{name}+{}+BAAA", hex::encode(v.key_id())),
            "short key",
        ),
        (vkey.to_uppercase(), "uppercase hex and name"),
        (format!("a b+{}", rest), "space in name"),
        (String::new(), "empty"),
    ] {
        assert!(WitnessVerifier::from_vkey(&bad).is_err(), "{why}: {bad}");
    }
    assert_eq!(
        WitnessVerifier::from_vkey(&log_vkey),
        Err(CosignatureError::UnsupportedAlgorithm(1))
    );
}

#[test]
fn fail_cosign_bad_input() {
    let w = witness("w1.example/witness", 1);
    let (_, note) = checkpoint(3);
    assert_eq!(
        w.cosign(body(&note), 0),
        Err(CosignatureError::BadTimestamp)
    );
    assert_eq!(
        w.cosign(body(&note), 1 << 63),
        Err(CosignatureError::BadTimestamp)
    );
    assert!(w.cosign("not a checkpoint\n", 1).is_err());
    assert!(w.cosign(&note, 1).is_err(), "a whole note is not a body");
    assert!(WitnessSigner::generate("has space", &mut rng(1)).is_err());
    assert!(WitnessSigner::generate("a+b", &mut rng(1)).is_err());
}

#[test]
fn debug_hides_the_key() {
    let w = witness("w1.example/witness", 1);
    let dbg = format!("{w:?}");
    assert!(!dbg.contains(&hex::encode(w.to_seed())));
    assert!(dbg.contains("w1.example/witness"));
}

// --- verify ----------------------------------------------------------------

#[test]
fn verify_finds_its_line_among_others() {
    let ws = three();
    let (_, note) = checkpoint(9);
    let note = cosigned_by(&note, &[&ws[0], &ws[2]], 1_700_000_000);
    assert_eq!(ws[0].verifier().verify(&note).unwrap(), 1_700_000_000);
    assert_eq!(ws[2].verifier().verify(&note).unwrap(), 1_700_000_000);
    assert_eq!(
        ws[1].verifier().verify(&note),
        Err(CosignatureError::NoCosignature("w2.example/witness".into()))
    );
}

#[test]
fn fail_cosignature_over_another_checkpoint() {
    let w = witness("w1.example/witness", 1);
    let (_, a) = checkpoint(9);
    let (_, b) = checkpoint(10);
    let line = w.cosign(body(&a), 1_700_000_000).unwrap();
    let forged = add_cosignatures(&b, [&line]);
    assert_eq!(
        w.verifier().verify(&forged),
        Err(CosignatureError::BadCosignature(
            "w1.example/witness".into()
        ))
    );
}

#[test]
fn fail_changed_timestamp() {
    let w = witness("w1.example/witness", 1);
    let (_, note) = checkpoint(9);
    let line = w.cosign(body(&note), 1_700_000_000).unwrap();
    let b64 = line.rsplit_once(' ').unwrap().1.trim_end();
    let mut raw = STANDARD.decode(b64).unwrap();
    raw[11] ^= 1;
    let bad = format!("\u{2014} w1.example/witness {}\n", STANDARD.encode(&raw));
    assert_eq!(
        w.verifier().verify(&add_cosignatures(&note, [&bad])),
        Err(CosignatureError::BadCosignature(
            "w1.example/witness".into()
        ))
    );
    // Truncated: right name and key ID, wrong length.
    let short = format!(
        "\u{2014} w1.example/witness {}\n",
        STANDARD.encode(&raw[..40])
    );
    assert!(w
        .verifier()
        .verify(&add_cosignatures(&note, [&short]))
        .is_err());
}

#[test]
fn same_key_under_another_name_is_ignored() {
    let w = witness("w1.example/witness", 1);
    let impostor =
        WitnessSigner::new("w9.example/witness", SigningKey::from_bytes(&w.to_seed())).unwrap();
    let (_, note) = checkpoint(4);
    let note = cosigned_by(&note, &[&impostor], 1_700_000_000);
    assert_eq!(
        w.verifier().verify(&note),
        Err(CosignatureError::NoCosignature("w1.example/witness".into()))
    );
}

// --- quorum ----------------------------------------------------------------

#[test]
fn quorum_of_two_among_three() {
    let ws = three();
    let (_, note) = checkpoint(12);
    let note = cosigned_by(&note, &[&ws[0], &ws[1]], 1_700_000_000);
    let got = check_quorum(&note, &verifiers(&ws), 2).unwrap();
    assert_eq!(
        got,
        vec![
            Cosigned {
                name: "w1.example/witness".into(),
                timestamp: 1_700_000_000
            },
            Cosigned {
                name: "w2.example/witness".into(),
                timestamp: 1_700_000_000
            },
        ]
    );
}

#[test]
fn fail_too_few_cosignatures() {
    let ws = three();
    let (_, note) = checkpoint(12);
    let note = cosigned_by(&note, &[&ws[2]], 1_700_000_000);
    let err = check_quorum(&note, &verifiers(&ws), 2).unwrap_err();
    assert_eq!(
        err,
        CosignatureError::QuorumNotMet {
            valid: 1,
            needed: 2,
            missing: vec!["w1.example/witness".into(), "w2.example/witness".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "checkpoint has 1 valid cosignatures from the named witnesses, 2 needed \
         (none from w1.example/witness, w2.example/witness)"
    );
}

#[test]
fn fail_unnamed_witness_does_not_count() {
    let ws = three();
    let stranger = witness("stranger.example/witness", 9);
    let (_, note) = checkpoint(12);
    let note = cosigned_by(&note, &[&ws[0], &stranger], 1_700_000_000);
    assert!(matches!(
        check_quorum(&note, &verifiers(&ws), 2),
        Err(CosignatureError::QuorumNotMet {
            valid: 1,
            needed: 2,
            ..
        })
    ));
}

#[test]
fn fail_a_bad_line_by_a_named_witness_rejects_the_note() {
    let ws = three();
    let (_, other) = checkpoint(11);
    let (_, note) = checkpoint(12);
    let copied = ws[2].cosign(body(&other), 1_700_000_000).unwrap();
    let note = add_cosignatures(
        &cosigned_by(&note, &[&ws[0], &ws[1]], 1_700_000_000),
        [copied],
    );
    assert_eq!(
        check_quorum(&note, &verifiers(&ws), 2),
        Err(CosignatureError::BadCosignature(
            "w3.example/witness".into()
        ))
    );
}

#[test]
fn fail_one_witness_twice_counts_once() {
    let ws = three();
    let (_, note) = checkpoint(12);
    let a = ws[0].cosign(body(&note), 1_700_000_000).unwrap();
    let b = ws[0].cosign(body(&note), 1_700_000_001).unwrap();
    let note = add_cosignatures(&note, [a, b]);
    assert!(matches!(
        check_quorum(&note, &verifiers(&ws), 2),
        Err(CosignatureError::QuorumNotMet { valid: 1, .. })
    ));
    // Several valid lines by one witness: its latest time.
    assert_eq!(ws[0].verifier().verify(&note).unwrap(), 1_700_000_001);
    // Listing the same witness twice, or its key under a second name, does not help.
    let same_key =
        WitnessVerifier::new("alias.example/witness", *ws[0].verifier().verifying_key()).unwrap();
    let list = vec![ws[0].verifier(), ws[0].verifier(), same_key];
    assert_eq!(
        check_quorum(&note, &list, 2),
        Err(CosignatureError::InvalidQuorum {
            quorum: 2,
            witnesses: 1
        })
    );
}

#[test]
fn fail_invalid_quorum() {
    let ws = three();
    let (_, note) = checkpoint(2);
    let note = cosigned_by(&note, &[&ws[0], &ws[1], &ws[2]], 5);
    assert!(matches!(
        check_quorum(&note, &verifiers(&ws), 0),
        Err(CosignatureError::InvalidQuorum { .. })
    ));
    assert!(matches!(
        check_quorum(&note, &verifiers(&ws), 4),
        Err(CosignatureError::InvalidQuorum { .. })
    ));
    assert_eq!(check_quorum(&note, &verifiers(&ws), 3).unwrap().len(), 3);
}

#[test]
fn add_cosignatures_skips_junk_and_duplicates() {
    let ws = three();
    let (_, note) = checkpoint(2);
    let line = ws[0].cosign(body(&note), 5).unwrap();
    let once = add_cosignatures(&note, [&line]);
    let twice = add_cosignatures(&once, [line.clone(), format!("junk\n{line}not a line\n")]);
    assert_eq!(once, twice);
    assert_eq!(once, format!("{note}{line}"));
}

// --- log verifiers still open cosigned notes --------------------------------

#[test]
fn log_verifier_ignores_cosignature_lines() {
    let ws = three();
    let (cp, note) = checkpoint(20);
    let cosigned = cosigned_by(&note, &[&ws[0], &ws[1], &ws[2]], 1_700_000_000);
    let v = signer(1).verifier();
    assert_eq!(v.open_note(&cosigned).unwrap(), body(&note));
    assert_eq!(Checkpoint::open(&cosigned, &v, Some(ORIGIN)).unwrap(), cp);
    assert_eq!(
        Checkpoint::open_bytes(cosigned.as_bytes(), &v, Some(ORIGIN)).unwrap(),
        cp
    );
    // A witness named like the log is still told apart by its 0x04 key ID.
    let twin = WitnessSigner::generate(ORIGIN, &mut rng(77)).unwrap();
    let with_twin = cosigned_by(&note, &[&twin], 9);
    assert_eq!(Checkpoint::open(&with_twin, &v, Some(ORIGIN)).unwrap(), cp);
    // And a witness verifier never accepts the log's own signature.
    assert!(WitnessVerifier::new(ORIGIN, *v.verifying_key())
        .unwrap()
        .verify(&note)
        .is_err());
}

// --- add-checkpoint body -----------------------------------------------------

#[test]
fn add_checkpoint_round_trip_and_spec_example() {
    let log = tree(13);
    let (_, note) = checkpoint(13);
    let req = AddCheckpoint {
        old_size: 8,
        proof: log.prove_consistency(8, 13).unwrap().hashes,
        checkpoint: note.clone(),
    };
    let body = req.to_body();
    assert!(body.starts_with("old 8\n"));
    assert_eq!(AddCheckpoint::parse(body.as_bytes()).unwrap(), req);

    let spec = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    let parsed = AddCheckpoint::parse(spec.as_bytes()).unwrap();
    assert_eq!(parsed.old_size, 20852014);
    assert_eq!(parsed.proof.len(), 4);
    assert!(parsed
        .checkpoint
        .starts_with("example.com/behind-the-sofa\n20852163\n"));
    assert_eq!(parsed.to_body(), spec);
}

#[test]
fn fail_add_checkpoint_bodies() {
    let log = tree(13);
    let (_, note) = checkpoint(13);
    let good = AddCheckpoint {
        old_size: 8,
        proof: log.prove_consistency(8, 13).unwrap().hashes,
        checkpoint: note.clone(),
    }
    .to_body();
    let h = STANDARD.encode([7u8; 32]);
    let many = format!("old 1\n{}\n{note}", format!("{h}\n").repeat(64));
    let cases: Vec<(Vec<u8>, AddCheckpointError)> = vec![
        (b"".to_vec(), AddCheckpointError::BadOldSize),
        (b"old 5".to_vec(), AddCheckpointError::BadOldSize),
        (
            format!("old 05\n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("old -1\n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("old  5\n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("old 5 \n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("old 18446744073709551616\n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("OLD 5\n\n{note}").into(),
            AddCheckpointError::BadOldSize,
        ),
        (
            format!("old 5\n{}\n\n{note}", &h[..40]).into(),
            AddCheckpointError::BadProofLine(1),
        ),
        (
            format!("old 5\n{h}\n!!!!\n\n{note}").into(),
            AddCheckpointError::BadProofLine(2),
        ),
        (
            format!("old 5\n{}\n\n{note}", STANDARD.encode([1u8; 31])).into(),
            AddCheckpointError::BadProofLine(1),
        ),
        (
            format!("old 5\n{h} \n\n{note}").into(),
            AddCheckpointError::BadProofLine(1),
        ),
        (many.into(), AddCheckpointError::TooManyProofLines),
        (
            good.as_bytes()[..good.find("\n\n").unwrap()].to_vec(),
            AddCheckpointError::MissingBlankLine,
        ),
        (
            good.as_bytes()[..good.find("\n\n").unwrap() + 2].to_vec(),
            AddCheckpointError::MissingCheckpoint,
        ),
        (
            vec![b'o', b'l', b'd', b' ', b'1', b'\n', b'\n', 0xff, 0xfe],
            AddCheckpointError::NotUtf8,
        ),
        (
            vec![b'a'; MAX_ADD_CHECKPOINT_BYTES + 1],
            AddCheckpointError::TooLarge,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            AddCheckpoint::parse(&bytes),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        );
    }
    // 63 lines is the most a client may send, and is accepted.
    let max = format!("old 1\n{}\n{note}", format!("{h}\n").repeat(63));
    assert_eq!(
        AddCheckpoint::parse(max.as_bytes()).unwrap().proof.len(),
        63
    );
}

#[test]
fn tlog_size_answers() {
    assert_eq!(parse_tlog_size(b"0\n"), Some(0));
    assert_eq!(parse_tlog_size(b"20852163\n"), Some(20852163));
    for bad in [
        &b"5"[..],
        b"05\n",
        b"\n",
        b"5\n\n",
        b"-5\n",
        b" 5\n",
        b"99999999999999999999\n",
    ] {
        assert_eq!(parse_tlog_size(bad), None, "{bad:?}");
    }
}

proptest! {
    #[test]
    fn add_checkpoint_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = AddCheckpoint::parse(&bytes);
    }

    #[test]
    fn add_checkpoint_parse_text_never_panics(s in "(old [0-9]{1,3}\n)?([A-Za-z0-9+/=]{0,45}\n){0,4}\n?[a-z/\n0-9=]{0,60}") {
        if let Ok(req) = AddCheckpoint::parse(s.as_bytes()) {
            prop_assert_eq!(AddCheckpoint::parse(req.to_body().as_bytes()).unwrap(), req);
        }
    }

    #[test]
    fn verify_and_quorum_never_panic(tail in "[\u{2014} a-zA-Z0-9+/=.\n]{0,200}") {
        let ws = three();
        let (_, note) = checkpoint(3);
        let note = format!("{note}{tail}");
        let _ = ws[0].verifier().verify(&note);
        let _ = check_quorum(&note, &verifiers(&ws), 2);
    }
}

// --- the witness's decision --------------------------------------------------

#[test]
fn witness_decision_follows_tlog_witness() {
    let log = tree(20);
    let at = |n: u64| Checkpoint::new(ORIGIN, n, log.root_at(n).unwrap());
    let proof = |a: u64, b: u64| log.prove_consistency(a, b).unwrap().hashes;
    let stored = Some((8, log.root_at(8).unwrap()));

    // Accepted: first checkpoint, growth with a proof, the same checkpoint again.
    assert_eq!(check_add_checkpoint(None, 0, &[], &at(5)), Ok(()));
    assert_eq!(
        check_add_checkpoint(stored, 8, &proof(8, 13), &at(13)),
        Ok(())
    );
    assert_eq!(check_add_checkpoint(stored, 8, &[], &at(8)), Ok(()));
    assert_eq!(
        check_add_checkpoint(None, 0, &[], &Checkpoint::new(ORIGIN, 0, EMPTY_ROOT)),
        Ok(())
    );

    let refusals: Vec<(Result<(), WitnessRefusal>, u16)> = vec![
        // 400: old size above the checkpoint's size (also: a smaller tree than stored).
        (check_add_checkpoint(stored, 8, &[], &at(5)), 400),
        // 409: old size is not the witness's.
        (check_add_checkpoint(stored, 5, &proof(5, 13), &at(13)), 409),
        (check_add_checkpoint(stored, 0, &[], &at(13)), 409),
        (check_add_checkpoint(None, 8, &proof(8, 13), &at(13)), 409),
        (check_add_checkpoint(stored, 5, &[], &at(5)), 409),
        // 422: empty tree with a non-empty root; proof with old size 0; bad proofs;
        // same size with another root.
        (
            check_add_checkpoint(None, 0, &[], &Checkpoint::new(ORIGIN, 0, [1; 32])),
            422,
        ),
        (check_add_checkpoint(None, 0, &[[0; 32]], &at(3)), 422),
        (check_add_checkpoint(stored, 8, &proof(8, 12), &at(13)), 422),
        (
            check_add_checkpoint(stored, 8, &proof(8, 13)[1..], &at(13)),
            422,
        ),
        (check_add_checkpoint(stored, 8, &[], &at(13)), 422),
        (
            check_add_checkpoint(stored, 8, &[], &Checkpoint::new(ORIGIN, 8, [2; 32])),
            422,
        ),
        (
            check_add_checkpoint(
                stored,
                8,
                &proof(8, 13),
                &Checkpoint::new(ORIGIN, 13, [3; 32]),
            ),
            422,
        ),
    ];
    for (i, (got, status)) in refusals.into_iter().enumerate() {
        assert_eq!(got.map_err(|e| e.status()), Err(status), "case {i}");
    }
    assert_eq!(
        check_add_checkpoint(stored, 5, &[], &at(13)),
        Err(WitnessRefusal::Conflict { old: 5, latest: 8 })
    );
}

#[test]
fn fail_a_fork_is_refused() {
    // Two histories that share 8 leaves and then differ: the witness saw the first at 13.
    let honest = tree(13);
    let mut fork = tree(8);
    for i in 0..6u32 {
        fork.append(format!("forged {i}").as_bytes());
    }
    let stored = Some((13, honest.root()));
    let forked = Checkpoint::new(ORIGIN, 14, fork.root());
    // A proof from the common prefix does not help: the old size is not the witness's.
    assert_eq!(
        check_add_checkpoint(
            stored,
            8,
            &fork.prove_consistency(8, 14).unwrap().hashes,
            &forked
        )
        .map_err(|e| e.status()),
        Err(409)
    );
    // The fork's own proof from 13 does not lead from the witness's root.
    assert_eq!(
        check_add_checkpoint(
            stored,
            13,
            &fork.prove_consistency(13, 14).unwrap().hashes,
            &forked
        )
        .map_err(|e| e.status()),
        Err(422)
    );
}

// --- the independent check (node, from the C2SP text) ------------------------

fn run_node(request: &Value) -> Value {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crosscheck");
    let mut child = Command::new("node")
        .arg("cosignature.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is required for the cosignature cross-check (install node)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cosignatures_agree_with_an_independent_check() {
    let ws = three();
    let (_, note) = checkpoint(21);
    let (_, other) = checkpoint(22);
    let good = cosigned_by(&note, &[&ws[0], &ws[1]], 1_700_000_000);
    let copied = add_cosignatures(&other, [ws[0].cosign(body(&note), 1_700_000_000).unwrap()]);
    let answer = run_node(&json!({
        "verify": [
            {"note": good, "vkey": ws[0].verifier().to_vkey()},
            {"note": good, "vkey": ws[1].verifier().to_vkey()},
            {"note": good, "vkey": ws[2].verifier().to_vkey()},
            {"note": copied, "vkey": ws[0].verifier().to_vkey()},
        ],
        "cosign": [
            {"seed": hex::encode(ws[2].to_seed()), "name": ws[2].name(), "body": body(&note), "timestamp": 1_700_000_042u64},
            {"seed": hex::encode([5u8; 32]), "name": "node.example/w", "body": body(&note), "timestamp": 1u64},
        ],
    }));
    let v = &answer["verify"];
    assert_eq!(v[0]["ok"], true);
    assert_eq!(v[0]["timestamp"], 1_700_000_000u64);
    assert_eq!(v[1]["ok"], true);
    assert_eq!(
        (v[2]["ok"].clone(), v[2]["reason"].clone()),
        (json!(false), json!("no line"))
    );
    assert_eq!(
        (v[3]["ok"].clone(), v[3]["reason"].clone()),
        (json!(false), json!("signature"))
    );

    // Node's cosignature with our witness's seed is byte-for-byte ours (Ed25519 is
    // deterministic), and node's own key's vkey and line verify here.
    let c = &answer["cosign"];
    assert_eq!(
        c[0]["line"].as_str().unwrap(),
        ws[2].cosign(body(&note), 1_700_000_042).unwrap()
    );
    assert_eq!(c[0]["vkey"].as_str().unwrap(), ws[2].verifier().to_vkey());
    let node_w = WitnessVerifier::from_vkey(c[1]["vkey"].as_str().unwrap()).unwrap();
    let with_node = add_cosignatures(&good, [c[1]["line"].as_str().unwrap()]);
    assert_eq!(node_w.verify(&with_node).unwrap(), 1);
    let mut all = verifiers(&ws);
    all.push(node_w);
    assert_eq!(check_quorum(&with_node, &all, 3).unwrap().len(), 3);
}
