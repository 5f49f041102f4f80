//! A transparency-log witness (C2SP tlog-witness, <https://c2sp.org/tlog-witness>): it cosigns a
//! log's checkpoint only if it is consistent with the latest one of that log it cosigned, and
//! keeps that latest checkpoint durable before it answers.
//!
//! The decision itself is `undersigned_core::log::check_add_checkpoint`; this module is the
//! HTTP surface (`router`), the witness's own SQLite store and its key file. It keeps nothing
//! about who asks: no address, no request log, only the logs' own checkpoints.
//!
//! A witness follows logs by exact origin (`--log`), or every origin under a prefix signed by
//! one key (`--logs-under`, [`LogPrefix`]): a deployment opens a new log per letter, each
//! named `<host>/letters/<letter id>` and signed by the deployment's one log key, and a witness
//! must not need a restart for each.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;
use tokio::sync::Mutex;
use undersigned_core::log::{
    add_cosignatures, check_add_checkpoint, AddCheckpoint, AddCheckpointError, Checkpoint,
    CheckpointError, CosignatureError, Hash, LogVerifier, NoteError, WitnessRefusal, WitnessSigner,
    MAX_ADD_CHECKPOINT_BYTES,
};
use zeroize::Zeroizing;

/// Test hook: sleep this many milliseconds after the durable commit and before answering, so a
/// crash test can SIGKILL the witness exactly there.
pub const PAUSE_ENV: &str = "UNDERSIGNED_WITNESS_PAUSE_AFTER_COMMIT_MS";

/// tlog-witness: "The response MUST have a `Content-Type` of `text/x.tlog.size`."
pub const TLOG_SIZE: &str = "text/x.tlog.size";

const KEY_FILE: &str = "witness.key";
const DB_FILE: &str = "witness.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("witness store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("witness store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("witness key file {path}: {detail}")]
    KeyFile { path: String, detail: String },
    #[error(transparent)]
    Cosignature(#[from] CosignatureError),
    #[error("stored checkpoint for {0} is corrupt")]
    Corrupt(String),
    #[error("log {0} is named twice with the same key")]
    DuplicateLog(String),
    #[error("logs under {0:?}: {1}")]
    Prefix(String, String),
}

/// The default bound on how many logs a witness follows under each prefix (`--max-logs`). Only
/// a log key's holder can add an origin under its prefix, so this only keeps a misbehaving one
/// from filling the witness's disk; each log costs one row of a few hundred bytes. The bound is
/// per prefix, so one deployment's junk logs never stop another deployment's new letter.
pub const DEFAULT_MAX_LOGS: u64 = 100_000;

/// The most conflicting checkpoints kept as evidence per log, each the first seen at its size;
/// later ones at a kept size count in that row's `repeats`, those at further sizes in the
/// log's `evidence_dropped`. One is proof enough of a fork; the bound keeps a log key's holder
/// from filling the disk with validly signed junk (each row holds a note of up to 16 KiB).
pub const MAX_EVIDENCE_PER_LOG: u64 = 16;

/// Every log whose origin starts with `prefix` and whose checkpoints are signed by `key`
/// under that origin as key name: one deployment's letter logs, say (`example.org/letters/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPrefix {
    prefix: String,
    key: VerifyingKey,
}

impl LogPrefix {
    /// From a signed-note verifier key whose name is the prefix, ending in `/`, as a
    /// deployment publishes it (`/api/v1/deployment`, `witness_logs_under`). The `/` keeps
    /// `example.org/letters` from also covering `example.org/letters-old/...`.
    pub fn from_vkey(vkey: &str) -> Result<Self, WitnessError> {
        let v = LogVerifier::from_vkey(vkey)
            .map_err(|e| WitnessError::Prefix(vkey.to_owned(), e.to_string()))?;
        if !v.name().ends_with('/') {
            return Err(WitnessError::Prefix(
                v.name().to_owned(),
                "a prefix ends with '/'".into(),
            ));
        }
        Ok(Self {
            prefix: v.name().to_owned(),
            key: *v.verifying_key(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The verifier of `origin`, if it is this prefix followed by one id: the key ID is the one
    /// the log signs with, computed from the origin's own name. Protocol v1.2 "The record":
    /// only the prefix plus 64 lowercase hex digits is an origin under it. Anything longer
    /// (`<prefix>x/letters/<id>`) would be a second log the deployment's key could sign, and a
    /// fork of a letter's history cosigned under it.
    pub fn verifier_for(&self, origin: &str) -> Option<LogVerifier> {
        match origin.strip_prefix(self.prefix.as_str()) {
            Some(id) if is_log_id(id) => LogVerifier::new(origin, self.key).ok(),
            _ => None,
        }
    }

    /// The smallest and largest origin under this prefix, for a range over the stored origins
    /// (every origin under it has the same length, so byte order brackets them).
    fn origin_range(&self) -> (String, String) {
        (
            format!("{}{}", self.prefix, "0".repeat(LOG_ID_HEX)),
            format!("{}{}", self.prefix, "f".repeat(LOG_ID_HEX)),
        )
    }
}

/// A letter or issuer id in an origin: SHA-256, as 64 lowercase hex digits.
const LOG_ID_HEX: usize = 64;

/// Whether `id` is spelled as an origin's id must be: exactly 64 lowercase hex digits, so one
/// log has one origin. Core's rule, the same one every verifier parses origins with.
fn is_log_id(id: &str) -> bool {
    undersigned_core::log::origin::parse_id(id).is_some()
}

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
        sqlx::migrate!("./migrations/witness").run(&pool).await?;
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
    async fn count_under(&self, bound: &LogBound) -> Result<u64, WitnessError> {
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
    async fn advance(
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
    async fn keep_evidence(
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

/// The per-log locks, and how many were made for logs under each prefix (keyed by the
/// prefix's lowest origin).
#[derive(Debug)]
struct Locks {
    by_origin: HashMap<String, Arc<Mutex<()>>>,
    per_prefix: HashMap<String, u64>,
}

/// At most `max` logs with origins in `lo..=hi`: the logs under one prefix.
#[derive(Debug, Clone)]
struct LogBound {
    max: u64,
    lo: String,
    hi: String,
}

/// Reads the witness key from `dir`, creating it on first use (mode 0600). `name` is required
/// only to create it, and must match if given later: a witness's name is part of its key ID.
pub fn load_or_create_key(
    dir: &Path,
    name: Option<&str>,
    rng: &mut impl CryptoRngCore,
) -> Result<WitnessSigner, WitnessError> {
    let path = dir.join(KEY_FILE);
    let err = |detail: String| WitnessError::KeyFile {
        path: path.display().to_string(),
        detail,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let (stored_name, seed_hex) = text
                .trim_end()
                .split_once('\n')
                .ok_or_else(|| err("expected a name line and a seed line".into()))?;
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(seed_hex, seed.as_mut_slice())
                .map_err(|_| err("the seed is not 64 hex digits".into()))?;
            if let Some(n) = name {
                if n != stored_name {
                    return Err(err(format!(
                        "the key is named {stored_name:?}, not {n:?}; a witness keeps its name"
                    )));
                }
            }
            Ok(WitnessSigner::new(
                stored_name,
                SigningKey::from_bytes(&seed),
            )?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name =
                name.ok_or_else(|| {
                    err("no key yet: give --name (a schema-less URL such as witness.example.org/w1)"
                    .into())
                })?;
            let signer = WitnessSigner::generate(name, rng)?;
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            let text = Zeroizing::new(format!("{name}\n{}\n", hex::encode(signer.to_seed())));
            write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
            Ok(signer)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Creates a file only its owner can read, failing if it already exists.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// tlog-witness names a log in monitoring URLs by the SHA-256 of its origin.
fn origin_hash(origin: &str) -> [u8; 32] {
    Sha256::digest(origin.as_bytes()).into()
}

/// The path of the witness database inside its data directory.
pub fn database_path(dir: &Path) -> std::path::PathBuf {
    dir.join(DB_FILE)
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
                return Err(WitnessError::DuplicateLog(p.prefix));
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
    fn follows(&self, origin: &str) -> bool {
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
        out.extend(self.prefixes.iter().map(|p| format!("{}*", p.prefix)));
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
        let lock = match self.lock_for(origin, bound.as_ref()) {
            // A log stored before a restart gets its lock even when attempts at new logs
            // under its prefix used up the prefix's share.
            Err(Refused::TooManyLogs(_))
                if self
                    .store
                    .latest(origin)
                    .await
                    .map_err(Refused::Internal)?
                    .is_some() =>
            {
                self.lock_for(origin, None)?
            }
            other => other?,
        };
        let _guard = lock.lock().await;
        let latest = self.store.latest(origin).await.map_err(Refused::Internal)?;
        if let (None, Some(b)) = (&latest, &bound) {
            if self.store.count_under(b).await.map_err(Refused::Internal)? >= b.max {
                return Err(Refused::TooManyLogs(b.max));
            }
        }
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
        // The body of a verified note is everything before its last blank line.
        let body = req
            .checkpoint
            .rfind("\n\n")
            .and_then(|i| req.checkpoint.get(..=i))
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
            note: add_cosignatures(&req.checkpoint, [&line]),
        };
        if !self
            .store
            .advance(origin, expected, &new, timestamp, bound.as_ref())
            .await
            .map_err(Refused::Internal)?
        {
            // Only another writer on the same file can get here; its size wins.
            let now = self.store.latest(origin).await.map_err(Refused::Internal)?;
            return Err(match (now, bound) {
                (None, Some(b)) => Refused::TooManyLogs(b.max),
                (now, _) => Refused::Witness(WitnessRefusal::Conflict {
                    old: req.old_size,
                    latest: now.map_or(0, |l| l.size),
                }),
            });
        }
        if let Some(pause) = self.pause {
            tokio::time::sleep(pause).await;
        }
        Ok(line)
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

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match &self {
            Refused::Malformed(_) | Refused::BadNote(_) => StatusCode::BAD_REQUEST,
            Refused::UnknownOrigin => StatusCode::NOT_FOUND,
            Refused::BadSignature => StatusCode::FORBIDDEN,
            // tlog-witness has no word for this; the witness cannot store another log.
            Refused::TooManyLogs(_) => {
                tracing::warn!(error = %self, "refused a new log");
                StatusCode::INSUFFICIENT_STORAGE
            }
            Refused::Witness(WitnessRefusal::Conflict { latest, .. }) => {
                // tlog-witness: "The response body MUST consist of the tree size of the latest
                // cosigned checkpoint in decimal, followed by a newline (U+000A)."
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, TLOG_SIZE)],
                    format!("{latest}\n"),
                )
                    .into_response();
            }
            Refused::Witness(r) => {
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Refused::Internal(e) => {
                tracing::error!(error = %e, "witness internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    match w.add_checkpoint(&body).await {
        Ok(line) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            line,
        )
            .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// tlog-witness "Monitor Retrieval Mechanism": `GET <monitoring prefix>/<origin hash>/checkpoint`,
/// the latest cosigned checkpoint with the log's and the witness's signatures, or 404.
async fn get_checkpoint(State(w): State<Arc<Witness>>, UrlPath(hash): UrlPath<String>) -> Response {
    let mut digest = [0u8; 32];
    if hex::decode_to_slice(&hash, &mut digest).is_err() {
        return (StatusCode::NOT_FOUND, "unknown log\n").into_response();
    }
    match w.store.latest_by_hash(&digest).await {
        // A log no longer followed (the witness restarted without it) is not served.
        Ok(Some((origin, note))) if w.follows(&origin) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        Ok(_) => (
            StatusCode::NOT_FOUND,
            "no checkpoint cosigned for this log\n",
        )
            .into_response(),
        Err(e) => Refused::Internal(e).into_response(),
    }
}

/// The witness's HTTP surface, with the submission and monitoring prefixes both at the root.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(get_checkpoint))
        // A body above the largest valid request is refused (413) before it is read whole.
        .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES))
        .with_state(witness)
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
