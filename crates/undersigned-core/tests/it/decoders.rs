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

/// An open letter, its issuer directory and one valid entry on it: the base that the random
/// proofs below vary, so that most of them have the right length and reach the cryptography.
struct Base {
    letter: undersigned_core::letter::Letter,
    directory: undersigned_core::entry::IssuerDirectory,
    entry: SignatureEntry,
}

fn base() -> &'static Base {
    static BASE: std::sync::OnceLock<Base> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let (w, creds) = crate::fixture::populated(7);
        let letter = w.letter("P", crate::fixture::all_disclosures());
        let entry = crate::fixture::sign(
            &creds[0],
            &letter,
            &w.sets(),
            undersigned_core::entry::DisclosureChoice::default(),
            None,
        );
        Base {
            directory: w.directory(),
            letter,
            entry,
        }
    })
}

/// Bytes shaped like `valid`: random of the same length, `valid` with one byte changed,
/// `valid` itself, or random of any length up to `max`. Four in five have the right length.
fn shaped(valid: &'static [u8], max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), valid.len()),
        2 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(move |(i, x)| {
            let mut v = valid.to_vec();
            v[i.index(valid.len())] ^= x;
            v
        }),
        1 => Just(valid.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..max),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random and altered proofs and pseudonyms reach the verifier without panicking, and only
    /// the untouched pair verifies.
    #[test]
    fn verifier_refuses_random_and_altered_proofs(
        proof in shaped(&base().entry.parts[0].proof, 600),
        nym in shaped(&base().entry.parts[0].pseudonym, 60),
    ) {
        let b = base();
        let untouched = proof == b.entry.parts[0].proof && nym == b.entry.parts[0].pseudonym;
        let mut entry = b.entry.clone();
        entry.parts[0].pseudonym = nym;
        entry.parts[0].proof = proof;
        let r = undersigned_core::entry::verify(&entry, &b.letter.id(), &b.letter.policy, &b.directory);
        prop_assert_eq!(r.is_ok(), untouched, "{:?}", r.err());
    }
}
