//! The undersigned platform's domain, below HTTP: configuration and its validation, keys, the
//! clock, letters (reading, closing, delivery), submissions, the ledger and its batches,
//! witness cosigning, the issuer log, bundles and tiles, mail, metrics, and the background jobs
//! (publisher, leader).
//!
//! Every operation takes the `Platform` (or the part of it it needs) and answers with the
//! domain's `Error`; the HTTP crate maps each kind to a status at its edge, and nothing here
//! knows a route, a status or a template.
//!
//! Layers, bottom up: the parts (configuration, clock, keys, ledger, mailer, witnesses, the
//! caches and gates), then `platform.rs`, the struct that holds them, then the operations that
//! take `&Platform`. Part modules never import `platform` nor an operation; an `impl Platform`
//! that needs an operation (`issuable_epochs`) lives beside that operation.
//!
//! Architecture invariants: no server framework in this crate's dependency tree (`cargo tree
//! -p undersigned-service -e normal` finds no axum, tower, hyper or maud; `ureq` only reaches
//! the witnesses and the named issuers); nothing here imports the HTTP crate, and no domain function takes its
//! `AppState`.
#![forbid(unsafe_code)]

// Below the platform: the parts it holds, and what reads them from files. Rule: a part module never imports `platform` nor an
// operation below, so the platform is built from parts and nothing it holds reaches back up.
pub mod changes;
pub mod clock;
pub mod config;
pub mod deployment;
pub mod error;
pub mod issuer_gate;
pub mod issuers;
pub mod keys;
pub mod ledger;
pub mod limits;
pub mod mailer;
pub mod metrics;
pub mod pairing;
pub mod plaintext;
pub mod tile_mirror;
pub mod verifiers;
pub mod witnesses;

// The platform: the parts, held together; imports only part modules.
pub mod platform;

// Operations, above the platform: they take `&Platform` (or a part of it).
pub mod bundle;
pub mod cosigning;
pub mod delivery;
pub mod issuer;
pub mod issuer_log;
pub mod leader;
pub mod letters;
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
