//! PostgreSQL backend, for deployments that already run a database server.
//!
//! Transactions run at READ COMMITTED; what must not race is guarded by row locks and unique
//! indexes rather than by serializable retries. `accept_entry` holds a share lock on the letter
//! row, so `close_letter` (an update of that row) waits for in-flight submissions and none is
//! accepted after it; `append_batch` holds an update lock on it, so two publishers cannot both
//! pass the size check. One signature per pseudonym rests on the `pseudonyms` primary key: a
//! concurrent insert of the same key waits for the first to commit and then does nothing.
//! The issued-count rule rests on the `signer_counts` row of the signer's cell, raised with
//! an UPDATE whose row lock lasts until commit, so concurrent signers of one cell queue there.
//! State-checked delivery writes (`delivery_done`, `acknowledge`, `answer`, ...) read their row
//! `FOR UPDATE`, so of two racing callers the second sees the first's result and is refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::util::{
    backend, check_checkpoint_size, clamp_i64, collect, is_unique_violation, judge_code,
    may_acknowledge, may_answer, may_record_attempt, migrate_err, next_attempts, to_hash, to_i64,
    to_u64, CheckpointRecord, CountRecord, DeliveryRecord, LetterRecord, PendingRecord,
    DELIVERY_COLUMNS, LETTER_COLUMNS, PENDING_COLUMNS,
};
use crate::{
    CheckpointRow, CodeCheck, DeliveryRow, Hash, IssuedCell, LetterRow, LetterState, PendingEntry,
    SignerCell, Store, StoreError, StoreResult,
};

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
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(migrate_err)?;
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

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(backend)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn schema_versions(&self) -> StoreResult<crate::SchemaVersions> {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        let expected = sqlx::migrate!("./migrations/postgres")
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        Ok(crate::SchemaVersions {
            applied: applied.unwrap_or(0),
            expected,
        })
    }

    async fn durability(&self) -> StoreResult<Vec<(String, String)>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let mut out = Vec::new();
        for name in ["fsync", "synchronous_commit"] {
            let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
                .fetch_one(&mut *conn)
                .await
                .map_err(backend)?;
            out.push((name.to_owned(), value));
        }
        Ok(out)
    }

    async fn put_code(
        &self,
        tag: &Hash,
        request_hash: &Hash,
        code_hash: &Hash,
        now: u64,
        expires_at: u64,
        max_live: u32,
    ) -> StoreResult<()> {
        let now = to_i64(now)?;
        let mut tx = self.begin().await?;
        // Two concurrent requests for one address must not both see "one code left".
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_be_bytes(tag_prefix(tag)))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // Expired codes go first, so they neither count nor linger.
        sqlx::query("DELETE FROM email_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_codes WHERE tag = $1")
            .bind(&tag[..])
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if live >= i64::from(max_live) {
            return Err(StoreError::RateLimited);
        }
        sqlx::query(
            "INSERT INTO email_codes (request_hash, tag, code_hash, expires_at, attempts) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&request_hash[..])
        .bind(&tag[..])
        .bind(&code_hash[..])
        .bind(to_i64(expires_at)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        self.mark_dirty();
        tx.commit().await.map_err(backend)
    }

    async fn check_code(
        &self,
        request_hash: &Hash,
        tag: &Hash,
        code_hash: &Hash,
        now: u64,
        max_attempts: u32,
    ) -> StoreResult<CodeCheck> {
        let stored: Option<(Vec<u8>, i64, i64)> = sqlx::query_as(
            "UPDATE email_codes SET attempts = attempts + 1 \
             WHERE request_hash = $1 AND tag = $2 \
             RETURNING code_hash, expires_at, attempts",
        )
        .bind(&request_hash[..])
        .bind(&tag[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let (check, dead) = judge_code(stored, code_hash, now, max_attempts)?;
        if dead {
            sqlx::query("DELETE FROM email_codes WHERE request_hash = $1")
                .bind(&request_hash[..])
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            self.mark_dirty();
        }
        Ok(check)
    }

    async fn record_issuance(
        &self,
        issuer_id: &str,
        code_tag: &Hash,
        epochs: &[(&str, Hash)],
        cell: (&str, &str, &str),
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin().await?;
        let mut recorded = Vec::new();
        for (epoch, tag) in epochs {
            let r = sqlx::query(
                "INSERT INTO issued_tags (issuer_id, epoch, tag) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(issuer_id)
            .bind(*epoch)
            .bind(&tag[..])
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO issued_counts (issuer_id, epoch, org, role, age_band, count) \
                 VALUES ($1, $2, $3, $4, $5, 1) \
                 ON CONFLICT (issuer_id, epoch, org, role, age_band) \
                 DO UPDATE SET count = issued_counts.count + 1",
            )
            .bind(issuer_id)
            .bind(*epoch)
            .bind(cell.0)
            .bind(cell.1)
            .bind(cell.2)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            recorded.push((*epoch).to_owned());
        }
        if recorded.is_empty() {
            // Dropping the transaction rolls it back: the code stays for the person to see
            // the answer, and nothing was counted.
            return Err(StoreError::AlreadyIssued);
        }
        // The address got what it asked for: its codes, live or not, have no use left.
        sqlx::query("DELETE FROM email_codes WHERE tag = $1")
            .bind(&code_tag[..])
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.mark_dirty();
        Ok(recorded)
    }

    async fn sweep_codes(&self, now: u64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM email_codes WHERE expires_at <= $1")
            .bind(to_i64(now)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if r.rows_affected() > 0 {
            self.mark_dirty();
        }
        Ok(r.rows_affected())
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

    async fn issued_counts(&self, issuer_id: &str, epoch: &str) -> StoreResult<Vec<IssuedCell>> {
        let rows: Vec<CountRecord> = sqlx::query_as(
            "SELECT org, role, age_band, count FROM issued_counts \
             WHERE issuer_id = $1 AND epoch = $2 ORDER BY org, role, age_band",
        )
        .bind(issuer_id)
        .bind(epoch)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        collect(rows)
    }

    async fn create_letter(&self, row: &LetterRow) -> StoreResult<()> {
        let q = format!(
            "INSERT INTO letters ({LETTER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(&q)
            .bind(&row.handle)
            .bind(&row.letter_id)
            .bind(&row.letter_json)
            .bind(row.state.as_str())
            .bind(&row.organizer_token_hash[..])
            .bind(to_i64(row.created_at)?)
            .bind(row.opened_at.map(to_i64).transpose()?)
            .bind(row.closed_at.map(to_i64).transpose()?)
            .bind(to_i64(row.deadline)?)
            .bind(to_i64(row.publish_interval_secs)?)
            .bind(row.public)
            .bind(row.reader_token_hash.as_ref().map(|h| &h[..]))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("letter handle or id exists")
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    async fn update_draft(
        &self,
        handle: &str,
        letter_json: &str,
        deadline: u64,
        publish_interval_secs: u64,
        public: bool,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE letters SET letter_json = $2, deadline = $3, publish_interval_secs = $4, \
             public = $5 WHERE handle = $1 AND state = 'draft'",
        )
        .bind(handle)
        .bind(letter_json)
        .bind(to_i64(deadline)?)
        .bind(to_i64(publish_interval_secs)?)
        .bind(public)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn letter(&self, handle_or_id: &str) -> StoreResult<Option<LetterRow>> {
        // A handle match wins over an id match, should the two namespaces ever collide.
        let q = format!(
            "SELECT {LETTER_COLUMNS} FROM letters WHERE handle = $1 OR letter_id = $1 \
             ORDER BY (handle = $1) DESC LIMIT 1"
        );
        let row: Option<LetterRecord> = sqlx::query_as(&q)
            .bind(handle_or_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(LetterRow::try_from).transpose()
    }

    async fn letters_in_state(&self, state: LetterState) -> StoreResult<Vec<LetterRow>> {
        let q = format!(
            "SELECT {LETTER_COLUMNS} FROM letters WHERE state = $1 \
             ORDER BY created_at DESC, handle DESC"
        );
        let rows: Vec<LetterRecord> = sqlx::query_as(&q)
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        collect(rows)
    }

    async fn open_letter(
        &self,
        handle: &str,
        letter_id: &str,
        canonical_json: &str,
        now: u64,
        opened_leaf: &[u8],
        opened_hash: &Hash,
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()> {
        check_checkpoint_size(checkpoint, 1)?;
        let mut tx = self.begin().await?;
        let r = sqlx::query(
            "UPDATE letters SET letter_id = $2, letter_json = $3, state = 'open', \
             opened_at = $4 WHERE handle = $1 AND state = 'draft'",
        )
        .bind(handle)
        .bind(letter_id)
        .bind(canonical_json)
        .bind(to_i64(now)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("letter id exists")
            } else {
                backend(e)
            }
        })?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO log_leaves (letter_id, idx, entry_hash, leaf) VALUES ($1, 0, $2, $3)",
        )
        .bind(letter_id)
        .bind(&opened_hash[..])
        .bind(opened_leaf)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_checkpoint(&mut tx, letter_id, checkpoint).await?;
        tx.commit().await.map_err(backend)
    }

    async fn close_letter(&self, letter_id: &str, now: u64) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE letters SET state = 'closed', closed_at = $2 \
             WHERE letter_id = $1 AND state = 'open'",
        )
        .bind(letter_id)
        .bind(to_i64(now)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn accept_entry(
        &self,
        letter_id: &str,
        entry: &PendingEntry,
        cell: &SignerCell,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM letters WHERE letter_id = $1 FOR SHARE")
                .bind(letter_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if state.as_deref() != Some(LetterState::Open.as_str()) {
            return Err(StoreError::NotFound);
        }
        if entry.withdraw {
            let r = sqlx::query(
                "UPDATE pseudonyms SET withdrawn = TRUE \
                 WHERE letter_id = $1 AND pseudonym = $2 AND withdrawn = FALSE",
            )
            .bind(letter_id)
            .bind(&entry.pseudonym)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                let signed: Option<i64> = sqlx::query_scalar(
                    "SELECT 1::BIGINT FROM pseudonyms WHERE letter_id = $1 AND pseudonym = $2",
                )
                .bind(letter_id)
                .bind(&entry.pseudonym)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
                return Err(if signed.is_some() {
                    StoreError::DoubleWithdraw
                } else {
                    StoreError::WithdrawWithoutSign
                });
            }
        } else {
            let r = sqlx::query(
                "INSERT INTO pseudonyms (letter_id, pseudonym, withdrawn) VALUES ($1, $2, FALSE) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(letter_id)
            .bind(&entry.pseudonym)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::DoubleSign);
            }
            count_signer(&mut tx, letter_id, cell).await?;
        }
        // A pool entry whose hash is already a leaf would make every later append_batch fail
        // on the unique index and stall the letter, so such a replay is refused here.
        let logged: Option<i64> = sqlx::query_scalar(
            "SELECT 1::BIGINT FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2",
        )
        .bind(letter_id)
        .bind(&entry.entry_hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if logged.is_some() {
            return Err(StoreError::DoubleSign);
        }
        let r = sqlx::query(
            "INSERT INTO pool \
             (letter_id, entry_hash, leaf, pseudonym, withdraw, include_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(letter_id)
        .bind(&entry.entry_hash[..])
        .bind(&entry.leaf)
        .bind(&entry.pseudonym)
        .bind(entry.withdraw)
        .bind(to_i64(entry.include_by)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::DoubleSign);
        }
        tx.commit().await.map_err(backend)
    }

    async fn pending(&self, letter_id: &str, due_by: u64) -> StoreResult<Vec<PendingEntry>> {
        let q = format!(
            "SELECT {PENDING_COLUMNS} FROM pool WHERE letter_id = $1 AND include_by <= $2 \
             ORDER BY seq"
        );
        let rows: Vec<PendingRecord> = sqlx::query_as(&q)
            .bind(letter_id)
            .bind(clamp_i64(due_by))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        collect(rows)
    }

    async fn letters_with_due_entries(&self, due_by: u64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT letter_id FROM pool WHERE include_by <= $1 ORDER BY letter_id",
        )
        .bind(clamp_i64(due_by))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn append_batch(
        &self,
        letter_id: &str,
        expected_size: u64,
        leaves: &[(Hash, Vec<u8>)],
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()> {
        let added = u64::try_from(leaves.len())
            .map_err(|_| StoreError::Backend("batch too large".into()))?;
        let new_size = expected_size
            .checked_add(added)
            .ok_or_else(|| StoreError::Backend("log size overflow".into()))?;
        check_checkpoint_size(checkpoint, new_size)?;
        let mut tx = self.begin().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1::BIGINT FROM letters WHERE letter_id = $1 FOR UPDATE")
                .bind(letter_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let size: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE letter_id = $1",
        )
        .bind(letter_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if to_u64(size)? != expected_size {
            return Err(StoreError::Conflict("log size moved"));
        }
        let mut idx = to_i64(expected_size)?;
        for (hash, leaf) in leaves {
            sqlx::query(
                "INSERT INTO log_leaves (letter_id, idx, entry_hash, leaf) VALUES ($1, $2, $3, $4)",
            )
            .bind(letter_id)
            .bind(idx)
            .bind(&hash[..])
            .bind(leaf)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("leaf already in log")
                } else {
                    backend(e)
                }
            })?;
            sqlx::query("DELETE FROM pool WHERE letter_id = $1 AND entry_hash = $2")
                .bind(letter_id)
                .bind(&hash[..])
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            idx = idx
                .checked_add(1)
                .ok_or_else(|| StoreError::Backend("log index overflow".into()))?;
        }
        upsert_checkpoint(&mut tx, letter_id, checkpoint).await?;
        tx.commit().await.map_err(backend)?;
        // The batch's pool rows are deleted: the next scrub makes that physical.
        self.mark_dirty();
        Ok(())
    }

    async fn log_size(&self, letter_id: &str) -> StoreResult<u64> {
        let size: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE letter_id = $1",
        )
        .bind(letter_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        to_u64(size)
    }

    async fn leaf_hashes(&self, letter_id: &str) -> StoreResult<Vec<Hash>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT entry_hash FROM log_leaves WHERE letter_id = $1 ORDER BY idx",
        )
        .bind(letter_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|h| to_hash(h)).collect()
    }

    async fn leaves(&self, letter_id: &str, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar(
            "SELECT leaf FROM log_leaves WHERE letter_id = $1 AND idx >= $2 AND idx < $3 \
             ORDER BY idx",
        )
        .bind(letter_id)
        .bind(clamp_i64(from))
        .bind(clamp_i64(to))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn leaf_index(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<Option<u64>> {
        let idx: Option<i64> = sqlx::query_scalar(
            "SELECT idx FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2",
        )
        .bind(letter_id)
        .bind(&entry_hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        idx.map(to_u64).transpose()
    }

    async fn is_pending(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1::BIGINT FROM pool WHERE letter_id = $1 AND entry_hash = $2",
        )
        .bind(letter_id)
        .bind(&entry_hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn latest_checkpoint(&self, letter_id: &str) -> StoreResult<Option<CheckpointRow>> {
        let row: Option<CheckpointRecord> = sqlx::query_as(
            "SELECT size, root, note, created_at FROM checkpoints WHERE letter_id = $1 \
             ORDER BY size DESC LIMIT 1",
        )
        .bind(letter_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(CheckpointRow::try_from).transpose()
    }

    async fn checkpoint_at(
        &self,
        letter_id: &str,
        size: u64,
    ) -> StoreResult<Option<CheckpointRow>> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row: Option<CheckpointRecord> = sqlx::query_as(
            "SELECT size, root, note, created_at FROM checkpoints \
             WHERE letter_id = $1 AND size = $2",
        )
        .bind(letter_id)
        .bind(size)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(CheckpointRow::try_from).transpose()
    }

    async fn recent_checkpoints(
        &self,
        letter_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<CheckpointRow>> {
        let rows: Vec<CheckpointRecord> = sqlx::query_as(
            "SELECT size, root, note, created_at FROM checkpoints \
             WHERE letter_id = $1 ORDER BY size DESC LIMIT $2",
        )
        .bind(letter_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(CheckpointRow::try_from).collect()
    }

    async fn create_deliveries(
        &self,
        letter_id: &str,
        recipients: u32,
        now: u64,
    ) -> StoreResult<()> {
        let now = to_i64(now)?;
        let mut tx = self.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM letters WHERE letter_id = $1 FOR SHARE")
                .bind(letter_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if state.as_deref() != Some(LetterState::Closed.as_str()) {
            return Err(StoreError::NotFound);
        }
        for recipient in 0..recipients {
            sqlx::query(
                "INSERT INTO deliveries (letter_id, recipient, next_attempt_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (letter_id, recipient) DO NOTHING",
            )
            .bind(letter_id)
            .bind(i64::from(recipient))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn deliveries(&self, letter_id: &str) -> StoreResult<Vec<DeliveryRow>> {
        let q = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE letter_id = $1 ORDER BY recipient"
        );
        let rows: Vec<DeliveryRecord> = sqlx::query_as(&q)
            .bind(letter_id)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        collect(rows)
    }

    async fn delivery_by_token(&self, token_hash: &Hash) -> StoreResult<Option<DeliveryRow>> {
        let q = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE token_hash = $1 AND revoked = FALSE"
        );
        let row: Option<DeliveryRecord> = sqlx::query_as(&q)
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(DeliveryRow::try_from).transpose()
    }

    async fn due_deliveries(&self, now: u64) -> StoreResult<Vec<DeliveryRow>> {
        let q = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, letter_id, recipient"
        );
        let rows: Vec<DeliveryRecord> = sqlx::query_as(&q)
            .bind(clamp_i64(now))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        collect(rows)
    }

    async fn set_delivery_token(
        &self,
        letter_id: &str,
        recipient: u32,
        token_hash: &Hash,
    ) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE deliveries SET token_hash = $3 WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(&token_hash[..])
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("token hash in use")
            } else {
                backend(e)
            }
        })?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delivery_done(
        &self,
        letter_id: &str,
        recipient: u32,
        now: u64,
        smtp_reply: &str,
    ) -> StoreResult<()> {
        let now = to_i64(now)?;
        let mut tx = self.begin().await?;
        let row = delivery_in(&mut tx, letter_id, recipient).await?;
        may_record_attempt(row.as_ref())?;
        sqlx::query(
            "UPDATE deliveries SET delivered_at = $3, smtp_reply = $4 \
             WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(now)
        .bind(smtp_reply)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn delivery_failed(
        &self,
        letter_id: &str,
        recipient: u32,
        next_attempt_at: u64,
        error: &str,
    ) -> StoreResult<()> {
        let next_attempt_at = to_i64(next_attempt_at)?;
        let mut tx = self.begin().await?;
        let row = delivery_in(&mut tx, letter_id, recipient).await?;
        let attempts = next_attempts(may_record_attempt(row.as_ref())?)?;
        sqlx::query(
            "UPDATE deliveries SET attempts = $3, next_attempt_at = $4, last_error = $5 \
             WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(attempts)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn acknowledge(&self, letter_id: &str, recipient: u32, now: u64) -> StoreResult<()> {
        let now = to_i64(now)?;
        let mut tx = self.begin().await?;
        let row = delivery_in(&mut tx, letter_id, recipient).await?;
        may_acknowledge(row.as_ref())?;
        sqlx::query(
            "UPDATE deliveries SET acknowledged_at = $3 WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn answer(
        &self,
        letter_id: &str,
        recipient: u32,
        now: u64,
        text: &str,
    ) -> StoreResult<()> {
        let now = to_i64(now)?;
        let mut tx = self.begin().await?;
        let row = delivery_in(&mut tx, letter_id, recipient).await?;
        may_answer(row.as_ref())?;
        sqlx::query(
            "UPDATE deliveries SET answered_at = $3, response_text = $4, \
             acknowledged_at = COALESCE(acknowledged_at, $3) \
             WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(now)
        .bind(text)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn revoke_delivery(&self, letter_id: &str, recipient: u32) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE deliveries SET revoked = TRUE WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn reminders_sent(&self, letter_id: &str, recipient: u32, count: u32) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE deliveries SET reminders_sent = $3 WHERE letter_id = $1 AND recipient = $2",
        )
        .bind(letter_id)
        .bind(i64::from(recipient))
        .bind(i64::from(count))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn issued_epochs(&self, issuer_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT epoch FROM issued_counts WHERE issuer_id = $1 ORDER BY epoch",
        )
        .bind(issuer_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn append_issuer_statement(
        &self,
        issuer_id: &str,
        expected_size: u64,
        leaf_hash: &Hash,
        leaf: &[u8],
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()> {
        let new_size = expected_size
            .checked_add(1)
            .ok_or_else(|| StoreError::Backend("log size overflow".into()))?;
        check_checkpoint_size(checkpoint, new_size)?;
        let mut tx = self.begin().await?;
        let size: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM issuer_log_leaves WHERE issuer_id = $1",
        )
        .bind(issuer_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if to_u64(size)? != expected_size {
            return Err(StoreError::Conflict("issuer log size moved"));
        }
        sqlx::query(
            "INSERT INTO issuer_log_leaves (issuer_id, idx, leaf_hash, leaf) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer_id)
        .bind(to_i64(expected_size)?)
        .bind(&leaf_hash[..])
        .bind(leaf)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("issuer log size moved")
            } else {
                backend(e)
            }
        })?;
        sqlx::query(
            "INSERT INTO issuer_log_checkpoints (issuer_id, size, root, note, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(issuer_id)
        .bind(to_i64(checkpoint.size)?)
        .bind(&checkpoint.root[..])
        .bind(&checkpoint.note)
        .bind(to_i64(checkpoint.created_at)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("issuer log size moved")
            } else {
                backend(e)
            }
        })?;
        tx.commit().await.map_err(backend)
    }

    async fn issuer_log_hashes(&self, issuer_id: &str) -> StoreResult<Vec<Hash>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT leaf_hash FROM issuer_log_leaves WHERE issuer_id = $1 ORDER BY idx",
        )
        .bind(issuer_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|h| to_hash(h)).collect()
    }

    async fn issuer_log_leaves(
        &self,
        issuer_id: &str,
        from: u64,
        to: u64,
    ) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar(
            "SELECT leaf FROM issuer_log_leaves WHERE issuer_id = $1 AND idx >= $2 AND idx < $3 \
             ORDER BY idx",
        )
        .bind(issuer_id)
        .bind(clamp_i64(from))
        .bind(clamp_i64(to))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn issuer_checkpoint(
        &self,
        issuer_id: &str,
        size: Option<u64>,
    ) -> StoreResult<Option<CheckpointRow>> {
        let row: Option<CheckpointRecord> = match size {
            None => sqlx::query_as(
                "SELECT size, root, note, created_at FROM issuer_log_checkpoints \
                 WHERE issuer_id = $1 ORDER BY size DESC LIMIT 1",
            )
            .bind(issuer_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?,
            Some(size) => {
                let Ok(size) = i64::try_from(size) else {
                    return Ok(None);
                };
                sqlx::query_as(
                    "SELECT size, root, note, created_at FROM issuer_log_checkpoints \
                     WHERE issuer_id = $1 AND size = $2",
                )
                .bind(issuer_id)
                .bind(size)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
            }
        };
        row.map(CheckpointRow::try_from).transpose()
    }

    async fn put_cosigned(&self, origin: &str, checkpoint: &CheckpointRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO cosigned_checkpoints (origin, size, root, note, cosigned_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (origin, size) DO UPDATE SET note = excluded.note, \
             cosigned_at = excluded.cosigned_at",
        )
        .bind(origin)
        .bind(to_i64(checkpoint.size)?)
        .bind(checkpoint.root.to_vec())
        .bind(&checkpoint.note)
        .bind(to_i64(checkpoint.created_at)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn latest_cosigned(&self, origin: &str) -> StoreResult<Option<CheckpointRow>> {
        let row: Option<CheckpointRecord> = sqlx::query_as(
            "SELECT size, root, note, cosigned_at AS created_at FROM cosigned_checkpoints \
             WHERE origin = $1 ORDER BY size DESC LIMIT 1",
        )
        .bind(origin)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(CheckpointRow::try_from).transpose()
    }
}

/// The delivery row, locked for update until the transaction ends: a concurrent state-checked
/// write waits here and then sees this one's result.
async fn delivery_in(
    tx: &mut Transaction<'static, Postgres>,
    letter_id: &str,
    recipient: u32,
) -> StoreResult<Option<DeliveryRow>> {
    let q = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE letter_id = $1 AND recipient = $2 \
         FOR UPDATE"
    );
    let row: Option<DeliveryRecord> = sqlx::query_as(&q)
        .bind(letter_id)
        .bind(i64::from(recipient))
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    row.map(DeliveryRow::try_from).transpose()
}

async fn insert_checkpoint(
    tx: &mut Transaction<'static, Postgres>,
    letter_id: &str,
    cp: &CheckpointRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO checkpoints (letter_id, size, root, note, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(letter_id)
    .bind(to_i64(cp.size)?)
    .bind(&cp.root[..])
    .bind(&cp.note)
    .bind(to_i64(cp.created_at)?)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// An empty batch may re-sign the current size (a fresher note), but never with another root:
/// two roots for one size would be a split view.
async fn upsert_checkpoint(
    tx: &mut Transaction<'static, Postgres>,
    letter_id: &str,
    cp: &CheckpointRow,
) -> StoreResult<()> {
    let r = sqlx::query(
        "INSERT INTO checkpoints (letter_id, size, root, note, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (letter_id, size) DO UPDATE SET \
           note = excluded.note, created_at = excluded.created_at \
         WHERE checkpoints.root = excluded.root",
    )
    .bind(letter_id)
    .bind(to_i64(cp.size)?)
    .bind(&cp.root[..])
    .bind(&cp.note)
    .bind(to_i64(cp.created_at)?)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    if r.rows_affected() == 0 {
        return Err(StoreError::Conflict(
            "checkpoint with another root at this size",
        ));
    }
    Ok(())
}

/// One more distinct signer of `cell`, refused past `cell.allowed`. The UPDATE holds the
/// counter row's lock until this transaction ends, so a concurrent submission for the same
/// cell (from this server or another on the same database) reads the count only after this
/// one committed or rolled back: two cannot both pass the last slot. A refusal rolls the
/// increment back with the rest of the entry.
async fn count_signer(
    tx: &mut Transaction<'static, Postgres>,
    letter_id: &str,
    cell: &SignerCell,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signer_counts (letter_id, issuer_id, epoch, org, signers) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
    )
    .bind(letter_id)
    .bind(&cell.issuer_id)
    .bind(cell.epoch.as_str())
    .bind(cell.org.as_str())
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    let signers: i64 = sqlx::query_scalar(
        "UPDATE signer_counts SET signers = signers + 1 \
         WHERE letter_id = $1 AND issuer_id = $2 AND epoch = $3 AND org = $4 RETURNING signers",
    )
    .bind(letter_id)
    .bind(&cell.issuer_id)
    .bind(cell.epoch.as_str())
    .bind(cell.org.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(backend)?;
    undersigned_core::anonymity::check_signers(
        &cell.org,
        &cell.epoch,
        to_u64(signers)?,
        cell.allowed,
    )?;
    Ok(())
}
