//! Every `Store` method that is the same on both backends, written once: `store_impl!`
//! expands it for `SqliteStore` and for `PgStore`, each with its own concrete types.
//!
//! The SQL is one dialect both databases read: `$N` placeholders (sqlx binds them on SQLite
//! too), `TRUE`/`FALSE`, `CAST(1 AS BIGINT)`, `ON CONFLICT`, `RETURNING`. What differs is the
//! backend's, and only that:
//! - locks: the `share`/`update` clauses of `dialect!` (row locks on PostgreSQL, nothing on
//!   SQLite, whose write transactions hold the whole database), and `lock_code_tag`, the
//!   PostgreSQL advisory lock that serializes code requests for one address;
//! - `accept_entry`: SQLite's group commit (`group_commit`) against one transaction per entry;
//! - connections: `reader()` and `writer()` (SQLite's read pool and one-connection write pool,
//!   PostgreSQL's one pool), `begin()`, `mark_dirty()`, the module's `MIGRATOR`;
//! - what is a backend's own by nature: `backend`, `durability`, `scrub`, `lead`, `resign`,
//!   written in the backend's file and handed to the macro, which puts them in the same impl.
//!
//! Why a macro, and not a function generic over `sqlx::Database` or `sqlx::Any`: generic
//! sqlx code needs about a dozen bounds on every function (`for<'c> &'c mut DB::Connection:
//! Executor<'c>`, `Encode`, `Decode` and `Type` for each bound or read type, ...), which Rust
//! does not imply from one trait, and `async_trait`'s `Send` check over such higher-ranked
//! bounds is where rustc fails with "higher-ranked lifetime error". `sqlx::Any` picks the
//! driver at run time and carries neither SQLite's connection settings (WAL,
//! `synchronous=FULL`, `secure_delete`, `BEGIN IMMEDIATE`) nor the PostgreSQL session the
//! leader holds. A macro expansion is ordinary code with concrete types, checked as such by the
//! compiler, as vaultwarden's `db_run!` is.

/// The `Store` impl for `$store`, whose in-transaction helpers are `crate::dialect::$dialect`;
/// `$own` are the methods the backend writes itself. Expects of `$store`: `reader()`,
/// `writer()`, `begin()`, `mark_dirty()` and `lock_code_tag(conn, tag)`; of the invoking
/// module, `MIGRATOR`.
macro_rules! store_impl {
    ($store:ty, $dialect:ident; $($own:tt)*) => {
        const _: () = {
            use crate::dialect::$dialect::{
                insert_checkpoint, insert_leaf, letter_state, lock_letter,
                size_of, update_delivery,
            };
            use crate::dialect::{delivery_columns, letter_columns, pending_columns};
            use crate::util::{
                backend, check_checkpoint_size, clamp_i64, collect, judge_code, may_acknowledge,
                may_answer, may_record_attempt, next_attempts, to_hash, to_i64, to_u64,
                unique_or, CheckpointRecord, CountRecord, DeliveryRecord, LetterRecord, Param,
                PendingRecord,
            };
            use crate::{
                CheckpointRow, CodeCheck, DeliveryRow, Hash, IssuedCell, LetterRow, LetterState,
                PendingEntry, SchemaVersions, SignerCell, Store, StoreError, StoreResult,
            };

            /// Reads the size of a letter's log.
            const LOG_SIZE: &str =
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE letter_id = $1";
            /// Reads the size of an issuer's log.
            const ISSUER_LOG_SIZE: &str =
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM issuer_log_leaves WHERE issuer_id = $1";
            const INSERT_LEAF: &str =
                "INSERT INTO log_leaves (letter_id, idx, entry_hash, leaf) VALUES ($1, $2, $3, $4)";
            const INSERT_CHECKPOINT: &str =
                "INSERT INTO checkpoints (letter_id, size, root, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5)";
            /// An empty batch may re-sign the current size (a fresher note), but never with
            /// another root: two roots for one size would be a split view.
            const UPSERT_CHECKPOINT: &str =
                "INSERT INTO checkpoints (letter_id, size, root, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (letter_id, size) DO UPDATE SET \
                   note = excluded.note, created_at = excluded.created_at \
                 WHERE checkpoints.root = excluded.root";

            #[async_trait::async_trait]
            impl Store for $store {
                $($own)*

                async fn schema_versions(&self) -> StoreResult<SchemaVersions> {
                    let applied: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
                    )
                    .fetch_one(self.reader())
                    .await
                    .map_err(backend)?;
                    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
                    Ok(SchemaVersions {
                        applied: applied.unwrap_or(0),
                        expected,
                    })
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
                    // Two concurrent requests for one address must not both see "one code
                    // left".
                    Self::lock_code_tag(&mut tx, tag).await?;
                    // Expired codes go first, so they neither count nor linger.
                    sqlx::query("DELETE FROM email_codes WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let live: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM email_codes WHERE tag = $1")
                            .bind(&tag[..])
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(backend)?;
                    if live >= i64::from(max_live) {
                        return Err(StoreError::RateLimited);
                    }
                    sqlx::query(
                        "INSERT INTO email_codes (request_hash, tag, code_hash, expires_at, \
                         attempts) VALUES ($1, $2, $3, $4, 0)",
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
                    .fetch_optional(self.writer())
                    .await
                    .map_err(backend)?;
                    let (check, dead) = judge_code(stored, code_hash, now, max_attempts)?;
                    if dead {
                        sqlx::query("DELETE FROM email_codes WHERE request_hash = $1")
                            .bind(&request_hash[..])
                            .execute(self.writer())
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
                            "INSERT INTO issued_counts (issuer_id, epoch, org, role, age_band, \
                             count) VALUES ($1, $2, $3, $4, $5, 1) \
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
                        // Dropping the transaction rolls it back: the code stays for the
                        // person to see the answer, and nothing was counted.
                        return Err(StoreError::AlreadyIssued);
                    }
                    // The address got what it asked for: its codes, live or not, have no use
                    // left.
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
                        .execute(self.writer())
                        .await
                        .map_err(backend)?;
                    if r.rows_affected() > 0 {
                        self.mark_dirty();
                    }
                    Ok(r.rows_affected())
                }

                async fn issued_counts(
                    &self,
                    issuer_id: &str,
                    epoch: &str,
                ) -> StoreResult<Vec<IssuedCell>> {
                    let rows: Vec<CountRecord> = sqlx::query_as(
                        "SELECT org, role, age_band, count FROM issued_counts \
                         WHERE issuer_id = $1 AND epoch = $2 ORDER BY org, role, age_band",
                    )
                    .bind(issuer_id)
                    .bind(epoch)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    collect(rows)
                }

                async fn create_letter(&self, row: &LetterRow) -> StoreResult<()> {
                    sqlx::query(concat!(
                        "INSERT INTO letters (",
                        letter_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
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
                    .execute(self.writer())
                    .await
                    .map_err(|e| unique_or(e, "letter handle or id exists"))?;
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
                        "UPDATE letters SET letter_json = $2, deadline = $3, \
                         publish_interval_secs = $4, public = $5 \
                         WHERE handle = $1 AND state = 'draft'",
                    )
                    .bind(handle)
                    .bind(letter_json)
                    .bind(to_i64(deadline)?)
                    .bind(to_i64(publish_interval_secs)?)
                    .bind(public)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn letter(&self, handle_or_id: &str) -> StoreResult<Option<LetterRow>> {
                    // A handle match wins over an id match, should the two namespaces ever
                    // collide.
                    let row: Option<LetterRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        letter_columns!(),
                        " FROM letters WHERE handle = $1 OR letter_id = $1 \
                         ORDER BY (handle = $1) DESC LIMIT 1"
                    ))
                    .bind(handle_or_id)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(LetterRow::try_from).transpose()
                }

                async fn letters_in_state(&self, state: LetterState) -> StoreResult<Vec<LetterRow>> {
                    let rows: Vec<LetterRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        letter_columns!(),
                        " FROM letters WHERE state = $1 ORDER BY created_at DESC, handle DESC"
                    ))
                    .bind(state.as_str())
                    .fetch_all(self.reader())
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
                    .map_err(|e| unique_or(e, "letter id exists"))?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let leaf = (&opened_hash[..], opened_leaf);
                    insert_leaf(&mut tx, INSERT_LEAF, letter_id, 0, leaf, "leaf already in log")
                        .await?;
                    let conflict = "checkpoint exists";
                    insert_checkpoint(&mut tx, INSERT_CHECKPOINT, letter_id, checkpoint, conflict)
                        .await?;
                    tx.commit().await.map_err(backend)
                }

                async fn close_letter(&self, letter_id: &str, now: u64) -> StoreResult<()> {
                    let r = sqlx::query(
                        "UPDATE letters SET state = 'closed', closed_at = $2 \
                         WHERE letter_id = $1 AND state = 'open'",
                    )
                    .bind(letter_id)
                    .bind(to_i64(now)?)
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }

                async fn pending(
                    &self,
                    letter_id: &str,
                    due_by: u64,
                ) -> StoreResult<Vec<PendingEntry>> {
                    let rows: Vec<PendingRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        pending_columns!(),
                        " FROM pool WHERE letter_id = $1 AND include_by <= $2 ORDER BY seq"
                    ))
                    .bind(letter_id)
                    .bind(clamp_i64(due_by))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    collect(rows)
                }

                async fn letters_with_due_entries(&self, due_by: u64) -> StoreResult<Vec<String>> {
                    sqlx::query_scalar(
                        "SELECT DISTINCT letter_id FROM pool WHERE include_by <= $1 \
                         ORDER BY letter_id",
                    )
                    .bind(clamp_i64(due_by))
                    .fetch_all(self.reader())
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
                    if !lock_letter(&mut tx, letter_id).await? {
                        return Err(StoreError::NotFound);
                    }
                    if size_of(&mut *tx, LOG_SIZE, letter_id).await? != expected_size {
                        return Err(StoreError::Conflict("log size moved"));
                    }
                    let mut idx = to_i64(expected_size)?;
                    for (hash, leaf) in leaves {
                        let pair = (&hash[..], &leaf[..]);
                        insert_leaf(&mut tx, INSERT_LEAF, letter_id, idx, pair, "leaf already in log")
                            .await?;
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
                    let conflict = "checkpoint with another root at this size";
                    let written =
                        insert_checkpoint(&mut tx, UPSERT_CHECKPOINT, letter_id, checkpoint, conflict)
                            .await?;
                    if written == 0 {
                        return Err(StoreError::Conflict(conflict));
                    }
                    tx.commit().await.map_err(backend)?;
                    // The batch's pool rows are deleted: the next scrub makes that physical.
                    self.mark_dirty();
                    Ok(())
                }

                async fn log_size(&self, letter_id: &str) -> StoreResult<u64> {
                    size_of(self.reader(), LOG_SIZE, letter_id).await
                }

                async fn leaf_hashes(&self, letter_id: &str) -> StoreResult<Vec<Hash>> {
                    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
                        "SELECT entry_hash FROM log_leaves WHERE letter_id = $1 ORDER BY idx",
                    )
                    .bind(letter_id)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    rows.iter().map(|h| to_hash(h)).collect()
                }

                async fn leaves(
                    &self,
                    letter_id: &str,
                    from: u64,
                    to: u64,
                ) -> StoreResult<Vec<Vec<u8>>> {
                    sqlx::query_scalar(
                        "SELECT leaf FROM log_leaves WHERE letter_id = $1 AND idx >= $2 \
                         AND idx < $3 ORDER BY idx",
                    )
                    .bind(letter_id)
                    .bind(clamp_i64(from))
                    .bind(clamp_i64(to))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)
                }

                async fn leaf_index(
                    &self,
                    letter_id: &str,
                    entry_hash: &Hash,
                ) -> StoreResult<Option<u64>> {
                    let idx: Option<i64> = sqlx::query_scalar(
                        "SELECT idx FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2",
                    )
                    .bind(letter_id)
                    .bind(&entry_hash[..])
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    idx.map(to_u64).transpose()
                }

                async fn is_pending(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<bool> {
                    let found: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(1 AS BIGINT) FROM pool WHERE letter_id = $1 \
                         AND entry_hash = $2",
                    )
                    .bind(letter_id)
                    .bind(&entry_hash[..])
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    Ok(found.is_some())
                }

                async fn latest_checkpoint(
                    &self,
                    letter_id: &str,
                ) -> StoreResult<Option<CheckpointRow>> {
                    let row: Option<CheckpointRecord> = sqlx::query_as(
                        "SELECT size, root, note, created_at FROM checkpoints \
                         WHERE letter_id = $1 ORDER BY size DESC LIMIT 1",
                    )
                    .bind(letter_id)
                    .fetch_optional(self.reader())
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
                    .fetch_optional(self.reader())
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
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    collect(rows)
                }

                async fn create_deliveries(
                    &self,
                    letter_id: &str,
                    recipients: u32,
                    now: u64,
                ) -> StoreResult<()> {
                    let now = to_i64(now)?;
                    let mut tx = self.begin().await?;
                    let state = letter_state(&mut tx, letter_id).await?;
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
                    let rows: Vec<DeliveryRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE letter_id = $1 ORDER BY recipient"
                    ))
                    .bind(letter_id)
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)?;
                    collect(rows)
                }

                async fn delivery_by_token(
                    &self,
                    token_hash: &Hash,
                ) -> StoreResult<Option<DeliveryRow>> {
                    let row: Option<DeliveryRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE token_hash = $1 AND revoked = FALSE"
                    ))
                    .bind(&token_hash[..])
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(DeliveryRow::try_from).transpose()
                }

                async fn due_deliveries(&self, now: u64) -> StoreResult<Vec<DeliveryRow>> {
                    let rows: Vec<DeliveryRecord> = sqlx::query_as(concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at, letter_id, recipient"
                    ))
                    .bind(clamp_i64(now))
                    .fetch_all(self.reader())
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
                    let sql = "UPDATE deliveries SET token_hash = $3 \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        row.ok_or(StoreError::NotFound)?;
                        Ok(vec![Param::Bytes(&token_hash[..])])
                    })
                    .await
                }

                async fn delivery_done(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    now: u64,
                    smtp_reply: &str,
                ) -> StoreResult<()> {
                    let now = to_i64(now)?;
                    let sql = "UPDATE deliveries SET delivered_at = $3, smtp_reply = $4 \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        may_record_attempt(row)?;
                        Ok(vec![Param::Int(now), Param::Text(smtp_reply)])
                    })
                    .await
                }

                async fn delivery_failed(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    next_attempt_at: u64,
                    error: &str,
                ) -> StoreResult<()> {
                    let next_attempt_at = to_i64(next_attempt_at)?;
                    let sql = "UPDATE deliveries SET attempts = $3, next_attempt_at = $4, \
                               last_error = $5 WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        let attempts = next_attempts(may_record_attempt(row)?)?;
                        Ok(vec![
                            Param::Int(attempts),
                            Param::Int(next_attempt_at),
                            Param::Text(error),
                        ])
                    })
                    .await
                }

                async fn acknowledge(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    now: u64,
                ) -> StoreResult<()> {
                    let now = to_i64(now)?;
                    let sql = "UPDATE deliveries SET acknowledged_at = $3 \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        may_acknowledge(row)?;
                        Ok(vec![Param::Int(now)])
                    })
                    .await
                }

                async fn answer(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    now: u64,
                    text: &str,
                ) -> StoreResult<()> {
                    let now = to_i64(now)?;
                    let sql = "UPDATE deliveries SET answered_at = $3, response_text = $4, \
                               acknowledged_at = COALESCE(acknowledged_at, $3) \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        may_answer(row)?;
                        Ok(vec![Param::Int(now), Param::Text(text)])
                    })
                    .await
                }

                async fn revoke_delivery(&self, letter_id: &str, recipient: u32) -> StoreResult<()> {
                    let sql = "UPDATE deliveries SET revoked = TRUE \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        row.ok_or(StoreError::NotFound)?;
                        Ok(Vec::new())
                    })
                    .await
                }

                async fn reminders_sent(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    count: u32,
                ) -> StoreResult<()> {
                    let sql = "UPDATE deliveries SET reminders_sent = $3 \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, letter_id, recipient, sql, |row| {
                        row.ok_or(StoreError::NotFound)?;
                        Ok(vec![Param::Int(i64::from(count))])
                    })
                    .await
                }

                async fn issued_epochs(&self, issuer_id: &str) -> StoreResult<Vec<String>> {
                    sqlx::query_scalar(
                        "SELECT DISTINCT epoch FROM issued_counts WHERE issuer_id = $1 \
                         ORDER BY epoch",
                    )
                    .bind(issuer_id)
                    .fetch_all(self.reader())
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
                    const MOVED: &str = "issuer log size moved";
                    let new_size = expected_size
                        .checked_add(1)
                        .ok_or_else(|| StoreError::Backend("log size overflow".into()))?;
                    check_checkpoint_size(checkpoint, new_size)?;
                    let mut tx = self.begin().await?;
                    if size_of(&mut *tx, ISSUER_LOG_SIZE, issuer_id).await? != expected_size {
                        return Err(StoreError::Conflict(MOVED));
                    }
                    let sql = "INSERT INTO issuer_log_leaves (issuer_id, idx, leaf_hash, leaf) \
                               VALUES ($1, $2, $3, $4)";
                    let idx = to_i64(expected_size)?;
                    insert_leaf(&mut tx, sql, issuer_id, idx, (&leaf_hash[..], leaf), MOVED).await?;
                    let sql = "INSERT INTO issuer_log_checkpoints \
                               (issuer_id, size, root, note, created_at) VALUES ($1, $2, $3, $4, $5)";
                    insert_checkpoint(&mut tx, sql, issuer_id, checkpoint, MOVED).await?;
                    tx.commit().await.map_err(backend)
                }

                async fn issuer_log_hashes(&self, issuer_id: &str) -> StoreResult<Vec<Hash>> {
                    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
                        "SELECT leaf_hash FROM issuer_log_leaves WHERE issuer_id = $1 \
                         ORDER BY idx",
                    )
                    .bind(issuer_id)
                    .fetch_all(self.reader())
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
                        "SELECT leaf FROM issuer_log_leaves WHERE issuer_id = $1 \
                         AND idx >= $2 AND idx < $3 ORDER BY idx",
                    )
                    .bind(issuer_id)
                    .bind(clamp_i64(from))
                    .bind(clamp_i64(to))
                    .fetch_all(self.reader())
                    .await
                    .map_err(backend)
                }

                async fn issuer_checkpoint(
                    &self,
                    issuer_id: &str,
                    size: Option<u64>,
                ) -> StoreResult<Option<CheckpointRow>> {
                    // A size past i64 is no size of any log: nothing is stored there.
                    let size = match size.map(i64::try_from) {
                        Some(Err(_)) => return Ok(None),
                        Some(Ok(size)) => Some(size),
                        None => None,
                    };
                    // `$2` NULL: the latest.
                    let row: Option<CheckpointRecord> = sqlx::query_as(
                        "SELECT size, root, note, created_at FROM issuer_log_checkpoints \
                         WHERE issuer_id = $1 AND ($2 IS NULL OR size = $2) \
                         ORDER BY size DESC LIMIT 1",
                    )
                    .bind(issuer_id)
                    .bind(size)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(CheckpointRow::try_from).transpose()
                }

                async fn put_cosigned(
                    &self,
                    origin: &str,
                    checkpoint: &CheckpointRow,
                ) -> StoreResult<()> {
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
                    .execute(self.writer())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }

                async fn latest_cosigned(&self, origin: &str) -> StoreResult<Option<CheckpointRow>> {
                    let row: Option<CheckpointRecord> = sqlx::query_as(
                        "SELECT size, root, note, cosigned_at AS created_at \
                         FROM cosigned_checkpoints WHERE origin = $1 ORDER BY size DESC LIMIT 1",
                    )
                    .bind(origin)
                    .fetch_optional(self.reader())
                    .await
                    .map_err(backend)?;
                    row.map(CheckpointRow::try_from).transpose()
                }
            }
        };
    };
}

pub(crate) use store_impl;
