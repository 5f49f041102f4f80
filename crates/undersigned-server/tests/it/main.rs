//! Server integration tests: the HTTP API on SQLite and PostgreSQL, real SMTP to a test
//! outbox, the OpenAPI document against the routes, and privacy of tables and logs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod api;
mod caching;
mod cors;
mod delivery;
mod faults;
mod forged;
mod harness;
mod health;
mod hostile;
mod issued;
mod issuer_log;
mod keys;
mod lifecycle;
mod metrics;
mod oneperson;
mod openapi;
mod pages;
#[path = "../../../undersigned-store/tests/it/pgserver.rs"]
mod pgserver;
mod privacy;
mod smtp;
mod tiles;
mod witnessed;
