//! The undersigned platform's domain, below HTTP: configuration and its validation, keys, the
//! clock, letters (reading, closing, delivery), submissions, the ledger and its batches,
//! witness cosigning, the issuer log, bundles and tiles, mail, metrics, and the background jobs
//! (publisher, leader).
//!
//! Every operation takes the `Platform` (or the part of it it needs) and answers with the
//! domain's `Error`; the HTTP crate maps each kind to a status at its edge, and nothing here
//! knows a route, a status or a template.
//!
//! Architecture invariants: no server framework in this crate's dependency tree (`cargo tree
//! -p undersigned-service -e normal` finds no axum, tower, hyper or maud; `ureq` only reaches
//! the witnesses); nothing here imports the HTTP crate, and no domain function takes its
//! `AppState`.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod changes;
pub mod clock;
pub mod config;
pub mod cosigning;
pub mod delivery;
pub mod deployment;
pub mod error;
pub mod issuer_log;
pub mod keys;
pub mod leader;
pub mod ledger;
pub mod letters;
pub mod limits;
pub mod mailer;
pub mod metrics;
pub mod pairing;
pub mod platform;
pub mod publisher;
pub mod submissions;
pub mod tiles;

pub use config::Config;
pub use error::{Error, Result};
pub use platform::Platform;

/// Seconds since the unix epoch, straight from the system clock. The platform reads
/// `Platform::clock` instead (`clock.rs` says why); the witness and tests use this.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
