//! Native tests of the browser glue: the same functions the wasm exports wrap, driven with an
//! in-memory issuer and log so every holder flow runs end to end without a browser.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod backup;
mod bundle;
mod fixture;
mod forged;
mod holder;
mod module;
mod threshold;
