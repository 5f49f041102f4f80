//! Integration tests of the protocol core: one binary, a module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod bundle;
mod composite;
mod composite_crosscheck;
mod crosscheck;
mod decoders;
mod delivery;
mod drafts;
mod fast;
mod fixture;
mod forgery;
mod lifecycle;
mod log;
mod oneperson;
mod origin;
mod protocol;
mod release;
mod statement;
mod tally;
mod text;
