//! `undersigned log check`: is the newer checkpoint an extension of the older one?

use anyhow::{anyhow, Context};
use std::path::Path;
use std::process::ExitCode;
use undersigned_core::log::{verify_consistency, Checkpoint, LogVerifier};
use undersigned_server::api::read::ConsistencyView;

pub fn run(old: &Path, new: &Path, proof: &Path, key: &str) -> anyhow::Result<ExitCode> {
    let verifier = LogVerifier::from_vkey(key).map_err(|e| anyhow!("log key: {e}"))?;
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let old_cp = Checkpoint::open(&read(old)?, &verifier, None)
        .map_err(|e| anyhow!("{}: {e}", old.display()))?;
    let new_cp = Checkpoint::open(&read(new)?, &verifier, None)
        .map_err(|e| anyhow!("{}: {e}", new.display()))?;
    if old_cp.origin != new_cp.origin {
        eprintln!(
            "NOT CONSISTENT: the checkpoints are of different logs ({} and {})",
            old_cp.origin, new_cp.origin
        );
        return Ok(ExitCode::from(1));
    }
    let p: ConsistencyView =
        serde_json::from_str(&read(proof)?).context("malformed consistency proof")?;
    match verify_consistency(
        old_cp.size,
        new_cp.size,
        &old_cp.root,
        &new_cp.root,
        &p.proof,
    ) {
        Ok(()) => {
            println!("CONSISTENT: {} at size {} extends size {}; nothing before was dropped or rewritten", new_cp.origin, new_cp.size, old_cp.size);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("NOT CONSISTENT: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
