//! Delivery and answers in the record: what the bundle verifier accepts, refuses and says.

use crate::fixture::*;
use undersigned_core::bundle::{Bundle, ResponseText};
use undersigned_core::encoding::sha256;
use undersigned_core::entry::DisclosureChoice;
use undersigned_core::error::{BundleError, VerifyError};
use undersigned_core::letter::{Letter, Recipient};
use undersigned_core::record::{CloseReason, LogEntry};

const DAY: u64 = 86_400;
const CLOSED_AT: u64 = 1_800_000_000;

fn delivered_bundle() -> (Bundle, Letter) {
    let (w, creds) = populated(200);
    let base = w.letter("To three recipients", all_disclosures());
    let recipients = ["Secretary", "Deputy", "Counsel"]
        .iter()
        .map(|n| Recipient {
            name: (*n).into(),
            address: format!("{}@state.gov", n.to_lowercase()),
            role: Some(format!("The {n}")),
        })
        .collect();
    let letter = Letter::new(&base.title, &base.body, recipients, base.policy.clone())
        .unwrap()
        .with_response(30, vec![7, 21])
        .unwrap();
    let e = sign(
        &creds[0],
        &letter,
        &w.sets(),
        DisclosureChoice::default(),
        None,
    );
    let mut b = w.bundle(&letter, vec![e]);
    b.entries.push(LogEntry::Closed {
        at: CLOSED_AT,
        reason: CloseReason::Organizer,
    });
    for n in ["Secretary", "Deputy", "Counsel"] {
        b.entries.push(LogEntry::Delivered {
            recipient: n.into(),
            at: CLOSED_AT + 60,
            smtp_reply: "250 2.0.0 Ok: queued as X".into(),
        });
    }
    b.entries.push(LogEntry::Acknowledged {
        recipient: "Deputy".into(),
        at: CLOSED_AT + DAY,
    });
    let text = "We have received your letter and will meet with you.".to_owned();
    b.entries.push(LogEntry::Response {
        recipient: "Secretary".into(),
        at: CLOSED_AT + 3 * DAY,
        text_sha256: hex::encode(sha256(&[text.as_bytes()])),
    });
    b.responses.push(ResponseText {
        recipient: "Secretary".into(),
        text,
    });
    seal(&mut b);
    (b, letter)
}

#[test]
fn delivery_and_answers_are_verified_and_stated() {
    let (b, _) = delivered_bundle();
    let r = b.verify().unwrap();
    assert_eq!(r.delivered_to, 3);
    assert_eq!(r.answered_by, vec!["Secretary".to_owned()]);
    let s = r.delivery_statement(CLOSED_AT + 40 * DAY).unwrap();
    assert!(
        s.starts_with("delivered to 3 recipients on 2027-01-15"),
        "{s}"
    );
    assert!(s.contains("answered by Secretary on 2027-01-18"), "{s}");
    assert!(
        s.contains("no answer from Counsel after 39 days (overdue: 30 days were given)"),
        "{s}"
    );
    assert!(
        s.contains("no answer from Deputy after 39 days, acknowledged on 2027-01-16"),
        "{s}"
    );
}

fn expect_malformed(b: &mut Bundle, needle: &str) {
    seal(b);
    match b.verify() {
        Err(BundleError::Entry {
            error: VerifyError::Malformed(m),
            ..
        }) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected {needle:?}, got {other:?}"),
    }
}

#[test]
fn fail_tampered_answer_text() {
    let (mut b, _) = delivered_bundle();
    b.responses[0].text.push_str(" Not.");
    expect_malformed(&mut b, "does not match the logged hash");
    let (mut b, _) = delivered_bundle();
    b.responses.clear();
    expect_malformed(&mut b, "text is missing");
}

#[test]
fn fail_second_delivery_unknown_recipient_answer_before_delivery() {
    let (mut b, _) = delivered_bundle();
    b.entries.push(LogEntry::Delivered {
        recipient: "Counsel".into(),
        at: CLOSED_AT + 9,
        smtp_reply: "250".into(),
    });
    expect_malformed(&mut b, "second delivery");
    let (mut b, _) = delivered_bundle();
    b.entries.push(LogEntry::Acknowledged {
        recipient: "Someone Else".into(),
        at: CLOSED_AT + 9,
    });
    expect_malformed(&mut b, "does not name");
    let (mut b, _) = delivered_bundle();
    let pos = b
        .entries
        .iter()
        .position(|e| matches!(e, LogEntry::Delivered { recipient, .. } if recipient == "Deputy"))
        .unwrap();
    b.entries.remove(pos);
    expect_malformed(&mut b, "before delivery");
    let (mut b, _) = delivered_bundle();
    b.entries.push(LogEntry::Acknowledged {
        recipient: "Deputy".into(),
        at: CLOSED_AT + 9,
    });
    expect_malformed(&mut b, "second acknowledgement");
    let (mut b, _) = delivered_bundle();
    let closed = b
        .entries
        .iter()
        .position(|e| matches!(e, LogEntry::Closed { .. }))
        .unwrap();
    b.entries.remove(closed);
    expect_malformed(&mut b, "before the letter closed");
}
