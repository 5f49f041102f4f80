//! Arbitrary bytes and JSON fed to every decoder never panic.

use proptest::prelude::*;
use undersigned_core::bundle::verify_bundle;
use undersigned_core::credential::{Credential, IssuanceRequest, IssuanceResponse};
use undersigned_core::entry::SignatureEntry;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn bundle_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = verify_bundle(&bytes);
    }

    #[test]
    fn json_decoders_never_panic(s in "\\PC{0,400}") {
        let _ = serde_json::from_str::<SignatureEntry>(&s);
        let _ = serde_json::from_str::<Credential>(&s);
        let _ = verify_bundle(s.as_bytes());
    }

    #[test]
    fn byte_decoders_never_panic(a in proptest::collection::vec(any::<u8>(), 0..300), b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = IssuanceRequest::from_slice(&a);
        let _ = IssuanceResponse::from_slices(&a, &b);
        let _ = undersigned_core::bbs::PublicKey::from_slice(&a);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random proofs and pseudonyms of every length reach the verifier without panicking.
    #[test]
    fn verifier_never_panics_on_random_proofs(proof in proptest::collection::vec(any::<u8>(), 0..600), nym in proptest::collection::vec(any::<u8>(), 0..60)) {
        let w = crate::fixture::World::new(7);
        let letter = w.letter("P", crate::fixture::all_disclosures());
        let entry = SignatureEntry {
            letter_id: letter.id(),
            action: undersigned_core::entry::Action::Sign,
            issuer_id: w.issuer.keys.id(),
            disclosed: undersigned_core::entry::Disclosed {
                org: undersigned_core::ids::OrgId::parse("state.gov").unwrap(),
                epoch: w.epoch.clone(),
                role: None, age_band: None, email: None,
            },
            pseudonym: nym,
            proof,
            comment: None,
        };
        let r = undersigned_core::entry::verify(&entry, &letter.id(), &letter.policy, &w.directory());
        prop_assert!(r.is_err());
    }
}
