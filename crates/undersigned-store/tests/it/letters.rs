//! Letters: drafts, opening, closing, and lookups by handle and by id.

use std::sync::Arc;

use undersigned_store::{LetterRow, LetterState, Store, StoreError};

use crate::harness::{checkpoint, draft, h, letter_id_for, on_both, open_letter};

on_both!(
    letter_lifecycle,
    letter_missing_is_none,
    letters_in_state_newest_first,
    fail_update_draft_not_draft,
    fail_open_not_draft,
    fail_open_taken_letter_id,
    fail_close_not_open,
    fail_create_duplicate_handle,
    reader_token_hash_round_trips,
);

async fn letter_lifecycle(s: Arc<dyn Store>) {
    let row = draft("hdl-1", 10);
    s.create_letter(&row).await.unwrap();
    assert_eq!(s.letter("hdl-1").await.unwrap(), Some(row.clone()));

    s.update_draft("hdl-1", "{\"v\":2}", 20_000, 120, false)
        .await
        .unwrap();
    let updated = s.letter("hdl-1").await.unwrap().unwrap();
    assert_eq!(updated.letter_json, "{\"v\":2}");
    assert_eq!(updated.deadline, 20_000);
    assert_eq!(updated.publish_interval_secs, 120);
    assert!(!updated.public);
    assert_eq!(updated.state, LetterState::Draft);
    assert_eq!(
        s.letters_in_state(LetterState::Draft).await.unwrap(),
        vec![updated.clone()]
    );
    assert!(s
        .letters_in_state(LetterState::Open)
        .await
        .unwrap()
        .is_empty());
    let id = crate::harness::open_draft(&*s, "hdl-1", "{\"canonical\":1}", b"opened", 0xF0).await;
    let opened = s.letter(&id).await.unwrap().unwrap();
    assert_eq!(s.letter("hdl-1").await.unwrap(), Some(opened.clone()));
    assert_eq!(opened.letter_id.as_deref(), Some(id.as_str()));
    assert_eq!(opened.letter_json, "{\"canonical\":1}");
    assert_eq!(opened.state, LetterState::Open);
    assert_eq!(opened.opened_at, Some(50));
    assert_eq!(opened.closed_at, None);
    assert_eq!(opened.organizer_token_hash, h(0xAA));
    assert_eq!(s.log_size(&id).await.unwrap(), 1);
    assert_eq!(
        s.leaves(&id, 0, 10).await.unwrap(),
        vec![b"opened".to_vec()]
    );
    assert_eq!(s.leaf_hashes(&id).await.unwrap(), vec![h(0xF0)]);
    assert_eq!(s.leaf_index(&id, &h(0xF0)).await.unwrap(), Some(0));
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(1, 1))
    );
    assert_eq!(
        s.checkpoint_at(&id, 1).await.unwrap(),
        Some(checkpoint(1, 1))
    );
    assert_eq!(
        s.letters_in_state(LetterState::Open).await.unwrap(),
        vec![opened]
    );
    assert!(s
        .letters_in_state(LetterState::Draft)
        .await
        .unwrap()
        .is_empty());

    s.close_letter(&id, 99).await.unwrap();
    let closed = s.letter(&id).await.unwrap().unwrap();
    assert_eq!(closed.state, LetterState::Closed);
    assert_eq!(closed.closed_at, Some(99));
    assert_eq!(closed.opened_at, Some(50));
    assert_eq!(
        s.letters_in_state(LetterState::Closed).await.unwrap(),
        vec![closed]
    );
}

async fn letter_missing_is_none(s: Arc<dyn Store>) {
    assert_eq!(s.letter("nope").await.unwrap(), None);
    assert_eq!(s.letter(&letter_id_for("nope")).await.unwrap(), None);
    // A draft has no id yet, so the id it will get finds nothing.
    s.create_letter(&draft("d", 1)).await.unwrap();
    assert_eq!(s.letter(&letter_id_for("d")).await.unwrap(), None);
}

async fn letters_in_state_newest_first(s: Arc<dyn Store>) {
    for (handle, t) in [("a", 5), ("b", 30), ("c", 10)] {
        s.create_letter(&draft(handle, t)).await.unwrap();
    }
    let handles: Vec<String> = s
        .letters_in_state(LetterState::Draft)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.handle)
        .collect();
    assert_eq!(handles, ["b", "c", "a"]);
}

async fn fail_update_draft_not_draft(s: Arc<dyn Store>) {
    let r = s.update_draft("missing", "{}", 1, 1, true).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let id = open_letter(&*s, "hdl").await;
    let r = s.update_draft("hdl", "{}", 1, 1, true).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(
        s.letter(&id).await.unwrap().unwrap().letter_json,
        "{\"canonical\":true}"
    );
}

async fn fail_open_not_draft(s: Arc<dyn Store>) {
    let r = s
        .open_letter("missing", "x", "{}", 1, b"o", &h(1), &checkpoint(1, 1))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let id = open_letter(&*s, "hdl").await;
    let r = s
        .open_letter("hdl", "other-id", "{}", 2, b"o2", &h(2), &checkpoint(1, 2))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    // The failed call left no trace.
    assert_eq!(s.log_size(&id).await.unwrap(), 1);
    assert_eq!(s.letter("other-id").await.unwrap(), None);
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(1, 1))
    );
}

async fn fail_open_taken_letter_id(s: Arc<dyn Store>) {
    let id = open_letter(&*s, "first").await;
    s.create_letter(&draft("second", 2)).await.unwrap();
    let r = s
        .open_letter("second", &id, "{}", 2, b"o2", &h(2), &checkpoint(1, 2))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(
        s.letter("second").await.unwrap().unwrap().state,
        LetterState::Draft
    );
    assert_eq!(s.letter(&id).await.unwrap().unwrap().handle, "first");
}

async fn fail_close_not_open(s: Arc<dyn Store>) {
    let r = s.close_letter("missing", 1).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    let id = open_letter(&*s, "hdl").await;
    s.close_letter(&id, 5).await.unwrap();
    let r = s.close_letter(&id, 6).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(s.letter(&id).await.unwrap().unwrap().closed_at, Some(5));
    // Closing goes by letter id; a draft has none.
    s.create_letter(&draft("d", 1)).await.unwrap();
    let r = s.close_letter("d", 6).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
}

async fn fail_create_duplicate_handle(s: Arc<dyn Store>) {
    s.create_letter(&draft("hdl", 1)).await.unwrap();
    let r = s.create_letter(&draft("hdl", 2)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.letter("hdl").await.unwrap().unwrap().created_at, 1);
}

/// A recipients-only letter keeps its reader token hash through every lookup and state; a
/// public one keeps `None`.
async fn reader_token_hash_round_trips(s: Arc<dyn Store>) {
    let private = LetterRow {
        reader_token_hash: Some(h(0xBB)),
        public: false,
        ..draft("private", 1)
    };
    let public = draft("public", 2);
    s.create_letter(&private).await.unwrap();
    s.create_letter(&public).await.unwrap();
    assert_eq!(s.letter("private").await.unwrap(), Some(private.clone()));
    assert_eq!(s.letter("public").await.unwrap(), Some(public.clone()));
    assert_eq!(
        s.letters_in_state(LetterState::Draft).await.unwrap(),
        vec![public, private]
    );

    s.update_draft("private", "{\"v\":2}", 20_000, 120, false)
        .await
        .unwrap();
    let pid = crate::harness::open_draft(&*s, "private", "{}", b"opened-p", 0xF1).await;
    let uid = letter_id_for("public");
    s.open_letter(
        "public",
        &uid,
        "{}",
        51,
        b"opened-u",
        &h(0xF2),
        &checkpoint(1, 2),
    )
    .await
    .unwrap();
    s.close_letter(&pid, 99).await.unwrap();
    let p = s.letter(&pid).await.unwrap().unwrap();
    assert_eq!(p.reader_token_hash, Some(h(0xBB)));
    assert_eq!(p.state, LetterState::Closed);
    assert_eq!(
        s.letter(&uid).await.unwrap().unwrap().reader_token_hash,
        None
    );
    assert_eq!(
        s.letters_in_state(LetterState::Closed).await.unwrap()[0].reader_token_hash,
        Some(h(0xBB))
    );
    assert_eq!(
        s.letters_in_state(LetterState::Open).await.unwrap()[0].reader_token_hash,
        None
    );
}
