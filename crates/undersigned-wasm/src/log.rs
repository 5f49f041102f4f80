//! Holding the log to its word from the browser: receipts, inclusion in a signed checkpoint,
//! and consistency between two checkpoints the holder saw.

use serde::{Deserialize, Serialize};
use undersigned_core::bundle::origin;
use undersigned_core::entry::SignatureEntry;
use undersigned_core::ids::LetterId;
use undersigned_core::log::{
    self, leaf_hash, Checkpoint, ConsistencyProof, InclusionProof, LogVerifier, Receipt,
};
use undersigned_core::record::LogEntry;

use crate::issuance::Deployment;
use crate::json;

/// `GET /api/v1/letters/<id>/proof/inclusion` as the server sends it.
#[derive(Deserialize)]
struct InclusionView {
    index: u64,
    size: u64,
    #[serde(flatten)]
    proof: InclusionProof,
}

/// `GET /api/v1/letters/<id>/proof/consistency` as the server sends it.
#[derive(Deserialize)]
struct ConsistencyView {
    from: u64,
    to: u64,
    #[serde(flatten)]
    proof: ConsistencyProof,
}

#[derive(Serialize)]
struct Included {
    index: u64,
    size: u64,
    root: String,
}

#[derive(Serialize)]
struct Consistent {
    from: u64,
    to: u64,
}

fn parse_letter_id(letter_id: &str) -> Result<LetterId, String> {
    LetterId::from_hex(letter_id).map_err(|e| e.to_string())
}

/// The verifier for one letter's log. Each letter's log signs under its own origin, so a key
/// named for another letter (or another host's scheme) is refused here.
fn letter_verifier(vkey: &str, letter_id: &LetterId) -> Result<LogVerifier, String> {
    let verifier = LogVerifier::from_vkey(vkey).map_err(|e| format!("log key: {e}"))?;
    if !verifier.name().ends_with(&format!("/letters/{letter_id}")) {
        return Err("the log key is not this letter's log key".into());
    }
    Ok(verifier)
}

/// Accepts the letter's log key only if it is the deployment's log key under the letter's
/// origin (`<host>/letters/<id>`); returns it unchanged.
pub fn pinned_log_key(
    deployment_json: &str,
    vkey: &str,
    letter_id: &str,
) -> Result<String, String> {
    let deployment: Deployment = json::parse(deployment_json, "the deployment info")?;
    let (Some(host), Some(log_public_key)) = (deployment.host, deployment.log_public_key) else {
        return Err("the deployment info has no host or log key".into());
    };
    let letter_id = parse_letter_id(letter_id)?;
    let verifier = LogVerifier::from_vkey(vkey).map_err(|e| format!("log key: {e}"))?;
    if hex::encode(verifier.verifying_key().to_bytes()) != log_public_key
        || verifier.name() != origin(&host, &letter_id)
    {
        return Err("the letter's log key is not the deployment's log key for this letter".into());
    }
    Ok(vkey.to_owned())
}

/// A receipt that verifies under this letter's log key and is about this letter.
fn checked_receipt(
    receipt_json: &str,
    verifier: &LogVerifier,
    letter_id: &LetterId,
) -> Result<Receipt, String> {
    let receipt = Receipt::from_json(receipt_json).map_err(|e| e.to_string())?;
    log::verify_receipt(&receipt, verifier)
        .map_err(|e| format!("the receipt does not verify: {e}"))?;
    if receipt.letter_id != letter_id.0 {
        return Err("the receipt is for another letter".into());
    }
    Ok(receipt)
}

/// Checks a receipt right after submitting: signed by the letter's log key, and its entry hash
/// is the leaf hash of exactly the entry that was sent.
pub fn verify_receipt(
    receipt_json: &str,
    vkey: &str,
    entry_json: &str,
    letter_id: &str,
) -> Result<(), String> {
    let letter_id = parse_letter_id(letter_id)?;
    let verifier = letter_verifier(vkey, &letter_id)?;
    let receipt = checked_receipt(receipt_json, &verifier, &letter_id)?;
    let entry: SignatureEntry = json::parse(entry_json, "the entry")?;
    let leaf = LogEntry::submission(entry).leaf_bytes();
    if receipt.entry_hash != leaf_hash(&leaf) {
        return Err("the receipt is for a different entry than the one submitted".into());
    }
    Ok(())
}

/// Opens a signed checkpoint of this log; its origin must be the key's name.
fn open_checkpoint(note: &str, verifier: &LogVerifier) -> Result<Checkpoint, String> {
    Checkpoint::open(note, verifier, Some(verifier.name()))
        .map_err(|e| format!("the checkpoint does not verify: {e}"))
}

/// Checks that the receipt's entry sits in the tree the signed checkpoint commits to.
/// Returns `{"index", "size", "root"}` (root in hex).
pub fn check_inclusion(
    receipt_json: &str,
    vkey: &str,
    checkpoint_note: &str,
    inclusion_json: &str,
    letter_id: &str,
) -> Result<String, String> {
    let letter_id = parse_letter_id(letter_id)?;
    let verifier = letter_verifier(vkey, &letter_id)?;
    let receipt = checked_receipt(receipt_json, &verifier, &letter_id)?;
    let checkpoint = open_checkpoint(checkpoint_note, &verifier)?;
    let view: InclusionView = json::parse(inclusion_json, "the inclusion proof")?;
    if view.size != checkpoint.size {
        return Err("the inclusion proof is for another tree size than the checkpoint".into());
    }
    log::verify_inclusion(
        &receipt.entry_hash,
        view.index,
        checkpoint.size,
        &view.proof,
        &checkpoint.root,
    )
    .map_err(|e| {
        format!("the inclusion proof does not verify against the signed checkpoint: {e}")
    })?;
    json::to_string(&Included {
        index: view.index,
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
    })
}

/// Checks that the new checkpoint's tree extends the old one's: a failure means the log was
/// rewritten. Returns `{"from", "to"}`.
pub fn check_consistency(
    vkey: &str,
    old_note: &str,
    new_note: &str,
    consistency_json: &str,
) -> Result<String, String> {
    let verifier = LogVerifier::from_vkey(vkey).map_err(|e| format!("log key: {e}"))?;
    let old = open_checkpoint(old_note, &verifier)?;
    let new = open_checkpoint(new_note, &verifier)?;
    let view: ConsistencyView = json::parse(consistency_json, "the consistency proof")?;
    if view.from != old.size || view.to != new.size {
        return Err("the consistency proof is for other tree sizes than the checkpoints".into());
    }
    log::verify_consistency(old.size, new.size, &old.root, &new.root, &view.proof).map_err(
        |e| {
            format!(
                "the log was rewritten: checkpoint {} is not an extension of checkpoint {}: {e}",
                new.size, old.size
            )
        },
    )?;
    json::to_string(&Consistent {
        from: old.size,
        to: new.size,
    })
}

/// The witnesses a deployment names, as `/api/v1/deployment` lists them.
#[derive(Deserialize)]
struct DeploymentWitnesses {
    #[serde(default)]
    witnesses: Vec<String>,
    witness_quorum: Option<usize>,
}

/// When the deployment names witnesses, the checkpoint must carry the quorum of their valid
/// cosignatures (what stops the server from showing this browser a history of its own).
/// Returns `[{"name", "timestamp"}]`, empty when the deployment names no witness.
pub fn check_cosignatures(deployment_json: &str, checkpoint_note: &str) -> Result<String, String> {
    let d: DeploymentWitnesses = json::parse(deployment_json, "the deployment info")?;
    if d.witnesses.is_empty() {
        return Ok("[]".into());
    }
    let cosigners = undersigned_core::pins::Pins::default()
        .with_witnesses(d.witnesses, d.witness_quorum)
        .and_then(|p| p.check_cosignatures(checkpoint_note))
        .map_err(|e| format!("the checkpoint lacks its witnesses' cosignatures: {e}"))?;
    json::to_string(&cosigners)
}
