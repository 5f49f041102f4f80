//! Issue 9, finding 1 in the browser's verifier: `verify_bundle` refuses a bundle carrying an
//! entry forged without a credential, even under a correctly signed checkpoint.

use undersigned_core::bundle::{Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::entry::{Action, Disclosed, SignatureEntry};
use undersigned_core::forge::{forge_entry, variants, with_forgery, Forgery};
use undersigned_core::ids::OrgId;
use undersigned_core::record::LogEntry;
use undersigned_core::statement::LoggedStatement;
use undersigned_wasm::bundle::verify_bundle;
use undersigned_wasm::sign::{self, Disclose};

use crate::fixture::{log_signer, populated, rng, role_and_age};

/// A sealed bundle: the letter's opening, one honest signature, then `extra`.
pub fn bundle_with(extra: Option<SignatureEntry>) -> String {
    let p = populated();
    let w = &p.world;
    let letter = w.letter(role_and_age());
    let letter_json = serde_json::to_string(&letter).unwrap();
    let honest = sign::present(
        &crate::fixture::one(&p.state[0]),
        &letter_json,
        "sign",
        Disclose::default(),
        None,
        &w.sets_json(),
        false,
    )
    .unwrap();
    let mut entries = vec![
        LogEntry::Opened {
            letter: letter.clone(),
            at: 1_700_000_000,
        },
        LogEntry::submission(serde_json::from_str(&honest).unwrap()),
    ];
    entries.extend(extra.map(LogEntry::submission));
    let mut b = Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: letter.id(),
        letter,
        issuers: vec![IssuerRecord::new(
            LoggedStatement::first(
                w.issuer
                    .statement(crate::fixture::K, 1, 1_700_000_000)
                    .sign(&w.issuer.keys)
                    .unwrap(),
                crate::fixture::HOST,
                &crate::fixture::log_key(),
            )
            .unwrap(),
        )],
        entries,
        checkpoint: None,
        log_public_key: None,
        responses: vec![],
    };
    b.seal(&log_signer(&b.letter_id)).unwrap();
    b.to_json()
}

pub fn forged() -> SignatureEntry {
    let w = &populated().world;
    let letter = w.letter(role_and_age());
    let d = Disclosed {
        org: OrgId::parse("defense.gov").unwrap(),
        epoch: w.epoch.clone(),
        role: None,
        age_band: None,
        email: None,
    };
    forge_entry(
        w.issuer.keys.public_key(),
        &w.issuer.keys.id(),
        &letter.id(),
        Action::Sign,
        d,
        None,
        &mut rng(77),
    )
    .unwrap()
}

#[test]
fn fail_verify_bundle_with_a_forged_entry() {
    // The same bundle without the forgery verifies: what fails below is the forgery.
    assert!(verify_bundle(&bundle_with(None)).is_ok());
    let err = verify_bundle(&bundle_with(Some(forged()))).unwrap_err();
    assert!(
        err.contains("entry 2") && err.contains("invalid proof"),
        "{err}"
    );
}

#[test]
fn fail_verify_bundle_with_any_forgery_variant() {
    let base = forged();
    let f = Forgery {
        proof: base.parts[0].proof.clone(),
        pseudonym: base.parts[0].pseudonym.clone().try_into().unwrap(),
    };
    for (name, v) in variants(&f) {
        let r = verify_bundle(&bundle_with(Some(with_forgery(&base, &v))));
        assert!(r.is_err(), "{name}: {r:?}");
    }
}
