//! Holding the log to its word from the browser: receipts, inclusion in a signed checkpoint,
//! and consistency between two checkpoints the holder saw.

use serde::{Deserialize, Serialize};
use undersigned_core::bundle::origin;
use undersigned_core::entry::SignatureEntry;
use undersigned_core::ids::LetterId;
use undersigned_core::log::origin::{LogKind, Origin};
use undersigned_core::log::tiles::{leaf_tiles_for_size, parse_hash_tile, Tile};
use undersigned_core::log::{
    self, leaf_hash, Checkpoint, ConsistencyProof, InclusionProof, LogVerifier, Receipt,
};
use undersigned_core::log::{Hash, MerkleLog};
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

/// The verifier for one letter's log. Each letter's log signs under its own origin, parsed
/// exactly (`<host>/letters/<id>`, one spelling), so a key named for another letter, another
/// kind of log or anything that merely ends like this letter's origin is refused here.
fn letter_verifier(vkey: &str, letter_id: &LetterId) -> Result<LogVerifier, String> {
    let verifier = LogVerifier::from_vkey(vkey).map_err(|e| format!("log key: {e}"))?;
    let origin = Origin::parse(verifier.name()).map_err(|e| format!("log key: {e}"))?;
    if origin.kind != LogKind::Letter || origin.id != letter_id.0 {
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

/// The largest tree the browser reads: far above any letter's signatures, far below what would
/// make its list of tiles a burden (a hostile server signs whatever size it likes).
const MAX_TREE_SIZE: u64 = 1 << 24;

#[derive(Serialize)]
struct TileAt {
    /// The tile's path under the letter's log prefix (`tile/0/000`, `tile/0/x001/234.p/17`).
    path: String,
    /// For a partial tile, the full tile's path: a server may serve only that one, of which
    /// the first `width` hashes are the partial tile's.
    full: Option<String>,
}

/// Every level-0 tile of a tree of `size`, in order: what the browser fetches to check its
/// receipts. Every reader fetches the same tiles, so the requests name no entry.
pub fn leaf_tile_paths(size: u64) -> Result<String, String> {
    if size > MAX_TREE_SIZE {
        return Err(format!(
            "a log of {size} entries is larger than any letter's"
        ));
    }
    let tiles: Vec<TileAt> = leaf_tiles_for_size(size)
        .into_iter()
        .map(|t| TileAt {
            path: t.path(),
            full: (!t.is_full()).then(|| Tile { width: 256, ..t }.path()),
        })
        .collect();
    json::to_string(&tiles)
}

#[derive(Serialize)]
struct TiledCheck {
    size: u64,
    root: String,
    /// Per receipt, in the order given: its entry's index in the log (the CLI's numbering,
    /// the opened letter being entry 0), or `null` when it is not in this tree yet.
    entries: Vec<Option<u64>>,
    /// The size of the earlier checkpoint this tree extends, when one was given.
    consistent_from: Option<u64>,
}

/// Checks the holder's receipts against the letter's log read as everyone reads it: the
/// signed checkpoint, and every level-0 tile of its size (`tiles_hex`, hex bodies in the
/// order of `leaf_tile_paths`). The tiles must hash to the checkpoint's root; an earlier
/// checkpoint this browser saw (`old_note`) must be a prefix of this tree (else the log was
/// rewritten); each receipt must verify and is found by its entry hash among the leaves. No
/// request needs to name an entry. Returns `{"size", "root", "entries": [index | null],
/// "consistent_from"}`.
pub fn check_tiles(
    receipts_json: &str,
    vkey: &str,
    checkpoint_note: &str,
    tiles_hex_json: &str,
    old_note: Option<&str>,
    letter_id: &str,
) -> Result<String, String> {
    let letter_id = parse_letter_id(letter_id)?;
    let verifier = letter_verifier(vkey, &letter_id)?;
    let raw: Vec<serde_json::Value> = json::parse(receipts_json, "the receipts")?;
    let receipts = raw
        .iter()
        .map(|r| checked_receipt(&r.to_string(), &verifier, &letter_id))
        .collect::<Result<Vec<_>, _>>()?;
    let checkpoint = open_checkpoint(checkpoint_note, &verifier)?;
    if checkpoint.size > MAX_TREE_SIZE {
        return Err(format!(
            "a log of {} entries is larger than any letter's",
            checkpoint.size
        ));
    }
    let tiles = leaf_tiles_for_size(checkpoint.size);
    // As large as this size's tiles can be in hex (a full tile may stand for a partial one).
    let bound = tiles.len().saturating_mul(256 * 64 + 4).saturating_add(2);
    if tiles_hex_json.len() > bound {
        return Err("the tiles are larger than this log's".into());
    }
    let bodies: Vec<String> = serde_json::from_str(tiles_hex_json)
        .map_err(|e| format!("the tiles are malformed: {e}"))?;
    if bodies.len() != tiles.len() {
        return Err(format!(
            "a log of {} entries has {} level-0 tiles, not {}",
            checkpoint.size,
            tiles.len(),
            bodies.len()
        ));
    }
    let mut leaves: Vec<Hash> = Vec::new();
    for (tile, body) in tiles.iter().zip(&bodies) {
        let mut bytes =
            hex::decode(body).map_err(|_| format!("tile {} is not hex", tile.path()))?;
        // A full tile served for a partial one: its first `width` hashes are the partial's.
        if !tile.is_full() && bytes.len() == 256 * 32 {
            bytes.truncate(usize::from(tile.width) * 32);
        }
        leaves.extend(parse_hash_tile(tile, &bytes).map_err(|e| e.to_string())?);
    }
    let tree = MerkleLog::from_leaf_hashes(leaves);
    if tree.root() != checkpoint.root {
        return Err(format!(
            "the log's tiles do not hash to its signed checkpoint of size {}",
            checkpoint.size
        ));
    }
    let consistent_from = match old_note {
        Some(old) if !old.is_empty() => {
            let old = open_checkpoint(old, &verifier)?;
            if tree.root_at(old.size).ok() != Some(old.root) {
                return Err(format!(
                    "the log was rewritten: checkpoint {} is not an extension of checkpoint {} seen before",
                    checkpoint.size, old.size
                ));
            }
            Some(old.size)
        }
        _ => None,
    };
    let entries = receipts
        .iter()
        .map(|r| {
            tree.leaf_hashes()
                .iter()
                .position(|h| *h == r.entry_hash)
                .map(|i| i as u64)
        })
        .collect();
    json::to_string(&TiledCheck {
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
        entries,
        consistent_from,
    })
}
