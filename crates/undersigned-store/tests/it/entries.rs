//! Submissions: the pseudonym rules, replays, the pool, and races between submitters.

use std::sync::Arc;

use undersigned_store::{Store, StoreError};

use crate::harness::{as_leaf, checkpoint, draft, entry, letter_id_for, on_both, open_letter};

on_both!(
    accept_sign_then_withdraw_pending,
    fail_double_sign,
    fail_replay,
    fail_replay_after_batch,
    fail_withdraw_without_sign,
    fail_double_withdraw,
    fail_double_withdraw_after_batch,
    fail_accept_letter_not_open,
    pending_due_filter,
    concurrent_same_pseudonym_one_wins,
    concurrent_mixed_submissions_each_get_their_own_answer,
    concurrent_submissions_with_publisher,
);

async fn accept_sign_then_withdraw_pending(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let sign = entry(1, false, 0, 100);
    let withdraw = entry(1, true, 0, 100);
    crate::harness::accept(&*s, &id, &sign).await;
    assert!(s.is_pending(&id, &sign.entry_hash).await.unwrap());
    // Withdrawing a signature still waiting in the pool is allowed.
    crate::harness::accept(&*s, &id, &withdraw).await;
    assert_eq!(s.pending(&id, 100).await.unwrap(), vec![sign, withdraw]);
    // The pseudonym cannot sign again, even after withdrawing.
    let again = crate::harness::try_accept(&*s, &id, &entry(1, false, 1, 100)).await;
    assert!(matches!(again, Err(StoreError::DoubleSign)), "{again:?}");
}

async fn fail_double_sign(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    crate::harness::accept(&*s, &id, &entry(1, false, 0, 100)).await;
    let r = crate::harness::try_accept(&*s, &id, &entry(1, false, 1, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleSign)), "{r:?}");
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 1);
    // The same pseudonym on another letter is a different signer.
    let other = open_letter(&*s, "other").await;
    crate::harness::accept(&*s, &other, &entry(1, false, 0, 100)).await;
}

async fn fail_replay(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&*s, &id, &e).await;
    let r = crate::harness::try_accept(&*s, &id, &e).await;
    assert!(matches!(r, Err(StoreError::DoubleSign)), "{r:?}");
    assert_eq!(s.pending(&id, 100).await.unwrap(), vec![e]);
}

async fn fail_replay_after_batch(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&*s, &id, &e).await;
    s.append_batch(&id, 1, &[as_leaf(&e)], &checkpoint(2, 2))
        .await
        .unwrap();
    let r = crate::harness::try_accept(&*s, &id, &e).await;
    assert!(matches!(r, Err(StoreError::DoubleSign)), "{r:?}");
    assert!(!s.is_pending(&id, &e.entry_hash).await.unwrap());
}

async fn fail_withdraw_without_sign(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let r = crate::harness::try_accept(&*s, &id, &entry(1, true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::WithdrawWithoutSign)), "{r:?}");
    assert!(s.pending(&id, u64::MAX).await.unwrap().is_empty());
    // A signature on another letter does not count here.
    let other = open_letter(&*s, "other").await;
    crate::harness::accept(&*s, &other, &entry(1, false, 0, 100)).await;
    let r = crate::harness::try_accept(&*s, &id, &entry(1, true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::WithdrawWithoutSign)), "{r:?}");
}

async fn fail_double_withdraw(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    crate::harness::accept(&*s, &id, &entry(1, false, 0, 100)).await;
    crate::harness::accept(&*s, &id, &entry(1, true, 0, 100)).await;
    for variant in [0, 1] {
        let r = crate::harness::try_accept(&*s, &id, &entry(1, true, variant, 100)).await;
        assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
    }
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 2);
}

async fn fail_double_withdraw_after_batch(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let sign = entry(1, false, 0, 100);
    let withdraw = entry(1, true, 0, 100);
    crate::harness::accept(&*s, &id, &sign).await;
    crate::harness::accept(&*s, &id, &withdraw).await;
    s.append_batch(
        &id,
        1,
        &[as_leaf(&sign), as_leaf(&withdraw)],
        &checkpoint(3, 3),
    )
    .await
    .unwrap();
    let r = crate::harness::try_accept(&*s, &id, &entry(1, true, 1, 100)).await;
    assert!(matches!(r, Err(StoreError::DoubleWithdraw)), "{r:?}");
}

async fn fail_accept_letter_not_open(s: Arc<dyn Store>) {
    let r = crate::harness::try_accept(&*s, "missing", &entry(1, false, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    s.create_letter(&draft("d", 1)).await.unwrap();
    for key in ["d", letter_id_for("d").as_str()] {
        let r = crate::harness::try_accept(&*s, key, &entry(1, false, 0, 100)).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    }
    let id = open_letter(&*s, "hdl").await;
    crate::harness::accept(&*s, &id, &entry(1, false, 0, 100)).await;
    s.close_letter(&id, 200).await.unwrap();
    let r = crate::harness::try_accept(&*s, &id, &entry(2, false, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let r = crate::harness::try_accept(&*s, &id, &entry(1, true, 0, 100)).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    // What was accepted before closing still gets published.
    let pending = s.pending(&id, 100).await.unwrap();
    assert_eq!(pending.len(), 1);
    s.append_batch(&id, 1, &[as_leaf(&pending[0])], &checkpoint(2, 2))
        .await
        .unwrap();
    assert_eq!(s.log_size(&id).await.unwrap(), 2);
}

async fn pending_due_filter(s: Arc<dyn Store>) {
    let a = open_letter(&*s, "a").await;
    let b = open_letter(&*s, "b").await;
    let early = entry(1, false, 0, 100);
    let late = entry(2, false, 0, 200);
    crate::harness::accept(&*s, &a, &late).await;
    crate::harness::accept(&*s, &a, &early).await;
    crate::harness::accept(&*s, &b, &entry(3, false, 0, 300)).await;

    assert!(s.pending(&a, 99).await.unwrap().is_empty());
    assert_eq!(s.pending(&a, 100).await.unwrap(), vec![early.clone()]);
    // Acceptance order, not include_by order.
    assert_eq!(s.pending(&a, 250).await.unwrap(), vec![late, early]);
    assert!(s.letters_with_due_entries(99).await.unwrap().is_empty());
    assert_eq!(
        s.letters_with_due_entries(200).await.unwrap(),
        vec![a.clone()]
    );
    let mut due = s.letters_with_due_entries(u64::MAX).await.unwrap();
    due.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(due, want);
}

async fn concurrent_same_pseudonym_one_wins(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let ok = race_pseudonym_7(&s, &id, false, |e| matches!(e, StoreError::DoubleSign)).await;
    assert_eq!(ok, 1);
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 1);

    // Racing withdrawals of one signature: exactly one goes through.
    let ok = race_pseudonym_7(&s, &id, true, |e| matches!(e, StoreError::DoubleWithdraw)).await;
    assert_eq!(ok, 1);
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 2);
}

/// Submissions that arrive together (and on SQLite share one group commit) each get exactly
/// the answer they would get alone: refused ones (a second signature, a withdrawal without a
/// signature, a closed letter) fail alone, and every accepted one is durable and pooled.
async fn concurrent_mixed_submissions_each_get_their_own_answer(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let closed = open_letter(&*s, "closed").await;
    s.close_letter(&closed, 60).await.unwrap();
    // Already signed before the burst: signing again is refused, withdrawing accepted.
    crate::harness::accept(&*s, &id, &entry(500, false, 0, 100)).await;
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Ok,
        DoubleSign,
        WithdrawWithoutSign,
        NotFound,
    }
    let mut jobs: Vec<(String, undersigned_store::PendingEntry, Want)> = Vec::new();
    for p in 0..40u16 {
        jobs.push((id.clone(), entry(p, false, 0, 100), Want::Ok));
        match p % 4 {
            0 => jobs.push((
                id.clone(),
                entry(1000 + p, true, 0, 100),
                Want::WithdrawWithoutSign,
            )),
            1 => jobs.push((closed.clone(), entry(p, false, 0, 100), Want::NotFound)),
            2 => jobs.push((
                id.clone(),
                entry(500, false, 1 + p as u8, 100),
                Want::DoubleSign,
            )),
            _ => {}
        }
    }
    jobs.push((id.clone(), entry(500, true, 0, 100), Want::Ok));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(letter, e, want)| {
            let s = s.clone();
            tokio::spawn(
                async move { (crate::harness::try_accept(&*s, &letter, &e).await, want, e) },
            )
        })
        .collect();
    let mut accepted = Vec::new();
    for t in tasks {
        let (got, want, e) = t.await.unwrap();
        let got = match got {
            Ok(()) => Want::Ok,
            Err(StoreError::DoubleSign) => Want::DoubleSign,
            Err(StoreError::WithdrawWithoutSign) => Want::WithdrawWithoutSign,
            Err(StoreError::NotFound) => Want::NotFound,
            Err(other) => panic!("unexpected {other}"),
        };
        assert_eq!(got, want, "pseudonyms {:?}", e.pseudonyms);
        if got == Want::Ok {
            accepted.push(e.entry_hash);
        }
    }
    assert_eq!(accepted.len(), 41);
    for h in &accepted {
        assert!(s.is_pending(&id, h).await.unwrap());
    }
    // 40 new signatures, the earlier one and its withdrawal.
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 42);
    assert!(s.pending(&closed, u64::MAX).await.unwrap().is_empty());
}

/// Many submitters and a publisher at once: no busy errors, nothing lost, nothing twice.
async fn concurrent_submissions_with_publisher(s: Arc<dyn Store>) {
    const N: u16 = 60;
    let id = open_letter(&*s, "hdl").await;
    let submitters: Vec<_> = (0..N)
        .map(|p| {
            let s = s.clone();
            let id = id.clone();
            tokio::spawn(async move {
                crate::harness::try_accept(&*s, &id, &entry(p, false, 0, 100)).await?;
                if p % 3 == 0 {
                    crate::harness::try_accept(&*s, &id, &entry(p, true, 0, 100)).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    let publisher = {
        let s = s.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let mut size = 1u64;
            for _ in 0..30 {
                size = publish_pending(&*s, &id, size).await?;
                tokio::task::yield_now().await;
            }
            Ok::<_, StoreError>(size)
        })
    };
    for t in submitters {
        t.await.unwrap().unwrap();
    }
    let mut size = publisher.await.unwrap().unwrap();
    size = publish_pending(&*s, &id, size).await.unwrap();

    let signs = u64::from(N);
    let withdrawals = u64::from(N.div_ceil(3));
    assert_eq!(size, 1 + signs + withdrawals);
    assert_eq!(s.log_size(&id).await.unwrap(), size);
    assert!(s.pending(&id, u64::MAX).await.unwrap().is_empty());
    // Every signature precedes its own withdrawal in the log.
    for p in (0..N).step_by(3) {
        let si = s
            .leaf_index(&id, &entry(p, false, 0, 100).entry_hash)
            .await
            .unwrap()
            .unwrap();
        let wi = s
            .leaf_index(&id, &entry(p, true, 0, 100).entry_hash)
            .await
            .unwrap()
            .unwrap();
        assert!(si < wi, "pseudonym {p}: sign at {si}, withdrawal at {wi}");
    }
}

/// On SQLite, submissions that arrive together share one transaction (`group_commit`): a
/// burst of 64 concurrent submissions is committed in far fewer transactions than
/// submissions, and every one of them is pooled. One transaction per submission fails this.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_burst_shares_transactions() {
    let db = crate::harness::SqliteDb::new().await;
    let s = db.store();
    let id = open_letter(&*s, "hdl").await;
    let (tx_before, n_before) = db.store.commit_groups().counts();
    let tasks: Vec<_> = (0..64u16)
        .map(|p| {
            let (s, id) = (s.clone(), id.clone());
            tokio::spawn(async move {
                crate::harness::try_accept(&*s, &id, &entry(p, false, 0, 100)).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (tx, n) = db.store.commit_groups().counts();
    let (transactions, submissions) = (tx - tx_before, n - n_before);
    assert_eq!(submissions, 64);
    // The first submission commits alone; the others queue behind its fsync.
    assert!(
        transactions <= 16,
        "{transactions} transactions for 64 submissions"
    );
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 64);
}

/// Twenty submissions by pseudonym 7 at once (signatures, or withdrawals if `withdraw`; variants
/// 0 to 19), each refused with an error `lost` accepts or let through; how many went through.
async fn race_pseudonym_7(
    s: &Arc<dyn Store>,
    id: &str,
    withdraw: bool,
    lost: fn(&StoreError) -> bool,
) -> usize {
    let tasks = crate::harness::spawn_each(s, id, 0..20u8, move |s, id, variant| async move {
        crate::harness::try_accept(&*s, &id, &entry(7, withdraw, variant, 100)).await
    });
    crate::harness::winners(tasks, lost).await.len()
}

/// Appends what is pending (due by 100) in the pool of `id` to its log of `size` leaves as one
/// batch, with the checkpoint of the new size (root byte = size); returns the new size.
async fn publish_pending(
    s: &dyn Store,
    id: &str,
    size: u64,
) -> undersigned_store::StoreResult<u64> {
    let batch: Vec<_> = s.pending(id, 100).await?.iter().map(as_leaf).collect();
    let new_size = size + batch.len() as u64;
    s.append_batch(
        id,
        size,
        &batch,
        &checkpoint(new_size, u8::try_from(new_size).unwrap()),
    )
    .await?;
    Ok(new_size)
}
