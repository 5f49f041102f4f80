//! `undersigned demo`: a letter like the one in the design's opening paragraph, end to end.

mod fleet;
mod http;
mod offline;

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of organizations taking part.
    #[arg(long, default_value_t = 41)]
    pub orgs: usize,
    /// Number of people who sign.
    #[arg(long, default_value_t = 412)]
    pub signers: usize,
    /// Seed of the simulation (same seed, same people and choices).
    #[arg(long, default_value_t = 2023)]
    pub seed: u64,
    /// Where to write bundle.json and receipts.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Drive this server (it must run with --dev, so codes can be read from its outbox).
    #[arg(long)]
    pub server: Option<String>,
    /// Simulate with the protocol core only: no server, no HTTP, no mail.
    #[arg(long, conflicts_with = "server")]
    pub offline: bool,
    /// Run this many independent issuers (`issuer serve`, each with its own outbox) beside a
    /// letters server that names them, and sign with credentials of several of them.
    #[arg(long, conflicts_with_all = ["server", "offline"], value_parser = clap::value_parser!(u16).range(1..=16))]
    pub issuers: Option<u16>,
    /// With --issuers N: how many issuers back every signature (n/2 < t <= n) [default: N].
    #[arg(long, requires = "issuers")]
    pub threshold: Option<u32>,
    /// Seconds between published batches of the demo letter.
    #[arg(long, default_value_t = 2)]
    pub publish_interval: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.offline {
        offline::run(&args)
    } else {
        http::run(&args)
    }
}
