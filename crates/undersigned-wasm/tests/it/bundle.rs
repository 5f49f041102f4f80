//! Offline bundle verification through the glue: a good bundle's report, and tampering caught.

use serde_json::Value;
use undersigned_core::bundle::{Bundle, BUNDLE_FORMAT};
use undersigned_core::entry::SignatureEntry;
use undersigned_core::record::LogEntry;
use undersigned_wasm::bundle::verify_bundle;
use undersigned_wasm::sign::{self, Disclose};

use crate::fixture::{log_signer, populated, role_and_age};

fn honest() -> Bundle {
    let p = populated();
    let w = &p.world;
    let letter = w.letter(role_and_age());
    let letter_json = serde_json::to_string(&letter).unwrap();
    let mut entries = vec![LogEntry::Opened {
        letter: letter.clone(),
        at: 1_700_000_000,
    }];
    // Three sign (disclosing role and age band, the first with a comment); the first withdraws.
    let signers = p.state.iter().take(3).map(|c| (c, "sign"));
    for (i, (c, action)) in signers.chain([(&p.state[0], "withdraw")]).enumerate() {
        let disclose = Disclose {
            role: action == "sign",
            age_band: action == "sign",
            email: false,
        };
        let comment = (i == 0).then_some("Count me in.");
        let e = sign::present(
            &crate::fixture::one(c),
            &letter_json,
            action,
            disclose,
            comment,
            &w.sets_json(),
            false,
        );
        let e: SignatureEntry = serde_json::from_str(&e.unwrap()).unwrap();
        entries.push(LogEntry::submission(e));
    }
    let mut b = Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: letter.id(),
        letter,
        issuers: vec![undersigned_core::bundle::IssuerRecord::new(
            undersigned_core::statement::LoggedStatement::first(
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
    b
}

#[test]
fn good_bundle_reports_counts_and_statement() {
    let b = honest();
    let report: Value = serde_json::from_str(&verify_bundle(&b.to_json()).unwrap()).unwrap();
    let expected = b.verify().unwrap();
    assert_eq!(report["statement"], expected.statement());
    assert_eq!(report["log_size"], 5);
    assert_eq!(report["signatures"], 2);
    assert_eq!(report["withdrawn"], 1);
    assert_eq!(report["letter_id"], b.letter_id.to_hex());
}

#[test]
fn fail_tampered_bundle() {
    let b = honest();
    let honest_json = b.to_json();
    // Published anonymity sets edited: the first "30-39" is a cell of the issuer's signed
    // statement, whose signature then fails.
    let sets_edited = honest_json.replacen("\"30-39\"", "\"40-49\"", 1);
    let err = verify_bundle(&sets_edited).unwrap_err();
    assert!(
        err.contains("issuer statement: signature does not verify"),
        "{err}"
    );
    // An entry edited under the old checkpoint: the log no longer hashes to the signed root.
    let comment_edited = honest_json.replacen("Count me in.", "Count me out.", 1);
    assert_ne!(comment_edited, honest_json);
    let err = verify_bundle(&comment_edited).unwrap_err();
    assert!(err.contains("signed root"), "{err}");
    // Resealed by an operator holding the log key: the entry's proof still fails.
    let mut resealed = Bundle::parse(comment_edited.as_bytes()).unwrap();
    resealed.seal(&log_signer(&resealed.letter_id)).unwrap();
    let err = verify_bundle(&resealed.to_json()).unwrap_err();
    assert!(err.contains("invalid proof"), "{err}");
    assert!(verify_bundle("{}").is_err());
}

#[test]
fn compare_keys_says_whether_the_site_keys_match() {
    let b = honest();
    let log = hex::encode(b.verifier().unwrap().verifying_key().to_bytes());
    let deployment = |issuer: &str, log: &str| {
        serde_json::json!({
            "host": crate::fixture::HOST,
            "issuer": { "id": "", "name": "x", "public_key": issuer, "anonymity_sets": [] },
            "log_public_key": log,
        })
        .to_string()
    };
    let right = deployment(&b.issuers[0].public_key, &log);
    let v: Value = serde_json::from_str(
        &undersigned_wasm::bundle::compare_keys(&b.to_json(), &right).unwrap(),
    )
    .unwrap();
    assert_eq!(v["match"], true, "{v}");
    // The keys are this site's, but no witness stands behind its history: not "witnessed".
    assert_eq!(v["witnessed"], false, "{v}");
    let wrong = deployment(&b.issuers[0].public_key, &"22".repeat(32));
    let v: Value = serde_json::from_str(
        &undersigned_wasm::bundle::compare_keys(&b.to_json(), &wrong).unwrap(),
    )
    .unwrap();
    assert_eq!(v["match"], false, "{v}");
    assert!(v["message"].as_str().unwrap().contains("log key"), "{v}");
    assert!(undersigned_wasm::bundle::compare_keys(&b.to_json(), "{}").is_err());
}

/// The verify page (issue 21): a bundle whose log is under a nested origin is refused outright,
/// and one under an exact origin of another host does not match this site, though its keys do.
#[test]
fn fail_nested_origin_and_another_host_on_the_verify_page() {
    use undersigned_core::log::{LogSigner, MerkleLog};
    use undersigned_core::statement::LoggedStatement;
    let refork = |letter_origin: String, issuer_host: &str| {
        let mut b = honest();
        b.entries.truncate(2);
        b.seal(&LogSigner::new(&letter_origin, crate::fixture::log_key()).unwrap())
            .unwrap();
        let statement = b.issuers[0].statement.signed.clone();
        let mut tree = MerkleLog::new();
        tree.append(&statement.leaf_bytes());
        let signer = LogSigner::new(
            &format!("{issuer_host}/issuers/{}", statement.statement.issuer_id),
            crate::fixture::log_key(),
        )
        .unwrap();
        b.issuers[0].statement = LoggedStatement::prove(statement, 0, &tree, &signer).unwrap();
        b
    };
    let host = crate::fixture::HOST;
    let b = honest();
    let id = b.letter_id;
    let nested = refork(
        format!("{host}/letters/x/letters/{id}"),
        &format!("{host}/letters/x"),
    );
    let err = verify_bundle(&nested.to_json()).unwrap_err();
    assert!(err.contains("is not a log origin"), "{err}");

    let other = refork(format!("evil.test/letters/{id}"), "evil.test");
    verify_bundle(&other.to_json()).unwrap();
    let log = hex::encode(b.verifier().unwrap().verifying_key().to_bytes());
    let site = serde_json::json!({
        "host": host,
        "issuer": { "id": "", "name": "x", "public_key": b.issuers[0].public_key, "anonymity_sets": [] },
        "log_public_key": log,
    })
    .to_string();
    let v: Value = serde_json::from_str(
        &undersigned_wasm::bundle::compare_keys(&other.to_json(), &site).unwrap(),
    )
    .unwrap();
    assert_eq!(v["match"], false, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("pinned host"),
        "{v}"
    );
}

#[test]
fn find_entry_names_a_receipts_entry_or_says_it_is_absent() {
    let b = honest();
    let text = serde_json::to_string(&b).unwrap();
    let leaf = b.entries[2].leaf_bytes();
    let hash = hex::encode(undersigned_core::log::leaf_hash(&leaf));
    let found: Value =
        serde_json::from_str(&undersigned_wasm::bundle::find_entry(&text, &hash).unwrap()).unwrap();
    assert_eq!(found["index"], 2);
    assert_eq!(found["kind"], "signature");
    assert!(found["withdrawn_by"].is_null(), "{found}");
    // The first signer withdrew (entry 4): its signature's receipt says so, numbered from 0.
    let hash = hex::encode(undersigned_core::log::leaf_hash(&b.entries[1].leaf_bytes()));
    let found: Value =
        serde_json::from_str(&undersigned_wasm::bundle::find_entry(&text, &hash).unwrap()).unwrap();
    assert_eq!(
        (found["index"].as_u64(), found["withdrawn_by"].as_u64()),
        (Some(1), Some(4))
    );
    let err = undersigned_wasm::bundle::find_entry(&text, &"00".repeat(32)).unwrap_err();
    assert!(err.contains("not in this bundle"), "{err}");
    assert!(undersigned_wasm::bundle::find_entry(&text, "xyz").is_err());
}

/// A site that names witnesses: a bundle under its keys must carry their quorum, or the page
/// rejects it; a bundle under other keys is only said to be foreign.
#[test]
fn compare_keys_requires_the_site_witnesses_quorum() {
    use undersigned_core::log::{add_cosignatures, WitnessSigner};
    let witnesses: Vec<WitnessSigner> = (1..=3u8)
        .map(|i| {
            WitnessSigner::new(
                &format!("w{i}.example/w"),
                ed25519_dalek::SigningKey::from_bytes(&[i; 32]),
            )
            .unwrap()
        })
        .collect();
    let b = honest();
    let log = hex::encode(b.verifier().unwrap().verifying_key().to_bytes());
    let deployment = |log: &str| {
        serde_json::json!({
            "host": crate::fixture::HOST,
            "issuer": { "id": "", "name": "x", "public_key": b.issuers[0].public_key, "anonymity_sets": [] },
            "log_public_key": log,
            "witnesses": witnesses.iter().map(|w| w.verifier().to_vkey()).collect::<Vec<_>>(),
            "witness_quorum": 2,
        })
        .to_string()
    };
    let compare = |bundle: &undersigned_core::bundle::Bundle, dep: &str| -> Value {
        serde_json::from_str(
            &undersigned_wasm::bundle::compare_keys(&bundle.to_json(), dep).unwrap(),
        )
        .unwrap()
    };
    let cosign = |note: &str, by: &[&WitnessSigner]| {
        let body = &note[..note.rfind("\n\n").unwrap() + 1];
        let lines: Vec<String> = by
            .iter()
            .map(|w| w.cosign(body, 1_790_000_000).unwrap())
            .collect();
        add_cosignatures(note, &lines)
    };
    let with = |by: &[&WitnessSigner]| {
        let mut c = b.clone();
        c.checkpoint = Some(cosign(c.checkpoint.as_deref().unwrap(), by));
        for i in &mut c.issuers {
            i.statement.checkpoint = cosign(&i.statement.checkpoint, by);
        }
        c
    };

    // Uncosigned, and cosigned by one of three: rejected with the reason.
    for bundle in [b.clone(), with(&[&witnesses[0]])] {
        let v = compare(&bundle, &deployment(&log));
        assert_eq!(v["match"], false, "{v}");
        assert_eq!(v["witnessed"], false, "{v}");
        let e = v["witness_error"].as_str().unwrap();
        assert!(
            e.contains("quorum 2") && e.contains("Only the operator vouches"),
            "{v}"
        );
    }
    // The quorum: accepted, and the witnesses named.
    let v = compare(&with(&[&witnesses[0], &witnesses[2]]), &deployment(&log));
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(v["witnessed"], true, "{v}");
    assert!(v["witness_error"].is_null(), "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("w1.example/w, w3.example/w") && m.contains("2 of this site's witnesses"),
        "{m}"
    );
    // Another site's bundle: foreign keys, no witness verdict.
    let v = compare(&b, &deployment(&"22".repeat(32)));
    assert_eq!(v["match"], false, "{v}");
    assert!(v["witness_error"].is_null(), "{v}");
}
