//! One person, one signature over HTTP: aliases get no second credential, every issuable epoch
//! in one request, letter policies that would give one person two signatures are refused, and
//! out-of-range deadlines are input errors.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{json, Value};
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::letter::{RULE_KNOWN_ISSUER, RULE_ONE_ENTRY, RULE_ONE_EPOCH};

on_both!(
    fail_alias_or_case_variant_gets_no_second_credential,
    late_joiner_gets_every_issuable_epoch_and_signs_the_old_letter,
    fail_policy_with_two_epochs_repeated_or_unknown_issuer,
    fail_out_of_range_deadlines_name_the_field,
);

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or_default()
}

async fn issued_total(t: &TestServer, epoch: &str) -> u64 {
    t.state
        .store
        .issued_counts(&t.state.issuer.id().to_hex(), epoch)
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum()
}

async fn fail_alias_or_case_variant_gets_no_second_credential(t: &TestServer) {
    let creds = t
        .credentials("ann@state.gov", "analyst", AgeBand::Unspecified)
        .await;
    assert_eq!(creds.len(), 1);
    for variant in ["ann+a@state.gov", "ANN@State.gov"] {
        // The code goes to the address as typed (code_for waits for mail to exactly it)...
        let code = t.code_for(variant).await;
        // ...but the credential is counted for the normalized address.
        let (s, v, _) = t
            .redeem(variant, &code, "analyst", AgeBand::Unspecified)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{variant}: {v}");
        assert!(message(&v).contains("already issued"), "{v}");
    }
    assert_eq!(issued_total(t, EPOCH).await, 1);
    // The credential holds the normalized address, not the alias.
    let other = t
        .credentials("Bob+News@STATE.gov", "analyst", AgeBand::Unspecified)
        .await;
    assert_eq!(other[0].attributes.email.expose(), "bob@state.gov");
}

async fn late_joiner_gets_every_issuable_epoch_and_signs_the_old_letter(t: &TestServer) {
    let (_, _, id, letter) = t.open_letter("Old epoch", default_policy()).await;
    let ann = t
        .credentials("ann@state.gov", "analyst", AgeBand::Unspecified)
        .await;
    assert_eq!(ann.len(), 1);

    // The quarter turns: the old epoch stays issuable while the letter is open.
    let later = t.at_epoch("2027-Q1").await;
    let (_, epochs) = later.get("/api/v1/issuance/epochs").await;
    assert_eq!(epochs["epochs"], json!([EPOCH, "2027-Q1"]), "{epochs}");
    assert_eq!(epochs["current"], "2027-Q1");

    let bob = later
        .credentials("bob@state.gov", "analyst", AgeBand::Unspecified)
        .await;
    let bob_epochs: Vec<&str> = bob.iter().map(|c| c.attributes.epoch.as_str()).collect();
    assert_eq!(bob_epochs, vec![EPOCH, "2027-Q1"]);
    // The late joiner signs the old letter with the credential of its epoch.
    let old = bob
        .iter()
        .find(|c| c.attributes.epoch.as_str() == EPOCH)
        .unwrap();
    let e = later
        .entry(
            old,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            None,
        )
        .await;
    let (s, v) = later.submit(&id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");

    // Ann holds the old epoch: only the new one is issued; then nothing is left.
    let ann_more = later
        .credentials("ann+late@state.gov", "analyst", AgeBand::Unspecified)
        .await;
    let ann_epochs: Vec<&str> = ann_more
        .iter()
        .map(|c| c.attributes.epoch.as_str())
        .collect();
    assert_eq!(ann_epochs, vec!["2027-Q1"]);
    let code = later.code_for("ann@state.gov").await;
    let (s, v, _) = later
        .redeem("ann@state.gov", &code, "analyst", AgeBand::Unspecified)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(issued_total(&later, EPOCH).await, 2);
    assert_eq!(issued_total(&later, "2027-Q1").await, 2);

    // Asking for one epoch alone is refused: the request would say which letter it is for.
    let code = later.code_for("carol@state.gov").await;
    let (req, _) = undersigned_core::credential::request_credential(&mut rand_core::OsRng).unwrap();
    use base64::Engine;
    let one = json!({"email": "carol@state.gov", "code": code, "request_token": later.request_token("carol@state.gov"), "role": "analyst", "age_band": "unspecified",
        "commitments": [{"epoch": EPOCH, "commitment": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(req.commitment)}]});
    let (s, v) = later.post("/api/v1/issuance/credential", &one, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(message(&v).contains("every issuable epoch"), "{v}");
    assert_eq!(issued_total(&later, EPOCH).await, 2, "nothing issued");

    // Letters of the new quarter may accept the old epoch (issuable) but not an unknown one.
    for (epochs, ok) in [
        (json!([EPOCH]), true),
        (json!(["2027-Q1"]), true),
        (json!(["2026-Q3"]), false),
    ] {
        let mut policy = default_policy();
        policy["epochs"] = epochs.clone();
        let (s, v) = later
            .post(
                "/api/v1/letters",
                &json!({"title": "T", "body": "B\n", "policy": policy}),
                None,
            )
            .await;
        if ok {
            assert_eq!(s, StatusCode::CREATED, "{epochs}: {v}");
        } else {
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{epochs}: {v}");
            assert!(message(&v).contains("not issuable"), "{v}");
        }
    }
}

async fn create(t: &TestServer, policy: Value) -> (StatusCode, Value) {
    t.post(
        "/api/v1/letters",
        &json!({"title": "Policy", "body": "We ask.\n", "policy": policy}),
        None,
    )
    .await
}

async fn fail_policy_with_two_epochs_repeated_or_unknown_issuer(t: &TestServer) {
    let own = t.state.issuer.id().to_hex();
    let unknown = "ab".repeat(32);
    let cases = [
        (json!({"epochs": [EPOCH, "2027-Q1"]}), RULE_ONE_EPOCH),
        (
            json!({"issuers": [{"issuer_id": own, "epochs": [EPOCH, "2027-Q1"]}]}),
            RULE_ONE_EPOCH,
        ),
        (
            json!({"issuers": [{"issuer_id": own, "epochs": [EPOCH]}, {"issuer_id": own, "epochs": [EPOCH]}]}),
            RULE_ONE_ENTRY,
        ),
        (
            json!({"issuers": [{"issuer_id": own, "epochs": [EPOCH]}, {"issuer_id": unknown, "epochs": [EPOCH]}]}),
            RULE_KNOWN_ISSUER,
        ),
    ];
    for (extra, rule) in &cases {
        let mut policy = default_policy();
        for (k, v) in extra.as_object().unwrap() {
            policy[k] = v.clone();
        }
        let (s, v) = create(t, policy).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {v}");
        assert!(message(&v).contains(rule), "{extra}: {v}");
    }
    // The explicit form with one known issuer and one epoch is fine.
    let mut policy = default_policy();
    policy["issuers"] = json!([{"issuer_id": own, "epochs": [EPOCH]}]);
    let (s, created) = create(t, policy).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    // A draft edit is held to the same rule.
    let handle = created["handle"].as_str().unwrap();
    let token = created["organizer_token"].as_str().unwrap();
    let mut policy = default_policy();
    policy["epochs"] = json!([EPOCH, "2027-Q1"]);
    let (s, v) = t
        .send(
            axum::http::Method::PUT,
            &format!("/api/v1/letters/{handle}"),
            &json!({"title": "Policy", "body": "We ask.\n", "policy": policy}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains(RULE_ONE_EPOCH), "{v}");
    assert_eq!(
        t.state
            .store
            .letters_in_state(undersigned_store::LetterState::Open)
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn fail_out_of_range_deadlines_name_the_field(t: &TestServer) {
    let (_, created) = create(t, default_policy()).await;
    let handle = created["handle"].as_str().unwrap().to_owned();
    let token = created["organizer_token"].as_str().unwrap().to_owned();
    for deadline in [
        json!(1u64 << 63),
        json!(u64::MAX),
        json!(-1),
        json!(1e30),
        json!(253_402_300_800u64),
    ] {
        let mut policy = default_policy();
        policy["deadline"] = deadline.clone();
        let (s, v) = create(t, policy.clone()).await;
        assert!(s.is_client_error(), "{deadline}: {s} {v}");
        assert!(message(&v).contains("deadline"), "{deadline}: {v}");
        let (s, v) = t
            .send(
                axum::http::Method::PUT,
                &format!("/api/v1/letters/{handle}"),
                &json!({"title": "Policy", "body": "We ask.\n", "policy": policy}),
                Some(&token),
            )
            .await;
        assert!(s.is_client_error(), "edit {deadline}: {s} {v}");
        assert!(message(&v).contains("deadline"), "edit {deadline}: {v}");
    }
}

/// Issue 21: with `state.gov` accepting its subdomains (and ignoring dots), the helpdesk
/// vendor's `ceo@helpdesk.state.gov` and the real `c.e.o@state.gov` are two people: each gets
/// a credential of their own (in either order), both of `state.gov`, each holding the address
/// the code went to, which is also what the holder computed (the signature verifies).
#[tokio::test]
async fn fail_subdomain_address_takes_the_parent_credential() {
    for order in [
        ["ceo@helpdesk.state.gov", "c.e.o@state.gov"],
        ["c.e.o@state.gov", "ceo@helpdesk.state.gov"],
    ] {
        let t = TestServer::sqlite(Tweaks {
            subdomains: vec![(
                "state.gov",
                undersigned_core::ids::AddressRules { strip_dots: true },
            )],
            ..Default::default()
        })
        .await;
        let mut addresses = Vec::new();
        for who in order {
            let c = t.credential(who, "analyst", AgeBand::Unspecified).await;
            assert_eq!(c.attributes.org.as_str(), "state.gov", "{who}");
            addresses.push(c.attributes.email.expose().to_owned());
        }
        addresses.sort();
        assert_eq!(addresses, ["ceo@helpdesk.state.gov", "ceo@state.gov"]);
        assert_eq!(issued_total(&t, EPOCH).await, 2);
        // The parent's rule still folds the parent's own spellings.
        let code = t.code_for("ceo@state.gov").await;
        let (s, v, _) = t
            .redeem("ceo@state.gov", &code, "analyst", AgeBand::Unspecified)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
    }
}
