//! Reading a letter's record: tally, checkpoints, entries, proofs and the bundle.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use undersigned_core::ids::LetterId;
use undersigned_core::log::{ConsistencyProof, InclusionProof};
use undersigned_core::record::LogEntry;
use undersigned_core::tally::Summary;
use undersigned_service::Error;
use undersigned_store::LetterRow;

pub use undersigned_service::bundle::decode_leaf;
use undersigned_service::bundle::{build_bundle, published_size};

use super::access::{find_letter, may_read, opened_id};
use super::letters::parse_row;
use crate::error::AppResult;
use crate::state::AppState;

pub async fn readable(
    s: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> AppResult<(LetterRow, String)> {
    let row = find_letter(s, key).await?;
    if !may_read(s, &row, headers).await? {
        return Err(Error::NotFound("letter").into());
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
    pub cosigned_by: Vec<undersigned_service::cosigning::Cosigner>,
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
    let published = undersigned_service::cosigning::published(&s, &id).await?;
    let log = s
        .ledger
        .at_least(&id, published.as_ref().map_or(0, |p| p.size))
        .await?;
    let log = log.lock().await;
    Ok(Json(TallyView {
        log_size: log.tree.size(),
        k,
        summary: log.tally().summarize(k),
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
        None => undersigned_service::cosigning::published(&s, &id).await?,
    }
    .ok_or(Error::NotFound("checkpoint"))?;
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
        .map_err(|_| Error::Invalid("entry_hash must be 64 hex digits".into()))?
        .0;
    let Some(index) = s.store.leaf_index(&id, &hash).await? else {
        if s.store.is_pending(&id, &hash).await? {
            let body = serde_json::json!({"error": "pending", "message": "the entry is accepted and waits for its batch; see the receipt's include_by"});
            return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
        }
        return Err(Error::NotFound("entry").into());
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
        .map_err(|e| Error::Refused(e.to_string()))?;
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
        .map_err(|e| Error::Refused(e.to_string()))?;
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
