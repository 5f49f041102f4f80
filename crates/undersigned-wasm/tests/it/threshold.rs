//! The glue with several issuers: the page picks t of the holder's credentials, guards the
//! disclosure at every issuer, and `present` builds the composite entry core verifies.

use serde_json::{json, Value};
use undersigned_core::credential::Credential;
use undersigned_core::entry::{verify, SignatureEntry};
use undersigned_core::ids::AgeBand;
use undersigned_testkit::{all_disclosures, Council};
use undersigned_wasm::sign::{self, Disclose};

fn sets_json(c: &Council) -> String {
    let map: serde_json::Map<String, Value> = c
        .sets()
        .into_iter()
        .map(|(id, s)| (id.to_hex(), serde_json::to_value(s).unwrap()))
        .collect();
    Value::Object(map).to_string()
}

fn list(held: &[Credential]) -> String {
    serde_json::to_string(held).unwrap()
}

/// Three issuers, five analysts (cells safe at k = 3); a letter needing 2 of the 3.
fn council() -> (Council, Vec<Vec<Credential>>) {
    let mut c = Council::new(2601, 3);
    let people = (0..5)
        .map(|i| c.credentials(&format!("a{i}@state.gov"), "analyst", AgeBand::From30To39))
        .collect();
    (c, people)
}

#[test]
fn pick_guard_and_present_with_two_of_three() {
    let (c, people) = council();
    let letter = c.letter("Review the policy", all_disclosures(), 2);
    let letter_json = serde_json::to_string(&letter).unwrap();
    // All three held: the picked two are of distinct issuers in issuer-id order.
    let picked: Value =
        serde_json::from_str(&sign::pick_credentials(&list(&people[0]), &letter_json).unwrap())
            .unwrap();
    assert_eq!(picked["threshold"], 2);
    assert_eq!(picked["issuers"], 3);
    assert_eq!(picked["missing"], json!([]));
    let chosen = picked["credentials"].as_array().unwrap();
    assert_eq!(chosen.len(), 2);
    assert!(chosen[0]["issuer_id"].as_str() < chosen[1]["issuer_id"].as_str());
    let chosen = Value::Array(chosen.clone()).to_string();

    let guard: Value = serde_json::from_str(
        &sign::check_disclosure(&sets_json(&c), &chosen, 3, true, true).unwrap(),
    )
    .unwrap();
    assert_eq!(
        guard,
        json!({"ok": true, "reason": null, "org_below_k": false})
    );

    let entry = sign::present(
        &chosen,
        &letter_json,
        "sign",
        Disclose {
            role: true,
            age_band: false,
            email: false,
        },
        Some("Count me in."),
        &sets_json(&c),
        false,
    )
    .unwrap();
    let entry: SignatureEntry = serde_json::from_str(&entry).unwrap();
    assert_eq!(entry.parts.len(), 2);
    verify(&entry, &letter.id(), &letter.policy, &c.directory()).unwrap();
}

#[test]
fn fail_too_few_issuers_names_the_missing_ones() {
    let (c, people) = council();
    let letter = c.letter("Review the policy", all_disclosures(), 3);
    let letter_json = serde_json::to_string(&letter).unwrap();
    let two = &people[1][..2];
    let picked: Value =
        serde_json::from_str(&sign::pick_credentials(&list(two), &letter_json).unwrap()).unwrap();
    assert_eq!(picked["credentials"], Value::Null);
    assert_eq!(picked["held"], 2);
    let third = people[1][2].issuer_id.to_hex();
    assert_eq!(picked["missing"][0]["issuer_id"], third.as_str());
    // `present` with two credentials for a 3-of-3 letter is refused, not padded.
    let err = sign::present(
        &list(two),
        &letter_json,
        "sign",
        Disclose::default(),
        None,
        &sets_json(&c),
        false,
    )
    .unwrap_err();
    assert!(err.contains('3'), "{err}");
}

#[test]
fn fail_two_peoples_credentials_or_a_missing_issuers_sets() {
    let (c, people) = council();
    let letter = c.letter("Review the policy", all_disclosures(), 2);
    let letter_json = serde_json::to_string(&letter).unwrap();
    // Pooling: one credential of each of two people never makes a signature.
    let pooled = list(&[people[0][0].clone(), people[1][1].clone()]);
    let picked: Value =
        serde_json::from_str(&sign::pick_credentials(&pooled, &letter_json).unwrap()).unwrap();
    assert_eq!(picked["credentials"], Value::Null);
    let err = sign::present(
        &pooled,
        &letter_json,
        "sign",
        Disclose::default(),
        None,
        &sets_json(&c),
        false,
    )
    .unwrap_err();
    assert!(err.contains("do not agree"), "{err}");
    // The guard needs the sets of every issuer signed with, and says whose are missing.
    let mine = list(&people[0][..2]);
    let (first, sets) = c.sets().swap_remove(0);
    assert_eq!(first, people[0][0].issuer_id);
    let only_first = json!({ first.to_hex(): sets }).to_string();
    let err = sign::check_disclosure(&only_first, &mine, 3, false, false).unwrap_err();
    assert!(err.contains("no anonymity sets of issuer"), "{err}");
}

#[test]
fn org_at_least_k_at_every_issuer_before_the_code_mail() {
    let (c, _) = council();
    let sets = sets_json(&c);
    // Five analysts at state.gov: at least 3 at every issuer, not at least 6.
    assert!(sign::org_at_least(&sets, "state.gov", 3).unwrap());
    assert!(!sign::org_at_least(&sets, "state.gov", 6).unwrap());
    // An organization nobody holds a credential of, or no sets at all: below k.
    assert!(!sign::org_at_least(&sets, "usaid.gov", 2).unwrap());
    assert!(!sign::org_at_least("{}", "state.gov", 1).unwrap());
    // One issuer below k is enough to warn.
    let mut only: serde_json::Value = serde_json::from_str(&sets).unwrap();
    let first = c.sets()[0].0.to_hex();
    only[&first]["cells"] = serde_json::json!([]);
    assert!(!sign::org_at_least(&only.to_string(), "state.gov", 3).unwrap());
    assert!(sign::org_at_least(&sets, "not an org", 1).is_err());
}
