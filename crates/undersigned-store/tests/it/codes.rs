//! Email codes: checking, expiry, attempt limits and the send rate limit.

use std::sync::Arc;

use undersigned_store::{CodeCheck, Store, StoreError};

use crate::harness::{h, on_both};

const HOUR: u64 = 3600;

async fn put(s: &dyn Store, tag: u8, code: u8, now: u64) -> Result<(), StoreError> {
    s.put_code(&h(tag), &h(code), now, now + 600, 3, HOUR).await
}

on_both!(
    code_valid_stays_until_issued,
    code_wrong,
    code_expired,
    code_too_many_attempts,
    code_missing,
    code_put_replaces_and_resets_attempts,
    fail_code_rate_limited,
    fail_code_rate_limit_survives_issuance,
    code_rate_limit_concurrent,
    code_attempts_counted_concurrently,
);

async fn code_valid_stays_until_issued(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(7), 1001, 5).await.unwrap(),
        CodeCheck::Valid
    );
    assert_eq!(
        s.check_code(&h(1), &h(7), 1002, 5).await.unwrap(),
        CodeCheck::Valid
    );
    s.record_issuance("iss", &h(1), &[("2025", h(1))], ("o", "r", "a"))
        .await
        .unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(7), 1003, 5).await.unwrap(),
        CodeCheck::Missing
    );
}

async fn code_wrong(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(8), 1001, 5).await.unwrap(),
        CodeCheck::Wrong
    );
    // Another tag's code does not unlock this one.
    put(&*s, 2, 8, 1000).await.unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(8), 1001, 5).await.unwrap(),
        CodeCheck::Wrong
    );
    assert_eq!(
        s.check_code(&h(1), &h(7), 1001, 5).await.unwrap(),
        CodeCheck::Valid
    );
}

async fn code_expired(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(7), 1599, 5).await.unwrap(),
        CodeCheck::Valid
    );
    assert_eq!(
        s.check_code(&h(1), &h(7), 1600, 5).await.unwrap(),
        CodeCheck::Expired
    );
    assert_eq!(
        s.check_code(&h(1), &h(7), 9999, 5).await.unwrap(),
        CodeCheck::Expired
    );
}

async fn code_too_many_attempts(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            s.check_code(&h(1), &h(9), 1001, 3).await.unwrap(),
            CodeCheck::Wrong
        );
    }
    // The right code no longer helps once the attempts are spent.
    assert_eq!(
        s.check_code(&h(1), &h(7), 1001, 3).await.unwrap(),
        CodeCheck::TooManyAttempts
    );
}

async fn code_missing(s: Arc<dyn Store>) {
    assert_eq!(
        s.check_code(&h(1), &h(7), 1000, 5).await.unwrap(),
        CodeCheck::Missing
    );
}

async fn code_put_replaces_and_resets_attempts(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    for _ in 0..3 {
        s.check_code(&h(1), &h(9), 1001, 3).await.unwrap();
    }
    put(&*s, 1, 8, 1002).await.unwrap();
    assert_eq!(
        s.check_code(&h(1), &h(7), 1003, 3).await.unwrap(),
        CodeCheck::Wrong
    );
    assert_eq!(
        s.check_code(&h(1), &h(8), 1003, 3).await.unwrap(),
        CodeCheck::Valid
    );
}

async fn fail_code_rate_limited(s: Arc<dyn Store>) {
    for i in 0..3 {
        put(&*s, 1, 7, 1000 + i).await.unwrap();
    }
    assert!(matches!(
        put(&*s, 1, 7, 1010).await,
        Err(StoreError::RateLimited)
    ));
    assert!(matches!(
        put(&*s, 1, 7, 1000 + HOUR - 1).await,
        Err(StoreError::RateLimited)
    ));
    // The refused request did not replace the code.
    assert_eq!(
        s.check_code(&h(1), &h(7), 1011, 5).await.unwrap(),
        CodeCheck::Valid
    );
    // Other tags are not affected.
    put(&*s, 2, 7, 1010).await.unwrap();
    // A new window starts once the old one has passed.
    put(&*s, 1, 8, 1000 + HOUR).await.unwrap();
    put(&*s, 1, 8, 1001 + HOUR).await.unwrap();
    put(&*s, 1, 8, 1002 + HOUR).await.unwrap();
    assert!(matches!(
        put(&*s, 1, 8, 1003 + HOUR).await,
        Err(StoreError::RateLimited)
    ));
    // max_sends = 0 refuses outright.
    assert!(matches!(
        s.put_code(&h(3), &h(7), 1000, 1600, 0, HOUR).await,
        Err(StoreError::RateLimited)
    ));
}

async fn fail_code_rate_limit_survives_issuance(s: Arc<dyn Store>) {
    for i in 0..3 {
        put(&*s, 1, 7, 1000 + i).await.unwrap();
    }
    s.record_issuance("iss", &h(1), &[("2025", h(1))], ("o", "r", "a"))
        .await
        .unwrap();
    assert!(matches!(
        put(&*s, 1, 7, 1010).await,
        Err(StoreError::RateLimited)
    ));
}

async fn code_rate_limit_concurrent(s: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.put_code(&h(1), &h(i), 1000, 1600, 5, HOUR).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::RateLimited) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 5);
}

async fn code_attempts_counted_concurrently(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.check_code(&h(1), &h(9), 1001, 5).await })
        })
        .collect();
    let mut wrong = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            CodeCheck::Wrong => wrong += 1,
            CodeCheck::TooManyAttempts => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wrong, 5);
    assert_eq!(
        s.check_code(&h(1), &h(7), 1001, 5).await.unwrap(),
        CodeCheck::TooManyAttempts
    );
}
