//! The `undersigned` binary, driven as a user would: demo, verify honest and tampered bundles,
//! the README's newcomer flow against `serve --dev`, and a SIGKILL crash test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod crash;
mod flow;
#[path = "../../../undersigned-store/tests/it/pgserver.rs"]
mod pgserver;
mod verify;
