//! The drafts' published BLS12-381-SHA-256 fixtures (tests/data, sources in its README)
//! reproduced by our code: generators and hashing through zkryptium, signatures through our
//! `bbs::sign` / `verify_signature`, proofs through our checks and then zkryptium.

use serde_json::Value;
use std::collections::BTreeMap;
use undersigned_core::bbs::{self, octets, PublicKey, SecretKey, Suite};
use zkryptium::bbsplus::ciphersuites::{BbsCiphersuite, Bls12381Sha256};
use zkryptium::bbsplus::generators::Generators;
use zkryptium::bbsplus::keys::BBSplusPublicKey;
use zkryptium::bbsplus::pseudonym::BBSplusPseudonym;
use zkryptium::schemes::generics::PoKSignature;
use zkryptium::utils::message::bbsplus_message::BBSplusMessage;
use zkryptium::utils::util::bbsplus_utils::hash_to_scalar;

fn load(path: &str) -> Value {
    let full = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn messages_of(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().unwrap().iter().map(hex_of).collect()
}

fn g1_hex(p: &bls12_381_plus::G1Projective) -> String {
    hex::encode(bls12_381_plus::G1Affine::from(p).to_compressed())
}

#[test]
fn generators_match_the_core_draft() {
    let f = load("bbs-core/generators.json");
    let expected: Vec<&str> = f["MsgGenerators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let g = Generators::create::<Bls12381Sha256>(
        expected.len() + 1,
        Some(<Bls12381Sha256 as BbsCiphersuite>::API_ID),
    );
    assert_eq!(g1_hex(&g.g1_base_point), f["P1"].as_str().unwrap());
    assert_eq!(g1_hex(&g.values[0]), f["Q1"].as_str().unwrap());
    let got: Vec<String> = g.values[1..].iter().map(g1_hex).collect();
    assert_eq!(got, expected);
}

#[test]
fn hash_to_scalar_and_map_to_scalar_match_the_core_draft() {
    let f = load("bbs-core/h2s.json");
    let s = hash_to_scalar::<Bls12381Sha256>(&hex_of(&f["message"]), &hex_of(&f["dst"])).unwrap();
    assert_eq!(hex::encode(s.to_be_bytes()), f["scalar"].as_str().unwrap());

    let f = load("bbs-core/MapMessageToScalarAsHash.json");
    let api_id = <Bls12381Sha256 as BbsCiphersuite>::API_ID;
    // The fixture's dst is api_id || "MAP_MSG_TO_SCALAR_AS_HASH_", the one zkryptium derives.
    assert_eq!(
        hex_of(&f["dst"]),
        [api_id, <Bls12381Sha256 as BbsCiphersuite>::MAP_MSG_SCALAR].concat()
    );
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let m = BBSplusMessage::map_message_to_scalar_as_hash::<Bls12381Sha256>(
            &hex_of(&c["message"]),
            api_id,
        )
        .unwrap();
        assert_eq!(
            hex::encode(m.value.to_be_bytes()),
            c["scalar"].as_str().unwrap()
        );
    }
}

/// Every signature fixture: the valid ones are what our `bbs::sign` produces (BBS signing is
/// deterministic), and `verify_signature` agrees with each fixture's verdict.
#[test]
fn signatures_match_the_core_draft() {
    let mut valid = 0;
    for n in 1..=10 {
        let f = load(&format!("bbs-core/signature{n:03}.json"));
        let pk = PublicKey::from_slice(&hex_of(&f["signerKeyPair"]["publicKey"])).unwrap();
        let header = hex_of(&f["header"]);
        let messages = messages_of(&f["messages"]);
        let sig = hex_of(&f["signature"]);
        let expected = f["result"]["valid"].as_bool().unwrap();
        let got = bbs::verify_signature(&pk, &header, &messages, &sig).is_ok();
        assert_eq!(got, expected, "{}", f["caseName"]);
        if expected {
            let sk: [u8; 32] = hex_of(&f["signerKeyPair"]["secretKey"]).try_into().unwrap();
            let sk = SecretKey::from_bytes(&sk).unwrap();
            let ours = bbs::sign(&sk, &pk, &header, &messages).unwrap();
            assert_eq!(hex::encode(ours), f["signature"].as_str().unwrap());
            valid += 1;
        }
    }
    assert_eq!(valid, 3);
}

/// Every proof fixture through `bbs::verify_proof` (our `octets_to_proof`, then zkryptium):
/// valid ones pass, the invalid ones (wrong ph, key, messages, header, truncated) fail.
#[test]
fn proofs_match_the_core_draft() {
    let mut verdicts = BTreeMap::new();
    for n in 1..=15 {
        let f = load(&format!("bbs-core/proof{n:03}.json"));
        let pk = PublicKey::from_slice(&hex_of(&f["signerPublicKey"])).unwrap();
        let messages = messages_of(&f["messages"]);
        let disclosed: Vec<(usize, Vec<u8>)> = f["disclosedIndexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let i = i.as_u64().unwrap() as usize;
                (i, messages[i].clone())
            })
            .collect();
        let proof = hex_of(&f["proof"]);
        let got = bbs::verify_proof(
            &pk,
            &hex_of(&f["header"]),
            &hex_of(&f["presentationHeader"]),
            messages.len(),
            &disclosed,
            &proof,
        )
        .is_ok();
        let expected = f["result"]["valid"].as_bool().unwrap();
        assert_eq!(got, expected, "{}", f["caseName"]);
        verdicts.insert(n, got);
        if expected {
            // A valid fixture proof passes our octets checks on its own, too.
            let hidden = messages.len() - disclosed.len();
            assert_eq!(
                octets::check_proof(&proof, bbs::plain_proof_scalars(hidden)),
                Ok(())
            );
        }
    }
    assert_eq!(verdicts.values().filter(|v| **v).count(), 5);
}

/// Our `bbs::prove` over a fixture signature makes proofs the fixture's verifier accepts.
#[test]
fn our_proofs_over_a_fixture_signature_verify() {
    let f = load("bbs-core/signature004.json");
    let pk = PublicKey::from_slice(&hex_of(&f["signerKeyPair"]["publicKey"])).unwrap();
    let header = hex_of(&f["header"]);
    let messages = messages_of(&f["messages"]);
    let sig = hex_of(&f["signature"]);
    let idx = [0usize, 2, 4, 6];
    let proof = bbs::prove(&pk, &sig, &header, b"ph", &messages, &idx).unwrap();
    let disclosed: Vec<(usize, Vec<u8>)> = idx.iter().map(|i| (*i, messages[*i].clone())).collect();
    assert_eq!(
        bbs::verify_proof(&pk, &header, b"ph", messages.len(), &disclosed, &proof),
        Ok(())
    );
    assert!(bbs::verify_proof(&pk, &header, b"other", messages.len(), &disclosed, &proof).is_err());
}

/// The pseudonym draft's proofs (identical in content to zkryptium 0.8.0's copies of them)
/// pass our pseudonym and proof checks, then zkryptium's `proof_verify_with_nym`.
#[test]
fn nym_proofs_match_the_pseudonym_draft() {
    let msgs = load("bbs-nym/messages.json");
    let messages = messages_of(&msgs["messages"]);
    let committed = messages_of(&msgs["committedMessages"]);
    for n in 1..=3 {
        let f = load(&format!("bbs-nym/nymProof{n:03}.json"));
        let revealed = |key: &str| -> (Vec<usize>, Vec<Vec<u8>>) {
            let mut pairs: Vec<(usize, Vec<u8>)> = f[key]
                .as_object()
                .unwrap()
                .iter()
                .map(|(i, v)| (i.parse().unwrap(), hex_of(v)))
                .collect();
            pairs.sort();
            pairs.into_iter().unzip()
        };
        let (idx, vals) = revealed("revealedMessages");
        let (cidx, cvals) = revealed("revealedCommittedMessages");
        for (i, v) in idx.iter().zip(&vals) {
            assert_eq!(&messages[*i], v);
        }
        for (i, v) in cidx.iter().zip(&cvals) {
            assert_eq!(&committed[*i], v);
        }
        let proof = hex_of(&f["proof"]);
        let pseudonym = hex_of(&f["pseudonym"]);
        assert_eq!(octets::check_pseudonym(&pseudonym), Ok(()));
        let scalars = (proof.len() - 3 * bbs::POINT_LEN) / bbs::SCALAR_LEN;
        assert_eq!(octets::check_proof(&proof, scalars), Ok(()));
        let pk = BBSplusPublicKey::from_bytes(&hex_of(&f["signerPublicKey"])).unwrap();
        let nym = BBSplusPseudonym::from_bytes(&pseudonym).unwrap();
        let p = PoKSignature::<Suite>::from_bytes(&proof).unwrap();
        let nyms = f["proverNyms"].as_array().unwrap().len();
        let verify = |ph: &[u8]| {
            p.proof_verify_with_nym(
                &pk,
                Some(&hex_of(&f["header"])),
                Some(ph),
                &nym,
                &hex_of(&f["context_id"]),
                nyms,
                Some(f["L"].as_u64().unwrap() as usize),
                Some(&vals),
                Some(&cvals),
                Some(&idx),
                Some(&cidx),
            )
        };
        assert!(
            verify(&hex_of(&f["presentationHeader"])).is_ok(),
            "{}",
            f["caseName"]
        );
        assert!(verify(b"another presentation").is_err());
    }
}
