//! One leader among processes: PostgreSQL's session advisory lock passes on when its holder's
//! session ends, and is lost by a holder whose session is ended under it; SQLite's file lock
//! refuses a second opener and names the holder.

use sqlx::Connection;
use undersigned_store::{PgStore, SqliteStore, Store, StoreError};

use crate::harness::{as_leaf, checkpoint, entry, open_letter, PgDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_leader_and_takeover() {
    let db = PgDb::new().await;
    // Three "processes": three stores on one database, each with its own lock session.
    let a = PgStore::connect(&db.url).await.unwrap();
    let b = PgStore::connect(&db.url).await.unwrap();
    let c = PgStore::connect(&db.url).await.unwrap();
    assert!(a.lead().await.unwrap());
    assert!(!b.lead().await.unwrap());
    assert!(!c.lead().await.unwrap());
    // Held across checks, not stacked.
    assert!(a.lead().await.unwrap());
    assert!(!b.lead().await.unwrap());

    // The leader goes away: the next to ask takes over, and only one. The server frees the
    // lock when the old session's backend has exited, a moment after the socket closes, so
    // the taker asks again as the publisher does every tick.
    a.close().await;
    assert!(
        eventually(&b).await,
        "nobody took over from a closed leader"
    );
    assert!(!c.lead().await.unwrap());

    // The leader's session is ended under it (as when its connection breaks): it learns so
    // at its next check, and another takes over. `pg_terminate_backend(pid, 5000)` returns once
    // the backend has exited, so the next check cannot run before the session is gone.
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(ended, 1, "exactly one session holds the lock");
    assert!(
        !matches!(b.lead().await, Ok(true)),
        "a leader without its session"
    );
    assert!(
        eventually(&c).await,
        "nobody took over from an ended session"
    );
    // b asks again with a fresh session, and follows.
    assert!(!b.lead().await.unwrap());
}

/// Whether `store` takes the lead within 10 s of asking every 50 ms (a publisher asks every
/// tick).
async fn eventually(store: &PgStore) -> bool {
    for _ in 0..200 {
        if matches!(store.lead().await, Ok(true)) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stale_leader_cannot_append_the_same_batch() {
    // Fencing: two publishers that both believe they lead extend the log from the same size;
    // the second append is refused, so no batch is logged twice.
    let db = PgDb::new().await;
    let a = PgStore::connect(&db.url).await.unwrap();
    let b = PgStore::connect(&db.url).await.unwrap();
    let id = open_letter(&a, "hdl").await;
    let e = entry(1, false, 0, 100);
    crate::harness::accept(&a, &id, &e).await;
    let size = a.log_size(&id).await.unwrap();
    a.append_batch(&id, size, &[as_leaf(&e)], &checkpoint(size + 1, 2))
        .await
        .unwrap();
    assert!(matches!(
        b.append_batch(&id, size, &[as_leaf(&e)], &checkpoint(size + 1, 3))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(a.log_size(&id).await.unwrap(), size + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_sqlite_second_opener_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.db");
    let first = SqliteStore::open(&path).await.unwrap();
    assert!(first.lead().await.unwrap());
    match SqliteStore::open(&path).await {
        Err(e @ StoreError::InUse { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("pid {}", std::process::id())),
                "{text}"
            );
        }
        other => panic!("a second opener got {other:?}"),
    }
    // Once the first is gone, the file opens again.
    first.close().await;
    drop(first);
    SqliteStore::open(&path).await.unwrap();
}
