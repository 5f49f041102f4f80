//! Fuzz target: the receipt parser and checker. Parsing never panics; a parsed receipt
//! re-serializes and parses back to itself; a receipt the fuzzer made never verifies under the
//! fixed log key unless its signature is one we made (re-signed receipts must verify).
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::log::{reissue_receipt, verify_receipt, Receipt};
use undersigned_fuzz::world;

fuzz_target!(|data: &[u8]| {
    let w = world();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Receipt::from_json(text) else {
        return;
    };
    assert_eq!(Receipt::from_json(&r.to_json()).ok().as_ref(), Some(&r));
    let verifier = w.log_verifier();
    let _ = r.covers_entry(data);
    let verdict = verify_receipt(&r, &verifier);
    // Re-signed by the log key, the same fields must verify (when they are well formed).
    if let Ok(again) = reissue_receipt(
        &w.log_signer(),
        r.letter_id,
        r.entry_hash,
        r.received_at,
        r.include_by,
    ) {
        assert!(verify_receipt(&again, &verifier).is_ok());
        if verdict.is_ok() {
            assert_eq!(again.signature, r.signature, "a forged receipt verified");
        }
    }
});
