//! `/metrics` after a whole flow: each counter against what happened, and nothing in it that
//! names a person, a letter's private handle or a token.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use serde_json::json;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;

/// The value of the one sample line `name` (with its labels, exactly as exposed).
fn sample(text: &str, name: &str) -> f64 {
    let hits: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|rest| rest.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{name} in:\n{text}");
    hits[0]
}

#[tokio::test]
async fn counters_match_a_full_flow_and_name_no_one() {
    let t = TestServer::sqlite(Default::default()).await;
    let emails: Vec<String> = (0..3)
        .map(|i| format!("metric.person{i}@state.gov"))
        .collect();
    let mut creds = vec![];
    for e in &emails {
        creds.push(t.credential(e, "analyst", AgeBand::From30To39).await);
    }
    let recipients = ["secretary@state.gov", "deputy@state.gov"];
    let title = "Metrics letter title";
    let Opened {
        handle,
        token,
        id,
        letter,
        ..
    } = t.create_and_open(&json!({"title": title, "body": "Please answer.\n",
                    "recipients": recipients.iter().enumerate().map(|(i, a)| json!({"name": format!("Recipient {i}"), "address": a})).collect::<Vec<_>>(),
                    "response_days": 14,
                    "policy": {"deadline": undersigned_server::now() + 86_400}})).await;
    for c in &creds {
        let e = t
            .entry(c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await;
        assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    }
    // Refusals: a second, different signature of one credential; a body that is no entry; a
    // letter that does not exist.
    let again = t
        .entry(
            &creds[0],
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            Some("twice"),
        )
        .await;
    assert_eq!(t.submit(&id, &again).await.0, StatusCode::CONFLICT);
    let (s, _, _) = t
        .call(
            Method::POST,
            &format!("/api/v1/letters/{id}/entries"),
            Some(axum::body::Body::from("{\"not\": \"an entry\"}")),
            None,
            Some("application/json"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let missing = "ab".repeat(32);
    let (s, _) = t
        .send(
            Method::POST,
            &format!("/api/v1/letters/{missing}/entries"),
            &json!({}),
            None,
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
        "{s}"
    );
    let missing_status = s;

    // The publisher's own tick publishes the batch once its boundary has passed.
    let before = t.log_size(&id).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    undersigned_server::publisher::tick(&t.state).await.unwrap();
    assert_eq!(t.log_size(&id).await, before + 3);
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    undersigned_server::delivery::tick(&t.state).await.unwrap();

    let (s, text) = t.get_text("/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        sample(
            &text,
            "undersigned_submissions_total{outcome=\"accepted\",reason=\"\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            "undersigned_submissions_total{outcome=\"refused\",reason=\"conflict\"}"
        ),
        1.0
    );
    let malformed = if missing_status == StatusCode::BAD_REQUEST {
        2.0
    } else {
        1.0
    };
    assert_eq!(
        sample(
            &text,
            "undersigned_submissions_total{outcome=\"refused\",reason=\"malformed\"}"
        ),
        malformed
    );
    // The three accepted and the double signature were verified; the others never got there.
    assert_eq!(sample(&text, "undersigned_verification_seconds_count"), 4.0);
    assert!(sample(&text, "undersigned_verification_seconds_sum") > 0.0);
    assert_eq!(sample(&text, "undersigned_batch_entries_count"), 1.0);
    assert_eq!(sample(&text, "undersigned_batch_entries_sum"), 3.0);
    assert_eq!(sample(&text, "undersigned_publish_lag_seconds_count"), 1.0);
    assert_eq!(sample(&text, "undersigned_code_mails_sent_total"), 3.0);
    assert_eq!(
        sample(
            &text,
            "undersigned_delivery_attempts_total{outcome=\"sent\",reason=\"\"}"
        ),
        recipients.len() as f64
    );

    // Every submission that reached the pool was timed there: three accepted, one double.
    assert_eq!(
        sample(
            &text,
            "undersigned_database_seconds_count{query=\"accept_entry\"}"
        ),
        4.0
    );
    assert!(
        sample(
            &text,
            "undersigned_database_seconds_count{query=\"letter\"}"
        ) >= 5.0
    );

    // Nothing that names a person, a private handle, a token or the letter's words.
    let lower = text.to_lowercase();
    for needle in emails.iter().map(String::as_str).chain(recipients).chain([
        handle.as_str(),
        token.as_str(),
        title,
        "@",
        "127.0.0.1",
    ]) {
        assert!(
            !lower.contains(&needle.to_lowercase()),
            "{needle:?} in /metrics"
        );
    }
}
