//! Issue 23: signatures that need t of n independent issuers (protocol v1.2, "Several
//! issuers"). The composite presentation against zkryptium (t = 1), between our reference and
//! fast verifiers, and every attack of the issue, refused by core and by bundle verification.

use crate::fixture::*;
use undersigned_core::bbs::composite::{self, PartStatement};
use undersigned_core::bbs::{self, fast};
use undersigned_core::bundle::{origin, Bundle, IssuerRecord};
use undersigned_core::credential::{self, Credential, MESSAGE_COUNT};
use undersigned_core::entry::{
    self, presentation_header, verify, verify_reference, Action, DisclosureChoice, SignatureEntry,
    SHARED,
};
use undersigned_core::error::{PresentError, VerifyError};
use undersigned_core::forge::{forge_part, variants, with_forgery_at, Forgery};
use undersigned_core::ids::{AgeBand, LetterId};
use undersigned_core::letter::Letter;
use undersigned_core::log::origin::Host;
use undersigned_core::log::LogVerifier;
use undersigned_core::pins::{IssuerLogPin, Pins};
use undersigned_core::statement::{issuer_log_origin, LoggedStatement};
use undersigned_core::tally::Tally;

const ANALYST: &str = "analyst";

/// A corrupt issuer: the world's key, with none of its memory of who already holds one.
fn mint(w: &mut World, email: &str) -> Credential {
    undersigned_testkit::attack::mint(
        &w.issuer.keys,
        &w.issuer.membership,
        &w.epoch,
        email,
        ANALYST,
        AgeBand::Under30,
        &mut w.rng,
    )
}

fn person(c: &mut Council, email: &str) -> Vec<Credential> {
    c.credentials(email, ANALYST, AgeBand::Under30)
}

/// Every verifier's verdict on one entry: fast (native) and reference agree, or the test fails.
fn check(e: &SignatureEntry, letter: &Letter, c: &Council) -> Result<(), VerifyError> {
    let dir = c.directory();
    let fast = verify(e, &letter.id(), &letter.policy, &dir).map(|_| ());
    let reference = verify_reference(e, &letter.id(), &letter.policy, &dir).map(|_| ());
    assert_eq!(fast, reference, "fast and reference verifiers disagree");
    fast
}

/// The statements of an entry's parts, for the crypto-level verifiers.
fn crypto_verdicts(e: &SignatureEntry, c: &Council, letter_id: &LetterId) -> [bool; 2] {
    let dir = c.directory();
    let headers: Vec<Vec<u8>> = e
        .parts
        .iter()
        .map(|p| credential::header(&p.issuer_id))
        .collect();
    let parts: Vec<PartStatement<'_>> = e
        .parts
        .iter()
        .zip(&headers)
        .map(|(p, header)| PartStatement {
            public_key: &dir[&p.issuer_id].public_key,
            header,
            proof: &p.proof,
            pseudonym: &p.pseudonym,
        })
        .collect();
    let ph = presentation_header(letter_id, e.action, e.comment.as_deref());
    let disclosed = [
        (0, e.disclosed.org.as_str().as_bytes().to_vec()),
        (1, e.disclosed.epoch.as_str().as_bytes().to_vec()),
    ];
    let r = composite::verify(
        &parts,
        &ph,
        &letter_id.0,
        MESSAGE_COUNT,
        &disclosed,
        &SHARED,
    );
    let f = fast::verify_composite(
        &parts,
        &ph,
        &letter_id.0,
        MESSAGE_COUNT,
        &disclosed,
        &SHARED,
    );
    [r.is_ok(), f.is_ok()]
}

#[test]
fn t1_presentation_is_a_draft_proof_that_zkryptium_verifies() {
    let (w, creds) = populated(2301);
    let letter = w.letter("One issuer", all_disclosures());
    let choice = DisclosureChoice {
        role: true,
        ..DisclosureChoice::default()
    };
    for c in &creds[..4] {
        // entry::present now proves with our composite prover.
        let e = sign(c, &letter, &w.sets(), choice, Some("a comment"));
        let part = &e.parts[0];
        let header = credential::header(&part.issuer_id);
        let ph = presentation_header(&letter.id(), Action::Sign, Some("a comment"));
        let disclosed = vec![
            (0, b"state.gov".to_vec()),
            (1, w.epoch.as_str().as_bytes().to_vec()),
            (2, ANALYST.as_bytes().to_vec()),
        ];
        let pk = w.issuer.keys.public_key();
        // zkryptium's own verifier (behind our validity checks) accepts it.
        bbs::verify(
            pk,
            &header,
            &ph,
            &letter.id().0,
            MESSAGE_COUNT,
            &disclosed,
            &part.proof,
            &part.pseudonym,
        )
        .unwrap();
        // And the zkryptium prover's t = 1 proof passes our composite verifiers.
        let theirs = bbs::present(
            pk,
            &c.holder_secrets(),
            &header,
            &ph,
            &letter.id().0,
            &c.attributes.messages(),
            &[0, 1, 2],
        )
        .unwrap();
        let st = [PartStatement {
            public_key: pk,
            header: &header,
            proof: &theirs.proof,
            pseudonym: &theirs.pseudonym,
        }];
        let ctx = letter.id().0;
        composite::verify(&st, &ph, &ctx, MESSAGE_COUNT, &disclosed, &SHARED).unwrap();
        fast::verify_composite(&st, &ph, &ctx, MESSAGE_COUNT, &disclosed, &SHARED).unwrap();
        // One credential, one letter: the same pseudonym from either prover.
        assert_eq!(theirs.pseudonym.to_vec(), part.pseudonym);
    }
}

#[test]
fn t_of_n_signatures_verify_and_count_once() {
    for (n, t) in [(2, 2), (3, 2), (3, 3)] {
        let mut c = Council::new(2310 + n as u64 * 10 + u64::from(t), n);
        let letter = c.letter("Several issuers", all_disclosures(), t);
        let people: Vec<Vec<Credential>> = (0..4)
            .map(|i| person(&mut c, &format!("p{i}@state.gov")))
            .collect();
        let mut entries = vec![];
        for creds in &people {
            let held: Vec<&Credential> = creds.iter().take(t as usize).collect();
            let e = c.sign(&held, &letter, DisclosureChoice::default()).unwrap();
            assert_eq!(e.parts.len(), t as usize);
            check(&e, &letter, &c).unwrap();
            assert_eq!(crypto_verdicts(&e, &c, &letter.id()), [true, true]);
            entries.push(e);
        }
        let b = c.bundle(&letter, entries);
        let report = b.verify().unwrap();
        assert_eq!(report.summary.signatures, 4, "n = {n}, t = {t}");
        // Fewer or more credentials than t is refused before any proof.
        let all: Vec<&Credential> = people[0].iter().collect();
        if n as u32 > t {
            assert_eq!(
                c.sign(&all, &letter, DisclosureChoice::default()).err(),
                Some(PresentError::Threshold(t as usize))
            );
        }
        assert_eq!(
            c.sign(&all[..1], &letter, DisclosureChoice::default())
                .err(),
            Some(PresentError::Threshold(t as usize))
        );
    }
}

#[test]
fn wire_keeps_one_part_flat_and_several_as_parts() {
    let (w, creds) = populated(2320);
    let letter = w.letter("Flat", all_disclosures());
    let one = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let json = serde_json::to_value(&one).unwrap();
    assert!(json.get("parts").is_none() && json.get("proof").is_some());
    let mut c = Council::new(2321, 3);
    let l3 = c.letter("Parts", all_disclosures(), 3);
    let creds = person(&mut c, "x@state.gov");
    let held: Vec<&Credential> = creds.iter().collect();
    let three = c.sign(&held, &l3, DisclosureChoice::default()).unwrap();
    let json = serde_json::to_value(&three).unwrap();
    assert_eq!(json["parts"].as_array().unwrap().len(), 3);
    assert!(json.get("proof").is_none() && json.get("issuer_id").is_none());
    let back: SignatureEntry = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, three);
    // Both spellings at once, or one part spelled as `parts`: refused, so no entry has two
    // encodings (and two leaf hashes).
    let mut both = json.clone();
    both["proof"] = serde_json::to_value(&one).unwrap()["proof"].clone();
    assert!(serde_json::from_value::<SignatureEntry>(both).is_err());
    let mut single = serde_json::to_value(&one).unwrap();
    let part = serde_json::json!([{
        "issuer_id": single["issuer_id"], "pseudonym": single["pseudonym"], "proof": single["proof"]
    }]);
    for f in ["issuer_id", "pseudonym", "proof"] {
        single.as_object_mut().unwrap().remove(f);
    }
    single["parts"] = part;
    assert!(serde_json::from_value::<SignatureEntry>(single).is_err());
}

/// Splices parts of other presentations into `e`.
fn with_parts(e: &SignatureEntry, parts: Vec<undersigned_core::entry::Part>) -> SignatureEntry {
    SignatureEntry { parts, ..e.clone() }
}

#[test]
fn fail_pooling_replay_missing_duplicate_and_reordered_parts() {
    let mut c = Council::new(2330, 3);
    let letter = c.letter("Attacks", all_disclosures(), 3);
    let alice = person(&mut c, "alice@state.gov");
    let bob = person(&mut c, "bob@state.gov");
    let a = c
        .sign(
            &alice.iter().collect::<Vec<_>>(),
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    let b = c
        .sign(
            &bob.iter().collect::<Vec<_>>(),
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    check(&a, &letter, &c).unwrap();

    // Pooling, spliced: Alice's first part with Bob's other two.
    let pooled = with_parts(
        &a,
        vec![a.parts[0].clone(), b.parts[1].clone(), b.parts[2].clone()],
    );
    assert_eq!(check(&pooled, &letter, &c), Err(VerifyError::BadProof));
    // Pooling, proved honestly over two people's credentials: the shared response differs.
    let mixed = [&alice[0], &bob[1], &alice[2]];
    let pooled = undersigned_testkit::attack::prove_mixed(&a, &mixed, &mut rng(2331));
    assert_eq!(check(&pooled, &letter, &c), Err(VerifyError::BadProof));
    assert_eq!(crypto_verdicts(&pooled, &c, &letter.id()), [false, false]);
    // And the holder's own prover refuses to mix addresses at all.
    assert_eq!(
        c.sign(&mixed, &letter, DisclosureChoice::default()).err(),
        Some(PresentError::PartsDisagree)
    );

    // A part replayed from another of Alice's presentations (same credential, other challenge).
    let a2 = c
        .sign(
            &alice.iter().collect::<Vec<_>>(),
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    let replayed = with_parts(
        &a,
        vec![a.parts[0].clone(), a2.parts[1].clone(), a.parts[2].clone()],
    );
    assert_eq!(check(&replayed, &letter, &c), Err(VerifyError::BadProof));
    // A missing part: the letter's threshold is not met.
    let missing = with_parts(&a, a.parts[..2].to_vec());
    assert_eq!(check(&missing, &letter, &c), Err(VerifyError::Threshold(3)));
    // The same issuer twice, and parts out of issuer-id order.
    let twice = with_parts(
        &a,
        vec![a.parts[0].clone(), a.parts[0].clone(), a.parts[2].clone()],
    );
    assert!(matches!(
        check(&twice, &letter, &c),
        Err(VerifyError::Malformed(_))
    ));
    let swapped = with_parts(
        &a,
        vec![a.parts[1].clone(), a.parts[0].clone(), a.parts[2].clone()],
    );
    assert!(matches!(
        check(&swapped, &letter, &c),
        Err(VerifyError::Malformed(_))
    ));
    // At the crypto level the same issuer twice is refused too, and a dropped part breaks the
    // one challenge.
    let dropped = with_parts(&a, vec![a.parts[0].clone(), a.parts[2].clone()]);
    assert_eq!(crypto_verdicts(&dropped, &c, &letter.id()), [false, false]);
    assert_eq!(crypto_verdicts(&twice, &c, &letter.id()), [false, false]);
    // A part of another letter.
    let other = c.letter("Another letter", all_disclosures(), 3);
    let elsewhere = c
        .sign(
            &alice.iter().collect::<Vec<_>>(),
            &other,
            DisclosureChoice::default(),
        )
        .unwrap();
    let foreign = with_parts(
        &a,
        vec![
            a.parts[0].clone(),
            elsewhere.parts[1].clone(),
            a.parts[2].clone(),
        ],
    );
    assert_eq!(check(&foreign, &letter, &c), Err(VerifyError::BadProof));
}

#[test]
fn fail_parts_disclosing_different_organizations() {
    let mut c = Council::new(2340, 2);
    let letter = c.letter("Orgs", all_disclosures(), 2);
    let state = person(&mut c, "carol@state.gov");
    let usaid = person(&mut c, "carol@usaid.gov");
    assert_eq!(
        c.sign(
            &[&state[0], &usaid[1]],
            &letter,
            DisclosureChoice::default()
        )
        .err(),
        Some(PresentError::PartsDisagree)
    );
    // Forced through the prover: each part discloses its own org, the verifier takes the
    // entry's one `disclosed` for both, so one part cannot verify.
    let a = c
        .sign(
            &[&state[0], &state[1]],
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    let b = c
        .sign(
            &[&usaid[0], &usaid[1]],
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    let mixed = with_parts(&a, vec![a.parts[0].clone(), b.parts[1].clone()]);
    assert_eq!(check(&mixed, &letter, &c), Err(VerifyError::BadProof));
}

/// Issue 9's forger at the issuer of `e`'s part `index`: a part made with no credential, for
/// `e`'s letter, action and disclosed org and epoch.
fn forged_part(
    c: &Council,
    _letter: &Letter,
    e: &SignatureEntry,
    index: usize,
    seed: u64,
) -> Forgery {
    let issuer = e.parts[index].issuer_id;
    forge_part(&c.directory()[&issuer].public_key, e, index, &mut rng(seed)).unwrap()
}

#[test]
fn fail_forgery_suite_on_every_part() {
    let mut c = Council::new(2350, 3);
    let letter = c.letter("Forgeries", all_disclosures(), 3);
    let creds = person(&mut c, "dave@state.gov");
    let held: Vec<&Credential> = creds.iter().collect();
    let e = c.sign(&held, &letter, DisclosureChoice::default()).unwrap();
    let mut refused = 0;
    for i in 0..e.parts.len() {
        let f = forged_part(&c, &letter, &e, i, 2351 + i as u64);
        let mut cases = vec![("base forgery".to_owned(), f.clone())];
        cases.extend(variants(&f));
        for (name, v) in cases {
            let forged = with_forgery_at(&e, i, &v);
            assert!(
                check(&forged, &letter, &c).is_err(),
                "part {i}: {name} passed"
            );
            assert_eq!(
                crypto_verdicts(&forged, &c, &letter.id()),
                [false, false],
                "{name}"
            );
            refused += 1;
        }
        // Each part of the honest entry spoiled by one byte of its shared response or its
        // challenge.
        let mut bad = e.clone();
        let len = bad.parts[i].proof.len();
        bad.parts[i].proof[len - 40] ^= 1;
        assert!(check(&bad, &letter, &c).is_err());
        let mut bad = e.clone();
        bad.parts[i].proof[len - 1] ^= 1;
        assert!(check(&bad, &letter, &c).is_err());
    }
    assert!(refused > 100, "{refused}");
    // Every part forged (no credential at all): refused.
    let mut all = e.clone();
    for i in 0..e.parts.len() {
        all = with_forgery_at(&all, i, &forged_part(&c, &letter, &e, i, 2360 + i as u64));
    }
    assert_eq!(check(&all, &letter, &c), Err(VerifyError::BadProof));
}

#[test]
fn fail_corrupt_issuer_mints_a_signer_from_nothing() {
    // t = 2 of 3; issuer 0 is corrupt and mints a credential for an address nobody holds.
    let mut c = Council::new(2370, 3);
    let letter = c.letter("Minting", all_disclosures(), 2);
    let ghost = mint(&mut c.worlds[0], "ghost@state.gov");
    // With a real person's credential from an honest issuer: the addresses differ.
    let real = person(&mut c, "erin@state.gov");
    assert_eq!(
        c.sign(&[&ghost, &real[1]], &letter, DisclosureChoice::default())
            .err(),
        Some(PresentError::PartsDisagree)
    );
    // With a forged part at the honest issuer: refused.
    let honest = c
        .sign(&[&real[0], &real[1]], &letter, DisclosureChoice::default())
        .unwrap();
    let minted = c.sign(&[&ghost, &real[2]], &letter, DisclosureChoice::default());
    assert!(minted.is_err());
    let f = forged_part(&c, &letter, &honest, 1, 2371);
    let ghost1 = mint(&mut c.worlds[1], "ghost@state.gov");
    let ghost_entry = c
        .sign(&[&ghost, &ghost1], &letter, DisclosureChoice::default())
        .unwrap();
    // Two corrupt issuers of three (t = 2) can mint: the design's limit, shown, and why t = n
    // matters.
    check(&ghost_entry, &letter, &c).unwrap();
    let with_forged = with_forgery_at(&ghost_entry, 1, &f);
    assert_eq!(check(&with_forged, &letter, &c), Err(VerifyError::BadProof));
    // t = 3 of 3: two corrupt issuers are not enough.
    let l3 = c.letter("Minting, all three", all_disclosures(), 3);
    let g0 = mint(&mut c.worlds[0], "ghost2@state.gov");
    let g1 = mint(&mut c.worlds[1], "ghost2@state.gov");
    let base = c
        .sign(
            &[&real[0], &real[1], &real[2]],
            &l3,
            DisclosureChoice::default(),
        )
        .unwrap();
    let spliced = c.sign(&[&g0, &g1, &real[2]], &l3, DisclosureChoice::default());
    assert_eq!(spliced.err(), Some(PresentError::PartsDisagree));
    let f2 = forged_part(&c, &l3, &base, 2, 2372);
    let forged = with_forgery_at(&base, 2, &f2);
    assert_eq!(check(&forged, &l3, &c), Err(VerifyError::BadProof));
}

/// Applies entries to a tally the way the log does: verified, then the conflict rule.
fn tally_of(
    entries: &[&SignatureEntry],
    letter: &Letter,
    c: &Council,
) -> Vec<Result<(), VerifyError>> {
    let dir = c.directory();
    let mut t = Tally::new();
    entries
        .iter()
        .map(|e| {
            let v = entry::verify(e, &letter.id(), &letter.policy, &dir)?;
            t.apply(v)
        })
        .collect()
}

#[test]
fn one_person_signs_once_with_f_below_2t_minus_n_corrupt_issuers() {
    // n = 3, t = 3: f = 2t - n - 1 = 2 corrupt issuers mint a second credential for a real
    // person; the second signature still needs the honest third issuer's part, which repeats.
    let mut c = Council::new(2380, 3);
    let letter = c.letter("Twice?", all_disclosures(), 3);
    let real = person(&mut c, "frank@state.gov");
    let first = c
        .sign(
            &[&real[0], &real[1], &real[2]],
            &letter,
            DisclosureChoice::default(),
        )
        .unwrap();
    let m0 = mint(&mut c.worlds[0], "frank@state.gov");
    let m1 = mint(&mut c.worlds[1], "frank@state.gov");
    let second = c
        .sign(&[&m0, &m1, &real[2]], &letter, DisclosureChoice::default())
        .unwrap();
    check(&second, &letter, &c).unwrap();
    assert_eq!(
        tally_of(&[&first, &second], &letter, &c),
        vec![Ok(()), Err(VerifyError::DoubleSign)]
    );

    // n = 3, t = 2: f = 0. An honest person's three credentials make three pairs; any two
    // share an issuer, so a second signature conflicts.
    let mut c = Council::new(2390, 3);
    let letter = c.letter("Twice, 2 of 3?", all_disclosures(), 2);
    let real = person(&mut c, "gina@state.gov");
    let s01 = c
        .sign(&[&real[0], &real[1]], &letter, DisclosureChoice::default())
        .unwrap();
    let s12 = c
        .sign(&[&real[1], &real[2]], &letter, DisclosureChoice::default())
        .unwrap();
    let s02 = c
        .sign(&[&real[0], &real[2]], &letter, DisclosureChoice::default())
        .unwrap();
    assert_eq!(
        tally_of(&[&s01, &s12, &s02], &letter, &c),
        vec![
            Ok(()),
            Err(VerifyError::DoubleSign),
            Err(VerifyError::DoubleSign)
        ]
    );
    // Withdrawal with another pair withdraws the one signature; withdrawing again or signing
    // again after it is refused.
    let w12 = c
        .present(
            &[&real[1], &real[2]],
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
        )
        .unwrap();
    let w02 = c
        .present(
            &[&real[0], &real[2]],
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
        )
        .unwrap();
    assert_eq!(
        tally_of(&[&s01, &w12, &w02, &s02], &letter, &c),
        vec![
            Ok(()),
            Ok(()),
            Err(VerifyError::DoubleWithdraw),
            Err(VerifyError::DoubleSign)
        ]
    );

    // f = 2t - n = 1 corrupt issuer: the design's stated limit. A second credential from
    // issuer 0 lets the same person sign twice with disjoint honest parts (1 and 2); a
    // withdrawal touching both signatures is ambiguous and refused.
    let m0 = mint(&mut c.worlds[0], "gina@state.gov");
    let a = c
        .sign(&[&real[0], &real[1]], &letter, DisclosureChoice::default())
        .unwrap();
    let b = c
        .sign(&[&m0, &real[2]], &letter, DisclosureChoice::default())
        .unwrap();
    let both = c
        .present(
            &[&real[1], &real[2]],
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
        )
        .unwrap();
    assert_eq!(
        tally_of(&[&a, &b, &both], &letter, &c),
        vec![Ok(()), Ok(()), Err(VerifyError::AmbiguousWithdrawal)]
    );
}

#[test]
fn fail_bundle_with_more_signers_than_one_issuer_issued() {
    // t = 2 of 3: four people got credentials from issuers 0 and 1 only; issuer 2's statement
    // says it issued none at state.gov, so four signers from there cannot all be real.
    let mut c = Council::new(2400, 3);
    let letter = c.letter("Counts", all_disclosures(), 2);
    let mut entries = vec![];
    for i in 0..4 {
        let email = format!("h{i}@state.gov");
        let c0 = c.worlds[0].credential(&email, ANALYST, AgeBand::Under30);
        let c1 = c.worlds[1].credential(&email, ANALYST, AgeBand::Under30);
        entries.push(
            c.sign(&[&c0, &c1], &letter, DisclosureChoice::default())
                .unwrap(),
        );
    }
    let b = c.bundle(&letter, entries.clone());
    let err = b.verify().unwrap_err().to_string();
    assert!(err.contains("state.gov"), "{err}");
    // With issuer 2 having issued to them too, it verifies.
    for i in 0..4 {
        c.worlds[2].credential(&format!("h{i}@state.gov"), ANALYST, AgeBand::Under30);
    }
    assert_eq!(
        c.bundle(&letter, entries)
            .verify()
            .unwrap()
            .summary
            .signatures,
        4
    );
}

/// A council whose issuers keep their own statement logs, each under its own host and key.
fn independent_bundle(c: &Council, letter: &Letter, entries: Vec<SignatureEntry>) -> Bundle {
    let mut b = c.bundle(letter, entries);
    b.issuers = c
        .worlds
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let host = format!("issuer{i}.example");
            let key = ed25519_dalek::SigningKey::from_bytes(&[40 + i as u8; 32]);
            let logged = LoggedStatement::first(w.signed_statement(1), &host, &key).unwrap();
            let origin = issuer_log_origin(&host, &w.issuer.keys.id());
            let log = LogVerifier::new(&origin, key.verifying_key()).unwrap();
            IssuerRecord::independent(logged, &log)
        })
        .collect();
    seal(&mut b);
    b
}

fn issuer_pins(c: &Council, key_of: impl Fn(usize) -> u8) -> Pins {
    let issuer_logs = c
        .worlds
        .iter()
        .enumerate()
        .map(|(i, w)| IssuerLogPin {
            id: w.issuer.keys.id(),
            host: Host::parse(&format!("issuer{i}.example")).unwrap(),
            key: ed25519_dalek::SigningKey::from_bytes(&[key_of(i); 32])
                .verifying_key()
                .to_bytes(),
            witnesses: vec![],
            quorum: 0,
        })
        .collect();
    Pins {
        issuers: Some(c.worlds.iter().map(|w| w.issuer.keys.id()).collect()),
        log_key: Some(log_key().verifying_key().to_bytes()),
        host: Some(Host::parse(HOST).unwrap()),
        issuer_logs,
        ..Pins::default()
    }
}

#[test]
fn independent_issuers_statements_verify_under_their_own_logs_and_pins() {
    let mut c = Council::new(2410, 3);
    let letter = c.letter("Independent issuers", all_disclosures(), 3);
    let creds = person(&mut c, "ivy@state.gov");
    let held: Vec<&Credential> = creds.iter().collect();
    let e = c.sign(&held, &letter, DisclosureChoice::default()).unwrap();
    let b = independent_bundle(&c, &letter, vec![e]);
    let report = b.verify().unwrap();
    assert_eq!(report.summary.signatures, 1);
    assert!(
        report.trust.contains("3 of these 3 issuers")
            && report.trust.contains("needs all 3 to collude"),
        "{}",
        report.trust
    );
    // Pinned to each issuer's own log: verifies; any other key for one of them: refused.
    b.verify_pinned(&issuer_pins(&c, |i| 40 + i as u8)).unwrap();
    let err = b
        .verify_pinned(&issuer_pins(&c, |i| if i == 1 { 99 } else { 40 + i as u8 }))
        .unwrap_err();
    assert!(err.to_string().contains("not the pinned host"), "{err}");
    // An issuer record naming a log of another kind or another issuer: refused.
    let mut other = b.clone();
    let key = ed25519_dalek::SigningKey::from_bytes(&[40; 32]);
    let wrong = LogVerifier::new(
        &issuer_log_origin("issuer0.example", &c.worlds[1].issuer.keys.id()),
        key.verifying_key(),
    )
    .unwrap();
    other.issuers[0].log = Some(wrong.to_vkey());
    seal(&mut other);
    assert!(other.verify().is_err());
    let mut letters = b.clone();
    let as_letter = LogVerifier::new(
        &origin("issuer0.example", &letter.id()),
        key.verifying_key(),
    )
    .unwrap();
    letters.issuers[0].log = Some(as_letter.to_vkey());
    seal(&mut letters);
    assert!(letters.verify().is_err());
    // The record claiming the deployment's log while its pin says its own: refused.
    let mut own = b.clone();
    own.issuers[0].log = None;
    seal(&mut own);
    assert!(own
        .verify_pinned(&issuer_pins(&c, |i| 40 + i as u8))
        .is_err());
}
