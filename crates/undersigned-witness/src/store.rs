//! The witness's own SQLite database: the latest cosigned checkpoint of each log, and the
//! conflicting checkpoints kept as evidence of a log's misbehaviour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use undersigned_core::log::Hash;

use crate::{WitnessError, MAX_EVIDENCE_PER_LOG};

const DB_FILE: &str = "witness.sqlite";

/// The latest checkpoint the witness cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    pub root: Hash,
    /// The checkpoint as the log signed it, with this witness's cosignature appended.
    pub note: String,
}

/// The witness's state: one row per log origin, and the evidence of logs that misbehaved.
///
/// One write connection and `BEGIN IMMEDIATE`, as in the store crate, and `synchronous=FULL`:
/// a cosignature goes out only after its checkpoint is on disk, so a crash can lose an answer
/// but never let the witness forget what it cosigned.
#[derive(Debug, Clone)]
pub struct WitnessStore {
    pool: SqlitePool,
}

impl WitnessStore {
    pub async fn open(path: &Path) -> Result<Self, WitnessError> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // Rows from before origins were stored with their hash get it now.
        let unhashed: Vec<String> =
            sqlx::query_scalar("SELECT origin FROM witness_logs WHERE origin_hash IS NULL")
                .fetch_all(&pool)
                .await?;
        for origin in unhashed {
            sqlx::query("UPDATE witness_logs SET origin_hash = ?2 WHERE origin = ?1")
                .bind(&origin)
                .bind(origin_hash(&origin).as_slice())
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn latest(&self, origin: &str) -> Result<Option<Latest>, WitnessError> {
        let row = sqlx::query("SELECT size, root, note FROM witness_logs WHERE origin = ?1")
            .bind(origin)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let size: i64 = r.try_get("size")?;
            let root: Vec<u8> = r.try_get("root")?;
            let note: String = r.try_get("note")?;
            Ok::<_, WitnessError>(Latest {
                size: u64::try_from(size).map_err(|_| WitnessError::Corrupt(origin.into()))?,
                root: Hash::try_from(root.as_slice())
                    .map_err(|_| WitnessError::Corrupt(origin.into()))?,
                note,
            })
        })
        .transpose()
    }

    /// The origin whose SHA-256 is `hash`, with its latest checkpoint, if the witness has one.
    pub async fn latest_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(String, String)>, WitnessError> {
        let row = sqlx::query("SELECT origin, note FROM witness_logs WHERE origin_hash = ?1")
            .bind(hash.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("origin")?, r.try_get("note")?)))
            .transpose()
    }

    /// How many logs the witness holds a checkpoint of.
    pub async fn count(&self) -> Result<u64, WitnessError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM witness_logs")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| WitnessError::Corrupt("count".into()))
    }

    /// How many logs the witness holds a checkpoint of under `bound`'s prefix.
    pub(crate) async fn count_under(&self, bound: &LogBound) -> Result<u64, WitnessError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM witness_logs WHERE origin BETWEEN ?1 AND ?2")
                .bind(&bound.lo)
                .bind(&bound.hi)
                .fetch_one(&self.pool)
                .await?;
        u64::try_from(n).map_err(|_| WitnessError::Corrupt("count".into()))
    }

    /// Replaces the latest checkpoint of `origin`, but only if it is still the one the decision
    /// was made against (`expected`: size and root, `None` if there was none). Checking and
    /// writing in one statement keeps the update atomic even if a second process shared the
    /// file; tlog-witness: "checking the old size against the latest checkpoint and persisting
    /// the new checkpoint must be performed atomically". A first checkpoint is stored only while
    /// fewer than `bound.max` logs are under its prefix (if bounded), in the same statement, so
    /// concurrent new logs cannot overshoot it.
    pub(crate) async fn advance(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &Latest,
        timestamp: u64,
        bound: Option<&LogBound>,
    ) -> Result<bool, WitnessError> {
        let size = i64::try_from(new.size).map_err(|_| WitnessError::Corrupt(origin.into()))?;
        let ts = i64::try_from(timestamp).map_err(|_| WitnessError::Corrupt(origin.into()))?;
        let done = match expected {
            None => sqlx::query(
                "INSERT INTO witness_logs (origin, size, root, note, cosigned_at, origin_hash) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
                 WHERE ?7 IS NULL \
                    OR (SELECT count(*) FROM witness_logs WHERE origin BETWEEN ?8 AND ?9) < ?7 \
                 ON CONFLICT (origin) DO NOTHING",
            )
            .bind(origin)
            .bind(size)
            .bind(new.root.as_slice())
            .bind(&new.note)
            .bind(ts)
            .bind(origin_hash(origin).as_slice())
            .bind(bound.map(|b| i64::try_from(b.max).unwrap_or(i64::MAX)))
            .bind(bound.map(|b| b.lo.as_str()))
            .bind(bound.map(|b| b.hi.as_str()))
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some((old_size, old_root)) => {
                let old_size =
                    i64::try_from(old_size).map_err(|_| WitnessError::Corrupt(origin.into()))?;
                sqlx::query(
                    "UPDATE witness_logs SET size = ?2, root = ?3, note = ?4, cosigned_at = ?5 \
                     WHERE origin = ?1 AND size = ?6 AND root = ?7",
                )
                .bind(origin)
                .bind(size)
                .bind(new.root.as_slice())
                .bind(&new.note)
                .bind(ts)
                .bind(old_size)
                .bind(old_root.as_slice())
                .execute(&self.pool)
                .await?
                .rows_affected()
            }
        };
        Ok(done == 1)
    }

    /// Keeps a validly signed checkpoint that is inconsistent with what was cosigned: tlog-witness
    /// "the witness MAY log the request even if the checkpoint fails one of the consistency
    /// checks above (but MUST NOT cosign the checkpoint), as it might be proof of log
    /// misbehavior." Bounded per log: the first one per size is kept and the rest counted
    /// ([`MAX_EVIDENCE_PER_LOG`]), so even the log key's holder cannot grow the table without
    /// end. One transaction, so a crash never counts a checkpoint it did not keep.
    pub(crate) async fn keep_evidence(
        &self,
        origin: &str,
        size: u64,
        note: &str,
        reason: &str,
    ) -> Result<(), WitnessError> {
        let size = i64::try_from(size).map_err(|_| WitnessError::Corrupt(origin.into()))?;
        let max = i64::try_from(MAX_EVIDENCE_PER_LOG).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let repeated = sqlx::query(
            "UPDATE witness_evidence SET repeats = repeats + 1 WHERE origin = ?1 AND size = ?2",
        )
        .bind(origin)
        .bind(size)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if repeated == 0 {
            let kept = sqlx::query(
                "INSERT INTO witness_evidence (origin, size, note, reason) \
                 SELECT ?1, ?2, ?3, ?4 \
                 WHERE (SELECT count(*) FROM witness_evidence WHERE origin = ?1) < ?5",
            )
            .bind(origin)
            .bind(size)
            .bind(note)
            .bind(reason)
            .bind(max)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if kept == 0 {
                sqlx::query(
                    "UPDATE witness_logs SET evidence_dropped = evidence_dropped + 1 \
                     WHERE origin = ?1",
                )
                .bind(origin)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every inconsistent checkpoint kept, oldest first.
    pub async fn evidence(&self) -> Result<Vec<Evidence>, WitnessError> {
        let rows = sqlx::query(
            "SELECT origin, size, note, reason, repeats FROM witness_evidence ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let origin: String = r.try_get("origin")?;
                let size: Option<i64> = r.try_get("size")?;
                let repeats: i64 = r.try_get("repeats")?;
                let corrupt = || WitnessError::Corrupt(origin.clone());
                Ok(Evidence {
                    size: size.map(u64::try_from).transpose().map_err(|_| corrupt())?,
                    repeats: u64::try_from(repeats).map_err(|_| corrupt())?,
                    note: r.try_get("note")?,
                    reason: r.try_get("reason")?,
                    origin,
                })
            })
            .collect()
    }

    /// How many conflicting checkpoints of `origin` were neither kept nor counted on a kept
    /// size, because the log already has [`MAX_EVIDENCE_PER_LOG`] sizes kept.
    pub async fn evidence_dropped(&self, origin: &str) -> Result<u64, WitnessError> {
        let n: Option<i64> =
            sqlx::query_scalar("SELECT evidence_dropped FROM witness_logs WHERE origin = ?1")
                .bind(origin)
                .fetch_optional(&self.pool)
                .await?;
        u64::try_from(n.unwrap_or(0)).map_err(|_| WitnessError::Corrupt(origin.into()))
    }
}

/// A conflicting checkpoint kept as evidence of a log's misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub origin: String,
    /// The checkpoint's size (`None` only for rows kept before sizes were).
    pub size: Option<u64>,
    /// The first such checkpoint, as received.
    pub note: String,
    pub reason: String,
    /// How many more conflicting checkpoints of this log at this size came after it.
    pub repeats: u64,
}

/// At most `max` logs with origins in `lo..=hi`: the logs under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct LogBound {
    pub(crate) max: u64,
    pub(crate) lo: String,
    pub(crate) hi: String,
}

/// tlog-witness names a log in monitoring URLs by the SHA-256 of its origin.
pub(crate) fn origin_hash(origin: &str) -> [u8; 32] {
    Sha256::digest(origin.as_bytes()).into()
}

/// The path of the witness database inside its data directory.
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A store written before origins were kept with their hash gets the hash when it opens,
    /// so monitors find those logs too.
    #[tokio::test]
    async fn open_backfills_origin_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let store = WitnessStore::open(&path).await.unwrap();
        let new = Latest {
            size: 3,
            root: [7; 32],
            note: "a note\n".into(),
        };
        assert!(store
            .advance("example.org/letters/a", None, &new, 1, None)
            .await
            .unwrap());
        sqlx::query("UPDATE witness_logs SET origin_hash = NULL")
            .execute(&store.pool)
            .await
            .unwrap();
        let hash = origin_hash("example.org/letters/a");
        assert!(store.latest_by_hash(&hash).await.unwrap().is_none());
        store.close().await;

        let store = WitnessStore::open(&path).await.unwrap();
        assert_eq!(
            store.latest_by_hash(&hash).await.unwrap(),
            Some(("example.org/letters/a".into(), "a note\n".into()))
        );
        // And the bound holds in the INSERT itself: one log stored under the range, a limit of
        // one refuses more there, but not under another range.
        let bound = |max, lo: &str, hi: &str| LogBound {
            max,
            lo: lo.into(),
            hi: hi.into(),
        };
        let under_a = bound(1, "example.org/letters/a", "example.org/letters/z");
        assert!(!store
            .advance("example.org/letters/b", None, &new, 1, Some(&under_a))
            .await
            .unwrap());
        let under_b = bound(1, "example.org/other/a", "example.org/other/z");
        assert!(store
            .advance("example.org/other/b", None, &new, 1, Some(&under_b))
            .await
            .unwrap());
        assert!(store
            .advance(
                "example.org/letters/b",
                None,
                &new,
                1,
                Some(&bound(2, "example.org/letters/a", "example.org/letters/z"))
            )
            .await
            .unwrap());
        assert_eq!(store.count().await.unwrap(), 3);
        store.close().await;
    }
}
