//! SQLite group commit for submissions: concurrent `accept_entry` calls share one transaction,
//! so one WAL fsync makes a whole group durable instead of one fsync per entry.
//!
//! Why: SQLite has one writer and, with `synchronous=FULL`, every commit waits for an fsync
//! (about 1 ms here). One transaction per submission caps a server at about a thousand
//! submissions a second however fast verification is, and queues every submitter behind the
//! fsyncs of all those before it.
//!
//! How: submitters send their entry to one committer task and wait for its answer. The
//! committer takes everything queued (up to `MAX_GROUP`), runs each entry's checks and inserts
//! inside a savepoint of one `BEGIN IMMEDIATE` transaction, commits once, and only then answers
//! each submitter with its own outcome. No timer: a group is whatever arrived while the previous
//! commit was on disk, so a lone submission waits for nobody.
//!
//! What stays exact:
//! - durability: an entry's `Ok` is sent only after the COMMIT that holds its row returned, so
//!   its receipt still follows durability (promise 4);
//! - the pseudonym rules: entries are applied one after another in one transaction, so the
//!   second of two entries sharing a pseudonym (of any of their parts) sees the first's rows
//!   and gets the same `DoubleSign` / `DoubleWithdraw` / `AmbiguousWithdrawal` it gets across
//!   transactions;
//! - isolation of refusals: a refused entry's savepoint is rolled back and the others go on;
//! - failures of the transaction itself (a savepoint SQLite already rolled back on a full
//!   disk, a failed BEGIN or COMMIT) refuse the whole group with the error: nothing of it was committed, and none of it gets a receipt.
//!   A refusal decided inside a group that then failed to commit is not reported either (it
//!   may have rested on a row that never became durable): every member gets the error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{Acquire, Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::dialect::sqlite::{apply, is_open};
use crate::util::backend;
use crate::{PendingEntry, SignerCell, StoreError, StoreResult};

/// A group larger than this gains nothing (its fsync is long amortized) and holds the one
/// write connection longer from the publisher.
const MAX_GROUP: usize = 256;
/// Submissions waiting for the committer; beyond this submitters wait (back-pressure).
const QUEUE: usize = 4096;

/// One submission waiting for its group's commit.
struct Job {
    letter_id: String,
    entry: PendingEntry,
    cell: SignerCell,
    answer: oneshot::Sender<StoreResult<()>>,
}

/// How many transactions the committer ran and how many submissions they held: their ratio is
/// the mean group size (1 when nothing arrives together).
#[derive(Debug, Default)]
pub struct CommitGroups {
    transactions: AtomicU64,
    submissions: AtomicU64,
}

impl CommitGroups {
    /// (transactions, submissions) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.transactions.load(Ordering::Relaxed),
            self.submissions.load(Ordering::Relaxed),
        )
    }
}

/// The submitters' side: a channel to the committer task, started on first use.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Job>,
    counts: Arc<CommitGroups>,
    /// Taken by the first submission, which starts the committer on its runtime.
    rx: std::sync::Mutex<Option<(mpsc::Receiver<Job>, SqlitePool)>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// A committer that will write through `pool` (the one-connection write pool). The task
    /// holds only the pool, never the store, so it ends when the last store clone is dropped.
    pub(crate) fn new(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            counts: Arc::default(),
            rx: std::sync::Mutex::new(Some((rx, pool))),
        }
    }

    pub(crate) fn counts(&self) -> &CommitGroups {
        &self.counts
    }

    /// Accepts the entry in the next group commit. `None` when no committer can take it (its
    /// runtime is gone): the caller then commits the entry alone.
    pub(crate) async fn accept(
        &self,
        letter_id: &str,
        entry: &PendingEntry,
        cell: &SignerCell,
    ) -> Option<StoreResult<()>> {
        self.start();
        let (answer, wait) = oneshot::channel();
        let job = Job {
            letter_id: letter_id.to_owned(),
            entry: entry.clone(),
            cell: cell.clone(),
            answer,
        };
        if self.tx.send(job).await.is_err() {
            return None;
        }
        Some(match wait.await {
            Ok(result) => result,
            // The committer stopped while our group was in flight: whether it committed is
            // unknown, so no receipt; a retry finds the entry (replay) or accepts it.
            Err(_) => Err(StoreError::Backend(
                "the submission committer stopped".into(),
            )),
        })
    }

    fn start(&self) {
        let taken = match self.rx.lock() {
            Ok(mut guard) => guard.take(),
            Err(_) => None,
        };
        if let Some((rx, pool)) = taken {
            tokio::spawn(run(rx, pool, Arc::clone(&self.counts)));
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Job>, pool: SqlitePool, counts: Arc<CommitGroups>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        counts.transactions.fetch_add(1, Ordering::Relaxed);
        counts
            .submissions
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        commit_group(&pool, group).await;
    }
}

/// Applies every job of the group in one transaction, commits, then answers each.
async fn commit_group(pool: &SqlitePool, group: Vec<Job>) {
    let outcome = async {
        let mut tx = begin(pool).await?;
        let mut results = Vec::with_capacity(group.len());
        // Whether each letter is open, asked once per group: only this transaction writes
        // until it commits, so the answer holds for every job of the group.
        let mut open: HashMap<&str, bool> = HashMap::new();
        for job in &group {
            let is_open = match open.get(job.letter_id.as_str()) {
                Some(o) => *o,
                None => {
                    let o = is_open(&mut tx, &job.letter_id).await?;
                    open.insert(&job.letter_id, o);
                    o
                }
            };
            if !is_open {
                results.push(Err(StoreError::NotFound));
                continue;
            }
            results.push(apply_one(&mut tx, &job.letter_id, &job.entry, &job.cell).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok::<_, StoreError>(results)
    }
    .await;
    match outcome {
        Ok(results) => {
            for (job, result) in group.into_iter().zip(results) {
                // A submitter that went away needs no answer; its entry is committed and a
                // retry gets its receipt again.
                let _ = job.answer.send(result);
            }
        }
        Err(e) => {
            let message = e.to_string();
            for job in group {
                let _ = job.answer.send(Err(StoreError::Backend(message.clone())));
            }
        }
    }
}

/// One job inside the group's transaction, in a savepoint: `Ok(Ok(()))` applied,
/// `Ok(Err(refusal))` refused and rolled back alone, `Err` the transaction itself failed (the
/// whole group fails).
async fn apply_one(
    tx: &mut Transaction<'static, Sqlite>,
    letter_id: &str,
    entry: &PendingEntry,
    cell: &SignerCell,
) -> StoreResult<StoreResult<()>> {
    let mut savepoint = tx.begin().await.map_err(backend)?;
    match apply(&mut savepoint, letter_id, entry, cell).await {
        Ok(()) => {
            savepoint.commit().await.map_err(backend)?;
            Ok(Ok(()))
        }
        // A refusal, or a statement the database refused for this entry alone: only this
        // entry is undone. If the savepoint is gone (SQLite rolled the whole transaction
        // back, as it may on a full disk), the group fails.
        Err(refusal) => {
            savepoint.rollback().await.map_err(backend)?;
            Ok(Err(refusal))
        }
    }
}

/// `BEGIN IMMEDIATE` on the write pool, replacing a connection that a failed COMMIT left stuck.
pub(crate) async fn begin(pool: &SqlitePool) -> StoreResult<Transaction<'static, Sqlite>> {
    match pool.begin_with("BEGIN IMMEDIATE").await {
        // A COMMIT that failed for lack of disk space is rolled back by SQLite itself;
        // sqlx's own ROLLBACK then fails and its count of open transactions stays at one,
        // so every later BEGIN on the one write connection is refused, for good (found by
        // the full-disk fault test). That connection is closed and a fresh one opened.
        Err(sqlx::Error::InvalidSavePointStatement) => {
            let mut stuck = pool.acquire().await.map_err(backend)?;
            stuck.close_on_drop();
            drop(stuck);
            pool.begin_with("BEGIN IMMEDIATE").await.map_err(backend)
        }
        other => other.map_err(backend),
    }
}
