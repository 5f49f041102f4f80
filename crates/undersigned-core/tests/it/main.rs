//! Integration tests of the protocol core: one binary, a module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod bundle;
mod decoders;
mod delivery;
mod fixture;
mod log;
mod oneperson;
mod protocol;
