//! The undersigned protocol: credentials, letters, signature entries, tally and bundle, with no IO.
//!
//! Everything here is pure: no files, no network, no clock and no OS randomness of our own.
//! Time is passed in as unix seconds and randomness as a `CryptoRngCore`. (zkryptium 0.8.0 draws
//! the blinding of commitments and proofs from `rand::thread_rng` internally; every value that we
//! choose — keys, nym secrets, nym entropy, shuffles — comes from the RNG the caller passes.)
#![forbid(unsafe_code)]

pub mod anonymity;
pub mod backup;
pub mod batch;
pub mod bbs;
pub mod bundle;
pub mod credential;
pub mod encoding;
pub mod entry;
pub mod error;
/// Above `entry` and `credential`, whose entries it forges; so not inside `bbs`, which they use.
#[cfg(feature = "forge")]
pub mod forge;
pub mod holder;
pub mod ids;
pub mod issuer;
pub mod letter;
pub mod lifecycle;
pub mod log;
pub mod pins;
pub mod record;
pub mod release;
pub mod share;
pub mod statement;
pub mod tally;
pub mod text;

pub use error::{BundleError, Error, IssueError, PresentError, StatementError, VerifyError};
