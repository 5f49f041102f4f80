//! Fuzz target: any bytes given to the bundle verifier give a result, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = undersigned_core::bundle::verify_bundle(data);
});
