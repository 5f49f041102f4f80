//! Submissions: verify a sign or withdraw entry, pool it durably, answer with a signed receipt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use undersigned_core::batch::{EntryVerifier, VerifierKeys};
use undersigned_core::bbs::fast::LetterContext;
use undersigned_core::entry::SignatureEntry;
use undersigned_core::error::VerifyError;
use undersigned_core::log::{issue_receipt, leaf_hash, reissue_receipt, PublishSchedule, Receipt};
use undersigned_core::record::LogEntry;
use undersigned_store::{LetterState, PendingEntry};

use super::letters::parse_row;
use super::{find_letter, opened_id, ApiJson};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Every answer is counted in `/metrics` by its outcome, including a body that did not parse.
pub async fn submit(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: axum::http::HeaderMap,
    body: Result<ApiJson<SignatureEntry>, AppError>,
) -> AppResult<(StatusCode, Json<Receipt>)> {
    let result = match body {
        Ok(ApiJson(entry)) => submit_entry(&s, key, headers, entry).await,
        Err(e) => Err(e),
    };
    s.metrics.submission(match &result {
        Ok((status, _)) => status.as_u16(),
        Err(e) => e.status().as_u16(),
    });
    result
}

async fn submit_entry(
    s: &AppState,
    key: String,
    headers: axum::http::HeaderMap,
    entry: SignatureEntry,
) -> AppResult<(StatusCode, Json<Receipt>)> {
    let s = s.clone();
    let row = find_letter(&s, &key).await?;
    // A recipients-only letter is signed by holders of its signer link, like it is read.
    if !super::may_read(&s, &row, &headers).await? {
        return Err(AppError::NotFound("letter"));
    }
    let letter_id = opened_id(&row)?;
    // Held until the entry is durable in the pool: closing waits for us, we never see a half-closed letter.
    let gate = s.ledger.gate(&letter_id).await;
    let _shared = gate.read().await;
    let row = find_letter(&s, &letter_id).await?;
    let received_at = s.clock.now();
    if row.state != LetterState::Open || received_at >= row.deadline {
        return Err(AppError::Conflict(
            "the letter is not open for signatures".into(),
        ));
    }
    let letter = parse_row(&row)?;
    let epochs: Vec<_> = letter
        .policy
        .issuers
        .iter()
        .flat_map(|i| i.epochs.iter().cloned())
        .collect();
    let directory = s.directory(&epochs).await?;
    let id = letter.id();
    // Everything but the pairing equation (about half a millisecond of CPU) runs off the async
    // workers; the pairing equation is checked together with concurrent submissions.
    let policy = letter.policy.clone();
    let started = std::time::Instant::now();
    let (keys, context) = s.verifiers.lookup(&id.0);
    let state = s.clone();
    let (prepared, entry) = tokio::task::spawn_blocking(move || {
        let context = match context {
            Some(c) => c,
            None => Arc::new(LetterContext::new(&id.0).map_err(|_| VerifyError::BadProof)?),
        };
        let verifier = EntryVerifier::with_keys(&directory, keys);
        state
            .verifiers
            .keep(&id.0, verifier.keys(), Arc::clone(&context));
        verifier
            .prepare(&entry, &id, &policy, &context)
            .map(|p| (p, entry))
    })
    .await
    .map_err(|e| AppError::Internal(format!("verifier task: {e}")))??;
    let paired = s.pairings.check(prepared.claim).await;
    s.metrics.verified(started.elapsed());
    if !paired {
        return Err(VerifyError::BadProof.into());
    }
    let verified = prepared.entry;
    let leaf = LogEntry::submission(entry).leaf_bytes();
    let schedule = PublishSchedule::new(row.publish_interval_secs, s.config.publish_grace_secs)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let receipt = issue_receipt(
        &s.ledger.signer(&letter_id)?,
        id.0,
        &leaf,
        received_at,
        &schedule,
    )
    .map_err(|e| AppError::Internal(e.to_string()))?;
    // The pool row keeps the schedule's time (it picks the batch); the receipt promises
    // later while the witness quorum is missing, since the batch's checkpoint may wait.
    let scheduled = receipt.include_by;
    let delay = s.cosigning.receipt_delay();
    let receipt = if delay == 0 {
        receipt
    } else {
        reissue_receipt(
            &s.ledger.signer(&letter_id)?,
            id.0,
            receipt.entry_hash,
            received_at,
            receipt.include_by.saturating_add(delay),
        )
        .map_err(|e| AppError::Internal(e.to_string()))?
    };
    let pending = PendingEntry {
        entry_hash: leaf_hash(&leaf),
        leaf,
        pseudonym: verified.pseudonym.0.to_vec(),
        withdraw: verified.action == undersigned_core::entry::Action::Withdraw,
        include_by: scheduled,
    };
    let started = std::time::Instant::now();
    let accepted = s.store.accept_entry(&letter_id, &pending).await;
    s.metrics
        .database(crate::metrics::Timed::AcceptEntry, started.elapsed());
    match accepted {
        Ok(()) => {}
        // The very same entry again (a retry after a lost answer, or after a crash): answer
        // with its receipt again, like a CT log returning the SCT for a duplicate. A different
        // entry from the same credential stays a refused double signature.
        Err(
            undersigned_store::StoreError::DoubleSign
            | undersigned_store::StoreError::DoubleWithdraw,
        ) => {
            if let Some(r) = resend_receipt(&s, &letter_id, id.0, &pending).await? {
                return Ok((StatusCode::ACCEPTED, Json(r)));
            }
            return Err(AppError::Conflict(if pending.withdraw {
                "this signature was already withdrawn".into()
            } else {
                "this credential already signed this letter".into()
            }));
        }
        // The store refuses entries for a letter that is no longer open.
        Err(undersigned_store::StoreError::NotFound) => {
            return Err(AppError::Conflict(
                "the letter is not open for signatures".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}

/// What every submission would otherwise rebuild (about 0.4 ms of CPU): each letter's context
/// (its hash-to-curve point) and the issuer keys' decoded, subgroup-checked G2 points.
///
/// Kept in the app state (one per deployment): both are pure functions of public data, a
/// letter's context of its id, and the keys of the directory, which `EntryVerifier::with_keys`
/// compares with the directory of every request (a changed key is rebuilt). Bounded: past
/// `MAX_LETTERS` it starts over.
#[derive(Default)]
pub struct VerifierCache {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    keys: Arc<VerifierKeys>,
    letters: HashMap<[u8; 32], Arc<LetterContext>>,
}

impl std::fmt::Debug for VerifierCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierCache").finish_non_exhaustive()
    }
}

const MAX_LETTERS: usize = 1024;

impl VerifierCache {
    fn lookup(&self, letter: &[u8; 32]) -> (Arc<VerifierKeys>, Option<Arc<LetterContext>>) {
        match self.kept.lock() {
            Ok(c) => (Arc::clone(&c.keys), c.letters.get(letter).cloned()),
            // A panic elsewhere while holding the lock only costs the cache.
            Err(_) => (Arc::default(), None),
        }
    }

    fn keep(&self, letter: &[u8; 32], keys: Arc<VerifierKeys>, context: Arc<LetterContext>) {
        if let Ok(mut c) = self.kept.lock() {
            if c.letters.len() >= MAX_LETTERS && !c.letters.contains_key(letter) {
                c.letters.clear();
            }
            c.keys = keys;
            c.letters.insert(*letter, context);
        }
    }
}

/// The receipt for an entry that is already pooled or logged, signed again. The promise
/// (`include_by`) is the one first given; the arrival time is not stored (it would undo the
/// batching for whoever copies the database), so the receipt says "received by now", capped at
/// the promise. A logged entry is promised "by now", which is already true.
async fn resend_receipt(
    s: &AppState,
    letter_id: &str,
    id: [u8; 32],
    entry: &PendingEntry,
) -> AppResult<Option<Receipt>> {
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
        .map_err(|e| AppError::Internal(e.to_string()))
}
