//! Checkpoints and signed notes: round trips, byte-exact agreement with Go's
//! x/mod/sumdb/note test vectors, two-way interop with the independent
//! `signed_note` crate (cloudflare/azul), and must-fail cases.

use crate::log::{data, rng, signer, signer_named, verifier, ORIGIN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use undersigned_core::log::*;

fn sample() -> Checkpoint {
    let mut log = MerkleLog::new();
    for i in 0..10u32 {
        log.append(&i.to_be_bytes());
    }
    Checkpoint::new(ORIGIN, log.size(), log.root())
}

fn peter() -> LogSigner {
    let d = data("go_note_vectors.json");
    let skey = d["skey"].as_str().unwrap();
    // PRIVATE+KEY+<name>+<id>+base64(0x01 || 32-byte seed)
    let raw = STANDARD
        .decode(skey.splitn(5, '+').nth(4).unwrap())
        .unwrap();
    assert_eq!(raw[0], 1);
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    LogSigner::new("PeterNeumann", SigningKey::from_bytes(&seed)).unwrap()
}

#[test]
fn sign_and_open_round_trip() {
    let s = signer(1);
    let cp = sample();
    let note = cp.sign(&s).unwrap();
    let body = cp.to_body().unwrap();
    assert!(note.starts_with(&format!("{body}\n\u{2014} {ORIGIN} ")));
    assert_eq!(
        Checkpoint::open(&note, &s.verifier(), Some(ORIGIN)).unwrap(),
        cp
    );
    assert_eq!(Checkpoint::open(&note, &s.verifier(), None).unwrap(), cp);
    assert_eq!(
        Checkpoint::open_bytes(note.as_bytes(), &s.verifier(), None).unwrap(),
        cp
    );
}

#[test]
fn body_format_is_exact() {
    let cp = Checkpoint::new("example.com/log", 0, EMPTY_ROOT);
    assert_eq!(
        cp.to_body().unwrap(),
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
}

#[test]
fn c2sp_spec_example_body_parses() {
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse_body(text).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(cp.to_body().unwrap(), text);
}

#[test]
fn extensions_are_preserved_and_signed() {
    let s = signer(1);
    let mut cp = sample();
    cp.extensions = vec!["ext one".into(), "ext/two".into()];
    let note = cp.sign(&s).unwrap();
    let opened = Checkpoint::open(&note, &s.verifier(), Some(ORIGIN)).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(opened.to_body().unwrap(), cp.to_body().unwrap());
}

#[test]
fn unknown_signatures_are_ignored() {
    let s = signer(1);
    let other = signer_named("witness.example/w1", 2);
    let note = sample().sign(&s).unwrap();
    // Cosign the same body with a witness key, in either order.
    let body = sample().to_body().unwrap();
    let witness_note = other.sign_note(&body).unwrap();
    let witness_line = witness_note.strip_prefix(&format!("{body}\n")).unwrap();
    let both = format!("{note}{witness_line}");
    assert_eq!(
        Checkpoint::open(&both, &s.verifier(), Some(ORIGIN)).unwrap(),
        sample()
    );
    let reordered = format!(
        "{body}\n{witness_line}{}",
        note.strip_prefix(&format!("{body}\n")).unwrap()
    );
    assert_eq!(
        Checkpoint::open(&reordered, &s.verifier(), None).unwrap(),
        sample()
    );
    // The same name with another key ID is also "unknown" (key rotation).
    let rotated = signer(99);
    let rotated_line = rotated.sign_note(&body).unwrap();
    let rotated_line = rotated_line.strip_prefix(&format!("{body}\n")).unwrap();
    let with_rotated = format!("{note}{rotated_line}");
    assert!(Checkpoint::open(&with_rotated, &s.verifier(), None).is_ok());
}

// --- Go x/mod/sumdb/note vectors -------------------------------------------

#[test]
fn go_note_key_id_vkey_and_signature_line_match() {
    let d = data("go_note_vectors.json");
    let p = peter();
    assert_eq!(hex::encode(p.key_id()), "c74f20a3");
    assert_eq!(p.verifier().to_vkey(), d["vkey"].as_str().unwrap());
    let text = d["text"].as_str().unwrap();
    let note = p.sign_note(text).unwrap();
    assert_eq!(
        note,
        format!("{text}\n{}", d["peter_sig_line"].as_str().unwrap())
    );
}

#[test]
fn go_note_open_with_one_known_key() {
    let d = data("go_note_vectors.json");
    let text = d["text"].as_str().unwrap();
    let (peter_sig, enoch_sig) = (
        d["peter_sig_line"].as_str().unwrap(),
        d["enoch_sig_line"].as_str().unwrap(),
    );
    let peter = LogVerifier::from_vkey(d["vkey"].as_str().unwrap()).unwrap();
    let enoch = LogVerifier::from_vkey(d["enoch_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(enoch.to_vkey(), d["enoch_vkey"].as_str().unwrap());
    let msg = format!("{text}\n{peter_sig}{enoch_sig}");
    assert_eq!(peter.open_note(&msg).unwrap(), text);
    assert_eq!(enoch.open_note(&msg).unwrap(), text);
    // Duplicate signatures by the known key are fine.
    let dup = format!("{text}\n{peter_sig}{peter_sig}{enoch_sig}");
    assert_eq!(peter.open_note(&dup).unwrap(), text);
}

#[test]
fn fail_go_note_bad_messages() {
    let d = data("go_note_vectors.json");
    let text = d["text"].as_str().unwrap();
    let peter_sig = d["peter_sig_line"].as_str().unwrap();
    let v = LogVerifier::from_vkey(d["vkey"].as_str().unwrap()).unwrap();
    let bad = [
        text.to_string(),
        format!("{text}\n"),
        format!("{text}\n{}", &peter_sig[..peter_sig.len() - 1]),
        format!("\x01{text}\n{peter_sig}"),
        format!("{text}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{text}\n{peter_sig}Unexpected line.\n"),
        format!("{text}\n{}", peter_sig.repeat(101)),
    ];
    for msg in &bad {
        assert!(v.open_note(msg).is_err(), "{msg:?}");
    }
    let mut invalid_byte = format!("\u{0}{text}\n{peter_sig}").into_bytes();
    invalid_byte[0] = 0xff;
    assert_eq!(v.open_note_bytes(&invalid_byte), Err(NoteError::NotUtf8));
    // "Invalid signature" vector: base64 altered inside the signature.
    let tampered = format!("{}ABCD{}", &peter_sig[..60], &peter_sig[60..]);
    assert_eq!(
        v.open_note(&format!("{text}\n{tampered}")),
        Err(NoteError::BadSignature)
    );
    // Neither key known.
    let other = verifier(5);
    assert_eq!(
        other.open_note(&format!("{text}\n{peter_sig}")),
        Err(NoteError::NoSignatureByKey)
    );
}

#[test]
fn fail_go_bad_vkeys() {
    let d = data("go_note_vectors.json");
    for k in d["bad_vkeys"].as_array().unwrap() {
        assert!(LogVerifier::from_vkey(k.as_str().unwrap()).is_err());
    }
    // Go's mangling test: every proper substring and every single-byte bump fails.
    let vkey = d["vkey"].as_str().unwrap();
    let b = vkey.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                    assert!(LogVerifier::from_vkey(s).is_err(), "{s}");
                }
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(LogVerifier::from_vkey(s).is_err(), "{s}");
        }
    }
}

// --- signed_note crate (independent Rust port) -----------------------------

#[test]
fn our_checkpoint_verifies_with_signed_note_crate() {
    let s = signer(3);
    let note = sample().sign(&s).unwrap();
    let theirs = StandardVerifier::new(&s.verifier().to_vkey()).unwrap();
    assert_eq!(
        signed_note::key_id(ORIGIN, &{
            let mut k = vec![1u8];
            k.extend_from_slice(s.verifying_key().as_bytes());
            k
        }),
        u32::from_be_bytes(s.key_id())
    );
    let parsed = Note::from_bytes(note.as_bytes()).unwrap();
    let (verified, unverified) = parsed
        .verify(&VerifierList::new(vec![Box::new(theirs)]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert!(unverified.is_empty());
    assert_eq!(parsed.text(), sample().to_body().unwrap().as_bytes());
    assert_eq!(parsed.to_bytes(), note.as_bytes());
}

#[test]
fn signed_note_crate_checkpoint_opens_with_ours() {
    let (skey, vkey) = signed_note::generate_key(&mut rng(4), ORIGIN);
    let their_signer = StandardSigner::new(&skey).unwrap();
    let mut n = Note::new(sample().to_body().unwrap().as_bytes(), &[]).unwrap();
    n.add_sigs(&[&their_signer]).unwrap();
    let text = String::from_utf8(n.to_bytes()).unwrap();
    let ours = LogVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(ours.to_vkey(), vkey);
    assert_eq!(
        Checkpoint::open(&text, &ours, Some(ORIGIN)).unwrap(),
        sample()
    );
}

// --- must-fail --------------------------------------------------------------

#[test]
fn fail_signed_by_another_key() {
    let note = sample().sign(&signer(1)).unwrap();
    assert_eq!(
        Checkpoint::open(&note, &verifier(2), None),
        Err(CheckpointError::Note(NoteError::NoSignatureByKey))
    );
}

#[test]
fn fail_signature_by_our_name_and_id_that_does_not_verify() {
    let s = signer(1);
    let note = sample().sign(&s).unwrap();
    // Keep our key ID, garble the Ed25519 bytes.
    let (head, sig_b64) = note.trim_end().rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(sig_b64).unwrap();
    raw[10] ^= 1;
    let forged = format!("{head} {}\n", STANDARD.encode(&raw));
    assert_eq!(
        Checkpoint::open(&forged, &s.verifier(), None),
        Err(CheckpointError::Note(NoteError::BadSignature))
    );
    // Wrong signature length under our ID is also a bad signature, not "unknown".
    let short = format!("{head} {}\n", STANDARD.encode(&raw[..40]));
    assert_eq!(
        Checkpoint::open(&short, &s.verifier(), None),
        Err(CheckpointError::Note(NoteError::BadSignature))
    );
    // ...even when a valid signature is also present.
    let sig_line = note
        .strip_prefix(&sample().to_body().unwrap())
        .unwrap()
        .trim_start_matches('\n');
    let forged_line = forged
        .strip_prefix(&sample().to_body().unwrap())
        .unwrap()
        .trim_start_matches('\n');
    let mixed = format!("{}\n{sig_line}{forged_line}", sample().to_body().unwrap());
    assert!(Checkpoint::open(&mixed, &s.verifier(), None).is_err());
}

#[test]
fn fail_root_or_size_altered_after_signing() {
    let s = signer(1);
    let cp = sample();
    let note = cp.sign(&s).unwrap();
    let root_b64 = STANDARD.encode(cp.root);
    let mut other_root = cp.root;
    other_root[0] ^= 1;
    let altered_root = note.replace(&root_b64, &STANDARD.encode(other_root));
    let altered_size = note.replacen(
        &format!("\n{}\n", cp.size),
        &format!("\n{}\n", cp.size + 1),
        1,
    );
    let altered_origin = note.replacen(ORIGIN, "undersigned.example/lag", 1);
    for n in [altered_root, altered_size, altered_origin] {
        assert_ne!(n, note);
        assert_eq!(
            Checkpoint::open(&n, &s.verifier(), None),
            Err(CheckpointError::Note(NoteError::BadSignature))
        );
    }
}

#[test]
fn fail_truncated_note() {
    let s = signer(1);
    let note = sample().sign(&s).unwrap();
    for cut in 0..note.len() {
        if let Some(t) = note.get(..cut) {
            assert!(
                Checkpoint::open(t, &s.verifier(), None).is_err(),
                "cut {cut}"
            );
        }
    }
}

#[test]
fn fail_missing_blank_line() {
    let s = signer(1);
    let note = sample().sign(&s).unwrap();
    let joined = note.replacen("\n\n", "\n", 1);
    assert_eq!(
        Checkpoint::open(&joined, &s.verifier(), None),
        Err(CheckpointError::Note(NoteError::MissingBlankLine))
    );
}

#[test]
fn fail_wrong_origin() {
    let s = signer_named("other.example/log", 1);
    let cp = Checkpoint::new("other.example/log", 3, EMPTY_ROOT);
    let note = cp.sign(&s).unwrap();
    assert!(matches!(
        Checkpoint::open(&note, &s.verifier(), Some(ORIGIN)),
        Err(CheckpointError::WrongOrigin { .. })
    ));
}

#[test]
fn fail_signer_name_must_be_origin() {
    let s = signer_named("other.example/log", 1);
    assert!(matches!(
        sample().sign(&s),
        Err(CheckpointError::KeyNameMismatch { .. })
    ));
}

#[test]
fn fail_malformed_bodies_even_when_validly_signed() {
    // Sign syntactically valid notes whose bodies are not valid checkpoints.
    let s = signer(1);
    let root = STANDARD.encode([7u8; 32]);
    let bodies = [
        format!("{ORIGIN}\n5\n"),
        format!("{ORIGIN}\n05\n{root}\n"),
        format!("{ORIGIN}\n+5\n{root}\n"),
        format!("{ORIGIN}\n-1\n{root}\n"),
        format!("{ORIGIN}\n 5\n{root}\n"),
        format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
        format!("{ORIGIN}\n5\n{}\n", &root[..root.len() - 1]),
        format!("{ORIGIN}\n5\n{}\n", STANDARD.encode([7u8; 31])),
        format!("{ORIGIN}\n5\n{}\n", root.replace('=', "")),
        format!("{ORIGIN}\n5\n{root}\n\next\n"),
        format!("\n5\n{root}\n"),
        format!("{ORIGIN}\n\n{root}\n"),
    ];
    for body in &bodies {
        let note = s.sign_note(body).unwrap();
        assert!(
            Checkpoint::open(&note, &s.verifier(), None).is_err(),
            "{body:?}"
        );
    }
    // Largest u64 is fine.
    let ok = format!("{ORIGIN}\n18446744073709551615\n{root}\n");
    let cp = Checkpoint::open(&s.sign_note(&ok).unwrap(), &s.verifier(), None).unwrap();
    assert_eq!(cp.size, u64::MAX);
}

#[test]
fn fail_unserializable_checkpoints() {
    let s = signer(1);
    for (origin, ext) in [
        ("", vec![]),
        ("a\nb", vec![]),
        (ORIGIN, vec![String::new()]),
        (ORIGIN, vec!["x\ny".to_string()]),
    ] {
        let cp = Checkpoint {
            origin: origin.into(),
            size: 1,
            root: EMPTY_ROOT,
            extensions: ext,
        };
        assert!(cp.to_body().is_err());
        assert!(cp.sign(&s).is_err());
    }
    assert!(LogSigner::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
    assert!(LogSigner::new("has+plus", SigningKey::from_bytes(&[1; 32])).is_err());
    assert!(LogSigner::new("", SigningKey::from_bytes(&[1; 32])).is_err());
}

#[test]
fn fail_oversized_note() {
    let s = signer(1);
    let note = sample().sign(&s).unwrap();
    let padded = format!("{}{note}", " ".repeat(16 * 1024));
    assert_eq!(
        Checkpoint::open(&padded, &s.verifier(), None),
        Err(CheckpointError::Note(NoteError::TooLarge))
    );
}

#[test]
fn signer_debug_hides_secret() {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let s = LogSigner::new(ORIGIN, key.clone()).unwrap();
    let dbg = format!("{s:?}");
    assert!(dbg.contains(ORIGIN));
    assert!(!dbg.contains(&hex::encode(key.to_bytes())));
    assert!(!dbg.contains("4242"));
    assert!(!dbg.contains("66, 66"));
}
