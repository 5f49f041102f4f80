//! Fuzz target: the bundle verifier. Mode 0 verifies the input bytes as they are. Mode 1 parses
//! them and re-signs the checkpoint over whatever entries they hold with the fixed log key, as
//! an operator holding the key could: the input then passes the checkpoint signature and
//! reaches the entry, proof and policy checks, where an entry no credential of ours made must
//! fail.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::bundle::{verify_bundle, Bundle};
use undersigned_core::record::LogEntry;
use undersigned_fuzz::world;

fuzz_target!(|data: &[u8]| {
    let w = world();
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = verify_bundle(rest);
        return;
    }
    let Ok(mut bundle) = Bundle::parse(rest) else {
        return;
    };
    if bundle.seal(&w.log_signer()).is_err() {
        return;
    }
    if bundle.verify().is_ok() {
        for e in &bundle.entries {
            if let LogEntry::Signature(s) | LogEntry::Withdrawal(s) = e {
                assert!(
                    w.is_ours(s),
                    "a bundle with an entry no credential of ours made verified"
                );
            }
        }
    }
});
