//! The cosigning passes: each log's newest checkpoint from the store, held against what its
//! witnesses last cosigned, sent to them, and published once its quorum answered. The
//! witnesses themselves (keys, quorum, progress, the exchanges) are the platform's part in
//! `witnesses.rs`.
//!
//! Witness cosigning: every new checkpoint of a letter log or of the issuer log goes to the
//! deployment's witnesses (C2SP tlog-witness `add-checkpoint`), and becomes the published
//! checkpoint only once it carries its quorum of cosignatures (C2SP tlog-cosignature/v1).
//!
//! The tree grows in the store as before (entries leave the pool on schedule, so a witness is
//! only ever asked about a durable checkpoint and can never be shown two histories after a
//! crash); what waits for the quorum is the checkpoint the server publishes. While the quorum
//! is missing, receipts promise `witness_grace_secs` more, and publishing resumes with the
//! newest checkpoint as soon as enough witnesses answer again.

use std::sync::Arc;

use undersigned_core::log::cosignature::add_cosignatures;
use undersigned_core::log::MerkleLog;
use undersigned_store::{CheckpointRow, LetterState};

use crate::error::{Error, Result};
use crate::platform::Platform;
pub use crate::witnesses::{Cosigner, Cosigning, ForkCheck, LogName, StoredLog, WitnessSpec};
/// The checkpoint a letter log publishes: with witnesses, the newest one carrying its
/// quorum; without, the newest signed.
pub async fn published(s: &Platform, letter_id: &str) -> Result<Option<CheckpointRow>> {
    if s.cosigning.enabled() {
        Ok(s.store.latest_cosigned(&s.ledger.origin(letter_id)).await?)
    } else {
        Ok(s.store.latest_checkpoint(letter_id).await?)
    }
}

/// Marks every log as possibly behind, so the first pass asks the witnesses about each one
/// (after a restart the server does not know what they cosigned).
pub async fn recover(s: &Platform) -> Result<()> {
    if !s.cosigning.enabled() {
        return Ok(());
    }
    let now = s.clock.now();
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            if let Some(id) = row.letter_id {
                s.cosigning
                    .mark(&s.ledger.origin(&id), LogName::Letter(id.clone()), now);
            }
        }
    }
    let origin = undersigned_core::statement::issuer_log_origin(&s.config.host, &s.issuer.id());
    s.cosigning.mark(&origin, LogName::Issuer, now);
    Ok(())
}

/// One pass: asks the witnesses about every log whose newest checkpoint is not published.
/// Returns how many logs reached their quorum.
pub async fn tick(s: &Platform) -> Result<usize> {
    let result = ask_witnesses(s).await;
    // A quorum reached publishes a checkpoint: tallies and bundles show it.
    if !matches!(result, Ok(0)) {
        s.changes.changed();
    }
    result
}

async fn ask_witnesses(s: &Platform) -> Result<usize> {
    if !s.cosigning.enabled() {
        return Ok(0);
    }
    let behind = s.cosigning.pending();
    let mut done = 0;
    let mut missed = false;
    // The issuer log first, and letters only once it is published: every signature in a
    // letter batch is counted by the issuer statement appended before it, so a letter
    // checkpoint published ahead of the issuer log's would make its bundle fail verification.
    let mut behind = behind;
    behind.sort_by_key(|(_, log, _)| *log != LogName::Issuer);
    let mut issuer_behind = false;
    for (origin, log, mark) in behind {
        if issuer_behind {
            missed = true;
            continue;
        }
        let is_issuer = log == LogName::Issuer;
        match cosign(s, &origin, &log).await {
            Ok(true) => {
                done += 1;
                s.cosigning.caught_up(&origin, mark);
            }
            Ok(false) => {
                missed = true;
                issuer_behind = is_issuer;
            }
            Err(e) => {
                missed = true;
                issuer_behind = is_issuer;
                tracing::warn!(error = %e, origin, "cosigning");
            }
        }
    }
    s.cosigning.set_failing(missed);
    Ok(done)
}

/// The log's newest stored checkpoint and its tree.
async fn newest(s: &Platform, log: &LogName) -> Result<(MerkleLog, CheckpointRow)> {
    match log {
        LogName::Letter(id) => {
            let l = s.ledger.synced(id).await?;
            let l = l.lock().await;
            let cp = s
                .store
                .checkpoint_at(id, l.tree.size())
                .await?
                .ok_or(Error::NotFound("checkpoint"))?;
            Ok((l.tree.clone(), cp))
        }
        LogName::Issuer => crate::issuer_log::stored_tree(s).await,
    }
}

/// Asks every witness to cosign the log's newest checkpoint; stores it as published once its
/// quorum answered. Returns whether the log is now published up to its newest checkpoint.
async fn cosign(s: &Platform, origin: &str, log: &LogName) -> Result<bool> {
    let (tree, cp) = newest(s, log).await?;
    if let Some(p) = s.store.latest_cosigned(origin).await? {
        if p.size >= cp.size {
            return Ok(true);
        }
    }
    let tree = Arc::new(tree);
    // No witness is shown a checkpoint, and none is published, before the log is known to
    // extend what the witnesses last cosigned: a database restored from an older backup would
    // otherwise fork the log they saw.
    if !witnessed_gate(s, origin, log, tree.clone()).await? {
        return Ok(false);
    }
    let c = &s.cosigning;
    let (lines, got) = c.gather(origin, tree, &cp.note).await;
    if got < c.quorum() {
        tracing::warn!(
            origin,
            size = cp.size,
            cosignatures = got,
            quorum = c.quorum(),
            "checkpoint waits for its witness quorum"
        );
        return Ok(false);
    }
    let note = add_cosignatures(&cp.note, [lines]);
    s.store
        .put_cosigned(
            origin,
            &CheckpointRow {
                note,
                created_at: s.clock.now(),
                ..cp
            },
        )
        .await?;
    Ok(true)
}

/// Every log of the deployment (each letter's, and the issuer log) as the store holds it.
async fn stored_logs(s: &Platform) -> Result<Vec<StoredLog>> {
    let mut logs = Vec::new();
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            let Some(id) = row.letter_id else { continue };
            let tree = s.ledger.synced(&id).await?.lock().await.tree.clone();
            logs.push(StoredLog {
                name: format!("letter {id}"),
                verifier: s.ledger.signer(&id)?.verifier(),
                tree: Arc::new(tree),
            });
        }
    }
    let issuer = s.issuer.id();
    let id = issuer.to_hex();
    if let Some(cp) = s.store.issuer_checkpoint(&id, None).await? {
        let mut hashes = s.store.issuer_log_hashes(&id).await?;
        hashes.truncate(usize::try_from(cp.size).unwrap_or(usize::MAX));
        logs.push(StoredLog {
            name: "the issuer log".into(),
            verifier: s.ledger.issuer_log_signer(&issuer)?.verifier(),
            tree: Arc::new(MerkleLog::from_leaf_hashes(hashes)),
        });
    }
    Ok(logs)
}

/// Before a deployment serves: every log it holds, held against what the witnesses last
/// cosigned (`Cosigning::check_witnessed`). Returns every log that did not pass; `serve`
/// refuses to start on a fork. A log that could not be confirmed (witnesses unreachable) is
/// checked again before its first cosigning (`cosign`), so it is never published unchecked.
pub async fn check_before_serving(s: &Platform) -> Result<Vec<ForkCheck>> {
    if !s.cosigning.enabled() {
        return Ok(Vec::new());
    }
    let logs = stored_logs(s).await?;
    let c = s.cosigning.clone();
    let verdicts = tokio::task::spawn_blocking(move || c.check_witnessed(&logs))
        .await
        .map_err(|e| Error::Internal(format!("checking the witnesses: {e}")))?;
    Ok(verdicts.into_iter().filter_map(Result::err).collect())
}

/// The gate before a log's first cosigning in this process: `Ok(true)` once it extends what
/// its witnesses last cosigned.
async fn witnessed_gate(
    s: &Platform,
    origin: &str,
    log: &LogName,
    tree: Arc<MerkleLog>,
) -> Result<bool> {
    let c = &s.cosigning;
    if c.is_forked(origin) {
        return Ok(false);
    }
    if c.is_cleared(origin) {
        return Ok(true);
    }
    let (name, verifier) = match log {
        LogName::Letter(id) => (format!("letter {id}"), s.ledger.signer(id)?.verifier()),
        LogName::Issuer => (
            "the issuer log".to_owned(),
            s.ledger.issuer_log_signer(&s.issuer.id())?.verifier(),
        ),
    };
    let stored = StoredLog {
        name,
        verifier,
        tree,
    };
    let c = c.clone();
    let verdict = tokio::task::spawn_blocking(move || c.check_witnessed(&[stored]))
        .await
        .map_err(|e| Error::Internal(format!("checking the witnesses: {e}")))?;
    match verdict.into_iter().next() {
        Some(Ok(())) => Ok(true),
        Some(Err(f)) if f.is_fork() => {
            tracing::error!(origin, "not cosigned, not published: {f}");
            Ok(false)
        }
        Some(Err(f)) => {
            tracing::warn!(origin, "{f}");
            Ok(false)
        }
        None => Ok(false),
    }
}
