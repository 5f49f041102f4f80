//! Fuzz target: an entry submitted for a real open letter under a real issuer parses or fails,
//! and verifying it never panics. Mode 0 reads the input as entry JSON (the seed corpus holds
//! valid entries, so mutations reach the proof verifier); modes 1 and 2 XOR the input into a
//! valid entry's proof or pseudonym, so the cryptography sees arbitrary bytes of the right
//! length. Both verifiers (ours on blst and zkryptium's with our checks) must agree, and only
//! an entry we made may pass.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::entry::{verify, verify_reference, SignatureEntry};
use undersigned_fuzz::world;

fuzz_target!(
    init: {
        if let Some(dir) = std::env::var_os("UNDERSIGNED_FUZZ_SEEDS") {
            undersigned_fuzz::seeds::write_all(std::path::Path::new(&dir));
            std::process::exit(0);
        }
    },
    |data: &[u8]| {
    let w = world();
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    // Whether the input changed a valid entry's proof or pseudonym (which must then fail).
    let mut altered = false;
    let entry = match mode % 3 {
        0 => match serde_json::from_slice::<SignatureEntry>(rest) {
            Ok(e) => e,
            Err(_) => return,
        },
        m => {
            let Some((pick, bytes)) = rest.split_first() else {
                return;
            };
            let mut entry = w.entries[usize::from(*pick) % w.entries.len()].clone();
            let Some(part) = entry.parts.first_mut() else {
                return;
            };
            let raw = if m == 1 {
                &mut part.proof
            } else {
                &mut part.pseudonym
            };
            for (r, b) in raw.iter_mut().zip(bytes) {
                *r ^= b;
                altered |= *b != 0;
            }
            // Now and then a wrong length too.
            if bytes.len() > raw.len() {
                let len = bytes.len() % (raw.len() + 1);
                altered |= len < raw.len();
                raw.truncate(len);
            }
            entry
        }
    };
    let fast = verify(&entry, &w.letter.id(), &w.letter.policy, &w.directory);
    let reference = verify_reference(&entry, &w.letter.id(), &w.letter.policy, &w.directory);
    assert_eq!(
        fast.is_ok(),
        reference.is_ok(),
        "the two verifiers disagree: {fast:?} / {reference:?}"
    );
    if fast.is_ok() {
        assert!(!altered, "an altered proof or pseudonym verified");
        assert!(w.is_ours(&entry), "an entry no credential of ours made verified");
    }
});
