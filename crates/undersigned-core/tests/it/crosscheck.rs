//! Plain BBS against an independent implementation: `@digitalbazaar/bbs-signatures`, pinned in
//! crosscheck/package-lock.json and run with the machine's node. Our signature and proof verify
//! there; its signature and proof verify here. No node means a failure, not a skip.

use serde_json::{json, Value};
use undersigned_core::bbs::{self, PublicKey};

use crate::fixture::rng;

/// `crosscheck.mjs` on one request (node and the pinned packages as the composite crosscheck
/// runs them).
fn run_node(request: &Value) -> Value {
    crate::composite_crosscheck::run_node("crosscheck.mjs", request)
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn plain_bbs_agrees_with_digitalbazaar() {
    let mut r = rng(4242);
    let (sk, pk) = bbs::keygen(&mut r).unwrap();
    let header = b"undersigned/crosscheck".to_vec();
    let ph = b"presentation".to_vec();
    let messages: Vec<Vec<u8>> = ["state.gov", "2026-Q4", "analyst", "30-39", ""]
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    let disclosed = [0usize, 1, 3];
    let signature = bbs::sign(&sk, &pk, &header, &messages).unwrap();
    let proof = bbs::prove(&pk, &signature, &header, &ph, &messages, &disclosed).unwrap();

    let answer = run_node(&json!({
        "publicKey": hex::encode(pk.to_bytes()),
        "header": hex::encode(&header),
        "presentationHeader": hex::encode(&ph),
        "messages": messages.iter().map(hex::encode).collect::<Vec<_>>(),
        "disclosed": disclosed,
        "signature": hex::encode(signature),
        "proof": hex::encode(&proof),
    }));
    assert_eq!(answer["ourSignatureValid"], true, "{answer}");
    assert_eq!(answer["ourProofValid"], true, "{answer}");
    // The control: it does refuse a proof with one bit flipped.
    assert_eq!(answer["tamperedProofValid"], false, "{answer}");

    let their_pk = PublicKey::from_slice(&unhex(&answer["publicKey"])).unwrap();
    let their_sig = unhex(&answer["signature"]);
    let their_proof = unhex(&answer["proof"]);
    assert_eq!(
        bbs::verify_signature(&their_pk, &header, &messages, &their_sig),
        Ok(())
    );
    let pairs: Vec<(usize, Vec<u8>)> = disclosed
        .iter()
        .map(|i| (*i, messages[*i].clone()))
        .collect();
    assert_eq!(
        bbs::verify_proof(
            &their_pk,
            &header,
            &ph,
            messages.len(),
            &pairs,
            &their_proof
        ),
        Ok(())
    );
    // And ours refuses theirs under another presentation header or our key.
    assert!(bbs::verify_proof(
        &their_pk,
        &header,
        b"x",
        messages.len(),
        &pairs,
        &their_proof
    )
    .is_err());
    assert!(bbs::verify_signature(&pk, &header, &messages, &their_sig).is_err());
}
