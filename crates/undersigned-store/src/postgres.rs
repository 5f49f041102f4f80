//! PostgreSQL backend, for deployments that already run a database server.
//!
//! Transactions run at READ COMMITTED; what must not race is guarded by row locks and unique
//! indexes rather than by serializable retries. `accept_entry` holds a share lock on the letter
//! row, so `close_letter` (an update of that row) waits for in-flight submissions and none is
//! accepted after it; `append_batch` holds an update lock on it, so two publishers cannot both
//! pass the size check. One signature per pseudonym rests on the `pseudonyms` primary key: a
//! concurrent insert of the same key waits for the first to commit and then does nothing. A
//! signature of several parts inserts its rows in byte order of the pseudonyms, so two that
//! share parts wait in one order (no deadlock) and the second is refused; withdrawals of one
//! signature queue on the row of its first part, read `FOR UPDATE`.
//! The issued-count rule rests on the `signer_counts` row of the signer's cell, raised with
//! an UPDATE whose row lock lasts until commit, so concurrent signers of one cell queue there.
//! State-checked delivery writes (`delivery_done`, `acknowledge`, `answer`, ...) read their row
//! `FOR UPDATE`, so of two racing callers the second sees the first's result and is refused.
//!
//! Those locks are the `share`/`update` clauses of `dialect!`; the queries themselves are
//! written once for both backends (`queries::store_impl!`). This file holds what is
//! PostgreSQL's own: connecting, the advisory locks, VACUUM, and the hooks the shared queries
//! call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::dialect::postgres::accept_in;
use crate::util::{backend, migrate_err};
use crate::{Hash, StoreResult};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A store in a PostgreSQL database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Rows that protect a person were deleted since the last `scrub`.
    dirty: Arc<AtomicBool>,
    /// The publisher's advisory lock and its session (`Store::lead`).
    leader: Arc<crate::lease::PgLeader>,
}

/// The first 8 bytes of a tag, as the key of the advisory lock that serializes code requests
/// for one address.
fn tag_prefix(tag: &Hash) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(tag.get(..8).unwrap_or(&[0u8; 8]));
    out
}

impl PgStore {
    /// Connects to `url` (e.g. `postgres://user@host/db`) and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(backend)?;
        MIGRATOR.run(&pool).await.map_err(migrate_err)?;
        let leader = Arc::new(crate::lease::PgLeader::new(
            pool.connect_options().as_ref().clone(),
        ));
        Ok(Self {
            pool,
            dirty: Arc::default(),
            leader,
        })
    }

    fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// VACUUM makes the space of deleted pool and code rows reusable, so later writes overwrite
    /// it; it does not zero it, and WAL segments keep what was written (see the README).
    async fn scrub_now(&self) -> StoreResult<()> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        if let Err(e) = sqlx::raw_sql("VACUUM pool, email_codes")
            .execute(&self.pool)
            .await
        {
            self.mark_dirty();
            return Err(backend(e));
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned, and gives up the leadership.
    pub async fn close(&self) {
        self.leader.resign().await;
        self.pool.close().await;
    }

    // ---- the hooks of `queries::store_impl!` ----

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(backend)
    }

    /// Serializes code requests for one address until the transaction ends: at READ
    /// COMMITTED two of them would otherwise both count the same live codes.
    async fn lock_code_tag(conn: &mut PgConnection, tag: &Hash) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_be_bytes(tag_prefix(tag)))
            .execute(conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

crate::queries::store_impl! {
    PgStore, postgres;

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn durability(&self) -> StoreResult<Vec<(String, String)>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let mut out = Vec::new();
        for (name, query) in [("fsync", "SHOW fsync"), ("synchronous_commit", "SHOW synchronous_commit")] {
            let value: String = sqlx::query_scalar(query)
                .fetch_one(&mut *conn)
                .await
                .map_err(backend)?;
            out.push((name.to_owned(), value));
        }
        Ok(out)
    }

    async fn scrub(&self) -> StoreResult<()> {
        self.scrub_now().await
    }

    async fn lead(&self) -> StoreResult<bool> {
        self.leader.lead().await
    }

    async fn resign(&self) {
        self.leader.resign().await;
    }

    /// The letter row is held `FOR SHARE` (`accept_in`), so `close_letter`, an update of
    /// that row, waits for in-flight submissions and none is accepted after it.
    async fn accept_entry(
        &self,
        letter_id: &str,
        entry: &PendingEntry,
        cell: &SignerCell,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        accept_in(&mut tx, letter_id, entry, cell).await?;
        tx.commit().await.map_err(backend)
    }
}
