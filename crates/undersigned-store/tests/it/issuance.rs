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
    s.record_issuance("iss", &h(1), &[("e1", h(1))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.record_issuance("iss", &h(2), &[("e1", h(2))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.record_issuance("iss", &h(3), &[("e1", h(3))], ("acme", "ops", "20-29"))
        .await
        .unwrap();
    s.record_issuance("iss", &h(1), &[("e2", h(1))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.record_issuance("other", &h(1), &[("e1", h(1))], ("beta", "eng", "30-39"))
        .await
        .unwrap();
    assert_eq!(
        s.issued_counts("iss", "e1").await.unwrap(),
        vec![
            cell("acme", "eng", "30-39", 2),
            cell("acme", "ops", "20-29", 1)
        ]
    );
    assert_eq!(
        s.issued_counts("iss", "e2").await.unwrap(),
        vec![cell("acme", "eng", "30-39", 1)]
    );
    assert_eq!(
        s.issued_counts("other", "e1").await.unwrap(),
        vec![cell("beta", "eng", "30-39", 1)]
    );
}

async fn fail_already_issued(s: Arc<dyn Store>) {
    s.put_code(&h(1), &h(107), &h(7), 1000, 1600, 5)
        .await
        .unwrap();
    s.record_issuance("iss", &h(1), &[("e1", h(1))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.put_code(&h(1), &h(108), &h(8), 1001, 1600, 5)
        .await
        .unwrap();
    let again = s
        .record_issuance("iss", &h(1), &[("e1", h(1))], ("acme", "ops", "30-39"))
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyIssued)), "{again:?}");
    // Nothing of the refused call stuck: the count is unchanged and the new code is intact.
    assert_eq!(
        s.issued_counts("iss", "e1").await.unwrap(),
        vec![cell("acme", "eng", "30-39", 1)]
    );
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
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::AlreadyIssued) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        s.issued_counts("iss", "e1").await.unwrap(),
        vec![cell("acme", "eng", "30-39", 1)]
    );
}

async fn issuance_of_several_epochs_skips_held_ones(s: Arc<dyn Store>) {
    // One code (tag 9) for the address; a tag per epoch for the one-credential rule.
    s.put_code(&h(9), &h(107), &h(7), 1000, 1600, 5)
        .await
        .unwrap();
    s.record_issuance("iss", &h(9), &[("e1", h(1))], ("acme", "eng", "30-39"))
        .await
        .unwrap();
    s.put_code(&h(9), &h(108), &h(8), 1001, 1600, 5)
        .await
        .unwrap();
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
