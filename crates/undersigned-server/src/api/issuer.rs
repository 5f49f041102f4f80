//! The issuer's description, and reading its statement log: the latest signed statement with
//! its checkpoint, every statement, and inclusion and consistency proofs (the same shapes as a
//! letter log's). A letters deployment that names independent issuers has none of these
//! (`issuer::check_own_issuer`).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use undersigned_core::statement::{LoggedStatement, SignedStatement};
use undersigned_service::Error;

use super::read::{ConsistencyView, InclusionView, RangeQuery, SizeQuery};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use undersigned_service::issuer::check_own_issuer;
use undersigned_service::issuer_log::{latest, latest_tree};
use undersigned_service::issuers::IssuerDescription;

/// At most this many statements per page.
const PAGE: u64 = 100;

/// The latest statement, the latest checkpoint and the statement's inclusion proof under it:
/// exactly what a bundle carries.
pub async fn statement(State(s): State<AppState>) -> AppResult<Json<LoggedStatement>> {
    check_own_issuer(&s)?;
    Ok(Json(latest(&s).await?))
}

/// What this issuer is (`issuers::IssuerDescription`): what a holder needs to ask it for
/// credentials, and what a letters deployment pins of it.
pub async fn describe(State(s): State<AppState>) -> AppResult<Json<IssuerDescription>> {
    Ok(Json(undersigned_service::issuer::describe(&s).await?))
}

pub async fn checkpoint(
    State(s): State<AppState>,
    Query(q): Query<SizeQuery>,
) -> AppResult<Response> {
    check_own_issuer(&s)?;
    let cp = match q.size {
        Some(n) => s
            .store
            .issuer_checkpoint(&s.issuer.id().to_hex(), Some(n))
            .await?
            .ok_or(Error::NotFound("checkpoint"))?,
        None => latest_tree(&s).await?.1,
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

/// Every statement in log order, so anyone can check that counts only grew
/// (`statement::check_issuer_log`).
pub async fn statements(
    State(s): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> AppResult<Json<Vec<SignedStatement>>> {
    check_own_issuer(&s)?;
    let from = q.from.unwrap_or(0);
    // Saturating: `from` may be as large as a u64 goes.
    let end = from.saturating_add(PAGE);
    let to = q.to.unwrap_or(end).min(end);
    let leaves = s
        .store
        .issuer_log_leaves(&s.issuer.id().to_hex(), from, to)
        .await?;
    leaves
        .iter()
        .map(|l| {
            SignedStatement::from_leaf(l)
                .map_err(|e| AppError(Error::Internal(format!("issuer log leaf: {e}"))))
        })
        .collect::<AppResult<Vec<_>>>()
        .map(Json)
}

#[derive(Deserialize, Debug)]
pub struct IndexQuery {
    pub index: u64,
    pub size: Option<u64>,
}

pub async fn inclusion(
    State(s): State<AppState>,
    Query(q): Query<IndexQuery>,
) -> AppResult<Json<InclusionView>> {
    check_own_issuer(&s)?;
    let (tree, _) = latest_tree(&s).await?;
    let size = q.size.unwrap_or(tree.size());
    let proof = tree
        .prove_inclusion(q.index, size)
        .map_err(|e| Error::Refused(e.to_string()))?;
    Ok(Json(InclusionView {
        index: q.index,
        size,
        proof,
    }))
}

#[derive(Deserialize, Debug)]
pub struct FromQuery {
    pub from: u64,
    pub to: Option<u64>,
}

pub async fn consistency(
    State(s): State<AppState>,
    Query(q): Query<FromQuery>,
) -> AppResult<Json<ConsistencyView>> {
    check_own_issuer(&s)?;
    let (tree, _) = latest_tree(&s).await?;
    let to = q.to.unwrap_or(tree.size());
    let proof = tree
        .prove_consistency(q.from, to)
        .map_err(|e| Error::Refused(e.to_string()))?;
    Ok(Json(ConsistencyView {
        from: q.from,
        to,
        proof,
    }))
}
