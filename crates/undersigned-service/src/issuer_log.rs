//! The issuer log: the deployment issuer's signed statements, one leaf each, with C2SP
//! checkpoints under the name `<host>/issuers/<issuer id>` and the deployment's log key.
//!
//! A statement is appended only when what it says changed (the published sets round counts
//! below k to `<k`, so most issuances change nothing), and only from the publisher, right
//! before letter batches go out and when a letter closes: never once per issuance, so its
//! time says nothing about when anyone got a credential. Because it runs before each batch,
//! every signature in a letter log was made with a credential some published statement counts.

use undersigned_core::bundle::IssuerRecord;
use undersigned_core::ids::Epoch;
use undersigned_core::log::{leaf_hash, Checkpoint, LogVerifier, MerkleLog};
use undersigned_core::statement::{
    check_growth, IssuerStatement, LoggedStatement, SignedStatement,
};
use undersigned_store::CheckpointRow;

use crate::error::{Error, Result};
use crate::platform::Platform;

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("issuer log: {what}: {e}"))
}

/// The statement the issuer would publish now, as the `sequence`th of its log.
async fn current(s: &Platform, sequence: u64, now: u64) -> Result<IssuerStatement> {
    let mut sets = Vec::new();
    for e in s.store.issued_epochs(&s.issuer.id().to_hex()).await? {
        let epoch = Epoch::parse(&e).map_err(|e| internal("stored epoch", e))?;
        sets.push(s.published_sets(&epoch).await?);
    }
    Ok(IssuerStatement::new(
        &s.issuer,
        s.config.orgs.clone(),
        sequence,
        now,
        sets,
    ))
}

/// The signed statement at `index`.
async fn statement_at(s: &Platform, index: u64) -> Result<SignedStatement> {
    let id = s.issuer.id().to_hex();
    let leaf = s
        .store
        .issuer_log_leaves(&id, index, index.saturating_add(1))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound("issuer statement"))?;
    SignedStatement::from_leaf(&leaf).map_err(|e| internal("stored leaf", e))
}

/// Appends a new statement if the counts, orgs or name changed since the last one. Returns
/// whether it appended.
pub async fn publish(s: &Platform, now: u64) -> Result<bool> {
    let result = append_statement(s, now).await;
    // Bundles carry the newest statement.
    if !matches!(result, Ok(false)) {
        s.changes.changed();
    }
    result
}

async fn append_statement(s: &Platform, now: u64) -> Result<bool> {
    let _gate = s.issuer_log_gate.lock().await;
    let id = s.issuer.id().to_hex();
    let hashes = s.store.issuer_log_hashes(&id).await?;
    let size = hashes.len() as u64;
    let previous = match size.checked_sub(1) {
        Some(last) => Some(statement_at(s, last).await?.statement),
        None => None,
    };
    let next = current(s, size + 1, now).await?;
    if let Some(p) = &previous {
        if p.same_content(&next) {
            return Ok(false);
        }
        // Counts only grow; a statement that would lower one is a bug, never published.
        check_growth(p, &next).map_err(|e| internal("refusing to publish", e))?;
    }
    let signed = next.sign(&s.issuer).map_err(|e| internal("signing", e))?;
    let leaf = signed.leaf_bytes();
    let hash = leaf_hash(&leaf);
    let mut tree = MerkleLog::from_leaf_hashes(hashes);
    tree.append_hash(hash);
    let signer = s.ledger.issuer_log_signer(&s.issuer.id())?;
    let note = Checkpoint::new(signer.name(), tree.size(), tree.root())
        .sign(&signer)
        .map_err(|e| internal("checkpoint", e))?;
    let checkpoint = CheckpointRow {
        size: tree.size(),
        root: tree.root(),
        note,
        created_at: now,
    };
    s.store
        .append_issuer_statement(&id, size, &hash, &leaf, &checkpoint)
        .await?;
    s.cosigning
        .mark(signer.name(), crate::witnesses::LogName::Issuer, now);
    Ok(true)
}

/// The issuer log's tree at its published checkpoint (with witnesses, the newest carrying
/// its quorum), and that checkpoint. Publishes the first statement if there is none yet.
pub async fn latest_tree(s: &Platform) -> Result<(MerkleLog, CheckpointRow)> {
    if !s.cosigning.enabled() {
        return stored_tree(s).await;
    }
    let id = s.issuer.id().to_hex();
    let origin = undersigned_core::statement::issuer_log_origin(&s.config.host, &s.issuer.id());
    let cp = match s.store.latest_cosigned(&origin).await? {
        Some(cp) => cp,
        None => {
            // Nothing cosigned yet: make sure there is a statement for the witnesses to see.
            stored_tree(s).await?;
            return Err(Error::NotFound("cosigned issuer checkpoint"));
        }
    };
    let mut hashes = s.store.issuer_log_hashes(&id).await?;
    hashes.truncate(usize::try_from(cp.size).map_err(|e| internal("size", e))?);
    Ok((MerkleLog::from_leaf_hashes(hashes), cp))
}

/// The issuer log's tree at its newest signed checkpoint, published or not, and that
/// checkpoint. Publishes the first statement if there is none yet.
pub async fn stored_tree(s: &Platform) -> Result<(MerkleLog, CheckpointRow)> {
    let id = s.issuer.id().to_hex();
    let cp = match s.store.issuer_checkpoint(&id, None).await? {
        Some(cp) => cp,
        None => {
            publish(s, s.clock.now()).await?;
            s.store
                .issuer_checkpoint(&id, None)
                .await?
                .ok_or(Error::NotFound("issuer statement"))?
        }
    };
    let mut hashes = s.store.issuer_log_hashes(&id).await?;
    hashes.truncate(usize::try_from(cp.size).map_err(|e| internal("size", e))?);
    Ok((MerkleLog::from_leaf_hashes(hashes), cp))
}

/// The latest statement with the latest checkpoint and its inclusion proof: what a bundle
/// carries.
pub async fn latest(s: &Platform) -> Result<LoggedStatement> {
    let (tree, cp) = latest_tree(s).await?;
    let index = cp.size.saturating_sub(1);
    let signed = statement_at(s, index).await?;
    LoggedStatement::with_checkpoint(signed, index, &tree, cp.note)
        .map_err(|e| internal("inclusion proof", e))
}

/// The signed statement of every issuer a letter's bundle names: this server's own (its
/// latest, above), or each named independent issuer's last good one (`issuers.rs`).
pub async fn bundle_statements(s: &Platform) -> Result<Vec<IssuerRecord>> {
    if s.remote_issuers.is_empty() {
        return Ok(vec![IssuerRecord::new(latest(s).await?)]);
    }
    s.remote_issuers
        .list()
        .into_iter()
        .map(|r| {
            // An independent issuer's statements are proven in its own log: the bundle names
            // that log's key, under its exact origin, for verifiers to check (and pin).
            let key = ed25519_dalek::VerifyingKey::from_bytes(&r.pins.log_key)
                .map_err(|e| Error::Internal(format!("issuer log key: {e}")))?;
            let origin = undersigned_core::statement::issuer_log_origin(&r.pins.host, &r.pins.id);
            let log = LogVerifier::new(&origin, key)
                .map_err(|e| Error::Internal(format!("issuer log key: {e}")))?;
            Ok(IssuerRecord::independent(r.statement, &log))
        })
        .collect()
}
