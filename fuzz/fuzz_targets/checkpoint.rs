//! Fuzz target: checkpoint bodies and signed notes. Parsing never panics; a body that parses
//! re-serializes to the same text, and once signed with the fixed log key opens to the same
//! checkpoint; a note the fuzzer made never opens under the fixed key unless we signed it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::log::{Checkpoint, LogVerifier};
use undersigned_fuzz::{split, world};

fuzz_target!(|data: &[u8]| {
    let w = world();
    let signer = w.log_signer();
    let verifier = w.log_verifier();
    // As a signed note under the deployment's key: the fuzzer cannot forge Ed25519.
    if let Ok(cp) = Checkpoint::open_bytes(data, &verifier, None) {
        let text = std::str::from_utf8(data).expect("opened notes are UTF-8");
        let body = cp.to_body().expect("an opened checkpoint serializes");
        assert!(
            text.starts_with(&body),
            "opened note's body differs from its checkpoint"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_body(text) {
            let body = cp.to_body().expect("a parsed checkpoint serializes");
            assert_eq!(
                body, text,
                "a parsed body must re-serialize to the same text"
            );
            if cp.origin == signer.name() {
                let note = cp.sign(&signer).expect("sign");
                let opened = Checkpoint::open(&note, &verifier, Some(signer.name()))
                    .expect("what we signed opens");
                assert_eq!(opened, cp);
            }
        }
    }
    // A verifier key line (vkey) and a note under it.
    let parts = split(data, 2);
    if let (Ok(vkey), Ok(note)) = (std::str::from_utf8(parts[0]), std::str::from_utf8(parts[1])) {
        if let Ok(v) = LogVerifier::from_vkey(vkey) {
            assert_eq!(
                LogVerifier::from_vkey(&v.to_vkey())
                    .map(|x| x.to_vkey())
                    .ok(),
                Some(v.to_vkey())
            );
            let _ = v.open_note(note);
        }
    }
});
