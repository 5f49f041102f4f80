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
                column, execute, execute_unique, exists, insert_checkpoint, letter_state,
                lock_letter, log_append, log_hashes, log_leaves, log_size, optional, row, rows,
                update_delivery, value,
            };
            use crate::dialect::{delivery_columns, letter_columns, pending_columns};
            use crate::util::Param::{Bool, Bytes, Int, OptBytes, OptInt, OptText, Text};
            use crate::dialect::{ISSUER_LOG, LETTER_LOG};
            use crate::util::{
                backend, check_checkpoint_size, clamp_i64, grown, judge_code, may_acknowledge,
                may_answer, may_record_attempt, next_attempts, to_i64, to_u64,
                CheckpointRecord, CountRecord, DeliveryRecord, LetterRecord, PendingRecord,
            };
            use crate::{
                CheckpointRow, CodeCheck, DeliveryRow, Hash, IssuedCell, LetterRow, LetterState,
                PendingEntry, SchemaVersions, SignerCell, Store, StoreError, StoreResult,
            };

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
                    let sql = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
                    let applied: Option<i64> = value(self.reader(), sql, &[]).await?;
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
                    let sql = "DELETE FROM email_codes WHERE expires_at <= $1";
                    execute(&mut *tx, sql, &[Int(now)]).await?;
                    let sql = "SELECT COUNT(*) FROM email_codes WHERE tag = $1";
                    let live: i64 = value(&mut *tx, sql, &[Bytes(&tag[..])]).await?;
                    if live >= i64::from(max_live) {
                        return Err(StoreError::RateLimited);
                    }
                    let sql = "INSERT INTO email_codes (request_hash, tag, code_hash, \
                               expires_at, attempts) VALUES ($1, $2, $3, $4, 0)";
                    let hashes = [request_hash, tag, code_hash].map(|h| Bytes(&h[..]));
                    let [request, tag, code] = hashes;
                    execute(&mut *tx, sql, &[request, tag, code, Int(to_i64(expires_at)?)]).await?;
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
                    let sql = "UPDATE email_codes SET attempts = attempts + 1 \
                               WHERE request_hash = $1 AND tag = $2 \
                               RETURNING code_hash, expires_at, attempts";
                    let params = [Bytes(&request_hash[..]), Bytes(&tag[..])];
                    let stored: Option<(Vec<u8>, i64, i64)> =
                        optional(self.writer(), sql, &params).await?;
                    let (check, dead) = judge_code(stored, code_hash, now, max_attempts)?;
                    if dead {
                        let sql = "DELETE FROM email_codes WHERE request_hash = $1";
                        execute(self.writer(), sql, &[Bytes(&request_hash[..])]).await?;
                        self.mark_dirty();
                    }
                    Ok(check)
                }

                async fn record_issuance(
                    &self,
                    issuer_id: &str,
                    code_tag: &Hash,
                    epochs: &[(&str, Hash)],
                    (org, role, age_band): (&str, &str, &str),
                ) -> StoreResult<Vec<String>> {
                    let mut tx = self.begin().await?;
                    let mut recorded = Vec::new();
                    for (epoch, tag) in epochs {
                        let sql = "INSERT INTO issued_tags (issuer_id, epoch, tag) \
                                   VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
                        let params = [Text(issuer_id), Text(*epoch), Bytes(&tag[..])];
                        if execute(&mut *tx, sql, &params).await? == 0 {
                            continue;
                        }
                        let sql = "INSERT INTO issued_counts \
                                   (issuer_id, epoch, org, role, age_band, count) \
                                   VALUES ($1, $2, $3, $4, $5, 1) \
                                   ON CONFLICT (issuer_id, epoch, org, role, age_band) \
                                   DO UPDATE SET count = issued_counts.count + 1";
                        let params = [issuer_id, *epoch, org, role, age_band].map(Text);
                        execute(&mut *tx, sql, &params).await?;
                        recorded.push((*epoch).to_owned());
                    }
                    if recorded.is_empty() {
                        // Dropping the transaction rolls it back: the code stays for the
                        // person to see the answer, and nothing was counted.
                        return Err(StoreError::AlreadyIssued);
                    }
                    // The address got what it asked for: its codes, live or not, have no use
                    // left.
                    let sql = "DELETE FROM email_codes WHERE tag = $1";
                    execute(&mut *tx, sql, &[Bytes(&code_tag[..])]).await?;
                    tx.commit().await.map_err(backend)?;
                    self.mark_dirty();
                    Ok(recorded)
                }

                async fn sweep_codes(&self, now: u64) -> StoreResult<u64> {
                    let sql = "DELETE FROM email_codes WHERE expires_at <= $1";
                    let deleted = execute(self.writer(), sql, &[Int(to_i64(now)?)]).await?;
                    if deleted > 0 {
                        self.mark_dirty();
                    }
                    Ok(deleted)
                }

                async fn issued_counts(
                    &self,
                    issuer_id: &str,
                    epoch: &str,
                ) -> StoreResult<Vec<IssuedCell>> {
                    let sql = "SELECT org, role, age_band, count FROM issued_counts \
                               WHERE issuer_id = $1 AND epoch = $2 ORDER BY org, role, age_band";
                    rows::<CountRecord, _>(self.reader(), sql, &[Text(issuer_id), Text(epoch)])
                        .await
                }

                async fn create_letter(&self, row: &LetterRow) -> StoreResult<()> {
                    let sql = concat!(
                        "INSERT INTO letters (",
                        letter_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    );
                    let params = [
                        Text(&row.handle),
                        OptText(row.letter_id.as_deref()),
                        Text(&row.letter_json),
                        Text(row.state.as_str()),
                        Bytes(&row.organizer_token_hash[..]),
                        Int(to_i64(row.created_at)?),
                        OptInt(row.opened_at.map(to_i64).transpose()?),
                        OptInt(row.closed_at.map(to_i64).transpose()?),
                        Int(to_i64(row.deadline)?),
                        Int(to_i64(row.publish_interval_secs)?),
                        Bool(row.public),
                        OptBytes(row.reader_token_hash.as_ref().map(|h| &h[..])),
                    ];
                    let conflict = "letter handle or id exists";
                    execute_unique(self.writer(), sql, &params, conflict).await?;
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
                    let sql = "UPDATE letters SET letter_json = $2, deadline = $3, \
                               publish_interval_secs = $4, public = $5 \
                               WHERE handle = $1 AND state = 'draft'";
                    let (deadline, interval) = (to_i64(deadline)?, to_i64(publish_interval_secs)?);
                    let params =
                        [Text(handle), Text(letter_json), Int(deadline), Int(interval), Bool(public)];
                    match execute(self.writer(), sql, &params).await? {
                        0 => Err(StoreError::NotFound),
                        _ => Ok(()),
                    }
                }

                async fn letter(&self, handle_or_id: &str) -> StoreResult<Option<LetterRow>> {
                    // A handle match wins over an id match, should the two namespaces ever
                    // collide.
                    let sql = concat!(
                        "SELECT ",
                        letter_columns!(),
                        " FROM letters WHERE handle = $1 OR letter_id = $1 \
                         ORDER BY (handle = $1) DESC LIMIT 1"
                    );
                    row::<LetterRecord, _>(self.reader(), sql, &[Text(handle_or_id)]).await
                }

                async fn letters_in_state(&self, state: LetterState) -> StoreResult<Vec<LetterRow>> {
                    let sql = concat!(
                        "SELECT ",
                        letter_columns!(),
                        " FROM letters WHERE state = $1 ORDER BY created_at DESC, handle DESC"
                    );
                    rows::<LetterRecord, _>(self.reader(), sql, &[Text(state.as_str())]).await
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
                    let sql = "UPDATE letters SET letter_id = $2, letter_json = $3, \
                               state = 'open', opened_at = $4 \
                               WHERE handle = $1 AND state = 'draft'";
                    let params =
                        [Text(handle), Text(letter_id), Text(canonical_json), Int(to_i64(now)?)];
                    if execute_unique(&mut *tx, sql, &params, "letter id exists").await? == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let leaf = (&opened_hash[..], opened_leaf);
                    log_append(&mut tx, &LETTER_LOG, letter_id, 0, std::iter::once(leaf)).await?;
                    let sql = LETTER_LOG.insert_checkpoint;
                    insert_checkpoint(&mut *tx, sql, letter_id, checkpoint, "checkpoint exists")
                        .await?;
                    tx.commit().await.map_err(backend)
                }

                async fn close_letter(&self, letter_id: &str, now: u64) -> StoreResult<()> {
                    let sql = "UPDATE letters SET state = 'closed', closed_at = $2 \
                               WHERE letter_id = $1 AND state = 'open'";
                    match execute(self.writer(), sql, &[Text(letter_id), Int(to_i64(now)?)]).await? {
                        0 => Err(StoreError::NotFound),
                        _ => Ok(()),
                    }
                }

                async fn pending(
                    &self,
                    letter_id: &str,
                    due_by: u64,
                ) -> StoreResult<Vec<PendingEntry>> {
                    let sql = concat!(
                        "SELECT ",
                        pending_columns!(),
                        " FROM pool WHERE letter_id = $1 AND include_by <= $2 ORDER BY seq"
                    );
                    let params = [Text(letter_id), Int(clamp_i64(due_by))];
                    rows::<PendingRecord, _>(self.reader(), sql, &params).await
                }

                async fn letters_with_due_entries(&self, due_by: u64) -> StoreResult<Vec<String>> {
                    let sql = "SELECT DISTINCT letter_id FROM pool WHERE include_by <= $1 \
                               ORDER BY letter_id";
                    column(self.reader(), sql, &[Int(clamp_i64(due_by))]).await
                }

                async fn append_batch(
                    &self,
                    letter_id: &str,
                    expected_size: u64,
                    leaves: &[(Hash, Vec<u8>)],
                    checkpoint: &CheckpointRow,
                ) -> StoreResult<()> {
                    check_checkpoint_size(checkpoint, grown(expected_size, leaves.len())?)?;
                    let mut tx = self.begin().await?;
                    if !lock_letter(&mut tx, letter_id).await? {
                        return Err(StoreError::NotFound);
                    }
                    let pairs = leaves.iter().map(|(hash, leaf)| (&hash[..], &leaf[..]));
                    log_append(&mut tx, &LETTER_LOG, letter_id, expected_size, pairs).await?;
                    for (hash, _) in leaves {
                        let sql = "DELETE FROM pool WHERE letter_id = $1 AND entry_hash = $2";
                        execute(&mut *tx, sql, &[Text(letter_id), Bytes(&hash[..])]).await?;
                    }
                    let conflict = "checkpoint with another root at this size";
                    let written =
                        insert_checkpoint(&mut *tx, UPSERT_CHECKPOINT, letter_id, checkpoint, conflict)
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
                    log_size(self.reader(), &LETTER_LOG, letter_id).await
                }

                async fn leaf_hashes(&self, letter_id: &str) -> StoreResult<Vec<Hash>> {
                    log_hashes(self.reader(), &LETTER_LOG, letter_id).await
                }

                async fn leaves(
                    &self,
                    letter_id: &str,
                    from: u64,
                    to: u64,
                ) -> StoreResult<Vec<Vec<u8>>> {
                    log_leaves(self.reader(), &LETTER_LOG, letter_id, (from, to)).await
                }

                async fn leaf_index(
                    &self,
                    letter_id: &str,
                    entry_hash: &Hash,
                ) -> StoreResult<Option<u64>> {
                    let sql = "SELECT idx FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2";
                    let params = [Text(letter_id), Bytes(&entry_hash[..])];
                    let idx: Vec<i64> = column(self.reader(), sql, &params).await?;
                    idx.first().copied().map(to_u64).transpose()
                }

                async fn is_pending(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<bool> {
                    let sql = "SELECT 1 FROM pool WHERE letter_id = $1 AND entry_hash = $2";
                    exists(self.reader(), sql, &[Text(letter_id), Bytes(&entry_hash[..])]).await
                }

                async fn latest_checkpoint(
                    &self,
                    letter_id: &str,
                ) -> StoreResult<Option<CheckpointRow>> {
                    let sql = concat!(
                        "SELECT size, root, note, created_at FROM checkpoints ",
                        "WHERE letter_id = $1 ORDER BY size DESC LIMIT 1"
                    );
                    row::<CheckpointRecord, _>(self.reader(), sql, &[Text(letter_id)]).await
                }

                async fn checkpoint_at(
                    &self,
                    letter_id: &str,
                    size: u64,
                ) -> StoreResult<Option<CheckpointRow>> {
                    let Ok(size) = i64::try_from(size) else {
                        return Ok(None);
                    };
                    let sql = concat!(
                        "SELECT size, root, note, created_at FROM checkpoints ",
                        "WHERE letter_id = $1 AND size = $2"
                    );
                    let params = [Text(letter_id), Int(size)];
                    row::<CheckpointRecord, _>(self.reader(), sql, &params).await
                }

                async fn recent_checkpoints(
                    &self,
                    letter_id: &str,
                    limit: u32,
                ) -> StoreResult<Vec<CheckpointRow>> {
                    let sql = concat!(
                        "SELECT size, root, note, created_at FROM checkpoints ",
                        "WHERE letter_id = $1 ORDER BY size DESC LIMIT $2"
                    );
                    let params = [Text(letter_id), Int(i64::from(limit))];
                    rows::<CheckpointRecord, _>(self.reader(), sql, &params).await
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
                    let sql = "INSERT INTO deliveries (letter_id, recipient, next_attempt_at) \
                               VALUES ($1, $2, $3) ON CONFLICT (letter_id, recipient) DO NOTHING";
                    for recipient in 0..recipients {
                        let params = [Text(letter_id), Int(i64::from(recipient)), Int(now)];
                        execute(&mut *tx, sql, &params).await?;
                    }
                    tx.commit().await.map_err(backend)
                }

                async fn deliveries(&self, letter_id: &str) -> StoreResult<Vec<DeliveryRow>> {
                    let sql = concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE letter_id = $1 ORDER BY recipient"
                    );
                    rows::<DeliveryRecord, _>(self.reader(), sql, &[Text(letter_id)]).await
                }

                async fn delivery_by_token(
                    &self,
                    token_hash: &Hash,
                ) -> StoreResult<Option<DeliveryRow>> {
                    let sql = concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE token_hash = $1 AND revoked = FALSE"
                    );
                    row::<DeliveryRecord, _>(self.reader(), sql, &[Bytes(&token_hash[..])]).await
                }

                async fn due_deliveries(&self, now: u64) -> StoreResult<Vec<DeliveryRow>> {
                    let sql = concat!(
                        "SELECT ",
                        delivery_columns!(),
                        " FROM deliveries WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at, letter_id, recipient"
                    );
                    rows::<DeliveryRecord, _>(self.reader(), sql, &[Int(clamp_i64(now))]).await
                }

                async fn set_delivery_token(
                    &self,
                    letter_id: &str,
                    recipient: u32,
                    token_hash: &Hash,
                ) -> StoreResult<()> {
                    let sql = "UPDATE deliveries SET token_hash = $3 \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        row.ok_or(StoreError::NotFound)?;
                        Ok(vec![Bytes(&token_hash[..])])
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
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        may_record_attempt(row)?;
                        Ok(vec![Int(now), Text(smtp_reply)])
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
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        let attempts = next_attempts(may_record_attempt(row)?)?;
                        Ok(vec![Int(attempts), Int(next_attempt_at), Text(error)])
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
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        may_acknowledge(row)?;
                        Ok(vec![Int(now)])
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
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        may_answer(row)?;
                        Ok(vec![Int(now), Text(text)])
                    })
                    .await
                }

                async fn revoke_delivery(&self, letter_id: &str, recipient: u32) -> StoreResult<()> {
                    let sql = "UPDATE deliveries SET revoked = TRUE \
                               WHERE letter_id = $1 AND recipient = $2";
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
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
                    update_delivery(self.begin().await?, (letter_id, recipient), sql, |row| {
                        row.ok_or(StoreError::NotFound)?;
                        Ok(vec![Int(i64::from(count))])
                    })
                    .await
                }

                async fn issued_epochs(&self, issuer_id: &str) -> StoreResult<Vec<String>> {
                    let sql = "SELECT DISTINCT epoch FROM issued_counts WHERE issuer_id = $1 \
                               ORDER BY epoch";
                    column(self.reader(), sql, &[Text(issuer_id)]).await
                }

                async fn append_issuer_statement(
                    &self,
                    issuer_id: &str,
                    expected_size: u64,
                    leaf_hash: &Hash,
                    leaf: &[u8],
                    checkpoint: &CheckpointRow,
                ) -> StoreResult<()> {
                    check_checkpoint_size(checkpoint, grown(expected_size, 1)?)?;
                    let mut tx = self.begin().await?;
                    let leaf = std::iter::once((&leaf_hash[..], leaf));
                    log_append(&mut tx, &ISSUER_LOG, issuer_id, expected_size, leaf).await?;
                    let sql = ISSUER_LOG.insert_checkpoint;
                    insert_checkpoint(&mut *tx, sql, issuer_id, checkpoint, ISSUER_LOG.taken)
                        .await?;
                    tx.commit().await.map_err(backend)
                }

                async fn issuer_log_hashes(&self, issuer_id: &str) -> StoreResult<Vec<Hash>> {
                    log_hashes(self.reader(), &ISSUER_LOG, issuer_id).await
                }

                async fn issuer_log_leaves(
                    &self,
                    issuer_id: &str,
                    from: u64,
                    to: u64,
                ) -> StoreResult<Vec<Vec<u8>>> {
                    log_leaves(self.reader(), &ISSUER_LOG, issuer_id, (from, to)).await
                }

                async fn issuer_checkpoint(
                    &self,
                    issuer_id: &str,
                    size: Option<u64>,
                ) -> StoreResult<Option<CheckpointRow>> {
                    let (sql, size) = match size.map(i64::try_from) {
                        None => (
                            "SELECT size, root, note, created_at FROM issuer_log_checkpoints \
                             WHERE issuer_id = $1 ORDER BY size DESC LIMIT 1",
                            None,
                        ),
                        Some(Ok(size)) => (
                            "SELECT size, root, note, created_at FROM issuer_log_checkpoints \
                             WHERE issuer_id = $1 AND size = $2",
                            Some(Int(size)),
                        ),
                        // A size past i64 is no size of any log: nothing is stored there.
                        Some(Err(_)) => return Ok(None),
                    };
                    let params: Vec<_> = std::iter::once(Text(issuer_id)).chain(size).collect();
                    row::<CheckpointRecord, _>(self.reader(), sql, &params).await
                }

                async fn put_cosigned(
                    &self,
                    origin: &str,
                    checkpoint: &CheckpointRow,
                ) -> StoreResult<()> {
                    let sql = "INSERT INTO cosigned_checkpoints \
                               (origin, size, root, note, cosigned_at) VALUES ($1, $2, $3, $4, $5) \
                               ON CONFLICT (origin, size) DO UPDATE SET note = excluded.note, \
                               cosigned_at = excluded.cosigned_at";
                    // An upsert on its key: no unique violation is left to name.
                    insert_checkpoint(self.writer(), sql, origin, checkpoint, "").await?;
                    Ok(())
                }

                async fn latest_cosigned(&self, origin: &str) -> StoreResult<Option<CheckpointRow>> {
                    let sql = "SELECT size, root, note, cosigned_at AS created_at \
                               FROM cosigned_checkpoints WHERE origin = $1 \
                               ORDER BY size DESC LIMIT 1";
                    row::<CheckpointRecord, _>(self.reader(), sql, &[Text(origin)]).await
                }
            }
        };
    };
}

pub(crate) use store_impl;
