//! The letter's lifecycle as a server reads its own log (proofs taken as accepted): the same
//! order of entries the bundle verifier accepts and refuses, each refusal at its index, and a
//! refused entry changes nothing.

use crate::fixture::*;
use undersigned_core::entry::DisclosureChoice;
use undersigned_core::error::VerifyError;
use undersigned_core::letter::{Letter, Recipient};
use undersigned_core::lifecycle::{Event, Lifecycle, LifecycleError, Phase};
use undersigned_core::record::{CloseReason, LogEntry};

/// Opened, two signatures (the first with a comment), one withdrawn, closed, then delivered,
/// acknowledged and answered by the one recipient.
fn log() -> (Letter, Vec<LogEntry>) {
    let (w, creds) = populated(300);
    let base = w.letter("To the Secretary", all_disclosures());
    let recipient = Recipient {
        name: "Secretary".into(),
        address: "secretary@state.gov".into(),
        role: None,
    };
    let letter = Letter::new(
        &base.title,
        &base.body,
        vec![recipient],
        base.policy.clone(),
    )
    .unwrap()
    .with_response(30, vec![])
    .unwrap();
    let sets = w.sets();
    let none = DisclosureChoice::default();
    let a = sign(&creds[0], &letter, &sets, none, None);
    let b = sign(&creds[4], &letter, &sets, none, None);
    let b_out = withdraw(&creds[4], &letter, &sets);
    let mut b_bundle = w.bundle(&letter, vec![a, b, b_out]);
    let mut entries = std::mem::take(&mut b_bundle.entries);
    let at = 1_800_000_000;
    entries.extend([
        LogEntry::Closed {
            at,
            reason: CloseReason::Deadline,
        },
        LogEntry::Delivered {
            recipient: "Secretary".into(),
            at: at + 1,
            smtp_reply: "250 ok".into(),
        },
        LogEntry::Acknowledged {
            recipient: "Secretary".into(),
            at: at + 2,
        },
        LogEntry::Response {
            recipient: "Secretary".into(),
            at: at + 3,
            text_sha256: "00".repeat(32),
        },
    ]);
    (letter, entries)
}

/// Reads `entries` from a fresh lifecycle, returning the first refusal.
fn read(entries: &[LogEntry]) -> Result<Lifecycle, LifecycleError> {
    let mut life = Lifecycle::new();
    for e in entries {
        life.next_accepted(e)?;
    }
    Ok(life)
}

fn malformed_at(index: u64, why: &'static str) -> LifecycleError {
    LifecycleError::Entry {
        index,
        error: VerifyError::Malformed(why),
    }
}

#[test]
fn the_whole_life_of_a_letter_reads_in_order() {
    let (letter, entries) = log();
    let mut life = Lifecycle::of(letter.clone());
    assert_eq!(life.phase(), Phase::Unopened);
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| match life.next_accepted(e).unwrap() {
            Event::Opened { .. } => "opened",
            Event::Signed { .. } => "signed",
            Event::Withdrew { .. } => "withdrew",
            Event::Closed { .. } => "closed",
            Event::Delivered { .. } => "delivered",
            Event::Acknowledged { .. } => "acknowledged",
            Event::Answered { .. } => "answered",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "signed",
            "signed",
            "withdrew",
            "closed",
            "delivered",
            "acknowledged",
            "answered"
        ]
    );
    assert!(life.is_closed());
    assert_eq!(life.size(), 8);
    assert_eq!(life.letter(), Some(&letter));
    let summary = life.tally().summarize(letter.policy.k);
    assert_eq!((summary.signatures, summary.withdrawn), (1, 1));
    assert!(life.delivered_to("Secretary"));
    let r = &life.recipients()[0];
    assert_eq!(
        (r.delivered_at, r.acknowledged_at, r.answered_at),
        (
            Some(1_800_000_001),
            Some(1_800_000_002),
            Some(1_800_000_003)
        )
    );
    // The leaves read back as the same entries.
    let mut again = Lifecycle::new();
    for e in &entries {
        let read = again.read_leaf(&e.leaf_bytes()).unwrap();
        again.next_accepted(&read).unwrap();
    }
    assert_eq!(again.size(), 8);
}

#[test]
fn fail_entries_out_of_their_place() {
    let (_, entries) = log();
    let (opened, signed, withdrawn, closed, delivered, answered) = (
        &entries[0],
        &entries[1],
        &entries[3],
        &entries[4],
        &entries[5],
        &entries[7],
    );
    let cases: Vec<(Vec<&LogEntry>, LifecycleError)> = vec![
        (
            vec![signed],
            malformed_at(0, "the log must start with the opened letter"),
        ),
        (
            vec![opened, opened],
            malformed_at(1, "a second opened entry"),
        ),
        (
            vec![opened, signed, signed],
            LifecycleError::Entry {
                index: 2,
                error: VerifyError::DoubleSign,
            },
        ),
        (
            vec![opened, withdrawn],
            LifecycleError::Entry {
                index: 1,
                error: VerifyError::WithdrawWithoutSign,
            },
        ),
        (
            vec![opened, closed, signed],
            LifecycleError::Entry {
                index: 2,
                error: VerifyError::LetterNotOpen,
            },
        ),
        (
            vec![opened, closed, closed],
            malformed_at(2, "a second closed entry"),
        ),
        (
            vec![opened, delivered],
            malformed_at(1, "delivery before the letter closed"),
        ),
        (
            vec![opened, closed, answered],
            malformed_at(2, "an answer before delivery"),
        ),
        (
            vec![opened, closed, delivered, delivered],
            malformed_at(3, "a second delivery to the same recipient"),
        ),
    ];
    for (log, expected) in cases {
        let log: Vec<LogEntry> = log.into_iter().cloned().collect();
        assert_eq!(read(&log).unwrap_err(), expected, "{log:?}");
    }
}

#[test]
fn fail_a_signature_whose_kind_is_not_its_action() {
    let (_, entries) = log();
    let LogEntry::Signature(s) = &entries[1] else {
        panic!("entry 1 is a signature")
    };
    let relabelled = LogEntry::Withdrawal(s.clone());
    assert_eq!(
        read(&[entries[0].clone(), relabelled]).unwrap_err(),
        malformed_at(1, "entry kind does not match its action")
    );
}

#[test]
fn fail_another_letter_or_a_leaf_that_is_no_entry() {
    let (letter, entries) = log();
    let mut other = letter.clone();
    other.title.push_str(" (edited)");
    let mut life = Lifecycle::of(other);
    assert_eq!(
        life.next_accepted(&entries[0]).unwrap_err(),
        LifecycleError::OtherLetter
    );
    let mut life = Lifecycle::new();
    life.next_accepted(&entries[0]).unwrap();
    assert_eq!(
        life.read_leaf(b"undersigned/entry/v1\n{}").unwrap_err(),
        malformed_at(1, "not a log entry")
    );
}

/// A refused entry leaves the log where it stood: the next valid entry takes its index.
#[test]
fn a_refused_entry_changes_nothing() {
    let (_, entries) = log();
    let mut life = Lifecycle::new();
    life.next_accepted(&entries[0]).unwrap();
    life.next_accepted(&entries[1]).unwrap();
    let before = life.tally().summarize(1);
    // The same signature again, and a proof the caller refuses.
    assert!(life.next_accepted(&entries[1]).is_err());
    let refused = life.next(&entries[2], |_| Err(VerifyError::BadProof));
    assert_eq!(
        refused.unwrap_err(),
        LifecycleError::Entry {
            index: 2,
            error: VerifyError::BadProof
        }
    );
    assert_eq!(life.size(), 2);
    assert_eq!(life.tally().summarize(1), before);
    assert!(matches!(
        life.next(&entries[2], Lifecycle::accepted),
        Ok(Event::Signed { .. })
    ));
    assert_eq!(life.size(), 3);
}
