//! The submission route: the letter looked up and its reader checked here, the entry verified,
//! pooled and receipted by `undersigned_service::submissions`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use undersigned_core::entry::SignatureEntry;
use undersigned_core::log::Receipt;
use undersigned_service::{submissions, Error};

use super::access::{find_letter, ApiJson};
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
    let row = find_letter(s, &key).await?;
    // A recipients-only letter is signed by holders of its signer link, like it is read.
    if !super::access::may_read(s, &row, &headers).await? {
        return Err(Error::NotFound("letter").into());
    }
    let receipt = submissions::submit(s, &row, entry).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)))
}
