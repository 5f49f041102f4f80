//! The HTTP API end to end on both backends: lifecycle, refusals, and "changes nothing".

use crate::harness::*;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;
use undersigned_core::bundle::verify_bundle;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::log::{
    verify_consistency, verify_inclusion, Checkpoint, LogVerifier, Receipt,
};
use undersigned_server::api::issuance::CODE_REFUSED;

on_both!(
    full_lifecycle,
    fail_double_signature_and_replay,
    fail_disclosures_against_policy_and_small_cells,
    fail_cross_letter_and_tampered_entries,
    fail_wrong_and_reused_codes_and_second_credential,
    fail_oversized_and_malformed_bodies_change_nothing,
    fail_organizer_actions_without_token,
    fail_pairing_forgery_among_concurrent_submissions,
    fail_parts_other_than_the_letters_threshold_change_nothing,
);

async fn full_lifecycle(t: &TestServer) {
    let mut creds = vec![];
    for i in 0..4 {
        creds.push(
            t.credential(
                &format!("analyst{i}@state.gov"),
                "analyst",
                AgeBand::From30To39,
            )
            .await,
        );
    }
    let (handle, token, id, letter) = t.open_letter("Review the policy", default_policy()).await;
    let mut receipts = vec![];
    for (i, c) in creds.iter().enumerate() {
        let choice = DisclosureChoice {
            role: i % 2 == 0,
            age_band: i == 0,
            email: false,
        };
        let e = t
            .entry(c, &letter, Action::Sign, choice, Some("signed"))
            .await;
        let (s, r) = t.submit(&id, &e).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{r}");
        receipts.push(serde_json::from_value::<Receipt>(r).unwrap());
    }
    // Before the batch: accepted, pending, not counted, inclusion answers "pending".
    assert_eq!(t.log_size(&id).await, 1);
    let (s, _) = t
        .get(&format!(
            "/api/v1/letters/{id}/proof/inclusion?entry_hash={}",
            hex::encode(receipts[0].entry_hash)
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, old_cp) = t
        .get_text(&format!("/api/v1/letters/{id}/checkpoint"))
        .await;

    // The publisher runs when the batch falls due.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    undersigned_server::publisher::tick(&t.state).await.unwrap();
    assert_eq!(t.log_size(&id).await, 5);
    let (_, tally) = t.get(&format!("/api/v1/letters/{id}/tally")).await;
    assert_eq!(tally["signatures"], 4);
    assert_eq!(tally["by_org"]["state.gov"], 4);

    // A holder checks inclusion and consistency against signed checkpoints.
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    let verifier = LogVerifier::from_vkey(view["log_key"].as_str().unwrap()).unwrap();
    let (_, note) = t
        .get_text(&format!("/api/v1/letters/{id}/checkpoint"))
        .await;
    let cp = Checkpoint::open(
        &note,
        &verifier,
        Some(&format!("undersigned.test/letters/{id}")),
    )
    .unwrap();
    assert_eq!(cp.size, 5);
    for r in &receipts {
        assert!(r.include_by >= r.received_at);
        undersigned_core::log::verify_receipt(r, &verifier).unwrap();
        let (s, p) = t
            .get(&format!(
                "/api/v1/letters/{id}/proof/inclusion?entry_hash={}&size=5",
                hex::encode(r.entry_hash)
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        let proof: undersigned_core::log::InclusionProof =
            serde_json::from_value(json!({"hashes": p["hashes"]})).unwrap();
        verify_inclusion(
            &r.entry_hash,
            p["index"].as_u64().unwrap(),
            5,
            &proof,
            &cp.root,
        )
        .unwrap();
    }
    let old = Checkpoint::open(&old_cp, &verifier, None).unwrap();
    let (_, c) = t
        .get(&format!(
            "/api/v1/letters/{id}/proof/consistency?from={}&to=5",
            old.size
        ))
        .await;
    let proof: undersigned_core::log::ConsistencyProof =
        serde_json::from_value(json!({"hashes": c["hashes"]})).unwrap();
    verify_consistency(old.size, 5, &old.root, &cp.root, &proof).unwrap();

    // One withdraws; closing publishes it and the closed entry.
    let w = t
        .entry(
            &creds[3],
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
        )
        .await;
    assert_eq!(t.submit(&id, &w).await.0, StatusCode::ACCEPTED);
    let (s, closed) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{closed}");
    assert_eq!(closed["log_size"], 7);
    // A credential that never signed this letter: only the closing can refuse it.
    let fresh = t
        .credential("latecomer@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let late = t
        .entry(
            &fresh,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            None,
        )
        .await;
    let (s, refused) = t.submit(&id, &late).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert_eq!(
        refused["message"], "the letter is not open for signatures",
        "{refused}"
    );

    // The bundle verifies offline and says what the tally said.
    let (s, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    assert_eq!(s, StatusCode::OK);
    let report = verify_bundle(bundle.as_bytes()).unwrap();
    assert_eq!(
        (
            report.summary.signatures,
            report.summary.withdrawn,
            report.log_size
        ),
        (3, 1, 7)
    );
    assert!(report.closed);
    let b = undersigned_core::bundle::Bundle::parse(bundle.as_bytes()).unwrap();
    for r in &receipts {
        b.check_receipt(r).unwrap();
    }
}

async fn fail_double_signature_and_replay(t: &TestServer) {
    let c = t
        .credential("a@state.gov", "analyst", AgeBand::Under30)
        .await;
    let (_, _, id, letter) = t.open_letter("Once", default_policy()).await;
    let e = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    // Replay of the very same bytes: the same receipt again (a retry), nothing new pooled.
    let (s1, first) = t.submit(&id, &e).await;
    assert_eq!(s1, StatusCode::ACCEPTED, "{first}");
    let (s2, again_receipt) = t.submit(&id, &e).await;
    assert_eq!(s2, StatusCode::ACCEPTED);
    assert_eq!(again_receipt["entry_hash"], first["entry_hash"]);
    assert_eq!(again_receipt["include_by"], first["include_by"]);
    // A fresh proof from the same credential, with another comment: same pseudonym.
    let again = t
        .entry(
            &c,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            Some("me again"),
        )
        .await;
    assert_eq!(t.submit(&id, &again).await.0, StatusCode::CONFLICT);
    assert_eq!(t.pending(&id).await, 1);
    t.publish_all(&id).await;
    assert_eq!(t.submit(&id, &again).await.0, StatusCode::CONFLICT);
    // Replayed after publication: still one signature, and the receipt says "already in".
    let (s4, logged) = t.submit(&id, &e).await;
    assert_eq!(s4, StatusCode::ACCEPTED);
    assert_eq!(logged["entry_hash"], first["entry_hash"]);
    let (_, tally) = t.get(&format!("/api/v1/letters/{id}/tally")).await;
    assert_eq!(tally["signatures"], 1);
    // Withdrawing twice: the second is refused.
    let w = t
        .entry(
            &c,
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
        )
        .await;
    assert_eq!(t.submit(&id, &w).await.0, StatusCode::ACCEPTED);
    let w2 = t
        .entry(
            &c,
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
        )
        .await;
    assert_eq!(t.submit(&id, &w2).await.0, StatusCode::CONFLICT);
    // Withdrawing without having signed.
    let other = t
        .credential("b@state.gov", "analyst", AgeBand::Under30)
        .await;
    let w3 = t
        .entry(
            &other,
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
        )
        .await;
    assert_eq!(t.submit(&id, &w3).await.0, StatusCode::CONFLICT);
}

async fn fail_disclosures_against_policy_and_small_cells(t: &TestServer) {
    let mut creds = vec![];
    for i in 0..3 {
        creds.push(
            t.credential(&format!("o{i}@usaid.gov"), "officer", AgeBand::Over60)
                .await,
        );
    }
    let lone = t
        .credential("lone@usaid.gov", "analyst", AgeBand::Under30)
        .await;
    let sets = t.sets().await;
    // Role disclosure forbidden by this letter's policy.
    let strict = json!({"disclosures": {"role": false, "age_band": false, "email": false}, "deadline": undersigned_server::now() + 86_400});
    let (_, _, strict_id, strict_letter) = t.open_letter("Strict", strict).await;
    let mut lax_letter = strict_letter.clone();
    lax_letter.policy.disclosures.role = true;
    let mut e = undersigned_core::entry::present(
        &creds[0],
        &lax_letter,
        Action::Sign,
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        None,
        &sets,
        undersigned_core::entry::SmallOrgConsent::Given,
    )
    .unwrap();
    e.letter_id = strict_letter.id();
    let (s, v) = t.submit(&strict_id, &e).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("does not allow disclosing role"),
        "{v}"
    );
    // Small cell: the lone analyst of usaid.gov discloses a role held by fewer than k.
    let (_, _, id, letter) = t.open_letter("Open", default_policy()).await;
    let mut inflated = sets.clone();
    for c in &mut inflated.cells {
        c.count = undersigned_core::anonymity::Count::Exact(100);
    }
    let e = undersigned_core::entry::present(
        &lone,
        &letter,
        Action::Sign,
        DisclosureChoice {
            role: true,
            ..Default::default()
        },
        None,
        &inflated,
        undersigned_core::entry::SmallOrgConsent::Given,
    )
    .unwrap();
    let (s, v) = t.submit(&id, &e).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("anonymity set below k"),
        "{v}"
    );
    // The three officers may disclose their role (cell of 3 = k).
    let ok = t
        .entry(
            &creds[1],
            &letter,
            Action::Sign,
            DisclosureChoice {
                role: true,
                ..Default::default()
            },
            None,
        )
        .await;
    assert_eq!(t.submit(&id, &ok).await.0, StatusCode::ACCEPTED);
    assert_eq!(t.pending(&id).await, 1);
    assert_eq!(t.pending(&strict_id).await, 0);
    // Two more analysts at usaid.gov bring the lone one's cell to k: the refused entry is now
    // accepted, decided on the current counts and not on those the server kept for this
    // letter when it refused it.
    for i in 0..2 {
        t.credential(&format!("a{i}@usaid.gov"), "analyst", AgeBand::Under30)
            .await;
    }
    let (s, v) = t.submit(&id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(t.pending(&id).await, 2);
}

async fn fail_cross_letter_and_tampered_entries(t: &TestServer) {
    let c = t
        .credential("x@state.gov", "analyst", AgeBand::Under30)
        .await;
    let (_, _, a, la) = t.open_letter("Letter A", default_policy()).await;
    let (_, _, b, _) = t.open_letter("Letter B", default_policy()).await;
    let e = t
        .entry(&c, &la, Action::Sign, DisclosureChoice::default(), None)
        .await;
    let (s, v) = t.submit(&b, &e).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("another letter"));
    let mut relabelled = e.clone();
    relabelled.letter_id = undersigned_core::ids::LetterId::from_hex(&b).unwrap();
    let (s, v) = t.submit(&b, &relabelled).await;
    assert_eq!(
        (s, v["message"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid proof")
    );
    for cut in [0usize, 1, 100, 431] {
        let mut short = e.clone();
        short.parts[0].proof.truncate(cut);
        let (s, v) = t.submit(&a, &short).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    }
    let mut flipped = e.clone();
    flipped.parts[0].proof[200] ^= 1;
    assert_eq!(
        t.submit(&a, &flipped).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!((t.pending(&a).await, t.pending(&b).await), (0, 0));
    // The honest one still goes through afterwards.
    assert_eq!(t.submit(&a, &e).await.0, StatusCode::ACCEPTED);
}

async fn fail_wrong_and_reused_codes_and_second_credential(t: &TestServer) {
    use base64::Engine;
    let email = "person@state.gov";
    let code = t.code_for(email).await;
    let (req, _) = undersigned_core::credential::request_credential(&mut rand_core::OsRng).unwrap();
    let commitment = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(req.commitment);
    let token = t.request_token(email);
    let body = |code: &str| json!({"email": email, "code": code, "request_token": token, "commitments": [{"epoch": EPOCH, "commitment": commitment}], "role": "analyst", "age_band": "30-39"});
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let (s, v) = t
        .post("/api/v1/issuance/credential", &body(wrong), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["message"], CODE_REFUSED);
    let (s, _) = t
        .post("/api/v1/issuance/credential", &body(&code), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // The code is used up.
    let (s, _) = t
        .post("/api/v1/issuance/credential", &body(&code), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // A new code for the same address and epoch still cannot get a second credential.
    let code2 = t.code_for(email).await;
    let token2 = t.request_token(email);
    let (s, v) = t
        .post(
            "/api/v1/issuance/credential",
            &json!({"email": email, "code": code2, "request_token": token2, "commitments": [{"epoch": EPOCH, "commitment": commitment}], "role": "analyst", "age_band": "30-39"}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (_, sets) = t.get("/api/v1/issuer/anonymity-sets").await;
    let org_cell = sets["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "state.gov" && c.get("role").is_none() && c.get("age_band").is_none())
        .unwrap()
        .clone();
    assert_eq!(org_cell["count"], "<k", "one credential, below k");
    // Guessing is bounded: after the attempts run out even the right code is refused.
    let other = "guess@state.gov";
    let right = t.code_for(other).await;
    let token2 = t.request_token(other);
    let body2 = |code: &str| json!({"email": other, "code": code, "request_token": token2, "commitments": [{"epoch": EPOCH, "commitment": commitment}], "role": "analyst", "age_band": "30-39"});
    let mut last = (StatusCode::OK, json!(null));
    for g in 0..6 {
        let guess = format!(
            "{:08}",
            (right.parse::<u32>().unwrap() + 1 + g) % 100_000_000
        );
        last = t
            .post("/api/v1/issuance/credential", &body2(&guess), None)
            .await;
    }
    // The same answer as any other failed check: no oracle on the code's state.
    assert_eq!(
        last,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "refused", "message": CODE_REFUSED})
        )
    );
    assert_eq!(
        t.post("/api/v1/issuance/credential", &body2(&right), None)
            .await,
        last
    );
    // Free mail and foreign domains get no code at all.
    for addr in ["me@gmail.com", "me@example.org"] {
        let (s, _) = t
            .post("/api/v1/issuance/code", &json!({"email": addr}), None)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{addr}");
    }
}

#[tokio::test]
async fn fail_expired_code() {
    let t = TestServer::sqlite(Tweaks {
        code_ttl_secs: 1,
        ..Default::default()
    })
    .await;
    let code = t.code_for("late@state.gov").await;
    let token = t.request_token("late@state.gov");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (req, _) = undersigned_core::credential::request_credential(&mut rand_core::OsRng).unwrap();
    use base64::Engine;
    let (s, v) = t
        .post(
            "/api/v1/issuance/credential",
            &json!({"email": "late@state.gov", "code": code, "request_token": token, "commitments": [{"epoch": EPOCH, "commitment": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(req.commitment)}], "role": "analyst", "age_band": "30-39"}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["message"], CODE_REFUSED, "{v}");
}

async fn fail_oversized_and_malformed_bodies_change_nothing(t: &TestServer) {
    let c = t
        .credential("m@state.gov", "analyst", AgeBand::Under30)
        .await;
    let (_, _, id, letter) = t.open_letter("Bodies", default_policy()).await;
    let path = format!("/api/v1/letters/{id}/entries");
    let huge = vec![b'a'; 200_000];
    let (s, b, _) = t
        .call(
            Method::POST,
            &path,
            Some(Body::from(huge)),
            None,
            Some("application/json"),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&b)
    );
    for (body, ct) in [
        (&b"{not json"[..], Some("application/json")),
        (b"", Some("application/json")),
        (b"[]", Some("application/json")),
        (b"{\"letter_id\":\"zz\"}", Some("application/json")),
        (b"{}", None),
        (b"\xff\xfe\x00", Some("application/json")),
    ] {
        let (s, b, _) = t
            .call(
                Method::POST,
                &path,
                Some(Body::from(body.to_vec())),
                None,
                ct,
            )
            .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&b)
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"], "bad_request");
    }
    // Unknown fields in an entry are refused, not ignored.
    let mut e = serde_json::to_value(
        t.entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await,
    )
    .unwrap();
    e["extra"] = json!("smuggled");
    assert_eq!(t.post(&path, &e, None).await.0, StatusCode::BAD_REQUEST);
    let (s, _) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "", "body": "x", "policy": default_policy()}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        t.get("/api/v1/letters/..%2F..%2Fetc").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(t.get("/api/v1/nothing").await.0, StatusCode::NOT_FOUND);
    assert_eq!((t.pending(&id).await, t.log_size(&id).await), (0, 1));
    // Security headers on every answer, errors included.
    let (_, _, h) = t
        .call(Method::GET, "/api/v1/nothing", None, None, None)
        .await;
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(h.contains_key(name), "{name} missing");
    }
    assert_eq!(h["referrer-policy"], "no-referrer");
}

async fn fail_organizer_actions_without_token(t: &TestServer) {
    let (s, v) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "Draft", "body": "Text\n", "policy": default_policy()}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let handle = v["handle"].as_str().unwrap();
    let token = v["organizer_token"].as_str().unwrap();
    assert_eq!(
        t.post(&format!("/api/v1/letters/{handle}/open"), &json!({}), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some("wrong")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // A draft is invisible without the token.
    assert_eq!(
        t.get(&format!("/api/v1/letters/{handle}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = t
        .send(
            Method::PUT,
            &format!("/api/v1/letters/{handle}"),
            &json!({"title": "Draft 2", "body": "Text 2\n", "policy": default_policy()}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, o) = t
        .post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Frozen after opening.
    let (s, _) = t
        .send(
            Method::PUT,
            &format!("/api/v1/letters/{handle}"),
            &json!({"title": "Changed", "body": "Changed\n", "policy": default_policy()}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let id = o["letter_id"].as_str().unwrap();
    assert_eq!(
        t.post(&format!("/api/v1/letters/{id}/close"), &json!({}), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    assert_eq!(view["letter"]["title"], "Draft 2");
    assert_eq!(view["state"], "open");
}

/// Submissions arriving together share one pairing check: a forgery that passes everything but
/// the pairing equation (a credential whose signature was altered) gets its own 422 and the
/// honest ones their receipts, with nothing of the forgery pooled.
async fn fail_pairing_forgery_among_concurrent_submissions(t: &TestServer) {
    let mut creds = Vec::new();
    for i in 0..4 {
        creds.push(
            t.credential(&format!("c{i}@state.gov"), "analyst", AgeBand::Under30)
                .await,
        );
    }
    let mut json = serde_json::to_value(&creds[3]).unwrap();
    let sig = json["secrets"]["signature"].as_str().unwrap().to_owned();
    let mut bytes = hex::decode(sig).unwrap();
    let last = bytes.len() - 1;
    bytes[last] = bytes[last].wrapping_add(1);
    json["secrets"]["signature"] = json!(hex::encode(bytes));
    let forged: undersigned_core::credential::Credential = serde_json::from_value(json).unwrap();
    let (_, _, id, letter) = t.open_letter("Batched", default_policy()).await;
    let mut entries = Vec::new();
    for c in creds.iter().take(3).chain([&forged]) {
        entries.push(
            t.entry(c, &letter, Action::Sign, DisclosureChoice::default(), None)
                .await,
        );
    }
    let (a, b, c, f) = tokio::join!(
        t.submit(&id, &entries[0]),
        t.submit(&id, &entries[1]),
        t.submit(&id, &entries[2]),
        t.submit(&id, &entries[3]),
    );
    for (s, v) in [&a, &b, &c] {
        assert_eq!(*s, StatusCode::ACCEPTED, "{v}");
    }
    assert_eq!(
        (f.0, f.1["message"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid proof")
    );
    assert_eq!(t.pending(&id).await, 3);
}

/// Issue 23: a letter of one issuer takes entries of exactly one part. Two parts (the same
/// issuer twice), or one part spelled as a `parts` array, are refused with a 4xx naming the
/// rule, and nothing is pooled or logged.
async fn fail_parts_other_than_the_letters_threshold_change_nothing(t: &TestServer) {
    let c = t
        .credential("parts@state.gov", "analyst", AgeBand::Under30)
        .await;
    let (_, _, id, letter) = t.open_letter("One part", default_policy()).await;
    let e = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    let mut twice = e.clone();
    twice.parts.push(e.parts[0].clone());
    let (s, body) = t.submit(&id, &twice).await;
    assert!(s.is_client_error(), "{s} {body}");
    assert!(body.to_string().contains("exactly 1 part(s)"), "{body}");
    let mut spelled = serde_json::to_value(&e).unwrap();
    let part = serde_json::json!([{
        "issuer_id": spelled["issuer_id"], "pseudonym": spelled["pseudonym"], "proof": spelled["proof"]
    }]);
    for f in ["issuer_id", "pseudonym", "proof"] {
        spelled.as_object_mut().unwrap().remove(f);
    }
    spelled["parts"] = part;
    let (s, body) = t
        .post(&format!("/api/v1/letters/{id}/entries"), &spelled, None)
        .await;
    assert!(s.is_client_error(), "{s} {body}");
    assert_eq!(t.pending(&id).await, 0);
    assert_eq!(t.log_size(&id).await, 1);
    // The honest one-part entry still signs.
    assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
}
