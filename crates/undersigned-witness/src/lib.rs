//! A transparency-log witness (C2SP tlog-witness, <https://c2sp.org/tlog-witness>): it cosigns a
//! log's checkpoint only if it is consistent with the latest one of that log it cosigned, and
//! keeps that latest checkpoint durable before it answers.
//!
//! The decision itself is `undersigned_core::log::check_add_checkpoint`; this crate is the
//! program around it: the procedure that applies it to one log at a time (`witness`), the HTTP
//! surface (`http`, [`router`]), the witness's own SQLite store (`store`) and its key file
//! (`key`). It keeps nothing about who asks: no address, no request log, only the logs' own
//! checkpoints. It is a program of its own, apart from the platform server: it shares no
//! state or code with it, only the listener the CLI serves both with.
//!
//! A witness follows logs by exact origin (`--log`), or every origin under a prefix signed by
//! one key (`--logs-under`, [`LogPrefix`]): a deployment opens a new log per letter, each
//! named `<host>/letters/<letter id>` and signed by the deployment's one log key, and a witness
//! must not need a restart for each.
#![forbid(unsafe_code)]

mod http;
mod key;
mod prefix;
mod store;
mod witness;

pub use http::router;
pub use key::load_or_create_key;
pub use prefix::LogPrefix;
pub use store::{database_path, Evidence, Latest, WitnessStore};
pub use witness::{Refused, Witness};

use undersigned_core::log::CosignatureError;

/// Test hook: sleep this many milliseconds after the durable commit and before answering, so a
/// crash test can SIGKILL the witness exactly there.
pub const PAUSE_ENV: &str = "UNDERSIGNED_WITNESS_PAUSE_AFTER_COMMIT_MS";

/// tlog-witness: "The response MUST have a `Content-Type` of `text/x.tlog.size`."
pub const TLOG_SIZE: &str = "text/x.tlog.size";

/// Why the witness could not start, or could not read or write what it keeps.
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

/// Seconds since the unix epoch, from the system clock: the time in the witness's cosignatures.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
