//! Delivery over real SMTP, retries when the mail server is down, the answer and its clock,
//! response links that must not work, and recipients-only letters.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use undersigned_core::bundle::verify_bundle;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::record::LogEntry;

on_both!(
    close_deliver_acknowledge_answer,
    delivery_survives_smtp_outage,
    fail_revoked_reused_and_foreign_response_links,
    recipients_only_letters_need_a_link,
);

fn recipients() -> Value {
    json!([
        {"name": "Secretary Ada", "address": "secretary@state.gov", "role": "Secretary of State"},
        {"name": "Deputy Bo", "address": "deputy@state.gov", "role": "Deputy Secretary"},
        {"name": "Counsel Cy", "address": "counsel@state.gov"}
    ])
}

/// Creates, opens, signs (3 signers), closes a letter with three recipients.
pub(crate) async fn closed_letter(
    t: &TestServer,
    visibility: &str,
) -> (String, String, String, Value) {
    let mut creds = vec![];
    for i in 0..3 {
        let tag = hex::encode(rand::random::<[u8; 4]>());
        creds.push(
            t.credential(
                &format!("s{i}.{tag}@state.gov"),
                "analyst",
                AgeBand::From30To39,
            )
            .await,
        );
    }
    let Opened {
        handle,
        token,
        id,
        letter,
        created: v,
    } = t.create_and_open(&json!({"title": format!("Answer us ({})", hex::encode(rand::random::<[u8; 4]>())), "body": "Please answer within the period.\n", "recipients": recipients(),
                    "response_days": 14, "reminder_days": [7],
                    "policy": {"deadline": undersigned_server::now() + 86_400, "visibility": visibility}})).await;
    for c in &creds {
        let e = t
            .entry(c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await;
        let (s, _, _) = t
            .call(
                Method::POST,
                &format!("/api/v1/letters/{id}/entries"),
                Some(axum::body::Body::from(serde_json::to_vec(&e).unwrap())),
                v["signer_token"].as_str(),
                Some("application/json"),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    (handle, token, id, v)
}

fn link_token(body: &str) -> String {
    body.split_whitespace()
        .find_map(|w| w.split_once("/respond#").map(|(_, t)| t.to_owned()))
        .expect("a response link")
}

async fn mails_to(t: &TestServer, addr: &str) -> Vec<undersigned_outbox::Message> {
    t.outbox
        .messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|x| x == addr))
        .collect()
}

pub(crate) async fn log_entries(t: &TestServer, id: &str) -> Vec<LogEntry> {
    t.state
        .store
        .leaves(id, 0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|l| undersigned_server::api::read::decode_leaf(l).unwrap())
        .collect()
}

async fn close_deliver_acknowledge_answer(t: &TestServer) {
    let (handle, token, id, _) = closed_letter(t, "public").await;
    t.outbox.clear();
    assert_eq!(
        undersigned_server::delivery::tick(&t.state).await.unwrap(),
        3
    );
    let mut links = vec![];
    for addr in [
        "secretary@state.gov",
        "deputy@state.gov",
        "counsel@state.gov",
    ] {
        let m = mails_to(t, addr).await;
        assert_eq!(m.len(), 1, "{addr}");
        let body = &m[0].body_text;
        assert!(m[0].subject.contains("Answer us"));
        assert!(body.contains("Please answer within the period."), "{body}");
        assert!(body.contains("3 signatures from 1 organizations"), "{body}");
        assert!(body.contains(&format!("/api/v1/letters/{id}/bundle")));
        assert!(body.contains("within 14 days"));
        links.push(link_token(body));
    }
    // A second tick sends nothing more.
    assert_eq!(
        undersigned_server::delivery::tick(&t.state).await.unwrap(),
        0
    );
    assert_eq!(t.outbox.messages().len(), 3);

    let ack = |i: usize| {
        (
            format!("/api/v1/letters/{id}/respond/acknowledge"),
            links[i].clone(),
        )
    };
    let (p, tok) = ack(1);
    let (s, v) = t.post(&p, &json!({}), Some(&tok)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let answer = "We received the letter. I will meet the signers' representatives on Friday.\n\n*No retaliation* will follow.";
    let (s, v) = t
        .post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": answer}),
            Some(&links[0]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, view) = t
        .get_with(&format!("/api/v1/letters/{id}/respond"), &links[0])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["answer"], answer);

    // The log holds exactly one delivered entry per recipient, one acknowledgement, one answer.
    let entries = log_entries(t, &id).await;
    let delivered: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Delivered {
                recipient,
                smtp_reply,
                ..
            } => Some((recipient.clone(), smtp_reply.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), 3);
    assert!(delivered.iter().all(|(_, reply)| reply.starts_with("250")));
    assert_eq!(
        entries
            .iter()
            .filter(|e| matches!(e, LogEntry::Acknowledged { .. }))
            .count(),
        1
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| matches!(e, LogEntry::Response { .. }))
            .count(),
        1
    );

    // The public clock and the bundle tell the same story.
    let (_, v) = t.get(&format!("/api/v1/letters/{id}")).await;
    let r = v["recipients"].as_array().unwrap();
    assert!(r[0]["answered_at"].is_u64() && r[0]["days_left"].is_null());
    assert!(
        r[1]["acknowledged_at"].is_u64()
            && r[1]["answered_at"].is_null()
            && r[1]["days_left"] == 14
    );
    assert!(r[2]["delivered_at"].is_u64() && r[2]["acknowledged_at"].is_null());
    let (_, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    let report = verify_bundle(bundle.as_bytes()).unwrap();
    assert_eq!(report.delivered_to, 3);
    assert_eq!(report.answered_by, vec!["Secretary Ada".to_owned()]);
    let statement = report
        .delivery_statement(undersigned_server::now() + 20 * 86_400)
        .unwrap();
    assert!(
        statement.contains("answered by Secretary Ada on"),
        "{statement}"
    );
    assert!(
        statement.contains("no answer from Counsel Cy after 20 days (overdue: 14 days were given)"),
        "{statement}"
    );
    // The organizer sees the delivery status.
    let (s, b, _) = t
        .call(
            Method::GET,
            &format!("/api/v1/letters/{handle}/deliveries"),
            None,
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let status: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(status.as_array().unwrap().len(), 3);
}

async fn delivery_survives_smtp_outage(t: &TestServer) {
    let (handle, token, id, _) = closed_letter(t, "public").await;
    t.outbox.clear();
    t.outbox.set_available(false);
    assert_eq!(
        undersigned_server::delivery::tick(&t.state).await.unwrap(),
        3
    );
    assert!(t.outbox.messages().is_empty());
    let (_, b, _) = t
        .call(
            Method::GET,
            &format!("/api/v1/letters/{handle}/deliveries"),
            None,
            Some(&token),
            None,
        )
        .await;
    let status: Value = serde_json::from_slice(&b).unwrap();
    for d in status.as_array().unwrap() {
        assert_eq!(d["attempts"], 1, "{d}");
        assert!(
            d["last_error"].as_str().unwrap().starts_with("temporary"),
            "{d}"
        );
        assert!(d["delivered_at"].is_null());
        assert!(
            !d["last_error"].as_str().unwrap().contains('@'),
            "addresses never reach the status"
        );
    }
    assert_eq!(
        log_entries(t, &id)
            .await
            .iter()
            .filter(|e| matches!(e, LogEntry::Delivered { .. }))
            .count(),
        0
    );
    // Still down at the first retry, then back.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    undersigned_server::delivery::tick(&t.state).await.unwrap();
    t.outbox.set_available(true);
    let start = std::time::Instant::now();
    while log_entries(t, &id)
        .await
        .iter()
        .filter(|e| matches!(e, LogEntry::Delivered { .. }))
        .count()
        < 3
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "deliveries did not complete"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        undersigned_server::delivery::tick(&t.state).await.unwrap();
    }
    for addr in [
        "secretary@state.gov",
        "deputy@state.gov",
        "counsel@state.gov",
    ] {
        assert_eq!(
            mails_to(t, addr).await.len(),
            1,
            "{addr} got exactly one delivery mail"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    undersigned_server::delivery::tick(&t.state).await.unwrap();
    assert_eq!(
        log_entries(t, &id)
            .await
            .iter()
            .filter(|e| matches!(e, LogEntry::Delivered { .. }))
            .count(),
        3
    );
    assert_eq!(t.outbox.messages().len(), 3);
}

async fn fail_revoked_reused_and_foreign_response_links(t: &TestServer) {
    let (handle, token, id, _) = closed_letter(t, "public").await;
    let (_, _, other_id, _) = closed_letter(t, "public").await;
    t.outbox.clear();
    undersigned_server::delivery::tick(&t.state).await.unwrap();
    let link = |addr: &str| {
        let m: Vec<_> = t
            .outbox
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|x| x == addr) && m.body_text.contains(&id))
            .collect();
        link_token(&m[0].body_text)
    };
    let (sec, dep) = (link("secretary@state.gov"), link("deputy@state.gov"));
    let size = t.log_size(&id).await;
    // Answer twice: the second is refused and the first stays.
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": "First."}),
            Some(&sec)
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, v) = t
        .post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": "Second."}),
            Some(&sec),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    // A link used on another letter opens nothing there.
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{other_id}/respond/answer"),
            &json!({"text": "Wrong letter."}),
            Some(&dep)
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{other_id}/respond/acknowledge"),
            &json!({}),
            Some(&dep)
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // Revoked: the link stops working.
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/recipients/1/revoke"),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{id}/respond/acknowledge"),
            &json!({}),
            Some(&dep)
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": "Late."}),
            Some(&dep)
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // No link, a made-up one, and a revoke without the organizer token.
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": "x"}),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{id}/respond/answer"),
            &json!({"text": "x"}),
            Some("forged")
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.post(
            &format!("/api/v1/letters/{handle}/recipients/0/revoke"),
            &json!({}),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    // Only the first answer changed the record.
    assert_eq!(t.log_size(&id).await, size + 1);
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    assert_eq!(view["recipients"][0]["answer"], "First.");
    assert!(view["recipients"][1]["acknowledged_at"].is_null());
    assert!(view["recipients"][0]["answer"] != "Second.");
    let _ = other_id;
}

async fn recipients_only_letters_need_a_link(t: &TestServer) {
    let (handle, token, id, created) = closed_letter(t, "recipients-only").await;
    let signer = created["signer_token"].as_str().unwrap().to_owned();
    t.outbox.clear();
    undersigned_server::delivery::tick(&t.state).await.unwrap();
    let recipient = link_token(&t.outbox.messages()[0].body_text);
    let entry_hash = "00".repeat(32);
    let routes = [
        format!("/api/v1/letters/{id}"),
        format!("/api/v1/letters/{handle}"),
        format!("/api/v1/letters/{id}/tally"),
        format!("/api/v1/letters/{id}/checkpoint"),
        format!("/api/v1/letters/{id}/entries"),
        format!("/api/v1/letters/{id}/proof/inclusion?entry_hash={entry_hash}"),
        format!("/api/v1/letters/{id}/proof/consistency?from=1"),
        format!("/api/v1/letters/{id}/bundle"),
    ];
    for r in &routes {
        let (s, _, _) = t.call(Method::GET, r, None, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{r} without a link");
        let (s, _, _) = t.call(Method::GET, r, None, Some("not-a-link"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{r} with a wrong link");
        for tok in [&signer, &recipient, &token] {
            let (s, _, _) = t.call(Method::GET, r, None, Some(tok), None).await;
            assert!(
                s == StatusCode::OK || (r.contains("inclusion") && s == StatusCode::NOT_FOUND),
                "{r}: {s}"
            );
        }
    }
    let (_, list) = t.get("/api/v1/letters").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|l| l["letter_id"] != id.as_str()),
        "not listed publicly"
    );
    // The bundle for recipients verifies like any other.
    let (_, b, _) = t
        .call(
            Method::GET,
            &format!("/api/v1/letters/{id}/bundle"),
            None,
            Some(&recipient),
            None,
        )
        .await;
    assert_eq!(verify_bundle(&b).unwrap().summary.signatures, 3);
}
