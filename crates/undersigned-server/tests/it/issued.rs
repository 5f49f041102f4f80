//! The issued-count rule at the submit handler: a signature that would make an organization's
//! distinct signers outnumber the credentials its issuer issued to it is refused with 422,
//! naming the rule, and changes nothing; a credential issued a moment ago signs at once.

use crate::harness::*;
use axum::http::StatusCode;
use rand_core::OsRng;
use undersigned_core::bundle::verify_bundle;
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential,
};
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::{AddressRules, AgeBand, Email, Epoch, Role};

on_both!(fail_signer_past_the_issued_count_changes_nothing);

/// What an operator holding the issuer key can do outside issuance: a credential for `email`
/// that no issued count includes.
fn minted(t: &TestServer, email: &str) -> Credential {
    let (req, pending) = request_credential(&mut OsRng).unwrap();
    let attrs = Attributes::new(
        Email::parse(email)
            .unwrap()
            .normalize(&AddressRules::default())
            .unwrap(),
        Epoch::parse(EPOCH).unwrap(),
        Role::parse("analyst").unwrap(),
        AgeBand::Unspecified,
    );
    let resp = t.state.issuer.blind_sign(&req, &attrs, &mut OsRng).unwrap();
    receive_credential(pending, &resp, t.state.issuer.public_key(), attrs).unwrap()
}

async fn sign(
    t: &TestServer,
    c: &Credential,
    letter: &undersigned_core::letter::Letter,
) -> (StatusCode, serde_json::Value) {
    let e = t
        .entry(c, letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    t.submit(&letter.id().to_hex(), &e).await
}

async fn fail_signer_past_the_issued_count_changes_nothing(t: &TestServer) {
    // Three credentials issued to state.gov: at k = 3 the count is published exactly.
    let mut creds = Vec::new();
    for who in ["ann", "bob", "cat"] {
        creds.push(
            t.credential(&format!("{who}@state.gov"), "analyst", AgeBand::Unspecified)
                .await,
        );
    }
    let (_, _, id, letter) = t.open_letter("Counted", default_policy()).await;
    for c in &creds {
        let (s, v) = sign(t, c, &letter).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    t.publish_all(&id).await;
    let (_, tally) = t.get(&format!("/api/v1/letters/{id}/tally")).await;
    let size = t.log_size(&id).await;
    let (_, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;

    // A fourth signer with a credential no count includes: refused, naming the rule.
    let fake = minted(t, "nobody@state.gov");
    let (s, v) = sign(t, &fake, &letter).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("signers past the issued count")
            && message.contains("state.gov has 4 distinct signers")
            && message.contains("at most 3"),
        "{v}"
    );
    // Nothing changed: nothing pooled, the log, tally and bundle as they were.
    assert_eq!(t.pending(&id).await, 0);
    t.publish_all(&id).await;
    assert_eq!(t.log_size(&id).await, size);
    assert_eq!(t.get(&format!("/api/v1/letters/{id}/tally")).await.1, tally);
    assert_eq!(
        t.get_text(&format!("/api/v1/letters/{id}/bundle")).await.1,
        bundle
    );
    assert_eq!(
        verify_bundle(bundle.as_bytes()).unwrap().summary.signatures,
        3
    );

    // Someone who gets a credential now can sign at once: the rule uses the count the
    // issuer's next statement will carry, not the one the submissions before saw.
    let dan = t
        .credential("dan@state.gov", "analyst", AgeBand::Unspecified)
        .await;
    let (s, v) = sign(t, &dan, &letter).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // Four issued, four signed: the minted credential is still one too many, and the bundle
    // the server then builds verifies.
    let (s, v) = sign(t, &fake, &letter).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    t.publish_all(&id).await;
    let (_, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    assert_eq!(
        verify_bundle(bundle.as_bytes()).unwrap().summary.signatures,
        4
    );
}

/// The privacy page says what one issuer can still do, and what several independent ones
/// change, and no longer that inflated numbers "leave evidence".
#[tokio::test]
async fn privacy_page_says_what_a_single_issuer_can_do() {
    let t = TestServer::sqlite(Default::default()).await;
    let (s, page) = t.get_text("/about/privacy").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!page.contains("leave evidence"), "{page}");
    assert!(
        page.contains("An issuer could issue credentials to people who do not exist")
            && page.contains("append-only counts")
            && page.contains("several independent issuers"),
        "{page}"
    );
}
