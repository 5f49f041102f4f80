//! The `undersigned` command: a thin layer over core that turns typed errors into messages.
#![forbid(unsafe_code)]

mod bench;
mod demo;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "undersigned", version, about = "Anonymous, verifiable collective letters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a letter end to end: issuance, signatures, withdrawals, a refused double
    /// signature, the tally, and a verifiable bundle.
    Demo(demo::Args),
    /// Verify a bundle offline and state what it proves. Exits non-zero naming the first failure.
    Verify {
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time issue, present and verify through our wrapper next to raw zkryptium calls.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Verify { file, json } => verify::run(&file, json),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
