//! Issuance records: once per tag and epoch, and counts that never reference a tag.

use std::sync::Arc;

use undersigned_store::{IssuedCell, Store, StoreError};

use crate::harness::{h, on_both};

on_both!(
    issuance_counts,
    fail_already_issued,
    issuance_of_several_epochs_skips_held_ones,
    issuance_concurrent_same_tag
);

fn cell(org: &str, role: &str, age: &str, count: u64) -> IssuedCell {
    IssuedCell {
        org: org.into(),
        role: role.into(),
        age_band: age.into(),
        count,
    }
}

async fn issuance_counts(s: Arc<dyn Store>) {
    assert!(s.issued_counts("iss", "e1").await.unwrap().is_empty());
    // Each: issuer, tag (whose hash is also the epoch tag), epoch, and the cell it counts in.
    for (issuer, tag, epoch, group) in [
        ("iss", 1, "e1", ("acme", "eng", "30-39")),
        ("iss", 2, "e1", ("acme", "eng", "30-39")),
        ("iss", 3, "e1", ("acme", "ops", "20-29")),
        ("iss", 1, "e2", ("acme", "eng", "30-39")),
        ("other", 1, "e1", ("beta", "eng", "30-39")),
    ] {
        s.record_issuance(issuer, &h(tag), &[(epoch, h(tag))], group)
            .await
            .unwrap();
    }
    assert_counts(
        &*s,
        "iss",
        "e1",
        vec![
            cell("acme", "eng", "30-39", 2),
            cell("acme", "ops", "20-29", 1),
        ],
    )
    .await;
    assert_counts(&*s, "iss", "e2", vec![cell("acme", "eng", "30-39", 1)]).await;
    assert_counts(&*s, "other", "e1", vec![cell("beta", "eng", "30-39", 1)]).await;
}

async fn fail_already_issued(s: Arc<dyn Store>) {
    issued_then_new_code(&*s, 1).await;
    let again = s
        .record_issuance("iss", &h(1), &[("e1", h(1))], ("acme", "ops", "30-39"))
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyIssued)), "{again:?}");
    // Nothing of the refused call stuck: the count is unchanged and the new code is intact.
    assert_counts(&*s, "iss", "e1", vec![cell("acme", "eng", "30-39", 1)]).await;
    assert_eq!(
        s.check_code(&h(108), &h(1), &h(8), 1002, 5).await.unwrap(),
        undersigned_store::CodeCheck::Valid
    );
}

async fn issuance_concurrent_same_tag(s: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.record_issuance("iss", &h(1), &[("e1", h(1))], ("acme", "eng", "30-39"))
                    .await
            })
        })
        .collect();
    let ok = crate::harness::winners(tasks, |e| matches!(e, StoreError::AlreadyIssued))
        .await
        .len();
    assert_eq!(ok, 1);
    assert_counts(&*s, "iss", "e1", vec![cell("acme", "eng", "30-39", 1)]).await;
}

async fn issuance_of_several_epochs_skips_held_ones(s: Arc<dyn Store>) {
    // One code (tag 9) for the address; a tag per epoch for the one-credential rule.
    issued_then_new_code(&*s, 9).await;
    let got = s
        .record_issuance(
            "iss",
            &h(9),
            &[("e1", h(1)), ("e2", h(2)), ("e3", h(3))],
            ("acme", "eng", "30-39"),
        )
        .await
        .unwrap();
    assert_eq!(got, vec!["e2".to_owned(), "e3".to_owned()]);
    for (epoch, n) in [("e1", 1), ("e2", 1), ("e3", 1)] {
        assert_eq!(
            s.issued_counts("iss", epoch).await.unwrap(),
            vec![cell("acme", "eng", "30-39", n)],
            "{epoch}"
        );
    }
    // The code was consumed by the issuance.
    assert_eq!(
        s.check_code(&h(108), &h(9), &h(8), 1002, 5).await.unwrap(),
        undersigned_store::CodeCheck::Missing
    );
    s.put_code(&h(9), &h(106), &h(6), 1003, 1600, 5)
        .await
        .unwrap();
    let again = s
        .record_issuance(
            "iss",
            &h(9),
            &[("e2", h(2)), ("e3", h(3))],
            ("acme", "eng", "30-39"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyIssued)), "{again:?}");
    assert_eq!(
        s.check_code(&h(106), &h(9), &h(6), 1004, 5).await.unwrap(),
        undersigned_store::CodeCheck::Valid
    );
}

/// For the address tag `tag`: a code (107, secret 7) at 1000, an issuance of epoch e1 under it
/// ("iss", acme/eng/30-39), then a new code (108, secret 8) at 1001, as a second request would.
async fn issued_then_new_code(s: &dyn Store, tag: u8) {
    s.put_code(&h(tag), &h(107), &h(7), 1000, 1600, 5)
        .await
        .unwrap();
    s.record_issuance("iss", &h(tag), &[("e1", h(1))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.put_code(&h(tag), &h(108), &h(8), 1001, 1600, 5)
        .await
        .unwrap();
}

/// The counts of `issuer` for `epoch` are `want`.
async fn assert_counts(s: &dyn Store, issuer: &str, epoch: &str, want: Vec<IssuedCell>) {
    assert_eq!(s.issued_counts(issuer, epoch).await.unwrap(), want);
}
