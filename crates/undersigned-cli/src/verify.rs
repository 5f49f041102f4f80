//! `undersigned verify`: offline verification of a bundle file.

use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use undersigned_core::bundle::verify_bundle;

pub fn run(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match verify_bundle(&bytes) {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("VERIFIED: {}", report.statement());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({ "verified": false, "error": e.to_string() }));
            }
            eprintln!("NOT VERIFIED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
