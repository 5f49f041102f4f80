//! SQLite backend: the embedded default, one file next to the server.
//!
//! SQLite has a single writer. Rather than let concurrent writers race for the lock (and hit
//! `SQLITE_BUSY` when a deferred transaction tries to upgrade), all writes go through a pool of
//! exactly one connection, and every multi-statement write starts with `BEGIN IMMEDIATE` so the
//! write lock is taken up front even if another process opens the same file. Reads use a
//! separate pool: in WAL mode they see the last committed state without blocking the writer.
//!
//! The queries are not here: they are written once for both backends (`queries::store_impl!`,
//! `dialect!`). This file holds what is SQLite's own: opening the file and its settings, the
//! one-process lock, backups and integrity checks, scrubbing the WAL, the group commit of
//! submissions, and the hooks the shared queries call.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::dialect::sqlite::{accept_in, value};
use crate::group_commit::{self, CommitGroups, GroupCommit};
use crate::util::{backend, migrate_err};
use crate::{Hash, StoreError, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CONNECTIONS: u32 = 4;

/// A store in one SQLite file. Cheap to clone (the pools are shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// Rows that protect a person were deleted since the last `scrub`.
    dirty: Arc<AtomicBool>,
    /// The file's one-process lock (`<database>.lock`); none for an in-memory database.
    _lock: Option<Arc<crate::lease::FileLock>>,
    /// Submissions share transactions (`group_commit`): one fsync per group, not per entry.
    group: Arc<GroupCommit>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        // Before any connection: a second server on the file is refused, naming the first.
        let lock = crate::lease::FileLock::acquire(path)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a receipt goes out only after commit, and the commit must survive a power
            // cut or SIGKILL, which NORMAL does not promise in WAL mode.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Deleted rows (pool entries, codes) are overwritten with zeros, in their page and
            // in freed pages, instead of lingering where a copy of the file would show them.
            .pragma("secure_delete", "ON")
            .busy_timeout(BUSY_TIMEOUT);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(backend)?;
        MIGRATOR.run(&write).await.map_err(migrate_err)?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(base)
            .await
            .map_err(backend)?;
        Ok(Self {
            group: Arc::new(GroupCommit::new(write.clone())),
            write,
            read,
            dirty: Arc::default(),
            _lock: Some(Arc::new(lock)),
        })
    }

    /// The group commits of submissions so far (`group_commit`).
    pub fn commit_groups(&self) -> &CommitGroups {
        self.group.counts()
    }

    /// Writes a consistent copy of the database file at `path` to `into` with `VACUUM INTO`:
    /// the snapshot of one read transaction, so a running server may keep writing meanwhile
    /// (WAL readers do not block the writer). The copy is compacted: it carries neither the WAL
    /// nor freed pages, so rows deleted to protect people do not travel into backups. Opens the
    /// file without creating it and without migrating it, so a backup never changes the source.
    pub async fn backup_into(path: &Path, into: &Path) -> StoreResult<()> {
        let pool = one_connection(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(false),
        )
        .await?;
        let target = into
            .to_str()
            .ok_or_else(|| StoreError::Backend("the backup path is not UTF-8".into()))?;
        let result = sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&pool)
            .await
            .map(|_| ())
            .map_err(backend);
        pool.close().await;
        result
    }

    /// `PRAGMA integrity_check` of the database file at `path`, opened read-only: `Ok` when
    /// SQLite finds the file sound, else the problems it lists.
    pub async fn check_integrity(path: &Path) -> StoreResult<()> {
        let pool =
            one_connection(SqliteConnectOptions::new().filename(path).read_only(true)).await?;
        let found: Result<Vec<String>, _> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await;
        pool.close().await;
        match found.map_err(backend)? {
            rows if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") => Ok(()),
            rows => Err(StoreError::Backend(format!(
                "integrity check: {}",
                rows.join("; ")
            ))),
        }
    }

    /// A private in-memory database, for tests. One connection serves reads and writes,
    /// because every connection to `:memory:` would otherwise be a different database.
    pub async fn memory() -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(backend)?
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(migrate_err)?;
        Ok(Self {
            group: Arc::new(GroupCommit::new(pool.clone())),
            write: pool.clone(),
            read: pool,
            dirty: Arc::default(),
            _lock: None,
        })
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// With secure_delete the database pages hold zeros where deleted rows were, but the WAL
    /// still holds the older page images. A checkpoint that truncates the WAL copies the
    /// zeroed pages home and drops those images. Readers in the middle of a read can keep it
    /// from finishing (busy); then it is retried at the next call.
    async fn scrub_now(&self) -> StoreResult<()> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.write)
            .await
            .map_err(|e| {
                self.mark_dirty();
                backend(e)
            })?;
        if busy != 0 {
            self.mark_dirty();
        }
        Ok(())
    }

    /// The durability and erasure settings in force on a write connection:
    /// `(journal_mode, synchronous, secure_delete)`, for tests and the startup check.
    pub async fn settings(&self) -> StoreResult<(String, i64, i64)> {
        let mode = value(&self.write, "PRAGMA journal_mode", &[]).await?;
        let sync = value(&self.write, "PRAGMA synchronous", &[]).await?;
        let secure = value(&self.write, "PRAGMA secure_delete", &[]).await?;
        Ok((mode, sync, secure))
    }

    /// Closes both pools, waiting for connections to be returned (checkpoints the WAL).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    // ---- the hooks of `queries::store_impl!` ----

    /// Reads go to their own pool: in WAL mode they see the last commit without waiting for
    /// the writer.
    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    /// The one write connection: SQLite has a single writer, and queueing for this pool is
    /// cheaper than racing for the file lock and meeting `SQLITE_BUSY`.
    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        group_commit::begin(&self.write).await
    }

    /// Nothing to take: the transaction began IMMEDIATE and is the only writer until it ends.
    #[allow(clippy::unused_async)]
    async fn lock_code_tag(_: &mut SqliteConnection, _: &Hash) -> StoreResult<()> {
        Ok(())
    }
}

/// A pool of one connection to a file opened for one job (a backup, an integrity check).
async fn one_connection(opts: SqliteConnectOptions) -> StoreResult<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts.busy_timeout(BUSY_TIMEOUT))
        .await
        .map_err(backend)
}

crate::queries::store_impl! {
    SqliteStore, sqlite;

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn durability(&self) -> StoreResult<Vec<(String, String)>> {
        // The write connection is the one every commit goes through.
        let sync: i64 = value(&self.write, "PRAGMA synchronous", &[]).await?;
        let journal: String = value(&self.write, "PRAGMA journal_mode", &[]).await?;
        let sync = match sync {
            0 => "off",
            1 => "normal",
            2 => "full",
            3 => "extra",
            _ => "unknown",
        };
        Ok(vec![
            ("synchronous".into(), sync.into()),
            ("journal_mode".into(), journal.to_ascii_lowercase()),
        ])
    }

    async fn scrub(&self) -> StoreResult<()> {
        self.scrub_now().await
    }

    /// One process holds the file (`FileLock`), so it leads.
    async fn lead(&self) -> StoreResult<bool> {
        Ok(true)
    }

    async fn resign(&self) {}

    async fn accept_entry(
        &self,
        letter_id: &str,
        entry: &PendingEntry,
        cell: &SignerCell,
    ) -> StoreResult<()> {
        if let Some(result) = self.group.accept(letter_id, entry, cell).await {
            return result;
        }
        // No committer to join (its runtime is gone): the entry's own transaction.
        let mut tx = self.begin().await?;
        accept_in(&mut tx, letter_id, entry, cell).await?;
        tx.commit().await.map_err(backend)
    }
}
