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

/// The in-transaction helpers for one backend: `db` its `sqlx::Database`, `share` and
/// `update` the clauses that hold a row read inside a write transaction.
macro_rules! dialect {
    (db: $db:ty, share: $share:literal, update: $update:literal) => {
        use sqlx::Database;

        use crate::util::{backend, to_i64, to_u64, unique_or, DeliveryRecord, Param};
        use crate::{
            CheckpointRow, DeliveryRow, LetterState, PendingEntry, SignerCell, StoreError,
            StoreResult,
        };

        /// A connection of this backend, alone or inside a transaction.
        pub(crate) type Conn = <$db as Database>::Connection;
        /// A write transaction of this backend.
        pub(crate) type Tx = sqlx::Transaction<'static, $db>;

        /// The letter's state; its row stays as read (no `close_letter` passes) until the
        /// transaction ends.
        pub(crate) async fn letter_state(
            conn: &mut Conn,
            letter_id: &str,
        ) -> StoreResult<Option<String>> {
            sqlx::query_scalar(concat!(
                "SELECT state FROM letters WHERE letter_id = $1",
                $share
            ))
            .bind(letter_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)
        }

        /// Whether the letter exists and is open for submissions.
        pub(crate) async fn is_open(conn: &mut Conn, letter_id: &str) -> StoreResult<bool> {
            let state = letter_state(conn, letter_id).await?;
            Ok(state.as_deref() == Some(LetterState::Open.as_str()))
        }

        /// Whether the letter exists, its row locked for update until the transaction ends:
        /// two appenders to one log queue here, so they cannot both pass the size check.
        pub(crate) async fn lock_letter(conn: &mut Conn, letter_id: &str) -> StoreResult<bool> {
            let found: Option<i64> = sqlx::query_scalar(concat!(
                "SELECT CAST(1 AS BIGINT) FROM letters WHERE letter_id = $1",
                $update
            ))
            .bind(letter_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            Ok(found.is_some())
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

        /// The pseudonym rule, the issued-count rule and the pool insert of one entry on an
        /// open letter: the one text both backends run. One signature per pseudonym rests on
        /// the `pseudonyms` primary key (a concurrent insert of the same key waits for the
        /// first to commit and then does nothing); a withdrawal needs an earlier, unwithdrawn
        /// signature.
        pub(crate) async fn apply(
            conn: &mut Conn,
            letter_id: &str,
            entry: &PendingEntry,
            cell: &SignerCell,
        ) -> StoreResult<()> {
            if entry.withdraw {
                withdraw(conn, letter_id, &entry.pseudonym).await?;
            } else {
                sign(conn, letter_id, &entry.pseudonym).await?;
                count_signer(conn, letter_id, cell).await?;
            }
            refuse_logged(conn, letter_id, entry).await?;
            let r = sqlx::query(
                "INSERT INTO pool (letter_id, entry_hash, leaf, pseudonym, withdraw, include_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(letter_id)
            .bind(&entry.entry_hash[..])
            .bind(&entry.leaf)
            .bind(&entry.pseudonym)
            .bind(entry.withdraw)
            .bind(to_i64(entry.include_by)?)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::DoubleSign);
            }
            Ok(())
        }

        /// A new pseudonym's signature: `DoubleSign` if it signed already.
        async fn sign(conn: &mut Conn, letter_id: &str, pseudonym: &[u8]) -> StoreResult<()> {
            let r = sqlx::query(
                "INSERT INTO pseudonyms (letter_id, pseudonym, withdrawn) \
                 VALUES ($1, $2, FALSE) ON CONFLICT DO NOTHING",
            )
            .bind(letter_id)
            .bind(pseudonym)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::DoubleSign);
            }
            Ok(())
        }

        /// Withdraws a signature: `DoubleWithdraw` if it was withdrawn already,
        /// `WithdrawWithoutSign` if there is none.
        async fn withdraw(conn: &mut Conn, letter_id: &str, pseudonym: &[u8]) -> StoreResult<()> {
            let r = sqlx::query(
                "UPDATE pseudonyms SET withdrawn = TRUE \
                 WHERE letter_id = $1 AND pseudonym = $2 AND withdrawn = FALSE",
            )
            .bind(letter_id)
            .bind(pseudonym)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            if r.rows_affected() > 0 {
                return Ok(());
            }
            let signed: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM pseudonyms WHERE letter_id = $1 AND pseudonym = $2",
            )
            .bind(letter_id)
            .bind(pseudonym)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            Err(if signed.is_some() {
                StoreError::DoubleWithdraw
            } else {
                StoreError::WithdrawWithoutSign
            })
        }

        /// A pool entry whose hash is already a leaf would make every later `append_batch`
        /// fail on the unique index and stall the letter, so such a replay is refused.
        async fn refuse_logged(
            conn: &mut Conn,
            letter_id: &str,
            entry: &PendingEntry,
        ) -> StoreResult<()> {
            let logged: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM log_leaves WHERE letter_id = $1 AND entry_hash = $2",
            )
            .bind(letter_id)
            .bind(&entry.entry_hash[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            match logged {
                Some(_) => Err(StoreError::DoubleSign),
                None => Ok(()),
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
            let key = (
                letter_id,
                cell.issuer_id.as_str(),
                cell.epoch.as_str(),
                cell.org.as_str(),
            );
            sqlx::query(
                "INSERT INTO signer_counts (letter_id, issuer_id, epoch, org, signers) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(key.2)
            .bind(key.3)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            let signers: i64 = sqlx::query_scalar(
                "UPDATE signer_counts SET signers = signers + 1 WHERE letter_id = $1 \
                 AND issuer_id = $2 AND epoch = $3 AND org = $4 RETURNING signers",
            )
            .bind(key.0)
            .bind(key.1)
            .bind(key.2)
            .bind(key.3)
            .fetch_one(&mut *conn)
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

        /// The delivery row, held until the transaction ends: a concurrent state-checked
        /// write waits and then sees this one's result.
        async fn delivery_in(
            conn: &mut Conn,
            letter_id: &str,
            recipient: u32,
        ) -> StoreResult<Option<DeliveryRow>> {
            let row: Option<DeliveryRecord> = sqlx::query_as(concat!(
                "SELECT ",
                $crate::dialect::delivery_columns!(),
                " FROM deliveries WHERE letter_id = $1 AND recipient = $2",
                $update
            ))
            .bind(letter_id)
            .bind(i64::from(recipient))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            row.map(DeliveryRow::try_from).transpose()
        }

        /// The one shape of every delivery write: in one transaction, the row is read held
        /// (`delivery_in`), `decide` refuses or gives the values of `$3, $4, ..` in `sql`
        /// (whose `$1` and `$2` are the letter id and the recipient), the update runs, and the
        /// transaction commits. Of two racing callers, the second decides on the first's
        /// result.
        pub(crate) async fn update_delivery<'a>(
            mut tx: Tx,
            letter_id: &str,
            recipient: u32,
            sql: &'static str,
            decide: impl FnOnce(Option<&DeliveryRow>) -> StoreResult<Vec<Param<'a>>>,
        ) -> StoreResult<()> {
            let row = delivery_in(&mut tx, letter_id, recipient).await?;
            let params = decide(row.as_ref())?;
            let mut query = sqlx::query(sql).bind(letter_id).bind(i64::from(recipient));
            for param in params {
                query = match param {
                    Param::Int(v) => query.bind(v),
                    Param::Text(v) => query.bind(v),
                    Param::Bytes(v) => query.bind(v),
                };
            }
            // The only unique index an update of a delivery can hit is the token hash's.
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_or(e, "token hash in use"))?;
            tx.commit().await.map_err(backend)
        }

        /// Inserts a checkpoint with `sql`, an INSERT whose values are (owner, size, root,
        /// note, created_at): a letter's or an issuer's. `conflict` names a unique violation.
        pub(crate) async fn insert_checkpoint(
            conn: &mut Conn,
            sql: &'static str,
            owner: &str,
            cp: &CheckpointRow,
            conflict: &'static str,
        ) -> StoreResult<u64> {
            let r = sqlx::query(sql)
                .bind(owner)
                .bind(to_i64(cp.size)?)
                .bind(&cp.root[..])
                .bind(&cp.note)
                .bind(to_i64(cp.created_at)?)
                .execute(&mut *conn)
                .await
                .map_err(|e| unique_or(e, conflict))?;
            Ok(r.rows_affected())
        }

        /// Appends `leaf` at `idx` of a log with `sql`, an INSERT whose values are (owner,
        /// idx, hash, leaf): a letter's or an issuer's. `conflict` names a unique violation
        /// (the position or the hash is taken).
        pub(crate) async fn insert_leaf(
            conn: &mut Conn,
            sql: &'static str,
            owner: &str,
            idx: i64,
            leaf: (&[u8], &[u8]),
            conflict: &'static str,
        ) -> StoreResult<()> {
            sqlx::query(sql)
                .bind(owner)
                .bind(idx)
                .bind(leaf.0)
                .bind(leaf.1)
                .execute(&mut *conn)
                .await
                .map_err(|e| unique_or(e, conflict))?;
            Ok(())
        }

        /// The size of a log by `sql`, a `COALESCE(MAX(idx) + 1, 0)` over its leaves.
        pub(crate) async fn size_of<'e>(
            ex: impl sqlx::Executor<'e, Database = $db>,
            sql: &'static str,
            owner: &str,
        ) -> StoreResult<u64> {
            let size: i64 = sqlx::query_scalar(sql)
                .bind(owner)
                .fetch_one(ex)
                .await
                .map_err(backend)?;
            to_u64(size)
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
