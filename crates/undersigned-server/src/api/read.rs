//! Reading a letter's record: tally, checkpoints, entries, proofs and the bundle.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use undersigned_core::bundle::{
    Bundle, BundleContext, IssuerRecord, BUNDLE_FORMAT, CONTEXT_FORMAT,
};
use undersigned_core::ids::LetterId;
use undersigned_core::log::{ConsistencyProof, InclusionProof};
use undersigned_core::record::LogEntry;
use undersigned_core::tally::Summary;
use undersigned_store::LetterRow;

use super::letters::parse_row;
use super::{find_letter, may_read, opened_id};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub async fn readable(
    s: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> AppResult<(LetterRow, String)> {
    let row = find_letter(s, key).await?;
    if !may_read(s, &row, headers).await? {
        return Err(AppError::NotFound("letter"));
    }
    let id = opened_id(&row)?;
    Ok((row, id))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct TallyView {
    pub letter_id: String,
    pub log_size: u64,
    pub k: u32,
    #[serde(flatten)]
    pub summary: Summary,
    /// The size of the published checkpoint (with witnesses, the newest one carrying its
    /// quorum of cosignatures); the tally counts up to `log_size`.
    #[serde(default)]
    pub published_size: u64,
    /// The witnesses who cosigned the published checkpoint, and when.
    #[serde(default)]
    pub cosigned_by: Vec<crate::cosigning::Cosigner>,
    /// Seconds the published checkpoint has waited for its witness quorum (0: up to date).
    #[serde(default)]
    pub witness_lag_secs: u64,
}

pub async fn tally(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<TallyView>> {
    let (row, id) = readable(&s, &key, &headers).await?;
    let k = parse_row(&row)?.policy.k;
    let published = crate::cosigning::published(&s, &id).await?;
    let log = s
        .ledger
        .at_least(&id, published.as_ref().map_or(0, |p| p.size))
        .await?;
    let log = log.lock().await;
    Ok(Json(TallyView {
        log_size: log.tree.size(),
        k,
        summary: log.tally.summarize(k),
        published_size: published.as_ref().map_or(0, |p| p.size),
        cosigned_by: published
            .map(|p| s.cosigning.cosigners(&p.note))
            .unwrap_or_default(),
        witness_lag_secs: s.cosigning.lag_of(&s.ledger.origin(&id), s.clock.now()),
        letter_id: id,
    }))
}

#[derive(Deserialize, Debug)]
pub struct SizeQuery {
    pub size: Option<u64>,
}

pub async fn checkpoint(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<SizeQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (_, id) = readable(&s, &key, &headers).await?;
    let cp = match q.size {
        Some(n) => s.store.checkpoint_at(&id, n).await?,
        None => crate::cosigning::published(&s, &id).await?,
    }
    .ok_or(AppError::NotFound("checkpoint"))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

#[derive(Deserialize, Debug)]
pub struct RangeQuery {
    pub from: Option<u64>,
    pub to: Option<u64>,
}

/// At most this many entries per page.
const PAGE: u64 = 1000;

pub async fn entries(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<RangeQuery>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<LogEntry>>> {
    let (_, id) = readable(&s, &key, &headers).await?;
    let from = q.from.unwrap_or(0);
    // Saturating: `from` may be as large as a u64 goes.
    let end = from.saturating_add(PAGE);
    let to = q.to.unwrap_or(end).min(end);
    let leaves = s.store.leaves(&id, from, to).await?;
    Ok(Json(
        leaves.iter().filter_map(|l| decode_leaf(l).ok()).collect(),
    ))
}

pub fn decode_leaf(leaf: &[u8]) -> AppResult<LogEntry> {
    LogEntry::from_leaf_bytes(leaf)
        .ok_or_else(|| AppError::Internal("undecodable leaf in the log".into()))
}

#[derive(Deserialize, Debug)]
pub struct InclusionQuery {
    pub entry_hash: String,
    pub size: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct InclusionView {
    pub index: u64,
    pub size: u64,
    #[serde(flatten)]
    pub proof: InclusionProof,
}

pub async fn inclusion(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<InclusionQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (_, id) = readable(&s, &key, &headers).await?;
    let hash = LetterId::from_hex(&q.entry_hash)
        .map_err(|_| AppError::BadRequest("entry_hash must be 64 hex digits".into()))?
        .0;
    let Some(index) = s.store.leaf_index(&id, &hash).await? else {
        if s.store.is_pending(&id, &hash).await? {
            let body = serde_json::json!({"error": "pending", "message": "the entry is accepted and waits for its batch; see the receipt's include_by"});
            return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
        }
        return Err(AppError::NotFound("entry"));
    };
    let published = published_size(&s, &id).await?;
    if index >= published {
        // In the tree but not yet under a published checkpoint: it waits for the witnesses.
        let body = serde_json::json!({"error": "pending", "message": "the entry is in the log and waits for a checkpoint cosigned by the witnesses; see the receipt's include_by"});
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let log = s.ledger.at_least(&id, published).await?;
    let log = log.lock().await;
    let size = q.size.unwrap_or(published);
    let proof = log
        .tree
        .prove_inclusion(index, size)
        .map_err(|e| AppError::Unprocessable(e.to_string()))?;
    Ok(Json(InclusionView { index, size, proof }).into_response())
}

#[derive(Deserialize, Debug)]
pub struct ConsistencyQuery {
    pub from: u64,
    pub to: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    #[serde(flatten)]
    pub proof: ConsistencyProof,
}

pub async fn consistency(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<ConsistencyQuery>,
    headers: HeaderMap,
) -> AppResult<Json<ConsistencyView>> {
    let (_, id) = readable(&s, &key, &headers).await?;
    let published = published_size(&s, &id).await?;
    let log = s.ledger.at_least(&id, published).await?;
    let log = log.lock().await;
    let to = q.to.unwrap_or(published);
    let proof = log
        .tree
        .prove_consistency(q.from, to)
        .map_err(|e| AppError::Unprocessable(e.to_string()))?;
    Ok(Json(ConsistencyView {
        from: q.from,
        to,
        proof,
    }))
}

pub async fn bundle(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (row, id) = readable(&s, &key, &headers).await?;
    let b = build_bundle(&s, &row, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"undersigned-{}.json\"",
                    &id[..16.min(id.len())]
                ),
            ),
        ],
        b.to_json(),
    )
        .into_response())
}

/// The bundle as of the latest checkpoint: exactly the entries it covers.
pub async fn build_bundle(s: &AppState, row: &LetterRow, id: &str) -> AppResult<Bundle> {
    let cp = crate::cosigning::published(s, id)
        .await?
        .ok_or(AppError::NotFound("checkpoint"))?;
    let context = build_context(s, row, id).await?;
    let leaves = s.store.leaves(id, 0, cp.size).await?;
    let entries = leaves
        .iter()
        .map(|l| decode_leaf(l))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: context.letter_id,
        letter: context.letter,
        issuers: context.issuers,
        entries,
        checkpoint: Some(cp.note),
        log_public_key: context.log_public_key,
        responses: context.responses,
    })
}

/// Everything of the bundle but its log: the letter, the issuer's latest statement, the log
/// key and the answers' texts (what a tiled log publishes beside its tiles).
pub async fn build_context(s: &AppState, row: &LetterRow, id: &str) -> AppResult<BundleContext> {
    let letter = parse_row(row)?;
    let letter_names: Vec<String> = letter.recipients.iter().map(|r| r.name.clone()).collect();
    Ok(BundleContext {
        format: CONTEXT_FORMAT.into(),
        letter_id: letter.id(),
        letter,
        issuers: vec![IssuerRecord::new(crate::issuer_log::latest(s).await?)],
        log_public_key: Some(s.ledger.vkey(id)?),
        responses: s
            .store
            .deliveries(id)
            .await?
            .into_iter()
            .filter_map(|d| {
                let name = letter_names.get(d.recipient as usize)?.clone();
                d.response_text
                    .map(|text| undersigned_core::bundle::ResponseText {
                        recipient: name,
                        text,
                    })
            })
            .collect(),
    })
}

/// The size of the letter's published checkpoint, 0 before there is one.
async fn published_size(s: &AppState, id: &str) -> AppResult<u64> {
    Ok(crate::cosigning::published(s, id)
        .await?
        .map_or(0, |c| c.size))
}
