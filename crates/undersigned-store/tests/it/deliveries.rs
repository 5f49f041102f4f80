//! Delivery of closed letters and the recipients' responses: queueing, retries, response
//! links, acknowledgements and answers, and races between workers.

use std::sync::Arc;

use undersigned_store::{DeliveryRow, Store, StoreError};

use crate::harness::{closed_letter, draft, fresh_delivery, h, on_both, open_letter};

on_both!(
    create_deliveries_queues_every_recipient,
    create_deliveries_idempotent,
    fail_create_deliveries_letter_not_closed,
    deliveries_of_unknown_letter_empty,
    due_deliveries_filter_and_order,
    delivery_failed_counts_attempts,
    fail_delivery_failed_after_done,
    delivery_done_records_reply,
    fail_double_delivery_done,
    fail_out_of_range_time_changes_nothing,
    token_lookup_follows_latest_token,
    fail_unknown_token,
    fail_revoked_token,
    fail_token_in_use,
    fail_writes_without_row,
    acknowledge_records_time,
    fail_acknowledge_twice,
    fail_respond_not_delivered,
    fail_respond_revoked,
    answer_records_text_and_acknowledges,
    answer_keeps_earlier_acknowledgement,
    fail_answer_twice,
    fail_acknowledge_after_answer,
    reminders_sent_sets_count,
    concurrent_delivery_done_one_wins,
    concurrent_answer_one_wins,
);

fn row(rows: &[DeliveryRow], recipient: u32) -> DeliveryRow {
    rows.iter()
        .find(|d| d.recipient == recipient)
        .cloned()
        .unwrap()
}

async fn one(s: &dyn Store, id: &str, recipient: u32) -> DeliveryRow {
    row(&s.deliveries(id).await.unwrap(), recipient)
}

/// A closed letter with `n` queued deliveries at time 100; returns its id.
async fn queued(s: &dyn Store, handle: &str, n: u32) -> String {
    let id = closed_letter(s, handle).await;
    s.create_deliveries(&id, n, 100).await.unwrap();
    id
}

/// A closed letter whose recipient 0 was delivered at 200 and holds token `h(0x70)`.
async fn delivered(s: &dyn Store, handle: &str) -> String {
    let id = queued(s, handle, 2).await;
    s.set_delivery_token(&id, 0, &h(0x70)).await.unwrap();
    s.delivery_done(&id, 0, 200, "250 ok").await.unwrap();
    id
}

async fn create_deliveries_queues_every_recipient(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 3).await;
    assert_eq!(
        s.deliveries(&id).await.unwrap(),
        (0..3)
            .map(|r| fresh_delivery(&id, r, 100))
            .collect::<Vec<_>>()
    );
    // Another letter's recipient 0 is another row.
    let other = queued(&*s, "other", 1).await;
    assert_eq!(
        s.deliveries(&other).await.unwrap(),
        vec![fresh_delivery(&other, 0, 100)]
    );
    assert_eq!(s.deliveries(&id).await.unwrap().len(), 3);
    // No recipients: nothing queued, and that is fine.
    let none = closed_letter(&*s, "none").await;
    s.create_deliveries(&none, 0, 100).await.unwrap();
    assert!(s.deliveries(&none).await.unwrap().is_empty());
}

async fn create_deliveries_idempotent(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 3).await;
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
    s.delivery_done(&id, 0, 150, "250 ok").await.unwrap();
    s.delivery_failed(&id, 1, 400, "temporary: busy")
        .await
        .unwrap();
    let before = s.deliveries(&id).await.unwrap();
    // Again, later: existing rows keep their progress and their times.
    s.create_deliveries(&id, 3, 900).await.unwrap();
    assert_eq!(s.deliveries(&id).await.unwrap(), before);
    // More recipients than before: only the missing rows are added.
    s.create_deliveries(&id, 5, 900).await.unwrap();
    let after = s.deliveries(&id).await.unwrap();
    assert_eq!(after[..3], before[..]);
    assert_eq!(
        after[3..],
        [fresh_delivery(&id, 3, 900), fresh_delivery(&id, 4, 900)]
    );
}

async fn fail_create_deliveries_letter_not_closed(s: Arc<dyn Store>) {
    let r = s.create_deliveries("missing", 2, 100).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let open = open_letter(&*s, "open").await;
    let r = s.create_deliveries(&open, 2, 100).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(s.deliveries(&open).await.unwrap().is_empty());
    s.create_letter(&draft("d", 1)).await.unwrap();
    let r = s.create_deliveries("d", 2, 100).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(s.due_deliveries(u64::MAX).await.unwrap().is_empty());
}

async fn deliveries_of_unknown_letter_empty(s: Arc<dyn Store>) {
    assert!(s.deliveries("missing").await.unwrap().is_empty());
    assert!(s.due_deliveries(u64::MAX).await.unwrap().is_empty());
}

async fn due_deliveries_filter_and_order(s: Arc<dyn Store>) {
    // Letter ids sort as their handles' hex: "a..." < "b...".
    let a = queued(&*s, "a", 3).await;
    let b = queued(&*s, "b", 2).await;
    assert!(a < b);
    s.delivery_failed(&a, 0, 300, "x").await.unwrap(); // a0 at 300
    s.delivery_done(&a, 1, 120, "250").await.unwrap(); // a1 delivered
    s.delivery_failed(&b, 1, 200, "x").await.unwrap(); // b1 at 200
    s.revoke_delivery(&b, 0).await.unwrap(); // revoked but undelivered: still due
                                             // a2 and b0 stay at 100.
    let keys = |rows: Vec<DeliveryRow>| -> Vec<(String, u32)> {
        rows.into_iter()
            .map(|d| (d.letter_id, d.recipient))
            .collect()
    };
    assert!(s.due_deliveries(99).await.unwrap().is_empty());
    assert_eq!(
        keys(s.due_deliveries(100).await.unwrap()),
        [(a.clone(), 2), (b.clone(), 0)]
    );
    assert_eq!(
        keys(s.due_deliveries(299).await.unwrap()),
        [(a.clone(), 2), (b.clone(), 0), (b.clone(), 1)]
    );
    let all = s.due_deliveries(u64::MAX).await.unwrap();
    assert_eq!(
        keys(all.clone()),
        [
            (a.clone(), 2),
            (b.clone(), 0),
            (b.clone(), 1),
            (a.clone(), 0)
        ]
    );
    // Whole rows come back, not just keys.
    assert_eq!(all[3], one(&*s, &a, 0).await);
    assert!(all[1].revoked);
}

async fn delivery_failed_counts_attempts(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 2).await;
    s.delivery_failed(&id, 1, 160, "temporary: 421 busy")
        .await
        .unwrap();
    s.delivery_failed(&id, 1, 220, "refused: 550 no such user")
        .await
        .unwrap();
    let d = one(&*s, &id, 1).await;
    assert_eq!(
        d,
        DeliveryRow {
            attempts: 2,
            next_attempt_at: 220,
            last_error: Some("refused: 550 no such user".into()),
            ..fresh_delivery(&id, 1, 100)
        }
    );
    // The other recipient is untouched.
    assert_eq!(one(&*s, &id, 0).await, fresh_delivery(&id, 0, 100));
}

async fn fail_delivery_failed_after_done(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let before = one(&*s, &id, 0).await;
    let r = s.delivery_failed(&id, 0, 999, "late failure").await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(one(&*s, &id, 0).await, before);
}

async fn delivery_done_records_reply(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 2).await;
    s.delivery_failed(&id, 0, 150, "temporary: busy")
        .await
        .unwrap();
    s.set_delivery_token(&id, 0, &h(9)).await.unwrap();
    s.delivery_done(&id, 0, 160, "250 2.0.0 Ok: queued as ABC")
        .await
        .unwrap();
    assert_eq!(
        one(&*s, &id, 0).await,
        DeliveryRow {
            token_hash: Some(h(9)),
            attempts: 1,
            next_attempt_at: 150,
            last_error: Some("temporary: busy".into()),
            delivered_at: Some(160),
            smtp_reply: Some("250 2.0.0 Ok: queued as ABC".into()),
            ..fresh_delivery(&id, 0, 100)
        }
    );
    // Delivered rows are no longer due.
    let due = s.due_deliveries(u64::MAX).await.unwrap();
    assert_eq!(due, vec![fresh_delivery(&id, 1, 100)]);
}

async fn fail_double_delivery_done(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let r = s.delivery_done(&id, 0, 300, "250 again").await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let d = one(&*s, &id, 0).await;
    assert_eq!(d.delivered_at, Some(200));
    assert_eq!(d.smtp_reply.as_deref(), Some("250 ok"));
}

async fn fail_out_of_range_time_changes_nothing(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 1).await;
    let r = s.delivery_done(&id, 0, u64::MAX, "250").await;
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    let r = s.delivery_failed(&id, 0, u64::MAX, "x").await;
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    let r = s.create_deliveries(&id, 2, u64::MAX).await;
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    assert_eq!(
        s.deliveries(&id).await.unwrap(),
        vec![fresh_delivery(&id, 0, 100)]
    );
}

async fn token_lookup_follows_latest_token(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 2).await;
    assert_eq!(s.delivery_by_token(&h(1)).await.unwrap(), None);
    s.set_delivery_token(&id, 1, &h(1)).await.unwrap();
    let d = s.delivery_by_token(&h(1)).await.unwrap().unwrap();
    assert_eq!(d, one(&*s, &id, 1).await);
    assert_eq!((d.letter_id.as_str(), d.recipient), (id.as_str(), 1));
    assert_eq!(d.token_hash, Some(h(1)));
    // A reminder's fresh link replaces the old one.
    s.set_delivery_token(&id, 1, &h(2)).await.unwrap();
    assert_eq!(s.delivery_by_token(&h(1)).await.unwrap(), None);
    assert_eq!(
        s.delivery_by_token(&h(2)).await.unwrap().unwrap().recipient,
        1
    );
    // The old hash is free again for another row.
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
    assert_eq!(
        s.delivery_by_token(&h(1)).await.unwrap().unwrap().recipient,
        0
    );
}

async fn fail_unknown_token(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 1).await;
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
    assert_eq!(s.delivery_by_token(&h(2)).await.unwrap(), None);
    assert_eq!(s.delivery_by_token(&[0u8; 32]).await.unwrap(), None);
}

async fn fail_revoked_token(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    assert!(s.delivery_by_token(&h(0x70)).await.unwrap().is_some());
    s.revoke_delivery(&id, 0).await.unwrap();
    assert_eq!(s.delivery_by_token(&h(0x70)).await.unwrap(), None);
    // Revoking again is harmless; the row is kept, marked.
    s.revoke_delivery(&id, 0).await.unwrap();
    let d = one(&*s, &id, 0).await;
    assert!(d.revoked);
    assert_eq!(d.delivered_at, Some(200));
    // A fresh token does not bring a revoked row back.
    s.set_delivery_token(&id, 0, &h(0x71)).await.unwrap();
    assert_eq!(s.delivery_by_token(&h(0x71)).await.unwrap(), None);
    assert!(one(&*s, &id, 0).await.revoked);
    // The other recipient is not revoked.
    assert!(!one(&*s, &id, 1).await.revoked);
}

async fn fail_token_in_use(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 2).await;
    let other = queued(&*s, "other", 1).await;
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
    let r = s.set_delivery_token(&id, 1, &h(1)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let r = s.set_delivery_token(&other, 0, &h(1)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(one(&*s, &id, 1).await.token_hash, None);
    assert_eq!(one(&*s, &other, 0).await.token_hash, None);
    assert_eq!(
        s.delivery_by_token(&h(1)).await.unwrap().unwrap().recipient,
        0
    );
    // Setting a row's own current hash again is fine.
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
}

async fn fail_writes_without_row(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 1).await;
    for (letter, recipient) in [(id.as_str(), 1u32), ("missing", 0)] {
        let results = [
            s.set_delivery_token(letter, recipient, &h(5)).await,
            s.delivery_done(letter, recipient, 200, "250").await,
            s.delivery_failed(letter, recipient, 200, "x").await,
            s.acknowledge(letter, recipient, 200).await,
            s.answer(letter, recipient, 200, "text").await,
            s.revoke_delivery(letter, recipient).await,
            s.reminders_sent(letter, recipient, 1).await,
        ];
        for r in results {
            assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        }
    }
    assert_eq!(
        s.deliveries(&id).await.unwrap(),
        vec![fresh_delivery(&id, 0, 100)]
    );
    assert_eq!(s.delivery_by_token(&h(5)).await.unwrap(), None);
}

async fn acknowledge_records_time(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let before = one(&*s, &id, 0).await;
    s.acknowledge(&id, 0, 250).await.unwrap();
    assert_eq!(
        one(&*s, &id, 0).await,
        DeliveryRow {
            acknowledged_at: Some(250),
            ..before
        }
    );
    // The token still opens the row, now acknowledged.
    assert_eq!(
        s.delivery_by_token(&h(0x70))
            .await
            .unwrap()
            .unwrap()
            .acknowledged_at,
        Some(250)
    );
}

async fn fail_acknowledge_twice(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    s.acknowledge(&id, 0, 250).await.unwrap();
    let r = s.acknowledge(&id, 0, 260).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(one(&*s, &id, 0).await.acknowledged_at, Some(250));
}

async fn fail_respond_not_delivered(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 1).await;
    s.set_delivery_token(&id, 0, &h(1)).await.unwrap();
    cannot_respond(&*s, &id, "early").await;
}

async fn fail_respond_revoked(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    s.revoke_delivery(&id, 0).await.unwrap();
    cannot_respond(&*s, &id, "after revocation").await;
}

async fn answer_records_text_and_acknowledges(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let before = one(&*s, &id, 0).await;
    // A long answer with Markdown, newlines and non-ASCII text comes back byte for byte.
    let text = format!(
        "# Réponse\n\nWe hear you — *all* of you.\n\t– la direction 👋\n{}",
        "x".repeat(49_000)
    );
    s.answer(&id, 0, 300, &text).await.unwrap();
    assert_eq!(
        one(&*s, &id, 0).await,
        DeliveryRow {
            acknowledged_at: Some(300),
            answered_at: Some(300),
            response_text: Some(text.clone()),
            ..before
        }
    );
    let d = s.delivery_by_token(&h(0x70)).await.unwrap().unwrap();
    assert_eq!(d.response_text, Some(text));
}

async fn answer_keeps_earlier_acknowledgement(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    s.acknowledge(&id, 0, 250).await.unwrap();
    s.answer(&id, 0, 300, "answer").await.unwrap();
    assert_eq!(
        response(&*s, &id).await,
        (Some(250), Some(300), Some("answer".to_owned()))
    );
}

async fn fail_answer_twice(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    s.answer(&id, 0, 300, "first").await.unwrap();
    let r = s.answer(&id, 0, 310, "second").await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(
        response(&*s, &id).await,
        (Some(300), Some(300), Some("first".to_owned()))
    );
}

async fn fail_acknowledge_after_answer(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    s.answer(&id, 0, 300, "answer").await.unwrap();
    let r = s.acknowledge(&id, 0, 310).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(one(&*s, &id, 0).await.acknowledged_at, Some(300));
}

async fn reminders_sent_sets_count(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let before = one(&*s, &id, 0).await;
    s.reminders_sent(&id, 0, 1).await.unwrap();
    s.reminders_sent(&id, 0, 2).await.unwrap();
    assert_eq!(
        one(&*s, &id, 0).await,
        DeliveryRow {
            reminders_sent: 2,
            ..before
        }
    );
    assert_eq!(one(&*s, &id, 1).await.reminders_sent, 0);
}

/// Ten workers finishing the same delivery at once: one records it, the rest are refused.
async fn concurrent_delivery_done_one_wins(s: Arc<dyn Store>) {
    let id = queued(&*s, "hdl", 1).await;
    let tasks = crate::harness::spawn_each(&s, &id, 0..10u64, |s, id, i| async move {
        let reply = format!("250 worker {i}");
        s.delivery_done(&id, 0, 200 + i, &reply)
            .await
            .map(|()| (200 + i, reply))
    });
    let mut wins = crate::harness::winners(tasks, |e| matches!(e, StoreError::Conflict(_))).await;
    assert_eq!(wins.len(), 1, "{wins:?}");
    let (at, reply) = wins.pop().unwrap();
    let d = one(&*s, &id, 0).await;
    assert_eq!(d.delivered_at, Some(at));
    assert_eq!(d.smtp_reply, Some(reply));
}

/// Ten answers racing: exactly one is kept, and it is the one that was told Ok.
async fn concurrent_answer_one_wins(s: Arc<dyn Store>) {
    let id = delivered(&*s, "hdl").await;
    let tasks = crate::harness::spawn_each(&s, &id, 0..10u64, |s, id, i| async move {
        let text = format!("answer {i}");
        s.answer(&id, 0, 300 + i, &text).await.map(|()| text)
    });
    let mut wins = crate::harness::winners(tasks, |e| matches!(e, StoreError::Conflict(_))).await;
    assert_eq!(wins.len(), 1, "{wins:?}");
    assert_eq!(one(&*s, &id, 0).await.response_text, wins.pop());
}

/// Acknowledging and answering delivery 0 of `id` at 250 are both refused as not found, and the
/// delivery keeps no acknowledgement, answer or text.
async fn cannot_respond(s: &dyn Store, id: &str, text: &str) {
    let r = s.acknowledge(id, 0, 250).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = s.answer(id, 0, 250, text).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(response(s, id).await, (None, None, None));
}

/// What delivery 0 of `id` holds of a response: `(acknowledged_at, answered_at, response_text)`.
async fn response(s: &dyn Store, id: &str) -> (Option<u64>, Option<u64>, Option<String>) {
    let d = one(s, id, 0).await;
    (d.acknowledged_at, d.answered_at, d.response_text)
}
