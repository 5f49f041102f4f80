//! Store integration tests: every suite function runs against SQLite (in a temp dir) and
//! PostgreSQL (a fresh database per test), so the two backends cannot drift apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_debug_implementations
)]

mod harness;

mod codes;
mod cosigned;
mod deliveries;
mod entries;
mod issuance;
mod issued;
mod issuer_log;
mod lease;
mod letters;
mod log;
mod parts;
mod persistence;
mod pgserver;
