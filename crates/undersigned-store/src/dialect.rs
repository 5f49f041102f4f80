//! What runs inside a write transaction, written once and expanded for each backend (see
//! `queries` for why a macro): the pseudonym rule, the issued-count rule, the pool insert, the
//! locked reads of a letter and of a delivery row, the delivery update, the checkpoint writes.
//!
//! The locking is the one place where the two backends' SQL differs, and it differs here
//! only, as two clauses each dialect names. PostgreSQL runs at READ COMMITTED and holds the
//! rows it reads `FOR SHARE` (a submission against `close_letter`) or `FOR UPDATE` (two
//! appenders to one log, two writers of one delivery row) until commit. SQLite has no row
//! locks and needs none: its write transactions begin IMMEDIATE and hold the whole database
//! until they end, so what they read cannot change under them.

/// The columns of `util::LetterRecord`, in its order.
macro_rules! letter_columns {
    () => {
        "handle, letter_id, letter_json, state, organizer_token_hash, created_at, opened_at, \
         closed_at, deadline, publish_interval_secs, public, reader_token_hash"
    };
}

/// The columns of `util::PendingRecord`, in its order.
macro_rules! pending_columns {
    () => {
        "entry_hash, leaf, pseudonym, withdraw, include_by"
    };
}

/// The columns of `util::DeliveryRecord`, in its order.
macro_rules! delivery_columns {
    () => {
        "letter_id, recipient, token_hash, revoked, attempts, next_attempt_at, last_error, \
         delivered_at, smtp_reply, acknowledged_at, answered_at, response_text, reminders_sent"
    };
}

pub(crate) use {delivery_columns, letter_columns, pending_columns};

/// The SQL of one kind of append-only log, of which each owner has one: a letter's
/// (`log_leaves`, `checkpoints`) or an issuer's (`issuer_log_leaves`,
/// `issuer_log_checkpoints`). Both kinds are read and appended by the same functions
/// (`dialect::log_*`), so the rule "append exactly at the size the caller saw" is written once.
#[derive(Debug)]
pub(crate) struct LogTables {
    /// `$1` owner: the log's size.
    pub(crate) size: &'static str,
    /// `$1` owner: the leaf hashes in order.
    pub(crate) hashes: &'static str,
    /// `$1` owner, `$2..$3` positions: the leaves in order.
    pub(crate) leaves: &'static str,
    /// `($1 owner, $2 position, $3 hash, $4 leaf)`.
    pub(crate) insert_leaf: &'static str,
    /// `($1 owner, $2 size, $3 root, $4 note, $5 created_at)`.
    pub(crate) insert_checkpoint: &'static str,
    /// The `Conflict` when the log no longer has the size the caller saw.
    pub(crate) moved: &'static str,
    /// The `Conflict` when a position, hash or checkpoint size is taken.
    pub(crate) taken: &'static str,
}

pub(crate) const LETTER_LOG: LogTables = LogTables {
    size: "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE letter_id = $1",
    hashes: "SELECT entry_hash FROM log_leaves WHERE letter_id = $1 ORDER BY idx",
    leaves: "SELECT leaf FROM log_leaves WHERE letter_id = $1 AND idx >= $2 AND idx < $3 \
             ORDER BY idx",
    insert_leaf: "INSERT INTO log_leaves (letter_id, idx, entry_hash, leaf) \
                  VALUES ($1, $2, $3, $4)",
    insert_checkpoint: "INSERT INTO checkpoints (letter_id, size, root, note, created_at) \
                        VALUES ($1, $2, $3, $4, $5)",
    moved: "log size moved",
    taken: "leaf already in log",
};

pub(crate) const ISSUER_LOG: LogTables = LogTables {
    size: "SELECT COALESCE(MAX(idx) + 1, 0) FROM issuer_log_leaves WHERE issuer_id = $1",
    hashes: "SELECT leaf_hash FROM issuer_log_leaves WHERE issuer_id = $1 ORDER BY idx",
    leaves: "SELECT leaf FROM issuer_log_leaves WHERE issuer_id = $1 AND idx >= $2 \
             AND idx < $3 ORDER BY idx",
    insert_leaf: "INSERT INTO issuer_log_leaves (issuer_id, idx, leaf_hash, leaf) \
                  VALUES ($1, $2, $3, $4)",
    insert_checkpoint: "INSERT INTO issuer_log_checkpoints \
                        (issuer_id, size, root, note, created_at) VALUES ($1, $2, $3, $4, $5)",
    moved: "issuer log size moved",
    taken: "issuer log size moved",
};

/// The in-transaction helpers for one backend: `db` its `sqlx::Database`, `share` and
/// `update` the clauses that hold a row read inside a write transaction.
macro_rules! dialect {
    (db: $db:ty, share: $share:literal, update: $update:literal) => {
        use sqlx::{Database, Executor, Row};

        use crate::dialect::LogTables;
        use crate::util::Param::{self, Bool, Bytes, Int, Text};
        use crate::util::{backend, to_i64, unique_or, DeliveryRecord};
        use crate::{
            CheckpointRow, DeliveryRow, Hash, LetterState, PendingEntry, SignerCell, StoreError,
            StoreResult,
        };

        /// A connection of this backend, alone or inside a transaction.
        pub(crate) type Conn = <$db as Database>::Connection;
        /// A write transaction of this backend.
        pub(crate) type Tx = sqlx::Transaction<'static, $db>;
        type Query<'q> = sqlx::query::Query<'q, $db, <$db as Database>::Arguments<'q>>;

        // ---- running a query: `params` are bound as $1, $2, ... in order ----

        fn bound<'q>(sql: &'q str, params: &[Param<'q>]) -> Query<'q> {
            params
                .iter()
                .fold(sqlx::query(sql), |query, param| match *param {
                    Int(v) => query.bind(v),
                    Text(v) => query.bind(v),
                    Bytes(v) => query.bind(v),
                    Bool(v) => query.bind(v),
                    Param::OptInt(v) => query.bind(v),
                    Param::OptText(v) => query.bind(v),
                    Param::OptBytes(v) => query.bind(v),
                })
        }

        /// Runs `sql`; how many rows it changed.
        pub(crate) async fn execute<'c, 'q>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<u64> {
            let done = bound(sql, params).execute(ex).await.map_err(backend)?;
            Ok(done.rows_affected())
        }

        /// `execute`, where a unique index refusing the write means `Conflict(conflict)`.
        pub(crate) async fn execute_unique<'c, 'q>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
            conflict: &'static str,
        ) -> StoreResult<u64> {
            let done = bound(sql, params)
                .execute(ex)
                .await
                .map_err(|e| unique_or(e, conflict))?;
            Ok(done.rows_affected())
        }

        /// Whether `sql` finds a row.
        pub(crate) async fn exists<'c, 'q>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<bool> {
            let row = bound(sql, params)
                .fetch_optional(ex)
                .await
                .map_err(backend)?;
            Ok(row.is_some())
        }

        /// The rows `sql` finds, each read as an `R` and made a `T`.
        pub(crate) async fn rows<'c, 'q, R, T>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<Vec<T>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as Database>::Row> + Send + Unpin,
            T: TryFrom<R, Error = StoreError>,
        {
            let found = bound(sql, params)
                .try_map(|row| R::from_row(&row))
                .fetch_all(ex)
                .await
                .map_err(backend)?;
            found.into_iter().map(T::try_from).collect()
        }

        /// The first row `sql` finds, if any, read as an `R`.
        pub(crate) async fn optional<'c, 'q, R>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<Option<R>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as Database>::Row> + Send + Unpin,
        {
            bound(sql, params)
                .try_map(|row| R::from_row(&row))
                .fetch_optional(ex)
                .await
                .map_err(backend)
        }

        /// The first row `sql` finds, if any, read as an `R` and made a `T`.
        pub(crate) async fn row<'c, 'q, R, T>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<Option<T>>
        where
            R: for<'r> sqlx::FromRow<'r, <$db as Database>::Row> + Send + Unpin,
            T: TryFrom<R, Error = StoreError>,
        {
            optional::<R>(ex, sql, params)
                .await?
                .map(T::try_from)
                .transpose()
        }

        /// The first column of every row `sql` finds.
        pub(crate) async fn column<'c, 'q, T>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<Vec<T>>
        where
            T: for<'r> sqlx::Decode<'r, $db> + sqlx::Type<$db> + Send + Unpin,
        {
            bound(sql, params)
                .try_map(|row| row.try_get::<T, _>(0))
                .fetch_all(ex)
                .await
                .map_err(backend)
        }

        /// The first column of the one row `sql` returns.
        pub(crate) async fn value<'c, 'q, T>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'q str,
            params: &[Param<'q>],
        ) -> StoreResult<T>
        where
            T: for<'r> sqlx::Decode<'r, $db> + sqlx::Type<$db> + Send + Unpin,
        {
            bound(sql, params)
                .try_map(|row| row.try_get::<T, _>(0))
                .fetch_one(ex)
                .await
                .map_err(backend)
        }

        // ---- inside a write transaction ----

        /// The letter's state; its row stays as read (no `close_letter` passes) until the
        /// transaction ends.
        pub(crate) async fn letter_state(
            conn: &mut Conn,
            letter_id: &str,
        ) -> StoreResult<Option<String>> {
            let sql = concat!("SELECT state FROM letters WHERE letter_id = $1", $share);
            Ok(column(conn, sql, &[Text(letter_id)]).await?.pop())
        }

        /// Whether the letter exists and is open for submissions.
        pub(crate) async fn is_open(conn: &mut Conn, letter_id: &str) -> StoreResult<bool> {
            let state = letter_state(conn, letter_id).await?;
            Ok(state.as_deref() == Some(LetterState::Open.as_str()))
        }

        /// Whether the letter exists, its row locked for update until the transaction ends:
        /// two appenders to one log queue here, so they cannot both pass the size check.
        pub(crate) async fn lock_letter(conn: &mut Conn, letter_id: &str) -> StoreResult<bool> {
            let sql = concat!("SELECT 1 FROM letters WHERE letter_id = $1", $update);
            exists(conn, sql, &[Text(letter_id)]).await
        }

        /// One entry alone, inside the caller's transaction: the letter must be open, then
        /// `apply`. A refusal after the pseudonym row was written is undone by the caller's
        /// rollback (the transaction is dropped uncommitted).
        pub(crate) async fn accept_in(
            conn: &mut Conn,
            letter_id: &str,
            entry: &PendingEntry,
            cell: &SignerCell,
        ) -> StoreResult<()> {
            if !is_open(conn, letter_id).await? {
                return Err(StoreError::NotFound);
            }
            apply(conn, letter_id, entry, cell).await
        }

        /// The pseudonym rules, the issued-count rule and the pool insert of one entry on an
        /// open letter (see `Store::accept_entry`): the one text both backends run. One
        /// signature per pseudonym rests on the `pseudonyms` primary key (a concurrent insert
        /// of the same key waits for the first to commit and then does nothing); a
        /// withdrawal needs exactly one earlier, unwithdrawn signature among its pseudonyms.
        pub(crate) async fn apply(
            conn: &mut Conn,
            letter_id: &str,
            entry: &PendingEntry,
            cell: &SignerCell,
        ) -> StoreResult<()> {
            let parts = entry.checked_pseudonyms()?;
            if entry.withdraw {
                withdraw(conn, letter_id, parts).await?;
            } else {
                sign(conn, letter_id, parts).await?;
                count_signer(conn, letter_id, cell).await?;
            }
            // A pool entry whose hash is already a leaf would make every later
            // `append_batch` fail on the unique index and stall the letter: a replay.
            let hash = Bytes(&entry.entry_hash[..]);
            let sql = "SELECT 1 FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2";
            if exists(&mut *conn, sql, &[Text(letter_id), hash]).await? {
                return Err(StoreError::DoubleSign);
            }
            let sql = "INSERT INTO pool (letter_id, entry_hash, leaf, pseudonym, withdraw, \
                       include_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
            let include_by = Int(to_i64(entry.include_by)?);
            // The pool keeps the parts' pseudonyms end to end (`util::pool_pseudonyms`).
            let pseudonyms = parts.concat();
            let params = [
                Text(letter_id),
                hash,
                Bytes(&entry.leaf),
                Bytes(&pseudonyms),
                Bool(entry.withdraw),
                include_by,
            ];
            match execute(conn, sql, &params).await? {
                0 => Err(StoreError::DoubleSign),
                _ => Ok(()),
            }
        }

        /// A new signature: one `pseudonyms` row per part, each naming the signature by its
        /// first part (`signature`); `DoubleSign` if any part was used by an earlier signature.
        /// The rows are inserted in byte order of the pseudonyms, not the entry's order: two
        /// signatures racing on PostgreSQL for shared parts then wait for each other in one
        /// order and never deadlock; the loser finds a taken key and its rows are rolled back.
        async fn sign(conn: &mut Conn, letter_id: &str, parts: &[Vec<u8>]) -> StoreResult<()> {
            let Some(signature) = parts.first() else {
                return Err(crate::MalformedEntry::NoPseudonym.into());
            };
            let mut ordered: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            ordered.sort_unstable();
            let sql = "INSERT INTO pseudonyms (letter_id, pseudonym, withdrawn, signature) \
                       VALUES ($1, $2, FALSE, $3) ON CONFLICT DO NOTHING";
            for pseudonym in ordered {
                let params = [Text(letter_id), Bytes(pseudonym), Bytes(signature)];
                if execute(&mut *conn, sql, &params).await? == 0 {
                    return Err(StoreError::DoubleSign);
                }
            }
            Ok(())
        }

        /// Withdraws the one signature the parts belong to, all of its rows:
        /// `WithdrawWithoutSign` if they belong to none, `AmbiguousWithdrawal` if to several
        /// (nothing is written then), `DoubleWithdraw` if it was withdrawn already. A row
        /// whose `signature` is NULL (written before signatures had parts) is a signature of
        /// its own pseudonym.
        async fn withdraw(conn: &mut Conn, letter_id: &str, parts: &[Vec<u8>]) -> StoreResult<()> {
            let sql = "SELECT COALESCE(signature, pseudonym) FROM pseudonyms \
                       WHERE letter_id = $1 AND pseudonym = $2";
            let mut signatures: Vec<Vec<u8>> = Vec::new();
            for pseudonym in parts {
                let found: Vec<Vec<u8>> =
                    column(&mut *conn, sql, &[Text(letter_id), Bytes(pseudonym)]).await?;
                for signature in found {
                    if !signatures.contains(&signature) {
                        signatures.push(signature);
                    }
                }
            }
            let signature = match signatures.as_slice() {
                [] => return Err(StoreError::WithdrawWithoutSign),
                [one] => Bytes(one),
                several => {
                    return Err(StoreError::AmbiguousWithdrawal {
                        signatures: several.len(),
                    })
                }
            };
            // Every withdrawal of this signature queues on its first part's row (held until
            // commit on PostgreSQL), whichever parts it names: the second of two racing ones
            // reads the first's result. The rows a signature has never change but for
            // `withdrawn`, so what was read above still holds.
            let sql = concat!(
                "SELECT withdrawn FROM pseudonyms WHERE letter_id = $1 AND pseudonym = $2",
                $update
            );
            let withdrawn: Vec<bool> =
                column(&mut *conn, sql, &[Text(letter_id), signature]).await?;
            match withdrawn.as_slice() {
                [false] => {}
                [true] => return Err(StoreError::DoubleWithdraw),
                _ => {
                    return Err(StoreError::Backend(
                        "a signature without the row of its first part".into(),
                    ))
                }
            }
            let sql = "UPDATE pseudonyms SET withdrawn = TRUE WHERE letter_id = $1 \
                       AND withdrawn = FALSE \
                       AND (signature = $2 OR (signature IS NULL AND pseudonym = $2))";
            match execute(conn, sql, &[Text(letter_id), signature]).await? {
                0 => Err(StoreError::DoubleWithdraw),
                _ => Ok(()),
            }
        }

        /// One more distinct signer of `cell`, refused past `cell.allowed`. The count read
        /// cannot move before this transaction ends: on PostgreSQL the UPDATE holds the
        /// counter row's lock until then, so a concurrent submission for the same cell (from
        /// this server or another on the database) reads it only after this one committed or
        /// rolled back; on SQLite this transaction is the only writer. Two cannot both pass
        /// the last slot. A refusal rolls the increment back with the rest of the entry.
        async fn count_signer(
            conn: &mut Conn,
            letter_id: &str,
            cell: &SignerCell,
        ) -> StoreResult<()> {
            let issuer = cell.issuer_id.as_str();
            let key = [letter_id, issuer, cell.epoch.as_str(), cell.org.as_str()].map(Text);
            let sql = "INSERT INTO signer_counts (letter_id, issuer_id, epoch, org, signers) \
                       VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING";
            execute(&mut *conn, sql, &key).await?;
            let sql = "UPDATE signer_counts SET signers = signers + 1 WHERE letter_id = $1 \
                       AND issuer_id = $2 AND epoch = $3 AND org = $4 RETURNING signers";
            let signers: i64 = value(conn, sql, &key).await?;
            let signers = crate::util::to_u64(signers)?;
            undersigned_core::anonymity::check_signers(
                &cell.org,
                &cell.epoch,
                signers,
                cell.allowed,
            )?;
            Ok(())
        }

        /// The one shape of every delivery write: in one transaction, the row is read held
        /// until the end (`update` clause), `decide` refuses or gives the values of
        /// `$3, $4, ..` in `sql` (whose `$1` and `$2` are the letter id and the recipient),
        /// the update runs, and the transaction commits. Of two racing callers, the second
        /// decides on the first's result.
        pub(crate) async fn update_delivery<'a>(
            mut tx: Tx,
            (letter_id, recipient): (&'a str, u32),
            sql: &'static str,
            decide: impl FnOnce(Option<&DeliveryRow>) -> StoreResult<Vec<Param<'a>>>,
        ) -> StoreResult<()> {
            let key = [Text(letter_id), Int(i64::from(recipient))];
            let select = concat!(
                "SELECT ",
                $crate::dialect::delivery_columns!(),
                " FROM deliveries WHERE letter_id = $1 AND recipient = $2",
                $update
            );
            let row = row::<DeliveryRecord, DeliveryRow>(&mut *tx, select, &key).await?;
            let mut params = key.to_vec();
            params.extend(decide(row.as_ref())?);
            // The only unique index an update of a delivery can hit is the token hash's.
            execute_unique(&mut *tx, sql, &params, "token hash in use").await?;
            tx.commit().await.map_err(backend)
        }

        // ---- logs: a letter's or an issuer's (`LogTables`) ----

        /// The size of `owner`'s log.
        pub(crate) async fn log_size<'c>(
            ex: impl Executor<'c, Database = $db>,
            log: &LogTables,
            owner: &str,
        ) -> StoreResult<u64> {
            let size: i64 = value(ex, log.size, &[Text(owner)]).await?;
            crate::util::to_u64(size)
        }

        /// The leaf hashes of `owner`'s log, in order.
        pub(crate) async fn log_hashes<'c>(
            ex: impl Executor<'c, Database = $db>,
            log: &LogTables,
            owner: &str,
        ) -> StoreResult<Vec<Hash>> {
            let hashes: Vec<Vec<u8>> = column(ex, log.hashes, &[Text(owner)]).await?;
            hashes.iter().map(|h| crate::util::to_hash(h)).collect()
        }

        /// The leaves of `owner`'s log at positions `from..to` (clamped to its size).
        pub(crate) async fn log_leaves<'c>(
            ex: impl Executor<'c, Database = $db>,
            log: &LogTables,
            owner: &str,
            (from, to): (u64, u64),
        ) -> StoreResult<Vec<Vec<u8>>> {
            let range = [from, to].map(|v| Int(crate::util::clamp_i64(v)));
            let [from, to] = range;
            column(ex, log.leaves, &[Text(owner), from, to]).await
        }

        /// Appends `(hash, leaf)` pairs to `owner`'s log at `expected_size` and on, inside the
        /// caller's transaction. `Conflict(log.moved)` if the log is no longer that long
        /// (another writer appended since the caller looked), `Conflict(log.taken)` if a
        /// position or a hash is taken.
        pub(crate) async fn log_append<'l>(
            conn: &mut Conn,
            log: &LogTables,
            owner: &str,
            expected_size: u64,
            leaves: impl Iterator<Item = (&'l [u8], &'l [u8])> + Send,
        ) -> StoreResult<()> {
            if log_size(&mut *conn, log, owner).await? != expected_size {
                return Err(StoreError::Conflict(log.moved));
            }
            let mut idx = to_i64(expected_size)?;
            for (hash, leaf) in leaves {
                let params = [Text(owner), Int(idx), Bytes(hash), Bytes(leaf)];
                execute_unique(&mut *conn, log.insert_leaf, &params, log.taken).await?;
                idx = idx
                    .checked_add(1)
                    .ok_or_else(|| StoreError::Backend("log index overflow".into()))?;
            }
            Ok(())
        }

        /// Writes a checkpoint with `sql`, an INSERT whose values are (owner, size, root,
        /// note, created_at): a letter's or an issuer's. How many rows it wrote; `conflict`
        /// names a unique violation.
        pub(crate) async fn insert_checkpoint<'c>(
            ex: impl Executor<'c, Database = $db>,
            sql: &'static str,
            owner: &str,
            cp: &CheckpointRow,
            conflict: &'static str,
        ) -> StoreResult<u64> {
            let (size, created_at) = (to_i64(cp.size)?, to_i64(cp.created_at)?);
            let params = [
                Text(owner),
                Int(size),
                Bytes(&cp.root[..]),
                Text(&cp.note),
                Int(created_at),
            ];
            execute_unique(ex, sql, &params, conflict).await
        }
    };
}

/// SQLite: write transactions begin IMMEDIATE (`group_commit::begin`) and hold the database.
pub(crate) mod sqlite {
    dialect!(db: sqlx::Sqlite, share: "", update: "");
}

/// PostgreSQL: READ COMMITTED, rows held by the locks they are read with.
pub(crate) mod postgres {
    dialect!(db: sqlx::Postgres, share: " FOR SHARE", update: " FOR UPDATE");
}
