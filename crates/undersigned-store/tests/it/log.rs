//! The log: batches appended in order, the size check, pool removal and checkpoints.

use std::sync::Arc;

use undersigned_store::{Store, StoreError};

use crate::harness::{as_leaf, checkpoint, entry, h, on_both, open_letter};

on_both!(
    append_batch_in_order,
    fail_append_stale_size,
    fail_append_checkpoint_size_mismatch,
    fail_append_missing_letter,
    fail_append_duplicate_leaf,
    append_empty_batch_resigns,
    concurrent_appenders_one_wins,
);

async fn append_batch_in_order(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e1 = entry(1, false, 0, 100);
    let e2 = entry(2, false, 0, 100);
    let e3 = entry(3, false, 0, 300);
    for e in [&e1, &e2, &e3] {
        crate::harness::accept(&*s, &id, e).await;
    }
    // A leaf that never was in the pool (e.g. a server-made entry) may be batched too.
    let extra = (h(0x77), b"extra".to_vec());
    s.append_batch(
        &id,
        1,
        &[as_leaf(&e2), extra.clone(), as_leaf(&e1)],
        &checkpoint(4, 4),
    )
    .await
    .unwrap();

    assert_eq!(s.log_size(&id).await.unwrap(), 4);
    assert_eq!(
        s.leaf_hashes(&id).await.unwrap(),
        vec![h(0xF0), e2.entry_hash, h(0x77), e1.entry_hash]
    );
    assert_eq!(
        s.leaves(&id, 0, 4).await.unwrap(),
        vec![
            b"opened".to_vec(),
            e2.leaf.clone(),
            b"extra".to_vec(),
            e1.leaf.clone()
        ]
    );
    assert_eq!(
        s.leaves(&id, 1, 3).await.unwrap(),
        vec![e2.leaf.clone(), b"extra".to_vec()]
    );
    assert_eq!(s.leaves(&id, 2, u64::MAX).await.unwrap().len(), 2);
    assert!(s.leaves(&id, 4, 10).await.unwrap().is_empty());
    assert!(s.leaves(&id, 3, 1).await.unwrap().is_empty());
    assert_eq!(s.leaf_index(&id, &e1.entry_hash).await.unwrap(), Some(3));
    assert_eq!(s.leaf_index(&id, &e2.entry_hash).await.unwrap(), Some(1));
    assert_eq!(s.leaf_index(&id, &e3.entry_hash).await.unwrap(), None);
    assert!(!s.is_pending(&id, &e1.entry_hash).await.unwrap());
    assert!(!s.is_pending(&id, &e2.entry_hash).await.unwrap());
    assert!(s.is_pending(&id, &e3.entry_hash).await.unwrap());
    assert_eq!(s.pending(&id, u64::MAX).await.unwrap(), vec![e3.clone()]);
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(4, 4))
    );
    assert_eq!(
        s.checkpoint_at(&id, 1).await.unwrap(),
        Some(checkpoint(1, 1))
    );
    assert_eq!(s.checkpoint_at(&id, 2).await.unwrap(), None);
    assert_eq!(s.checkpoint_at(&id, u64::MAX).await.unwrap(), None);

    s.append_batch(&id, 4, &[as_leaf(&e3)], &checkpoint(5, 5))
        .await
        .unwrap();
    assert_eq!(s.leaf_index(&id, &e3.entry_hash).await.unwrap(), Some(4));
    assert!(s
        .letters_with_due_entries(u64::MAX)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(5, 5))
    );

    // Unknown letters have empty logs.
    assert_eq!(s.log_size("missing").await.unwrap(), 0);
    assert!(s.leaf_hashes("missing").await.unwrap().is_empty());
    assert_eq!(s.latest_checkpoint("missing").await.unwrap(), None);
}

async fn fail_append_stale_size(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&*s, &id, &e).await;
    for stale in [0, 2] {
        let r = s
            .append_batch(&id, stale, &[as_leaf(&e)], &checkpoint(stale + 1, 9))
            .await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    }
    assert_eq!(s.log_size(&id).await.unwrap(), 1);
    assert!(s.is_pending(&id, &e.entry_hash).await.unwrap());
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(1, 1))
    );
}

async fn fail_append_checkpoint_size_mismatch(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&*s, &id, &e).await;
    let r = s
        .append_batch(&id, 1, &[as_leaf(&e)], &checkpoint(3, 3))
        .await;
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    assert_eq!(s.log_size(&id).await.unwrap(), 1);
    assert!(s.is_pending(&id, &e.entry_hash).await.unwrap());
}

async fn fail_append_missing_letter(s: Arc<dyn Store>) {
    let r = s
        .append_batch("missing", 0, &[(h(1), vec![1])], &checkpoint(1, 1))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

async fn fail_append_duplicate_leaf(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&*s, &id, &e).await;
    let r = s
        .append_batch(&id, 1, &[as_leaf(&e), as_leaf(&e)], &checkpoint(3, 3))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let r = s
        .append_batch(&id, 1, &[(h(0xF0), b"opened".to_vec())], &checkpoint(2, 2))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.log_size(&id).await.unwrap(), 1);
    assert!(s.is_pending(&id, &e.entry_hash).await.unwrap());
}

async fn append_empty_batch_resigns(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let mut fresher = checkpoint(1, 1);
    fresher.note.push_str("fresher\n");
    fresher.created_at = 999;
    s.append_batch(&id, 1, &[], &fresher).await.unwrap();
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(fresher.clone())
    );
    // Another root for the same size would be a fork: refused.
    let r = s.append_batch(&id, 1, &[], &checkpoint(1, 2)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.checkpoint_at(&id, 1).await.unwrap(), Some(fresher));
}

async fn concurrent_appenders_one_wins(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "hdl").await;
    let tasks = crate::harness::spawn_each(&s, &id, 0..10u8, |s, id, i| async move {
        s.append_batch(&id, 1, &[(h(i), vec![i])], &checkpoint(2, i))
            .await
    });
    let ok = crate::harness::winners(tasks, |e| matches!(e, StoreError::Conflict(_)))
        .await
        .len();
    assert_eq!(ok, 1);
    assert_eq!(s.log_size(&id).await.unwrap(), 2);
}
