//! The issuer log: statements appended one at a time with their checkpoints, per issuer.

use std::sync::Arc;

use undersigned_store::{Store, StoreError};

use crate::harness::{checkpoint, h, on_both};

on_both!(
    issuer_log_appends_in_order,
    fail_issuer_log_append_at_moved_size,
    issued_epochs_listed
);

async fn issuer_log_appends_in_order(s: Arc<dyn Store>) {
    assert!(s.issuer_log_hashes("iss").await.unwrap().is_empty());
    assert!(s.issuer_checkpoint("iss", None).await.unwrap().is_none());
    s.append_issuer_statement("iss", 0, &h(1), b"first", &checkpoint(1, 11))
        .await
        .unwrap();
    s.append_issuer_statement("iss", 1, &h(2), b"second", &checkpoint(2, 12))
        .await
        .unwrap();
    s.append_issuer_statement("other", 0, &h(3), b"theirs", &checkpoint(1, 13))
        .await
        .unwrap();
    assert_eq!(s.issuer_log_hashes("iss").await.unwrap(), vec![h(1), h(2)]);
    assert_eq!(
        s.issuer_log_leaves("iss", 0, 10).await.unwrap(),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
    assert_eq!(
        s.issuer_log_leaves("iss", 1, 2).await.unwrap(),
        vec![b"second".to_vec()]
    );
    assert_eq!(
        s.issuer_checkpoint("iss", None).await.unwrap(),
        Some(checkpoint(2, 12))
    );
    assert_eq!(
        s.issuer_checkpoint("iss", Some(1)).await.unwrap(),
        Some(checkpoint(1, 11))
    );
    assert_eq!(s.issuer_checkpoint("iss", Some(3)).await.unwrap(), None);
    assert_eq!(
        s.issuer_checkpoint("other", None).await.unwrap(),
        Some(checkpoint(1, 13))
    );
}

async fn fail_issuer_log_append_at_moved_size(s: Arc<dyn Store>) {
    s.append_issuer_statement("iss", 0, &h(1), b"first", &checkpoint(1, 11))
        .await
        .unwrap();
    // A second writer that still believes the log is empty, or one ahead of it.
    for expected in [0, 2] {
        let r = s
            .append_issuer_statement("iss", expected, &h(2), b"x", &checkpoint(expected + 1, 12))
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    }
    // A checkpoint that does not cover the new size is refused before anything is written.
    assert!(s
        .append_issuer_statement("iss", 1, &h(2), b"x", &checkpoint(5, 12))
        .await
        .is_err());
    assert_eq!(s.issuer_log_hashes("iss").await.unwrap(), vec![h(1)]);
    assert_eq!(
        s.issuer_checkpoint("iss", None).await.unwrap(),
        Some(checkpoint(1, 11))
    );
}

async fn issued_epochs_listed(s: Arc<dyn Store>) {
    assert!(s.issued_epochs("iss").await.unwrap().is_empty());
    for (tag, epoch) in [(1, "2027-Q1"), (2, "2026-Q4"), (3, "2027-Q1")] {
        s.record_issuance(
            "iss",
            &h(100 + tag),
            &[(epoch, h(tag))],
            ("acme", "eng", "30-39"),
        )
        .await
        .unwrap();
    }
    s.record_issuance(
        "other",
        &h(200),
        &[("2025-Q1", h(1))],
        ("acme", "eng", "30-39"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.issued_epochs("iss").await.unwrap(),
        vec!["2026-Q4".to_owned(), "2027-Q1".to_owned()]
    );
}
