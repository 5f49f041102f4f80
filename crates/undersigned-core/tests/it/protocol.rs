//! The design's promises, one test each, with a deterministic RNG.

use crate::fixture::*;
use undersigned_core::credential::{receive_credential, request_credential, Attributes};
use undersigned_core::entry::{present, verify, Action, DisclosureChoice, SmallOrgConsent};
use undersigned_core::error::{IssueError, PresentError, VerifyError};
use undersigned_core::ids::{AgeBand, Email, Role};
use undersigned_core::letter::AllowedDisclosures;
use undersigned_core::tally::{Cell, Tally};

#[test]
fn same_letter_gives_same_pseudonym() {
    let (w, creds) = populated(1);
    let letter = w.letter("Ceasefire now", all_disclosures());
    let a = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let b = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        Some("again"),
    );
    assert_eq!(a.parts[0].pseudonym, b.parts[0].pseudonym);
    assert_ne!(
        a.parts[0].proof, b.parts[0].proof,
        "proofs are randomized even when the pseudonym is fixed"
    );
}

#[test]
fn different_letters_give_unlinkable_pseudonyms() {
    let (w, creds) = populated(2);
    let l1 = w.letter("Letter one", all_disclosures());
    let l2 = w.letter("Letter two", all_disclosures());
    let p1 = sign(&creds[0], &l1, &w.sets(), DisclosureChoice::default(), None).parts[0]
        .pseudonym
        .clone();
    let p2 = sign(&creds[0], &l2, &w.sets(), DisclosureChoice::default(), None).parts[0]
        .pseudonym
        .clone();
    let other = sign(&creds[1], &l2, &w.sets(), DisclosureChoice::default(), None).parts[0]
        .pseudonym
        .clone();
    assert_ne!(p1, p2);
    assert_ne!(p2, other);
    // Nothing a credential puts into an entry repeats across letters: no 8-byte run of one
    // letter's pseudonym or proof appears anywhere in the other letter's pseudonym or proof (a
    // fixed credential value, such as a tag or an unblinded point, would).
    let e1 = sign(&creds[0], &l1, &w.sets(), DisclosureChoice::default(), None);
    let e2 = sign(&creds[0], &l2, &w.sets(), DisclosureChoice::default(), None);
    assert_eq!(
        (&e1.parts[0].pseudonym, &e2.parts[0].pseudonym),
        (&p1, &p2),
        "pseudonyms are fixed per letter"
    );
    let theirs = [
        e2.parts[0].pseudonym.as_slice(),
        e2.parts[0].proof.as_slice(),
    ]
    .concat();
    for ours in [&e1.parts[0].pseudonym, &e1.parts[0].proof] {
        for run in ours.windows(8) {
            assert!(
                !theirs.windows(8).any(|w| w == run),
                "{} repeats across letters",
                hex::encode(run)
            );
        }
    }
}

#[test]
fn signature_verifies_and_counts() {
    let (w, creds) = populated(3);
    let letter = w.letter("Count us", all_disclosures());
    let dir = w.directory();
    let mut tally = Tally::new();
    for c in &creds[..4] {
        let e = sign(
            c,
            &letter,
            &w.sets(),
            DisclosureChoice {
                role: true,
                age_band: true,
                email: false,
            },
            None,
        );
        tally
            .apply(verify(&e, &letter.id(), &letter.policy, &dir).unwrap())
            .unwrap();
    }
    let e = sign(
        &creds[4],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    tally
        .apply(verify(&e, &letter.id(), &letter.policy, &dir).unwrap())
        .unwrap();
    let s = tally.summarize(K);
    assert_eq!(s.signatures, 5);
    assert_eq!(s.organizations, 2);
    assert_eq!(s.by_org["state.gov"], Cell::Count(4));
    // Exact: the record names every signer's organization anyway.
    assert_eq!(s.by_org["usaid.gov"], Cell::Count(1));
    assert_eq!(s.by_role["analyst"], Cell::Count(4));
}

#[test]
fn fail_proof_for_another_letter_action_or_comment() {
    let (w, creds) = populated(4);
    let l1 = w.letter("One", all_disclosures());
    let l2 = w.letter("Two", all_disclosures());
    let dir = w.directory();
    let e = sign(
        &creds[0],
        &l1,
        &w.sets(),
        DisclosureChoice::default(),
        Some("hello"),
    );
    assert!(verify(&e, &l1.id(), &l1.policy, &dir).is_ok());

    assert_eq!(
        verify(&e, &l2.id(), &l2.policy, &dir),
        Err(VerifyError::WrongLetter)
    );
    let mut moved = e.clone();
    moved.letter_id = l2.id();
    assert_eq!(
        verify(&moved, &l2.id(), &l2.policy, &dir),
        Err(VerifyError::BadProof)
    );

    let mut as_withdraw = e.clone();
    as_withdraw.action = Action::Withdraw;
    assert_eq!(
        verify(&as_withdraw, &l1.id(), &l1.policy, &dir),
        Err(VerifyError::BadProof)
    );

    let mut other_comment = e.clone();
    other_comment.comment = Some("hellO".into());
    assert_eq!(
        verify(&other_comment, &l1.id(), &l1.policy, &dir),
        Err(VerifyError::BadProof)
    );
    let mut no_comment = e;
    no_comment.comment = None;
    assert_eq!(
        verify(&no_comment, &l1.id(), &l1.policy, &dir),
        Err(VerifyError::BadProof)
    );
}

#[test]
fn fail_withdraw_without_prior_sign() {
    let (w, creds) = populated(5);
    let letter = w.letter("W", all_disclosures());
    let dir = w.directory();
    let mut tally = Tally::new();
    let wd = withdraw(&creds[0], &letter, &w.sets());
    let v = verify(&wd, &letter.id(), &letter.policy, &dir).unwrap();
    assert_eq!(
        tally.apply(v.clone()),
        Err(VerifyError::WithdrawWithoutSign)
    );
    let s = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    tally
        .apply(verify(&s, &letter.id(), &letter.policy, &dir).unwrap())
        .unwrap();
    tally.apply(v.clone()).unwrap();
    assert_eq!(tally.apply(v), Err(VerifyError::DoubleWithdraw));
    let summary = tally.summarize(K);
    assert_eq!((summary.signatures, summary.withdrawn), (0, 1));
}

#[test]
fn fail_double_sign_even_with_different_disclosures() {
    let (w, creds) = populated(6);
    let letter = w.letter("D", all_disclosures());
    let dir = w.directory();
    let mut tally = Tally::new();
    let a = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let b = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        Some("x"),
    );
    tally
        .apply(verify(&a, &letter.id(), &letter.policy, &dir).unwrap())
        .unwrap();
    let vb = verify(&b, &letter.id(), &letter.policy, &dir).unwrap();
    assert_eq!(tally.apply(vb), Err(VerifyError::DoubleSign));
    assert_eq!(tally.summarize(K).signatures, 1);
}

#[test]
fn fail_second_credential_same_address_and_epoch() {
    let mut w = World::new(7);
    let _first = w.credential("someone@state.gov", "analyst", AgeBand::From40To49);
    let (req, _pending) = request_credential(&mut w.rng).unwrap();
    let email = Email::parse(" SomeOne@State.GOV ").unwrap();
    let err = w
        .issuer
        .issue(
            &req,
            &email,
            &w.epoch.clone(),
            &Role::unspecified(),
            AgeBand::Unspecified,
            &mut w.rng,
        )
        .unwrap_err();
    assert_eq!(err, IssueError::AlreadyIssued("2026-Q4".into()));
    assert_eq!(w.issuer.issued_tags(), 1);
    // A new epoch is a new credential.
    let next = undersigned_core::ids::Epoch::parse("2027-Q1").unwrap();
    assert!(w
        .issuer
        .issue(
            &req,
            &email,
            &next,
            &Role::unspecified(),
            AgeBand::Unspecified,
            &mut w.rng
        )
        .is_ok());
}

#[test]
fn fail_issuance_for_free_mail_or_unknown_org_or_role() {
    let mut w = World::new(8);
    let (req, _p) = request_credential(&mut w.rng).unwrap();
    let e = w.epoch.clone();
    for addr in ["me@gmail.com", "me@unknown.org"] {
        let err = w.issuer.issue(
            &req,
            &Email::parse(addr).unwrap(),
            &e,
            &Role::unspecified(),
            AgeBand::Unspecified,
            &mut w.rng,
        );
        assert!(matches!(err, Err(IssueError::OrgNotAccepted(_))), "{addr}");
    }
    let err = w.issuer.issue(
        &req,
        &Email::parse("a@state.gov").unwrap(),
        &e,
        &Role::parse("spy").unwrap(),
        AgeBand::Unspecified,
        &mut w.rng,
    );
    assert_eq!(err.unwrap_err(), IssueError::RoleNotAccepted);
    assert_eq!(w.issuer.issued_tags(), 0);
}

#[test]
fn fail_holder_rejects_response_over_other_attributes() {
    let mut w = World::new(9);
    let email = Email::parse("x@state.gov").unwrap();
    let (req, pending) = request_credential(&mut w.rng).unwrap();
    let e = w.epoch.clone();
    let resp = w
        .issuer
        .issue(
            &req,
            &email,
            &e,
            &Role::parse("analyst").unwrap(),
            AgeBand::Under30,
            &mut w.rng,
        )
        .unwrap();
    let claimed = Attributes::new(email, e, Role::parse("officer").unwrap(), AgeBand::Under30);
    let err = receive_credential(pending, &resp, w.issuer.keys.public_key(), claimed).unwrap_err();
    assert_eq!(err, IssueError::BadResponse);
}

#[test]
fn fail_small_cell_disclosure_client_and_verifier() {
    let (w, creds) = populated(10);
    let letter = w.letter("Small", all_disclosures());
    let sets = w.sets();
    // The usaid officer is alone in (usaid.gov, officer): disclosing the role would identify.
    let err = present(
        &creds[4],
        &letter,
        Action::Sign,
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        None,
        &sets,
        SmallOrgConsent::Given,
    )
    .unwrap_err();
    assert_eq!(err, PresentError::SmallCell("role", K));
    // An org below k needs explicit consent.
    let err = present(
        &creds[4],
        &letter,
        Action::Sign,
        DisclosureChoice::default(),
        None,
        &sets,
        SmallOrgConsent::NotGiven,
    )
    .unwrap_err();
    assert_eq!(err, PresentError::SmallOrgNeedsConsent(K));
    // A client that skips the guard is stopped by the verifier: forge the entry by presenting
    // under a permissive fake view of the sets.
    let mut w2 = World::new(10);
    let mut fake_creds = vec![];
    for i in 0..4 {
        fake_creds.push(w2.credential(&format!("o{i}@usaid.gov"), "officer", AgeBand::Over60));
    }
    let lax = w2.sets();
    let letter2 = w.letter("Small", all_disclosures());
    let e = present(
        &creds[4],
        &letter2,
        Action::Sign,
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        None,
        &lax,
        SmallOrgConsent::Given,
    )
    .unwrap();
    assert_eq!(
        verify(&e, &letter2.id(), &letter2.policy, &w.directory()),
        Err(VerifyError::SmallCell("role", K))
    );
}

#[test]
fn fail_disclosure_not_allowed_by_policy() {
    let (w, creds) = populated(11);
    let letter = w.letter("No roles", AllowedDisclosures::default());
    let err = present(
        &creds[0],
        &letter,
        Action::Sign,
        DisclosureChoice {
            age_band: true,
            ..Default::default()
        },
        None,
        &w.sets(),
        SmallOrgConsent::Given,
    )
    .unwrap_err();
    assert_eq!(err, PresentError::DisclosureNotAllowed("age band"));
    // Entry presented under a permissive letter, then checked against the strict policy.
    let lax = w.letter("No roles", all_disclosures());
    let mut e = sign(
        &creds[0],
        &lax,
        &w.sets(),
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        None,
    );
    e.letter_id = letter.id();
    assert_eq!(
        verify(&e, &letter.id(), &letter.policy, &w.directory()),
        Err(VerifyError::DisclosureNotAllowed("role"))
    );
}

#[test]
fn fail_changed_disclosed_attribute() {
    let (w, creds) = populated(12);
    let letter = w.letter("Attr", all_disclosures());
    let full = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice {
            role: true,
            age_band: true,
            email: false,
        },
        None,
    );
    let plain = sign(
        &creds[4],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let mut other_org = plain.clone();
    other_org.disclosed.org = undersigned_core::ids::OrgId::parse("state.gov").unwrap();
    let mut other_epoch = plain;
    other_epoch.disclosed.epoch = undersigned_core::ids::Epoch::parse("2026-Q3").unwrap();
    let mut hidden_role = full.clone();
    hidden_role.disclosed.role = None;
    let mut hidden_age = full;
    hidden_age.disclosed.age_band = None;
    for bad in [other_org, hidden_role, hidden_age] {
        assert_eq!(
            verify(&bad, &letter.id(), &letter.policy, &w.directory()),
            Err(VerifyError::BadProof)
        );
    }
    // An epoch the letter does not accept is refused before any crypto.
    assert_eq!(
        verify(&other_epoch, &letter.id(), &letter.policy, &w.directory()),
        Err(VerifyError::IssuerNotAccepted)
    );
}

#[test]
fn fail_flipped_bytes_truncation_and_trailing_bytes() {
    let (w, creds) = populated(13);
    let letter = w.letter("Bytes", all_disclosures());
    let dir = w.directory();
    let e = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    assert_eq!(
        e.parts[0].proof.len(),
        432,
        "v1 proof length with org and epoch disclosed"
    );
    assert_eq!(e.parts[0].pseudonym.len(), 48);
    for i in (0..e.parts[0].proof.len()).step_by(7) {
        let mut bad = e.clone();
        bad.parts[0].proof[i] ^= 0x01;
        assert_eq!(
            verify(&bad, &letter.id(), &letter.policy, &dir),
            Err(VerifyError::BadProof),
            "proof byte {i}"
        );
    }
    for i in 0..e.parts[0].pseudonym.len() {
        let mut bad = e.clone();
        bad.parts[0].pseudonym[i] ^= 0x80;
        assert_eq!(
            verify(&bad, &letter.id(), &letter.policy, &dir),
            Err(VerifyError::BadProof),
            "nym byte {i}"
        );
    }
    for len in [0, 1, 47, 143, 240, 431] {
        let mut bad = e.clone();
        bad.parts[0].proof.truncate(len);
        assert_eq!(
            verify(&bad, &letter.id(), &letter.policy, &dir),
            Err(VerifyError::BadProof)
        );
        let mut bad = e.clone();
        bad.parts[0].pseudonym.truncate(len.min(47));
        assert_eq!(
            verify(&bad, &letter.id(), &letter.policy, &dir),
            Err(VerifyError::BadProof)
        );
    }
    let mut trailing = e.clone();
    trailing.parts[0].proof.extend_from_slice(&[0u8; 32]);
    assert_eq!(
        verify(&trailing, &letter.id(), &letter.policy, &dir),
        Err(VerifyError::BadProof)
    );
    let mut identity = e;
    identity.parts[0].pseudonym = [vec![0xc0], vec![0u8; 47]].concat();
    assert_eq!(
        verify(&identity, &letter.id(), &letter.policy, &dir),
        Err(VerifyError::BadProof)
    );
}

#[test]
fn credential_roundtrips_and_debug_hides_secrets() {
    let (_w, creds) = populated(14);
    let json = serde_json::to_string(&creds[0]).unwrap();
    let back: undersigned_core::credential::Credential = serde_json::from_str(&json).unwrap();
    assert_eq!(back.secret_fingerprints(), creds[0].secret_fingerprints());
    let dbg = format!("{:?}", creds[0]);
    for secret in creds[0].secret_fingerprints() {
        assert!(!dbg.contains(&secret), "Debug leaks {secret}");
    }
    assert!(!format!("{:?}", creds[0].attributes).contains("analyst0@"));
}

#[test]
fn fail_comment_where_the_letter_takes_none() {
    let (w, creds) = populated(4);
    let mut open = w.letter("Talk", all_disclosures());
    let e = sign(
        &creds[0],
        &open,
        &w.sets(),
        DisclosureChoice::default(),
        Some("hello"),
    );
    // The same entry against the same letter that takes no comments: refused by name, before
    // any proof is checked, and the holder refuses to make one.
    open.policy.comments = false;
    let closed = open.clone().canonicalize().unwrap();
    let mut moved = e.clone();
    moved.letter_id = closed.id();
    assert_eq!(
        verify(&moved, &closed.id(), &closed.policy, &w.directory()),
        Err(VerifyError::CommentNotAllowed)
    );
    let refused = undersigned_core::entry::present(
        &creds[0],
        &closed,
        Action::Sign,
        DisclosureChoice::default(),
        Some("hello"),
        &w.sets(),
        undersigned_core::entry::SmallOrgConsent::Given,
    );
    assert_eq!(
        refused.unwrap_err(),
        undersigned_core::error::PresentError::CommentNotAllowed
    );
}

#[test]
fn letters_that_take_comments_encode_as_before_the_policy_existed() {
    let (w, _) = populated(1);
    let l = w.letter("Old", all_disclosures());
    assert!(l.policy.comments);
    let bytes = String::from_utf8(l.canonical_bytes()).unwrap();
    assert!(!bytes.contains("comments"), "{bytes}");
    // A letter written before the field parses as taking comments and keeps its id.
    let reparsed: undersigned_core::letter::Letter = serde_json::from_str(&bytes).unwrap();
    assert_eq!(reparsed.id(), l.id());
    let mut none = l.clone();
    none.policy.comments = false;
    assert_ne!(none.id(), l.id());
    let back: undersigned_core::letter::Letter =
        serde_json::from_slice(&none.canonical_bytes()).unwrap();
    assert!(!back.policy.comments);
}
