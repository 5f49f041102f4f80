//! The `undersigned` binary, driven as a user would: demo, verify honest and tampered bundles,
//! the README's newcomer flow against `serve --dev`, a SIGKILL crash test, and the witness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod attacks;
mod backup;
mod client;
mod cluster;
mod connections;
mod cover;
mod crash;
mod deployment;
mod flow;
mod holder_backup;
mod issuers;
mod monitor;
#[path = "../../../undersigned-store/tests/it/pgserver.rs"]
mod pgserver;
mod run;
mod threshold;
mod tiles;
mod traces;
mod verify;
mod witness;
mod witnessed;
