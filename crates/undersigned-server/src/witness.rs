//! A transparency-log witness (C2SP tlog-witness, <https://c2sp.org/tlog-witness>): it cosigns a
//! log's checkpoint only if it is consistent with the latest one of that log it cosigned, and
//! keeps that latest checkpoint durable before it answers.
//!
//! The decision itself is `undersigned_core::log::check_add_checkpoint`; this module is the
//! HTTP surface (`router`), the witness's own SQLite store and its key file. It keeps nothing
//! about who asks: no address, no request log, only the logs' own checkpoints.

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
use ed25519_dalek::SigningKey;
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

    /// Replaces the latest checkpoint of `origin`, but only if it is still the one the decision
    /// was made against (`expected`: size and root, `None` if there was none). Checking and
    /// writing in one statement keeps the update atomic even if a second process shared the
    /// file; tlog-witness: "checking the old size against the latest checkpoint and persisting
    /// the new checkpoint must be performed atomically".
    async fn advance(
        &self,
        origin: &str,
        expected: Option<(u64, Hash)>,
        new: &Latest,
        timestamp: u64,
    ) -> Result<bool, WitnessError> {
        let size = i64::try_from(new.size).map_err(|_| WitnessError::Corrupt(origin.into()))?;
        let ts = i64::try_from(timestamp).map_err(|_| WitnessError::Corrupt(origin.into()))?;
        let done = match expected {
            None => sqlx::query(
                "INSERT INTO witness_logs (origin, size, root, note, cosigned_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (origin) DO NOTHING",
            )
            .bind(origin)
            .bind(size)
            .bind(new.root.as_slice())
            .bind(&new.note)
            .bind(ts)
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
    /// misbehavior." Only the log's key can produce one, so the table stays small.
    async fn keep_evidence(
        &self,
        origin: &str,
        note: &str,
        reason: &str,
    ) -> Result<(), WitnessError> {
        sqlx::query(
            "INSERT INTO witness_evidence (origin, note, reason) VALUES (?1, ?2, ?3) \
             ON CONFLICT (note) DO NOTHING",
        )
        .bind(origin)
        .bind(note)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every inconsistent checkpoint kept, oldest first: (origin, note, reason).
    pub async fn evidence(&self) -> Result<Vec<(String, String, String)>, WitnessError> {
        let rows = sqlx::query("SELECT origin, note, reason FROM witness_evidence ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get("origin")?,
                    r.try_get("note")?,
                    r.try_get("reason")?,
                ))
            })
            .collect()
    }
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

/// The path of the witness database inside its data directory.
pub fn database_path(dir: &Path) -> std::path::PathBuf {
    dir.join(DB_FILE)
}

/// A running witness: its key, the logs it follows, its store, and one lock per log.
#[derive(Debug)]
pub struct Witness {
    signer: WitnessSigner,
    logs: HashMap<String, Vec<LogVerifier>>,
    /// Requests for one log are decided one at a time, so two can never both be checked
    /// against the same stored checkpoint and both be cosigned.
    locks: HashMap<String, Mutex<()>>,
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
            .map(|o| (o.clone(), Mutex::new(())))
            .collect();
        Ok(Self {
            signer,
            logs: by_origin,
            locks,
            store,
            pause: None,
            clock: crate::now,
        })
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
        let (Some(keys), Some(lock)) = (self.logs.get(origin), self.locks.get(origin)) else {
            return Err(Refused::UnknownOrigin);
        };
        let checkpoint = open_with_any(&req.checkpoint, keys, origin)?;

        let _guard = lock.lock().await;
        let latest = self.store.latest(origin).await.map_err(Refused::Internal)?;
        let expected = latest.as_ref().map(|l| (l.size, l.root));
        if let Err(refusal) = check_add_checkpoint(expected, req.old_size, &req.proof, &checkpoint)
        {
            if refusal.status() == 422 {
                self.store
                    .keep_evidence(origin, &req.checkpoint, &refusal.to_string())
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
            .advance(origin, expected, &new, timestamp)
            .await
            .map_err(Refused::Internal)?
        {
            // Only another writer on the same file can get here; its size wins.
            let now = self.store.latest(origin).await.map_err(Refused::Internal)?;
            return Err(Refused::Witness(WitnessRefusal::Conflict {
                old: req.old_size,
                latest: now.map_or(0, |l| l.size),
            }));
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
    #[error("internal error")]
    Internal(WitnessError),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match &self {
            Refused::Malformed(_) | Refused::BadNote(_) => StatusCode::BAD_REQUEST,
            Refused::UnknownOrigin => StatusCode::NOT_FOUND,
            Refused::BadSignature => StatusCode::FORBIDDEN,
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
    let Some(origin) = w
        .logs
        .keys()
        .find(|o| hex::encode(Sha256::digest(o.as_bytes())) == hash)
    else {
        return (StatusCode::NOT_FOUND, "unknown log\n").into_response();
    };
    match w.store.latest(origin).await {
        Ok(Some(l)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            l.note,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no checkpoint cosigned yet\n").into_response(),
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
