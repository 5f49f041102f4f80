//! Backends for the suite, fixtures, and the macro that runs a suite function on both.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use undersigned_store::{
    CheckpointRow, DeliveryRow, Hash, LetterRow, LetterState, PendingEntry, PgStore, SignerCell,
    SqliteStore, Store, StoreError, StoreResult,
};

/// Generates, for each suite function `f(Arc<dyn Store>)`, a module `f` with tests `sqlite`
/// and `postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::harness::SqliteDb::new().await;
                    super::$name(db.store()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = $crate::harness::PgDb::new().await;
                    super::$name(db.store()).await;
                }
            }
        )*
    };
}
pub(crate) use on_both;

pub struct SqliteDb {
    pub store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

impl SqliteDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db"))
            .await
            .unwrap();
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = main.find("://").map_or(0, |i| i + 3);
    let base = match main[after_scheme..].find('/') {
        Some(i) => &main[..after_scheme + i],
        None => main,
    };
    format!("{base}/{db}{query}")
}

/// A database of its own for one test, dropped when the value is (even after a panic).
pub struct PgDb {
    pub store: Arc<PgStore>,
    pub name: String,
    pub url: String,
    admin: String,
}

impl PgDb {
    /// A fresh database on the tests' PostgreSQL server (`crate::pgserver`); fails the test
    /// when no server can be reached or started.
    pub async fn new() -> Self {
        let admin = crate::pgserver::admin_url();
        let mut conn =
            tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&admin))
                .await
                .unwrap_or_else(|_| panic!("PostgreSQL at {admin}: connection timed out"))
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!(
            "undersigned_test_{}",
            hex::encode(rand::random::<[u8; 8]>())
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = with_database(&admin, &name);
        let store = PgStore::connect(&url).await.unwrap();
        Self {
            store: Arc::new(store),
            name,
            url,
            admin,
        }
    }
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Async cleanup cannot run in Drop on the test's runtime; a thread with its own
        // runtime can, and joining it keeps databases from piling up. The store's pool is not
        // closed from there: its connections belong to the (now blocked) test runtime, and
        // FORCE ends them server-side anyway.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

// ---- fixtures ----

pub fn h(n: u8) -> Hash {
    [n; 32]
}

pub fn draft(handle: &str, created_at: u64) -> LetterRow {
    LetterRow {
        handle: handle.to_string(),
        letter_id: None,
        letter_json: format!("{{\"draft\":\"{handle}\"}}"),
        state: LetterState::Draft,
        organizer_token_hash: h(0xAA),
        created_at,
        opened_at: None,
        closed_at: None,
        deadline: 10_000,
        publish_interval_secs: 60,
        public: true,
        reader_token_hash: None,
    }
}

pub fn letter_id_for(handle: &str) -> String {
    format!("{:0>64}", hex::encode(handle))
}

pub fn checkpoint(size: u64, root: u8) -> CheckpointRow {
    CheckpointRow {
        size,
        root: h(root),
        note: format!("example.org/log\n{size}\nroot{root}\n\n— sig\n"),
        created_at: 100 + size,
    }
}

/// Creates a draft and opens it; returns the letter id. The log then has one leaf.
pub async fn open_letter(s: &dyn Store, handle: &str) -> String {
    s.create_letter(&draft(handle, 1)).await.unwrap();
    open_draft(s, handle, "{\"canonical\":true}", b"opened", 0xF0).await
}

/// Creates, opens and closes a letter; returns its id.
pub async fn closed_letter(s: &dyn Store, handle: &str) -> String {
    let id = open_letter(s, handle).await;
    s.close_letter(&id, 60).await.unwrap();
    id
}

/// A delivery row as `create_deliveries` leaves it.
pub fn fresh_delivery(letter_id: &str, recipient: u32, now: u64) -> DeliveryRow {
    DeliveryRow {
        letter_id: letter_id.to_string(),
        recipient,
        token_hash: None,
        revoked: false,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        delivered_at: None,
        smtp_reply: None,
        acknowledged_at: None,
        answered_at: None,
        response_text: None,
        reminders_sent: 0,
    }
}

/// The pseudonym numbered `n`: `PSEUDONYM_LEN` bytes, distinct for distinct `n`.
pub fn pseudonym(n: u16) -> Vec<u8> {
    let mut p = vec![0xB0; undersigned_store::PSEUDONYM_LEN];
    p[..2].copy_from_slice(&n.to_be_bytes());
    p
}

/// A submission by one pseudonym; hashes are distinct for distinct (pseudonym, withdraw,
/// variant).
pub fn entry(pseudonym: u16, withdraw: bool, variant: u8, include_by: u64) -> PendingEntry {
    parts(&[pseudonym], withdraw, variant, include_by)
}

/// A submission whose parts are the pseudonyms numbered `ns` (up to 13), in that order; hashes
/// are distinct for distinct (parts, withdraw, variant). With one part it is `entry`'s.
pub fn parts(ns: &[u16], withdraw: bool, variant: u8, include_by: u64) -> PendingEntry {
    let mut entry_hash = [0u8; 32];
    entry_hash[2] = u8::from(withdraw);
    entry_hash[3] = variant;
    entry_hash[31] = 0x5A;
    for (i, n) in ns.iter().enumerate() {
        let at = if i == 0 { 0 } else { 2 + 2 * i };
        entry_hash[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }
    PendingEntry {
        entry_hash,
        leaf: [b"leaf".as_slice(), &entry_hash].concat(),
        pseudonyms: ns.iter().map(|&n| pseudonym(n)).collect(),
        withdraw,
        include_by,
    }
}

/// The cell of `org` in epoch 2026-Q4 of issuer `aa..`, allowing `allowed` signers.
pub fn cell(org: &str, allowed: u64) -> SignerCell {
    SignerCell {
        issuer_id: "aa".repeat(32),
        epoch: undersigned_core::ids::Epoch::parse("2026-Q4").unwrap(),
        org: undersigned_core::ids::OrgId::parse(org).unwrap(),
        allowed,
    }
}

/// A cell with room for every signer a test makes: for the tests of other rules.
pub fn roomy() -> SignerCell {
    cell("state.gov", u64::MAX)
}

pub fn as_leaf(e: &PendingEntry) -> (Hash, Vec<u8>) {
    (e.entry_hash, e.leaf.clone())
}

#[test]
fn with_database_rewrites_the_path() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres", "x"),
        "postgres://u@h:1/x"
    );
    assert_eq!(
        with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
        "postgres://u@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}

/// Accepts `e` into the pool of `letter_id` under a roomy signer cell; panics if refused.
pub async fn accept(s: &dyn Store, letter_id: &str, e: &PendingEntry) {
    try_accept(s, letter_id, e).await.unwrap();
}

/// Submits `e` to the pool of `letter_id` under a roomy signer cell; the store's answer.
pub async fn try_accept(s: &dyn Store, letter_id: &str, e: &PendingEntry) -> StoreResult<()> {
    s.accept_entry(letter_id, e, &roomy()).await
}

/// Opens the draft `handle` at time 50 with this letter JSON and first leaf (and the checkpoint
/// of size 1, root 1); returns the letter id.
pub async fn open_draft(
    s: &dyn Store,
    handle: &str,
    json: &str,
    leaf: &[u8],
    leaf_hash: u8,
) -> String {
    let id = letter_id_for(handle);
    s.open_letter(
        handle,
        &id,
        json,
        50,
        leaf,
        &h(leaf_hash),
        &checkpoint(1, 1),
    )
    .await
    .unwrap();
    id
}

/// Awaits racing tasks and returns what those that succeeded returned; a task that failed must
/// have failed with an error `lost` accepts (the expected loss), any other error panics.
pub async fn winners<T>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, StoreError>>>,
    lost: impl Fn(&StoreError) -> bool,
) -> Vec<T> {
    let mut wins = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(w) => wins.push(w),
            Err(e) if lost(&e) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    wins
}

/// Spawns `f(store, letter_id, item)` for each item, each task with its own handle on the store
/// and its own copy of the letter id, so that the calls race.
pub fn spawn_each<I, Fut>(
    s: &Arc<dyn Store>,
    letter_id: &str,
    items: impl IntoIterator<Item = I>,
    f: impl Fn(Arc<dyn Store>, String, I) -> Fut,
) -> Vec<tokio::task::JoinHandle<Fut::Output>>
where
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    items
        .into_iter()
        .map(|item| tokio::spawn(f(s.clone(), letter_id.to_owned(), item)))
        .collect()
}
