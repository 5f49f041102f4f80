//! SQLite-specific: the file keeps everything across a restart, and in-memory stores work.

use undersigned_store::{LetterState, SqliteStore, Store};

use crate::harness::{as_leaf, checkpoint, entry, h, open_letter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-name.db");
    let (id, pending) = {
        let s = SqliteStore::open(&path).await.unwrap();
        s.put_code(&h(1), &h(107), &h(7), 1000, 1600, 1)
            .await
            .unwrap();
        s.record_issuance("iss", &h(2), &[("e1", h(2))], ("o", "r", "a"))
            .await
            .unwrap();
        let id = open_letter(&s, "hdl").await;
        let batched = entry(1, false, 0, 100);
        let pending = entry(2, false, 0, 100);
        crate::harness::accept(&s, &id, &batched).await;
        crate::harness::accept(&s, &id, &pending).await;
        s.append_batch(&id, 1, &[as_leaf(&batched)], &checkpoint(2, 2))
            .await
            .unwrap();
        s.close().await;
        (id, pending)
    };
    // WAL is a property of the file, so it can be checked from outside.
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    sqlx::Connection::close(raw).await.unwrap();

    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        s.letter("hdl").await.unwrap().unwrap().state,
        LetterState::Open
    );
    assert_eq!(s.log_size(&id).await.unwrap(), 2);
    assert_eq!(s.pending(&id, 100).await.unwrap(), vec![pending]);
    assert_eq!(
        s.latest_checkpoint(&id).await.unwrap(),
        Some(checkpoint(2, 2))
    );
    assert_eq!(s.issued_counts("iss", "e1").await.unwrap().len(), 1);
    assert_eq!(
        s.check_code(&h(107), &h(1), &h(7), 1001, 5).await.unwrap(),
        undersigned_store::CodeCheck::Valid
    );
    // The live code counts against the limit after the restart too.
    assert!(s
        .put_code(&h(1), &h(108), &h(8), 1002, 1600, 1)
        .await
        .is_err());
    // Durability and erasure settings hold on every connection: WAL, synchronous=FULL (2),
    // secure_delete on (1).
    assert_eq!(s.settings().await.unwrap(), ("wal".to_owned(), 2, 1));
    // Reopening an up-to-date file runs no migration twice.
    drop(s);
    SqliteStore::open(&path).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_store_works() {
    let s = SqliteStore::memory().await.unwrap();
    assert_eq!(s.backend(), "sqlite");
    let id = open_letter(&s, "hdl").await;
    crate::harness::accept(&s, &id, &entry(1, false, 0, 100)).await;
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_name_themselves() {
    let db = crate::harness::SqliteDb::new().await;
    assert_eq!(db.store().backend(), "sqlite");
    let pg = crate::harness::PgDb::new().await;
    assert_eq!(pg.store().backend(), "postgres");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reconnect_keeps_everything() {
    let db = crate::harness::PgDb::new().await;
    let id = open_letter(&*db.store, "hdl").await;
    crate::harness::try_accept(&*db.store, &id, &entry(1, false, 0, 100))
        .await
        .unwrap();
    let s = undersigned_store::PgStore::connect(&db.url).await.unwrap();
    assert_eq!(s.letter(&id).await.unwrap().unwrap().handle, "hdl");
    assert_eq!(s.pending(&id, 100).await.unwrap().len(), 1);
    s.close().await;
}

/// What a receipt's promise rests on, read back through each backend's own connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_settings_are_the_strong_ones() {
    let db = crate::harness::SqliteDb::new().await;
    let got = db.store().durability().await.unwrap();
    let want = [("synchronous", "full"), ("journal_mode", "wal")];
    for (name, value) in want {
        assert!(
            got.iter().any(|(k, v)| k == name && v == value),
            "sqlite {name}: {got:?}"
        );
    }
    let pg = crate::harness::PgDb::new().await;
    let got = pg.store().durability().await.unwrap();
    for (name, value) in [("fsync", "on"), ("synchronous_commit", "on")] {
        assert!(
            got.iter().any(|(k, v)| k == name && v == value),
            "postgres {name}: {got:?}"
        );
    }
}
