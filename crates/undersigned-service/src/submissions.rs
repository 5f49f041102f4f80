//! Submissions: verify a sign or withdraw entry, pool it durably, sign its receipt; and the
//! verifier's cache of what every submission would otherwise rebuild.

use std::sync::Arc;

use undersigned_core::batch::{EntryVerifier, PreparedEntry};
use undersigned_core::bbs::fast::LetterContext;
use undersigned_core::entry::{Disclosed, IssuerDirectory, SignatureEntry, VerifiedEntry};
use undersigned_core::error::VerifyError;
use undersigned_core::ids::{Epoch, IssuerId, LetterId};
use undersigned_core::log::{issue_receipt, leaf_hash, reissue_receipt, PublishSchedule, Receipt};
use undersigned_core::record::LogEntry;
use undersigned_store::{LetterRow, LetterState, PendingEntry, SignerCell, StoreError};

use crate::error::{Error, Result};
use crate::letters::parse_row;
use crate::platform::Platform;
pub use crate::verifiers::{OpenedLetter, VerifierCache};

/// Accepts an entry for an opened letter the caller may sign (`row`, as read): verifies it,
/// pools it durably, and answers with its signed receipt. The same entry again is answered
/// with its receipt again.
pub async fn submit(s: &Platform, row: &LetterRow, entry: SignatureEntry) -> Result<Receipt> {
    let letter_id = row
        .letter_id
        .clone()
        .ok_or_else(|| Error::Conflict("the letter is not open yet".into()))?;
    // Held until the entry is durable in the pool: closing waits for us, we never see a half-closed letter.
    let gate = s.ledger.gate(&letter_id).await;
    let _shared = gate.read().await;
    // The row read by the caller serves: an opened letter's text, deadline and publish
    // interval never change, and whether it is still open is checked again by the store in
    // the transaction that accepts the entry, so a close (before we got the gate, or by
    // another process) is never missed.
    let received_at = s.clock.now();
    if row.state != LetterState::Open || received_at >= row.deadline {
        return Err(Error::Conflict(
            "the letter is not open for signatures".into(),
        ));
    }
    let opened = opened_letter(s, row, &letter_id).await?;
    let (entry, checked) = verify(s, &opened, entry).await?;
    let leaf = LogEntry::submission(entry).leaf_bytes();
    let (receipt, scheduled) = sign_receipt(s, row, &letter_id, &opened.id, &leaf, received_at)?;
    let pending = PendingEntry {
        entry_hash: leaf_hash(&leaf),
        leaf,
        pseudonyms: checked
            .verified
            .pseudonyms
            .iter()
            .map(|p| p.0.to_vec())
            .collect(),
        withdraw: checked.verified.action == undersigned_core::entry::Action::Withdraw,
        include_by: scheduled,
    };
    match pool(s, &letter_id, &opened, &pending, &checked).await? {
        Ok(()) => Ok(receipt),
        // The very same entry again (a retry after a lost answer, or after a crash): answer
        // with its receipt again, like a CT log returning the SCT for a duplicate. A different
        // entry from the same credential stays a refused double signature.
        Err(StoreError::DoubleSign | StoreError::DoubleWithdraw) => {
            if let Some(r) = resend_receipt(s, &letter_id, opened.id.0, &pending).await? {
                return Ok(r);
            }
            Err(Error::Conflict(if pending.withdraw {
                "this signature was already withdrawn".into()
            } else {
                "this credential already signed this letter".into()
            }))
        }
        // The store refuses entries for a letter that is no longer open.
        Err(StoreError::NotFound) => Err(Error::Conflict(
            "the letter is not open for signatures".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The letter as every submission to it needs it, kept after the first.
async fn opened_letter(
    s: &Platform,
    row: &LetterRow,
    letter_id: &str,
) -> Result<Arc<OpenedLetter>> {
    if let Some(o) = s.verifiers.letter(letter_id) {
        return Ok(o);
    }
    let row = row.clone();
    let o = tokio::task::spawn_blocking(move || OpenedLetter::new(&row))
        .await
        .map_err(|e| Error::Internal(format!("verifier task: {e}")))??;
    Ok(s.verifiers.keep_letter(letter_id, o))
}

/// What verifying an entry found: the verified entry, its issuer and disclosed cell (for the
/// issued-count rule) and the directory it was verified with.
struct Checked {
    verified: VerifiedEntry,
    /// The letter's issuers and what the signer disclosed: where it counts (`signer_cell`).
    signer: (Vec<IssuerId>, Disclosed),
    directory: Arc<IssuerDirectory>,
    /// Whether the directory was a kept one (its counts may be behind the store's).
    kept: bool,
}

/// Everything but the pairing equation (about half a millisecond of CPU) runs off the async
/// workers; the pairing equation is checked together with concurrent submissions.
async fn verify(
    s: &Platform,
    opened: &Arc<OpenedLetter>,
    entry: SignatureEntry,
) -> Result<(SignatureEntry, Checked)> {
    let started = std::time::Instant::now();
    let (mut directory, mut kept) = match s.verifiers.directory(&opened.epochs) {
        Some(d) => (d, true),
        None => (load_directory(s, &opened.epochs).await?, false),
    };
    let (mut prepared, mut entry) = prepare(s, opened, entry, Arc::clone(&directory)).await?;
    // Issued counts only grow, so a kept directory allows no disclosure the current one
    // refuses; only its small-cell refusals may be out of date, and are decided again on the
    // current counts.
    if kept && matches!(prepared, Err(VerifyError::SmallCell(..))) {
        directory = load_directory(s, &opened.epochs).await?;
        kept = false;
        (prepared, entry) = prepare(s, opened, entry, Arc::clone(&directory)).await?;
    }
    let prepared = prepared?;
    let paired = s.pairings.check_all(&prepared.claims).await;
    s.metrics.verified(started.elapsed());
    if !paired {
        return Err(VerifyError::BadProof.into());
    }
    let issuers = opened
        .letter
        .policy
        .issuers
        .iter()
        .map(|a| a.issuer_id)
        .collect();
    let signer = (issuers, entry.disclosed.clone());
    let checked = Checked {
        verified: prepared.entry,
        signer,
        directory,
        kept,
    };
    Ok((entry, checked))
}

/// The entry's receipt, and the time the schedule picks for its batch (kept in the pool row).
/// The receipt promises later while the witness quorum is missing, since the batch's
/// checkpoint may wait.
fn sign_receipt(
    s: &Platform,
    row: &LetterRow,
    letter_id: &str,
    id: &LetterId,
    leaf: &[u8],
    received_at: u64,
) -> Result<(Receipt, u64)> {
    let schedule = PublishSchedule::new(row.publish_interval_secs, s.config.publish_grace_secs)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let signer = s.ledger.signer(letter_id)?;
    let receipt = issue_receipt(&signer, id.0, leaf, received_at, &schedule)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let scheduled = receipt.include_by;
    let delay = s.cosigning.receipt_delay();
    if delay == 0 {
        return Ok((receipt, scheduled));
    }
    let receipt = reissue_receipt(
        &signer,
        id.0,
        receipt.entry_hash,
        received_at,
        receipt.include_by.saturating_add(delay),
    )
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((receipt, scheduled))
}

/// Pools the entry in the store's transaction (pseudonym rule, issued-count rule). Like small
/// cells: a kept directory's counts may be behind the issuer's (a credential issued since),
/// and its next statement will carry the current ones; so a refusal on kept counts is decided
/// again on the current counts.
async fn pool(
    s: &Platform,
    letter_id: &str,
    opened: &OpenedLetter,
    pending: &PendingEntry,
    checked: &Checked,
) -> Result<Result<(), StoreError>> {
    let started = std::time::Instant::now();
    let mut accepted = s
        .store
        .accept_entry(
            letter_id,
            pending,
            &signer_cell(&checked.signer, &checked.directory),
        )
        .await;
    if checked.kept && matches!(accepted, Err(StoreError::TooManySigners(_))) {
        let directory = load_directory(s, &opened.epochs).await?;
        accepted = s
            .store
            .accept_entry(
                letter_id,
                pending,
                &signer_cell(&checked.signer, &directory),
            )
            .await;
    }
    s.metrics
        .database(crate::metrics::Timed::AcceptEntry, started.elapsed());
    Ok(accepted)
}

/// The cell a verified entry's signer counts in, and the most signers the issuers' counts
/// allow it (`PublishedSets::issued_at_most`): the directory's sets are the issuers' counts as
/// their next statements will publish them (`Platform::published_sets`). Every signature of
/// an (epoch, org) counts in one cell of the letter, named by its first issuer, whichever
/// issuers its parts used, and the cell allows what the least of the letter's issuers issued:
/// the bundle's rule (`Bundle::signers`).
fn signer_cell(
    (issuers, disclosed): &(Vec<IssuerId>, Disclosed),
    directory: &IssuerDirectory,
) -> SignerCell {
    let (epoch, org) = (&disclosed.epoch, &disclosed.org);
    let allowed = issuers
        .iter()
        .map(|id| {
            directory
                .get(id)
                .and_then(|i| i.sets_for(epoch))
                .map_or(0, |sets| sets.issued_at_most(org))
        })
        .min()
        .unwrap_or(0);
    SignerCell {
        issuer_id: issuers.first().map(IssuerId::to_hex).unwrap_or_default(),
        epoch: epoch.clone(),
        org: org.clone(),
        allowed,
    }
}

/// The issuer directory of these epochs from the store (the published anonymity sets), kept
/// for the next submissions.
async fn load_directory(s: &Platform, epochs: &[Epoch]) -> Result<Arc<IssuerDirectory>> {
    let directory = Arc::new(s.directory(epochs).await?);
    s.verifiers.keep_directory(epochs, Arc::clone(&directory));
    Ok(directory)
}

/// `EntryVerifier::prepare` on the blocking pool, with the kept issuer keys. Gives the entry
/// back, for a second try with a fresher directory.
async fn prepare(
    s: &Platform,
    opened: &Arc<OpenedLetter>,
    entry: SignatureEntry,
    directory: Arc<IssuerDirectory>,
) -> Result<(
    std::result::Result<PreparedEntry, VerifyError>,
    SignatureEntry,
)> {
    let keys = s.verifiers.keys();
    let state = s.clone();
    let opened = Arc::clone(opened);
    tokio::task::spawn_blocking(move || {
        let verifier = EntryVerifier::with_keys(&directory, keys);
        state.verifiers.keep_keys(verifier.keys());
        let prepared = verifier.prepare(&entry, &opened.id, &opened.letter.policy, &opened.context);
        (prepared, entry)
    })
    .await
    .map_err(|e| Error::Internal(format!("verifier task: {e}")))
}

impl OpenedLetter {
    fn new(row: &LetterRow) -> Result<Self> {
        let letter = parse_row(row)?;
        let id = letter.id();
        let epochs = letter
            .policy
            .issuers
            .iter()
            .flat_map(|i| i.epochs.iter().cloned())
            .collect();
        let context =
            LetterContext::kept(&id.0).map_err(|_| Error::Internal("letter context".into()))?;
        Ok(Self {
            letter,
            id,
            epochs,
            context,
        })
    }
}

/// The receipt for an entry that is already pooled or logged, signed again. The promise
/// (`include_by`) is the one first given; the arrival time is not stored (it would undo the
/// batching for whoever copies the database), so the receipt says "received by now", capped at
/// the promise. A logged entry is promised "by now", which is already true.
async fn resend_receipt(
    s: &Platform,
    letter_id: &str,
    id: [u8; 32],
    entry: &PendingEntry,
) -> Result<Option<Receipt>> {
    let signer = s.ledger.signer(letter_id)?;
    let now = s.clock.now();
    let pooled = s
        .store
        .pending(letter_id, u64::MAX)
        .await?
        .into_iter()
        .find(|p| p.entry_hash == entry.entry_hash);
    let (received_at, include_by) = match pooled {
        Some(p) => (
            now.min(p.include_by),
            p.include_by.saturating_add(s.cosigning.receipt_delay()),
        ),
        None if s
            .store
            .leaf_index(letter_id, &entry.entry_hash)
            .await?
            .is_some() =>
        {
            (now, now)
        }
        None => return Ok(None),
    };
    reissue_receipt(&signer, id, entry.entry_hash, received_at, include_by)
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}
