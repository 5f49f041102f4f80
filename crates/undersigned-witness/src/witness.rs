//! The add-checkpoint procedure: which keys a log is trusted under, one decision at a time per
//! log, the bound on logs followed by prefix, and the durable write before the cosignature.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use undersigned_core::log::{
    add_cosignatures, check_add_checkpoint, AddCheckpoint, AddCheckpointError, Checkpoint,
    CheckpointError, Hash, LogVerifier, NoteError, WitnessRefusal, WitnessSigner,
};

use crate::store::{Latest, LogBound, WitnessStore};
use crate::{LogPrefix, WitnessError, DEFAULT_MAX_LOGS, PAUSE_ENV};

/// The per-log locks, and how many were made for logs under each prefix (keyed by the
/// prefix's lowest origin).
#[derive(Debug)]
struct Locks {
    by_origin: HashMap<String, Arc<Mutex<()>>>,
    per_prefix: HashMap<String, u64>,
}

/// A running witness: its key, the logs it follows, its store, and one lock per log.
#[derive(Debug)]
pub struct Witness {
    signer: WitnessSigner,
    /// Logs followed by exact origin.
    logs: HashMap<String, Vec<LogVerifier>>,
    /// Logs followed by origin prefix; at most `max_logs` logs under each prefix are kept.
    prefixes: Vec<LogPrefix>,
    max_logs: u64,
    /// Requests for one log are decided one at a time, so two can never both be checked
    /// against the same stored checkpoint and both be cosigned. A log followed by prefix gets
    /// its lock with its first validly signed checkpoint.
    locks: std::sync::Mutex<Locks>,
    store: WitnessStore,
    pause: Option<Duration>,
    clock: fn() -> u64,
}

impl Witness {
    /// `logs`: the log keys followed; each log's origin is its key's name.
    pub fn new(
        signer: WitnessSigner,
        logs: Vec<LogVerifier>,
        store: WitnessStore,
    ) -> Result<Self, WitnessError> {
        let mut by_origin: HashMap<String, Vec<LogVerifier>> = HashMap::new();
        for v in logs {
            let keys = by_origin.entry(v.name().to_owned()).or_default();
            if keys.contains(&v) {
                return Err(WitnessError::DuplicateLog(v.name().to_owned()));
            }
            keys.push(v);
        }
        let locks = by_origin
            .keys()
            .map(|o| (o.clone(), Arc::new(Mutex::new(()))))
            .collect();
        Ok(Self {
            signer,
            logs: by_origin,
            prefixes: Vec::new(),
            max_logs: DEFAULT_MAX_LOGS,
            locks: std::sync::Mutex::new(Locks {
                by_origin: locks,
                per_prefix: HashMap::new(),
            }),
            store,
            pause: None,
            clock: crate::now,
        })
    }

    /// Also follows every log under each of `prefixes`.
    pub fn with_prefixes(mut self, prefixes: Vec<LogPrefix>) -> Result<Self, WitnessError> {
        for p in prefixes {
            if self.prefixes.contains(&p) {
                return Err(WitnessError::DuplicateLog(p.prefix().to_owned()));
            }
            self.prefixes.push(p);
        }
        Ok(self)
    }

    /// Starts following no new log by prefix once the store holds `max` logs.
    pub fn with_max_logs(mut self, max: u64) -> Self {
        self.max_logs = max;
        self
    }

    /// The keys trusted for `origin`: those named for it exactly, and those of every prefix it
    /// lies under. Empty if the witness does not follow it.
    fn keys_for(&self, origin: &str) -> Vec<LogVerifier> {
        let mut keys = self.logs.get(origin).cloned().unwrap_or_default();
        keys.extend(self.prefixes.iter().filter_map(|p| p.verifier_for(origin)));
        keys
    }

    /// The lock of `origin`, created for a log followed by prefix unless the witness already
    /// holds as many locks under that prefix as it may follow logs there (only a log key's
    /// holder can get here, by signing checkpoints of ever new origins, and then only fills
    /// its own prefix's share).
    fn lock_for(&self, origin: &str, bound: Option<&LogBound>) -> Result<Arc<Mutex<()>>, Refused> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| Refused::Internal(WitnessError::Corrupt("lock table".into())))?;
        if let Some(l) = locks.by_origin.get(origin) {
            return Ok(l.clone());
        }
        if let Some(b) = bound {
            let held = locks.per_prefix.entry(b.lo.clone()).or_insert(0);
            if *held >= b.max {
                return Err(Refused::TooManyLogs(b.max));
            }
            *held += 1;
        }
        let l = Arc::new(Mutex::new(()));
        locks.by_origin.insert(origin.to_owned(), l.clone());
        Ok(l)
    }

    /// The bound on new logs that `origin` falls under: `None` for a log named exactly (always
    /// followed), else that of its prefix (one origin lies under at most one prefix string,
    /// since each is the prefix plus an id of fixed length).
    fn bound_for(&self, origin: &str) -> Option<LogBound> {
        if self.logs.contains_key(origin) {
            return None;
        }
        let p = self
            .prefixes
            .iter()
            .find(|p| p.verifier_for(origin).is_some())?;
        let (lo, hi) = p.origin_range();
        Some(LogBound {
            max: self.max_logs,
            lo,
            hi,
        })
    }

    /// Whether the witness follows `origin`, by name or by prefix.
    pub(crate) fn follows(&self, origin: &str) -> bool {
        self.logs.contains_key(origin)
            || self
                .prefixes
                .iter()
                .any(|p| p.verifier_for(origin).is_some())
    }

    /// The origins and prefixes followed, for the startup line (prefixes end in `*`).
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.logs.keys().cloned().collect();
        out.sort();
        out.extend(self.prefixes.iter().map(|p| format!("{}*", p.prefix())));
        out
    }

    /// Reads the crash-test pause from [`PAUSE_ENV`].
    pub fn with_pause_from_env(mut self) -> Self {
        self.pause = std::env::var(PAUSE_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis);
        self
    }

    pub fn signer(&self) -> &WitnessSigner {
        &self.signer
    }

    pub fn store(&self) -> &WitnessStore {
        &self.store
    }

    /// The whole add-checkpoint procedure; the handler only turns the outcome into HTTP.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Result<String, Refused> {
        let req = AddCheckpoint::parse(body).map_err(Refused::Malformed)?;
        let origin = req
            .checkpoint
            .split_once('\n')
            .map(|(o, _)| o)
            .ok_or(Refused::BadNote(CheckpointError::MissingLines))?;
        // tlog-witness: "If the checkpoint origin is unknown, the witness MUST respond with a
        // "404 Not Found" HTTP status code."
        let keys = self.keys_for(origin);
        if keys.is_empty() {
            return Err(Refused::UnknownOrigin);
        }
        let checkpoint = open_with_any(&req.checkpoint, &keys, origin)?;

        // Logs named exactly are always followed; a new one under a prefix only within its
        // prefix's bound.
        let bound = self.bound_for(origin);
        let lock = self.lock_of(origin, bound.as_ref()).await?;
        let _guard = lock.lock().await;
        let latest = self.latest_within(origin, bound.as_ref()).await?;
        let expected = latest.as_ref().map(|l| (l.size, l.root));
        if let Err(refusal) = check_add_checkpoint(expected, req.old_size, &req.proof, &checkpoint)
        {
            // Only a conflict with a checkpoint this witness cosigned says anything about the
            // log; a refused first checkpoint is not kept, so new origins cannot add rows.
            if refusal.status() == 422 && latest.is_some() {
                self.store
                    .keep_evidence(
                        origin,
                        checkpoint.size,
                        &req.checkpoint,
                        &refusal.to_string(),
                    )
                    .await
                    .map_err(Refused::Internal)?;
            }
            return Err(Refused::Witness(refusal));
        }
        let (line, new, timestamp) = self.cosign(&req.checkpoint, &checkpoint)?;
        self.advance(origin, expected, &new, timestamp, bound, req.old_size)
            .await?;
        if let Some(pause) = self.pause {
            tokio::time::sleep(pause).await;
        }
        Ok(line)
    }

    /// The lock of `origin` ([`Witness::lock_for`]), also for a log stored before a restart
    /// when attempts at new logs under its prefix used up the prefix's share.
    async fn lock_of(
        &self,
        origin: &str,
        bound: Option<&LogBound>,
    ) -> Result<Arc<Mutex<()>>, Refused> {
        match self.lock_for(origin, bound) {
            Err(Refused::TooManyLogs(_))
                if self
                    .store
                    .latest(origin)
                    .await
                    .map_err(Refused::Internal)?
                    .is_some() =>
            {
                self.lock_for(origin, None)
            }
            other => other,
        }
    }

    /// The latest checkpoint cosigned for `origin`; for a log not stored yet, a refusal if its
    /// prefix already holds as many logs as it may.
    async fn latest_within(
        &self,
        origin: &str,
        bound: Option<&LogBound>,
    ) -> Result<Option<Latest>, Refused> {
        let latest = self.store.latest(origin).await.map_err(Refused::Internal)?;
        if let (None, Some(b)) = (&latest, bound) {
            if self.store.count_under(b).await.map_err(Refused::Internal)? >= b.max {
                return Err(Refused::TooManyLogs(b.max));
            }
        }
        Ok(latest)
    }

    /// This witness's cosignature line on a verified checkpoint `note`, the note with it
    /// appended, and the cosignature's time.
    fn cosign(
        &self,
        note: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(String, Latest, u64), Refused> {
        // The body of a verified note is everything before its last blank line.
        let body = note
            .rfind("\n\n")
            .and_then(|i| note.get(..=i))
            .ok_or(Refused::BadNote(CheckpointError::Note(
                NoteError::MissingBlankLine,
            )))?;
        let timestamp = (self.clock)();
        let line = self
            .signer
            .cosign(body, timestamp)
            .map_err(|e| Refused::Internal(e.into()))?;
        let new = Latest {
            size: checkpoint.size,
            root: checkpoint.root,
            note: add_cosignatures(note, [&line]),
        };
        Ok((line, new, timestamp))
    }

    /// Stores `new` as the latest checkpoint of `origin`, durably, before any cosignature
    /// goes out; refused if the stored one is no longer `expected`.
    async fn advance(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &Latest,
        timestamp: u64,
        bound: Option<LogBound>,
        old_size: u64,
    ) -> Result<(), Refused> {
        if self
            .store
            .advance(origin, expected, new, timestamp, bound.as_ref())
            .await
            .map_err(Refused::Internal)?
        {
            return Ok(());
        }
        // Only another writer on the same file can get here; its size wins.
        let now = self.store.latest(origin).await.map_err(Refused::Internal)?;
        Err(match (now, bound) {
            (None, Some(b)) => Refused::TooManyLogs(b.max),
            (now, _) => Refused::Witness(WitnessRefusal::Conflict {
                old: old_size,
                latest: now.map_or(0, |l| l.size),
            }),
        })
    }
}

/// tlog-witness: "The witness MUST verify the checkpoint signature against the public key(s) it
/// trusts for the checkpoint origin, and it MUST ignore signatures from unknown keys ... The
/// witness MUST respond with a "403 Forbidden" HTTP status code if either no signature from a
/// trusted key for the origin is present, or a signature line's key name and ID match a trusted
/// key but the signature itself fails to verify".
fn open_with_any(note: &str, keys: &[LogVerifier], origin: &str) -> Result<Checkpoint, Refused> {
    let mut opened = None;
    for key in keys {
        match Checkpoint::open(note, key, Some(origin)) {
            Ok(cp) => opened = Some(cp),
            Err(CheckpointError::Note(NoteError::NoSignatureByKey)) => {}
            Err(CheckpointError::Note(NoteError::BadSignature)) => {
                return Err(Refused::BadSignature)
            }
            Err(e) => return Err(Refused::BadNote(e)),
        }
    }
    opened.ok_or(Refused::BadSignature)
}

/// Why a request got no cosignature, with the status tlog-witness gives it.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Malformed(AddCheckpointError),
    #[error("the checkpoint is not a valid signed note: {0}")]
    BadNote(CheckpointError),
    #[error("this witness does not follow the log of this checkpoint's origin")]
    UnknownOrigin,
    #[error(
        "the checkpoint carries no valid signature by a key this witness trusts for its origin"
    )]
    BadSignature,
    #[error("{0}")]
    Witness(WitnessRefusal),
    #[error("this witness follows {0} logs under this prefix already and starts no new one")]
    TooManyLogs(u64),
    #[error("internal error")]
    Internal(WitnessError),
}
