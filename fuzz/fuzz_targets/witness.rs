//! Fuzz target: any bytes posted to a witness's add-checkpoint parse or fail; the cosignature
//! quorum check and the witness's decision on what parsed never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::log::{
    check_add_checkpoint, check_quorum, AddCheckpoint, Checkpoint, WitnessVerifier, EMPTY_ROOT,
};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = AddCheckpoint::parse(data) else {
        return;
    };
    if let Ok(w) = WitnessVerifier::from_vkey(
        "w.example/a+f7f23fc8+BNBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3",
    ) {
        let _ = w.verify(&req.checkpoint);
        let _ = check_quorum(&req.checkpoint, &[w], 1);
    }
    let body = req
        .checkpoint
        .rfind("\n\n")
        .and_then(|i| req.checkpoint.get(..=i))
        .unwrap_or(&req.checkpoint);
    if let Ok(cp) = Checkpoint::parse_body(body) {
        let _ = check_add_checkpoint(None, req.old_size, &req.proof, &cp);
        let _ = check_add_checkpoint(
            Some((req.old_size, EMPTY_ROOT)),
            req.old_size,
            &req.proof,
            &cp,
        );
    }
});
