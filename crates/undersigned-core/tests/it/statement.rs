//! The signed issuer statement in a bundle, its issuer log, and key pinning.

use crate::fixture::*;
use undersigned_core::anonymity::Count;
use undersigned_core::bundle::{verify_bundle, Bundle, IssuerRecord, Report};
use undersigned_core::entry::DisclosureChoice;
use undersigned_core::error::BundleError;
use undersigned_core::ids::{AgeBand, IssuerId, OrgId};
use undersigned_core::pins::Pins;
use undersigned_core::statement::{
    check_growth, check_issuer_log, verify_statement, IssuerStatement, StatementError,
};

/// Four signers at state.gov (analysts, disclosing role and age), one at usaid.gov.
fn honest() -> (World, Bundle) {
    let (w, creds) = populated(300);
    let letter = w.letter("To the Secretary", all_disclosures());
    let sets = w.sets();
    let mut entries = vec![];
    for c in &creds[..4] {
        entries.push(sign(
            c,
            &letter,
            &sets,
            DisclosureChoice {
                role: true,
                age_band: true,
                email: false,
            },
            None,
        ));
    }
    entries.push(sign(
        &creds[4],
        &letter,
        &sets,
        DisclosureChoice::default(),
        None,
    ));
    let b = w.bundle(&letter, entries);
    (w, b)
}

fn verify_json(v: &serde_json::Value) -> Result<Report, BundleError> {
    verify_bundle(serde_json::to_string(v).unwrap().as_bytes())
}

fn assert_statement_error(r: Result<Report, BundleError>, needle: &str) {
    let msg = r.expect_err("must not verify").to_string();
    assert!(msg.starts_with("issuer statement:"), "{msg}");
    assert!(msg.contains(needle), "{msg} lacks {needle:?}");
}

/// The honest statement of the honest bundle, signed again after `edit` by the real issuer
/// key and logged anew: only checks beyond the signature can catch what it says.
fn restated(w: &World, b: &Bundle, edit: impl FnOnce(&mut IssuerStatement)) -> Bundle {
    let mut st = b.issuers[0].statement.signed.statement.clone();
    edit(&mut st);
    let signed = st.sign(&w.issuer.keys).unwrap();
    let mut b = b.clone();
    b.issuers[0] = IssuerRecord::new(relog(vec![signed]));
    b
}

fn org_cell<'a>(st: &'a mut IssuerStatement, org: &str) -> &'a mut Count {
    &mut st.epochs[0]
        .cells
        .iter_mut()
        .find(|c| c.key.org.as_str() == org && c.key.role.is_none() && c.key.age_band.is_none())
        .unwrap()
        .count
}

#[test]
fn honest_bundle_names_the_issuer_from_its_statement() {
    let (_, b) = honest();
    let r = b.verify().unwrap();
    assert_eq!(r.summary.signatures, 5);
    assert_eq!(r.issuers, vec!["Work-email attestor".to_owned()]);
    assert!(!r.keys.issuer_key_pinned && !r.keys.log_key_pinned);
    assert!(
        r.statement()
            .contains("the keys were taken from the bundle itself"),
        "{}",
        r.statement()
    );
    assert!(r.statement().contains(&b.issuers[0].id.to_hex()));
    assert!(r.statement().contains(&r.keys.log_public_key));
}

#[test]
fn fail_edited_issuer_name() {
    let (_, b) = honest();
    let mut v = serde_json::to_value(&b).unwrap();
    v["issuers"][0]["statement"]["signed"]["statement"]["name"] =
        "Office of Personnel Management (official HR attestor)".into();
    assert_statement_error(verify_json(&v), "signature does not verify");
}

#[test]
fn fail_edited_issuer_key_or_id() {
    let (_, b) = honest();
    let other = World::new(999);
    let other_pk = undersigned_core::encoding::b64url(&other.issuer.keys.public_key().to_bytes());
    // The statement's key alone: no longer the key its id names.
    let mut v = serde_json::to_value(&b).unwrap();
    v["issuers"][0]["statement"]["signed"]["statement"]["public_key"] = other_pk.clone().into();
    assert_statement_error(verify_json(&v), "does not match its issuer id");
    // Key and id together: the signature was not made by that key.
    v["issuers"][0]["statement"]["signed"]["statement"]["issuer_id"] =
        other.issuer.keys.id().to_hex().into();
    assert_statement_error(verify_json(&v), "signature does not verify");
    // The bundle's own copy of the key: no longer the statement's.
    let mut v = serde_json::to_value(&b).unwrap();
    v["issuers"][0]["public_key"] = other_pk.into();
    assert_statement_error(verify_json(&v), "not the bundle's key");
}

#[test]
fn fail_edited_any_count() {
    let (_, b) = honest();
    let v = serde_json::to_value(&b).unwrap();
    let cells = v["issuers"][0]["statement"]["signed"]["statement"]["epochs"][0]["cells"]
        .as_array()
        .unwrap()
        .len();
    assert!(cells >= 8, "{cells}");
    for i in 0..cells {
        for forged in [serde_json::json!(99999), serde_json::json!("<k")] {
            let mut v = v.clone();
            let cell = &mut v["issuers"][0]["statement"]["signed"]["statement"]["epochs"][0]
                ["cells"][i]["count"];
            if *cell == forged {
                continue;
            }
            *cell = forged;
            assert_statement_error(verify_json(&v), "signature does not verify");
        }
    }
    // k itself is signed too.
    let mut v = v.clone();
    v["issuers"][0]["statement"]["signed"]["statement"]["epochs"][0]["k"] = 1.into();
    assert_statement_error(verify_json(&v), "signature does not verify");
}

#[test]
fn fail_edited_statement_signature() {
    let (_, b) = honest();
    let sig = &b.issuers[0].statement.signed.signature;
    for pos in [0, sig.len() / 2, sig.len() - 2] {
        let mut v = serde_json::to_value(&b).unwrap();
        let mut chars: Vec<char> = sig.chars().collect();
        chars[pos] = if chars[pos] == 'A' { 'B' } else { 'A' };
        v["issuers"][0]["statement"]["signed"]["signature"] =
            chars.into_iter().collect::<String>().into();
        assert_statement_error(verify_json(&v), "signature does not verify");
    }
    let mut v = serde_json::to_value(&b).unwrap();
    v["issuers"][0]["statement"]["signed"]["signature"] = "".into();
    assert_statement_error(verify_json(&v), "signature does not verify");
}

#[test]
fn fail_more_signers_than_credentials_issued() {
    let (w, b) = honest();
    // Issuing fewer credentials than signers is impossible, so forge the count lower and
    // re-sign it with the issuer key: the signature holds, the count check must not.
    let forged = restated(&w, &b, |st| *org_cell(st, "state.gov") = Count::Exact(3));
    verify_statement(&forged.issuers[0].statement.signed).unwrap();
    assert_statement_error(forged.verify(), "state.gov has 4 distinct signers");
    // `<k` (k=3) allows at most 2.
    let forged = restated(&w, &b, |st| *org_cell(st, "state.gov") = Count::BelowK);
    assert_statement_error(forged.verify(), "at most 2 credentials");
    // An organization the statement lists no credential for at all.
    let forged = restated(&w, &b, |st| {
        st.epochs[0]
            .cells
            .retain(|c| c.key.org.as_str() != "usaid.gov")
    });
    assert_statement_error(forged.verify(), "usaid.gov has 1 distinct signers");
    // The honest counts pass the same path.
    let same = restated(&w, &b, |_| {});
    assert_eq!(same.verify().unwrap().summary.signatures, 5);
}

/// The rule the server and the monitor share with the bundle verifier: the bundle's own count
/// of signers (withdrawn ones too) and `check_signers` against `issued_at_most`.
#[test]
fn signers_per_cell_and_the_shared_rule() {
    use undersigned_core::anonymity::check_signers;
    let (w, b) = honest();
    let signers = b.signers(&b.letter_id);
    let state = OrgId::parse("state.gov").unwrap();
    let usaid = OrgId::parse("usaid.gov").unwrap();
    let sets = w.sets();
    let epoch = sets.epoch.clone();
    assert_eq!(
        signers.get(&(b.issuers[0].id, epoch.clone(), state.clone())),
        Some(&4)
    );
    assert_eq!(
        signers.get(&(b.issuers[0].id, epoch.clone(), usaid.clone())),
        Some(&1)
    );
    // The statement's bound is the published sets' bound.
    let st = &b.issuers[0].statement.signed.statement;
    assert_eq!(
        st.issued_at_most(&state, &epoch),
        sets.issued_at_most(&state)
    );
    assert!(check_signers(&state, &epoch, 4, 4).is_ok());
    let e = check_signers(&state, &epoch, 5, 4).unwrap_err();
    assert_eq!((e.signers, e.allowed), (5, 4));
    assert_eq!(
        e.to_string(),
        format!("state.gov has 5 distinct signers in epoch {epoch}, but the issuer's statement allows at most 4 credentials issued to it")
    );
    // An org with no cell allows none.
    let none = OrgId::parse("nasa.gov").unwrap();
    assert_eq!(sets.issued_at_most(&none), 0);
    assert!(check_signers(&none, &epoch, 1, sets.issued_at_most(&none)).is_err());
}

#[test]
fn fail_statement_not_in_the_issuer_log() {
    let (w, b) = honest();
    // A validly signed statement carried with the checkpoint and proof of another one.
    let mut forged = b.clone();
    let mut st = b.issuers[0].statement.signed.statement.clone();
    st.published_at += 1;
    forged.issuers[0].statement.signed = st.sign(&w.issuer.keys).unwrap();
    assert_statement_error(forged.verify(), "not included in the issuer log");
    // An issuer log checkpoint signed by another key.
    let mut forged = b.clone();
    let mut tree = undersigned_core::log::MerkleLog::new();
    tree.append(&b.issuers[0].statement.signed.leaf_bytes());
    let other = undersigned_core::log::LogSigner::new(
        &undersigned_core::statement::issuer_log_origin(HOST, &b.issuers[0].id),
        ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
    )
    .unwrap();
    forged.issuers[0].statement = undersigned_core::statement::LoggedStatement::prove(
        b.issuers[0].statement.signed.clone(),
        0,
        &tree,
        &other,
    )
    .unwrap();
    assert_statement_error(forged.verify(), "not validly signed");
}

#[test]
fn fail_count_lowered_between_logged_statements() {
    let (mut w, _) = populated(303);
    let first = w.signed_statement(1);
    w.credential("late@state.gov", "analyst", AgeBand::Under30);
    let second = w.signed_statement(2);
    check_growth(&first.statement, &second.statement).unwrap();
    check_issuer_log(&[first.leaf_bytes(), second.leaf_bytes()]).unwrap();

    let lowered = |edit: &dyn Fn(&mut IssuerStatement)| {
        let mut st = second.statement.clone();
        edit(&mut st);
        st.sign(&w.issuer.keys).unwrap()
    };
    // state.gov had 4, then 5: a later 3 is a lowered count.
    let low = lowered(&|st| *org_cell(st, "state.gov") = Count::Exact(3));
    let err = check_growth(&first.statement, &low.statement).unwrap_err();
    assert!(matches!(err, StatementError::CountLowered { .. }), "{err}");
    assert!(err.to_string().starts_with("issuer statement:"));
    assert_eq!(
        check_issuer_log(&[first.leaf_bytes(), low.leaf_bytes()]).unwrap_err(),
        err
    );
    // 4 cannot become "<3" (at most 2).
    let low = lowered(&|st| *org_cell(st, "state.gov") = Count::BelowK);
    assert!(matches!(
        check_growth(&first.statement, &low.statement),
        Err(StatementError::CountLowered { .. })
    ));
    // Dropped organization, epoch and cell; a sequence that does not grow.
    let drop_org = lowered(&|st| {
        st.orgs.remove(&OrgId::parse("tiny.gov").unwrap());
    });
    assert!(matches!(
        check_growth(&first.statement, &drop_org.statement),
        Err(StatementError::OrgRemoved(_))
    ));
    let drop_epoch = lowered(&|st| st.epochs.clear());
    assert!(matches!(
        check_growth(&first.statement, &drop_epoch.statement),
        Err(StatementError::EpochRemoved(_))
    ));
    let drop_cell = lowered(&|st| {
        st.epochs[0]
            .cells
            .retain(|c| c.key.org.as_str() != "tiny.gov")
    });
    assert!(matches!(
        check_growth(&first.statement, &drop_cell.statement),
        Err(StatementError::CellRemoved { .. })
    ));
    assert!(matches!(
        check_growth(&second.statement, &first.statement),
        Err(StatementError::Sequence { .. })
    ));
}

#[test]
fn pinned_keys_pass_and_other_keys_fail_naming_the_key() {
    let (_, b) = honest();
    let issuer_pk = b.issuers[0].public_key.clone();
    let log_key = hex::encode(b.verifier().unwrap().verifying_key().to_bytes());
    let deployment = serde_json::json!({
        "host": HOST,
        "issuer": { "id": b.issuers[0].id.to_hex(), "name": "x", "public_key": issuer_pk, "anonymity_sets": [] },
        "log_public_key": log_key,
    });
    let pins = Pins::from_deployment(deployment.to_string().as_bytes()).unwrap();
    let r = b.verify_pinned(&pins).unwrap();
    assert!(r.keys.issuer_key_pinned && r.keys.log_key_pinned);
    assert!(
        r.statement().contains("match the pinned keys"),
        "{}",
        r.statement()
    );

    let other = World::new(999);
    let wrong_issuer = Pins {
        issuers: Some(vec![other.issuer.keys.id()]),
        log_key: pins.log_key,
        ..Pins::default()
    };
    let err = b.verify_pinned(&wrong_issuer).unwrap_err().to_string();
    assert!(
        err.contains("issuer key") && err.contains("not a pinned"),
        "{err}"
    );
    let wrong_log = Pins {
        issuers: pins.issuers.clone(),
        log_key: Some([1u8; 32]),
        ..Pins::default()
    };
    let err = b.verify_pinned(&wrong_log).unwrap_err().to_string();
    assert!(
        err.contains("log key") && err.contains("not the pinned"),
        "{err}"
    );
    // Keys given by hand, in the forms the deployment publishes.
    assert_eq!(
        Pins::parse_issuer_key(&b.issuers[0].public_key).unwrap(),
        b.issuers[0].id
    );
    assert_eq!(
        Pins::parse_issuer_key(&b.issuers[0].id.to_hex()).unwrap(),
        b.issuers[0].id
    );
    assert!(Pins::parse_issuer_key("nonsense").is_err());
    assert_eq!(
        Pins::parse_log_key(&log_key).unwrap(),
        pins.log_key.unwrap()
    );
    assert!(Pins::from_deployment(b"{}").is_err());
    let _: IssuerId = b.issuers[0].id;
}

#[test]
fn fail_old_bundle_without_statement() {
    let (w, b) = honest();
    let mut v = serde_json::to_value(&b).unwrap();
    v["issuers"][0] = serde_json::json!({
        "id": b.issuers[0].id.to_hex(),
        "name": "Work-email attestor",
        "public_key": b.issuers[0].public_key,
        "anonymity_sets": [w.sets()],
    });
    let err = verify_json(&v).unwrap_err();
    assert!(matches!(err, BundleError::IssuerStatement(_)), "{err}");
    assert!(
        err.to_string().contains("no signed issuer statement"),
        "{err}"
    );
}
