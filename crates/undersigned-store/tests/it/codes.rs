//! Email codes: bound to a request, checked, expired, out of attempts, limited per address,
//! and deleted (physically, on SQLite) once they have no use left.

use std::sync::Arc;

use undersigned_store::{CodeCheck, SqliteStore, Store, StoreError};

use crate::harness::{h, on_both};

/// Code `code` for address tag `tag`, under request `100 + code`, mailed at `now`, living 600 s.
async fn put(s: &dyn Store, tag: u8, code: u8, now: u64) -> Result<(), StoreError> {
    s.put_code(&h(tag), &h(100 + code), &h(code), now, now + 600, 3)
        .await
}

/// Checks `guess` under the request of code `code` for `tag`.
async fn check(s: &dyn Store, code: u8, tag: u8, guess: u8, now: u64, max: u32) -> CodeCheck {
    s.check_code(&h(100 + code), &h(tag), &h(guess), now, max)
        .await
        .unwrap()
}

on_both!(
    code_valid_stays_until_issued,
    code_wrong,
    code_expired_is_deleted,
    code_out_of_attempts_is_deleted,
    code_missing,
    code_new_request_keeps_earlier_codes,
    fail_guesses_without_the_request_touch_no_code,
    fail_code_rate_limited,
    code_sweep_deletes_expired,
    code_issuance_deletes_every_code_of_the_address,
    code_rate_limit_concurrent,
    code_attempts_counted_concurrently,
    code_scrub_runs,
);

async fn code_valid_stays_until_issued(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(check(&*s, 7, 1, 7, 1001, 5).await, CodeCheck::Valid);
    assert_eq!(check(&*s, 7, 1, 7, 1002, 5).await, CodeCheck::Valid);
    s.record_issuance("iss", &h(1), &[("2025", h(1))], ("o", "r", "a"))
        .await
        .unwrap();
    assert_eq!(check(&*s, 7, 1, 7, 1003, 5).await, CodeCheck::Missing);
}

async fn code_wrong(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(check(&*s, 7, 1, 8, 1001, 5).await, CodeCheck::Wrong);
    // Another address's request and code do not unlock this one.
    put(&*s, 2, 8, 1000).await.unwrap();
    assert_eq!(check(&*s, 8, 1, 8, 1001, 5).await, CodeCheck::Missing);
    assert_eq!(check(&*s, 7, 2, 7, 1001, 5).await, CodeCheck::Missing);
    assert_eq!(check(&*s, 7, 1, 7, 1001, 5).await, CodeCheck::Valid);
}

async fn code_expired_is_deleted(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    assert_eq!(check(&*s, 7, 1, 7, 1599, 5).await, CodeCheck::Valid);
    assert_eq!(check(&*s, 7, 1, 7, 1600, 5).await, CodeCheck::Expired);
    assert_eq!(check(&*s, 7, 1, 7, 1601, 5).await, CodeCheck::Missing);
}

async fn code_out_of_attempts_is_deleted(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    for _ in 0..3 {
        assert_eq!(check(&*s, 7, 1, 9, 1001, 3).await, CodeCheck::Wrong);
    }
    // The last wrong guess used the code up: it is gone, the right code no longer helps.
    assert_eq!(check(&*s, 7, 1, 7, 1001, 3).await, CodeCheck::Missing);
}

async fn code_missing(s: Arc<dyn Store>) {
    assert_eq!(check(&*s, 7, 1, 7, 1000, 5).await, CodeCheck::Missing);
}

async fn code_new_request_keeps_earlier_codes(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    check(&*s, 7, 1, 9, 1001, 3).await;
    put(&*s, 1, 8, 1002).await.unwrap();
    // Each request has its own code and its own attempts; neither replaces the other.
    assert_eq!(check(&*s, 7, 1, 8, 1003, 3).await, CodeCheck::Wrong);
    assert_eq!(check(&*s, 8, 1, 7, 1003, 3).await, CodeCheck::Wrong);
    assert_eq!(check(&*s, 8, 1, 8, 1003, 3).await, CodeCheck::Valid);
    assert_eq!(check(&*s, 7, 1, 7, 1003, 3).await, CodeCheck::Valid);
}

async fn fail_guesses_without_the_request_touch_no_code(s: Arc<dyn Store>) {
    // The owner's request, then someone else's for the same address (tag 1).
    put(&*s, 1, 7, 1000).await.unwrap();
    put(&*s, 1, 8, 1001).await.unwrap();
    for guess in 0..20u8 {
        // Under the prober's own request: only that request's attempts go.
        check(&*s, 8, 1, guess.wrapping_add(30), 1002, 3).await;
        // Under a request that does not exist: nothing at all.
        assert_eq!(
            s.check_code(&h(200), &h(1), &h(guess), 1002, 3)
                .await
                .unwrap(),
            CodeCheck::Missing
        );
    }
    assert_eq!(check(&*s, 8, 1, 8, 1003, 3).await, CodeCheck::Missing);
    assert_eq!(check(&*s, 7, 1, 7, 1003, 3).await, CodeCheck::Valid);
}

async fn fail_code_rate_limited(s: Arc<dyn Store>) {
    for (i, code) in [7u8, 8, 9].into_iter().enumerate() {
        put(&*s, 1, code, 1000 + i as u64).await.unwrap();
    }
    assert!(matches!(
        put(&*s, 1, 10, 1010).await,
        Err(StoreError::RateLimited)
    ));
    // The refused request stored nothing and replaced nothing.
    assert_eq!(check(&*s, 10, 1, 10, 1011, 5).await, CodeCheck::Missing);
    assert_eq!(check(&*s, 7, 1, 7, 1011, 5).await, CodeCheck::Valid);
    // Other tags are not affected.
    put(&*s, 2, 17, 1010).await.unwrap();
    // Once the first code expired, there is room for one more.
    assert!(matches!(
        put(&*s, 1, 10, 1599).await,
        Err(StoreError::RateLimited)
    ));
    put(&*s, 1, 10, 1600).await.unwrap();
    // max_live = 0 refuses outright.
    assert!(matches!(
        s.put_code(&h(3), &h(103), &h(3), 1000, 1600, 0).await,
        Err(StoreError::RateLimited)
    ));
}

async fn code_sweep_deletes_expired(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    put(&*s, 2, 8, 1100).await.unwrap();
    assert_eq!(s.sweep_codes(1599).await.unwrap(), 0);
    assert_eq!(s.sweep_codes(1600).await.unwrap(), 1);
    assert_eq!(check(&*s, 8, 2, 8, 1601, 5).await, CodeCheck::Valid);
    assert_eq!(s.sweep_codes(1700).await.unwrap(), 1);
    assert_eq!(check(&*s, 8, 2, 8, 1601, 5).await, CodeCheck::Missing);
}

async fn code_issuance_deletes_every_code_of_the_address(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    put(&*s, 1, 8, 1001).await.unwrap();
    put(&*s, 2, 9, 1001).await.unwrap();
    s.record_issuance("iss", &h(1), &[("e1", h(1))], ("o", "r", "a"))
        .await
        .unwrap();
    assert_eq!(check(&*s, 8, 1, 8, 1002, 5).await, CodeCheck::Missing);
    // Nothing is left to count against the address either.
    for code in [10, 11, 12] {
        put(&*s, 1, code, 1003).await.unwrap();
    }
    assert_eq!(check(&*s, 9, 2, 9, 1002, 5).await, CodeCheck::Valid);
}

async fn code_rate_limit_concurrent(s: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.put_code(&h(1), &h(100 + i), &h(i), 1000, 1600, 5).await })
        })
        .collect();
    let ok = crate::harness::winners(tasks, |e| matches!(e, StoreError::RateLimited))
        .await
        .len();
    assert_eq!(ok, 5);
}

async fn code_attempts_counted_concurrently(s: Arc<dyn Store>) {
    put(&*s, 1, 7, 1000).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.check_code(&h(107), &h(1), &h(9), 1001, 5).await })
        })
        .collect();
    let mut wrong = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            CodeCheck::Wrong => wrong += 1,
            CodeCheck::TooManyAttempts | CodeCheck::Missing => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wrong, 5);
    assert_eq!(check(&*s, 7, 1, 7, 1001, 5).await, CodeCheck::Missing);
}

async fn code_scrub_runs(s: Arc<dyn Store>) {
    s.scrub().await.unwrap();
    put(&*s, 1, 7, 1000).await.unwrap();
    s.record_issuance("iss", &h(1), &[("e1", h(1))], ("o", "r", "a"))
        .await
        .unwrap();
    s.scrub().await.unwrap();
    s.scrub().await.unwrap();
}

/// Every byte of the database, its WAL and shared memory.
fn raw_files(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A code used for issuance is gone from the files themselves, not only from the table: a
/// copy of the database, WAL and shared memory holds neither its hash nor its request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_sqlite_used_code_leaves_no_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("u.db")).await.unwrap();
    let code: [u8; 32] = *b"CODE-HASH-THAT-MUST-NOT-SURVIVE!";
    let request: [u8; 32] = *b"REQUEST-HASH-MUST-NOT-SURVIVE-!!";
    s.put_code(&h(1), &request, &code, 1000, 1600, 5)
        .await
        .unwrap();
    s.record_issuance("iss", &h(1), &[("e1", h(2))], ("o", "r", "a"))
        .await
        .unwrap();
    // Before the scrub the old page images are still in the WAL: what the scrub is for.
    assert!(contains(&raw_files(dir.path()), &code));
    s.scrub().await.unwrap();
    let bytes = raw_files(dir.path());
    assert!(!contains(&bytes, &code), "the code hash survived");
    assert!(!contains(&bytes, &request), "the request hash survived");
    s.close().await;
}
