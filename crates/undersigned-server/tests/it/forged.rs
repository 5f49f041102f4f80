//! Issue 9, finding 1 against the live API: entries forged without a credential (identity
//! `Abar` and `Bbar`, and every variant) get a 4xx and change neither log, tally nor pool.

use crate::harness::*;
use axum::http::StatusCode;
use rand_core::OsRng;
use serde_json::Value;
use undersigned_core::bundle::verify_bundle;
use undersigned_core::entry::{Action, Disclosed, DisclosureChoice};
use undersigned_core::forge::{forge_entry, variants, with_forgery, Forgery};
use undersigned_core::ids::{AgeBand, Epoch, OrgId};

on_both!(fail_forged_entries_change_nothing);

/// Everything a forged submission could have changed, read back through the API and store.
async fn snapshot(t: &TestServer, id: &str) -> (u64, usize, Value, Value, Value) {
    let (_, tally) = t.get(&format!("/api/v1/letters/{id}/tally")).await;
    let (_, entries) = t.get(&format!("/api/v1/letters/{id}/entries")).await;
    let (_, checkpoint) = t.get(&format!("/api/v1/letters/{id}/checkpoint")).await;
    (
        t.log_size(id).await,
        t.pending(id).await,
        tally,
        entries,
        checkpoint,
    )
}

async fn fail_forged_entries_change_nothing(t: &TestServer) {
    let c = t
        .credential("analyst0@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let (_, _, id, letter) = t.open_letter("Forgery target", default_policy()).await;
    let honest = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    let (s, r) = t.submit(&id, &honest).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    t.publish_all(&id).await;
    let before = snapshot(t, &id).await;
    assert_eq!((before.0, before.1), (2, 0), "opening and one signature");
    assert_eq!(before.2["signatures"], 1);

    // All an attacker needs: the issuer's public key and id (published) and the letter id.
    let pk = c.issuer_public_key().unwrap();
    let claims = [
        Disclosed {
            org: OrgId::parse("defense.gov").unwrap(),
            epoch: Epoch::parse(EPOCH).unwrap(),
            role: None,
            age_band: None,
            email: None,
        },
        Disclosed {
            // An org that does hold credentials (a role would hit the small-cell rule first).
            org: OrgId::parse("state.gov").unwrap(),
            epoch: Epoch::parse(EPOCH).unwrap(),
            role: None,
            age_band: None,
            email: None,
        },
    ];
    let mut submitted = 0;
    for d in claims {
        let forged = forge_entry(
            &pk,
            &c.issuer_id,
            &letter.id(),
            Action::Sign,
            d,
            None,
            &mut OsRng,
        )
        .unwrap();
        let (s, body) = t.submit(&id, &forged).await;
        assert!(s.is_client_error(), "forged entry answered {s}: {body}");
        assert!(body.to_string().contains("proof"), "{body}");
        submitted += 1;
        let base = Forgery {
            proof: forged.parts[0].proof.clone(),
            pseudonym: forged.parts[0].pseudonym.clone().try_into().unwrap(),
        };
        for (name, f) in variants(&base) {
            let (s, body) = t.submit(&id, &with_forgery(&forged, &f)).await;
            assert!(s.is_client_error(), "{name}: answered {s}: {body}");
            submitted += 1;
        }
    }
    assert!(submitted > 80, "only {submitted} forgeries tried");
    t.publish_all(&id).await;
    let after = snapshot(t, &id).await;
    assert_eq!(before, after);
    // And the published bundle still verifies, with the one honest signature.
    let (s, bundle) = t.get(&format!("/api/v1/letters/{id}/bundle")).await;
    assert_eq!(s, StatusCode::OK);
    let report = verify_bundle(bundle.to_string().as_bytes()).unwrap();
    assert!(format!("{report:?}").contains("state.gov"));
}
