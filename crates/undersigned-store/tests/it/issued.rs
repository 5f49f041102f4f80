//! The issued-count rule in the store: a letter accepts no more distinct signers of an
//! organization (per issuer and epoch, withdrawn ones too) than the issuer's count allows,
//! checked in the transaction that inserts the pseudonym, so racing submitters, even from
//! several servers on one PostgreSQL database, cannot both take the last slot.

use std::sync::Arc;

use undersigned_store::{PgStore, Store, StoreError};

use crate::harness::{cell, entry, on_both, open_letter, PgDb};

on_both!(
    fail_signer_past_the_issued_count,
    concurrent_signers_fill_exactly_the_issued_count,
);

async fn fail_signer_past_the_issued_count(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let two = cell("state.gov", 2);
    s.accept_entry(&id, &entry(1, false, 0, 100), &two)
        .await
        .unwrap();
    s.accept_entry(&id, &entry(2, false, 0, 100), &two)
        .await
        .unwrap();
    let third = entry(3, false, 0, 100);
    let r = s.accept_entry(&id, &third, &two).await;
    match r {
        Err(StoreError::TooManySigners(e)) => {
            assert_eq!((e.signers, e.allowed), (3, 2));
            assert!(
                e.to_string().contains("state.gov has 3 distinct signers"),
                "{e}"
            );
        }
        other => panic!("expected TooManySigners, got {other:?}"),
    }
    // Nothing of the refused entry stayed: not pooled, and its pseudonym is free (a
    // withdrawal finds no signature to withdraw).
    assert!(!s.is_pending(&id, &third.entry_hash).await.unwrap());
    assert_eq!(s.pending(&id, u64::MAX).await.unwrap().len(), 2);
    let r = s.accept_entry(&id, &entry(3, true, 0, 100), &two).await;
    assert!(matches!(r, Err(StoreError::WithdrawWithoutSign)), "{r:?}");
    // A withdrawal does not give the credential back: still refused after one.
    s.accept_entry(&id, &entry(1, true, 0, 100), &two)
        .await
        .unwrap();
    let r = s.accept_entry(&id, &entry(4, false, 0, 100), &two).await;
    assert!(matches!(r, Err(StoreError::TooManySigners(_))), "{r:?}");
    // Another organization's cell, another epoch or another letter counts on its own.
    s.accept_entry(&id, &entry(5, false, 0, 100), &cell("nasa.gov", 1))
        .await
        .unwrap();
    let mut other_epoch = cell("state.gov", 1);
    other_epoch.epoch = undersigned_core::ids::Epoch::parse("2027-Q1").unwrap();
    s.accept_entry(&id, &entry(6, false, 0, 100), &other_epoch)
        .await
        .unwrap();
    let other = open_letter(&*s, "other").await;
    s.accept_entry(&other, &entry(3, false, 0, 100), &cell("state.gov", 1))
        .await
        .unwrap();
    // A count of zero (the issuer lists no credential for the org) refuses the first signer.
    let r = s
        .accept_entry(&other, &entry(7, false, 0, 100), &cell("nasa.gov", 0))
        .await;
    assert!(matches!(r, Err(StoreError::TooManySigners(_))), "{r:?}");
    // The issuer's count grew: the next signer fits.
    s.accept_entry(&id, &third, &cell("state.gov", 3))
        .await
        .unwrap();
    assert!(s.is_pending(&id, &third.entry_hash).await.unwrap());
}

/// Submitters racing for 5 slots, 40 of them at once: exactly 5 get in.
async fn concurrent_signers_fill_exactly_the_issued_count(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let stores: Vec<Arc<dyn Store>> = vec![s.clone()];
    assert_eq!(race(&stores, &id, 40, 5).await, 5);
    assert_eq!(s.pending(&id, u64::MAX).await.unwrap().len(), 5);
}

/// Starts `n` signers with distinct pseudonyms at once, spread over `stores`, for a cell of
/// `allowed`; returns how many were accepted (every other must be `TooManySigners`).
async fn race(stores: &[Arc<dyn Store>], id: &str, n: u16, allowed: u64) -> usize {
    let start = Arc::new(tokio::sync::Barrier::new(usize::from(n)));
    let tasks: Vec<_> = (0..n)
        .map(|p| {
            let s = stores[usize::from(p) % stores.len()].clone();
            let id = id.to_owned();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                s.accept_entry(
                    &id,
                    &entry(100 + p, false, 0, 100),
                    &cell("state.gov", allowed),
                )
                .await
            })
        })
        .collect();
    crate::harness::winners(tasks, |e| matches!(e, StoreError::TooManySigners(_)))
        .await
        .len()
}

/// Three servers on one PostgreSQL database (three stores, three pools), 60 signers racing
/// for 7 slots: exactly 7 get in, as the counter row's lock serializes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_servers_on_one_database_fill_exactly_the_issued_count() {
    let db = PgDb::new().await;
    let id = open_letter(&*db.store, "hdl").await;
    let mut stores: Vec<Arc<dyn Store>> = vec![db.store()];
    for _ in 0..2 {
        stores.push(Arc::new(PgStore::connect(&db.url).await.unwrap()));
    }
    assert_eq!(race(&stores, &id, 60, 7).await, 7);
    assert_eq!(db.store.pending(&id, u64::MAX).await.unwrap().len(), 7);
}
