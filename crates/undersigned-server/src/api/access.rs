//! What every handler needs of a request before the domain sees it: the JSON body read with
//! our errors, the bearer token, the letter it names, and whether the caller may read it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use undersigned_service::Error;
use undersigned_store::{LetterRow, LetterState};

pub use undersigned_service::letters::token_hash;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// `Json` whose rejections are our JSON errors (400 for syntax, 413 handled by the limit layer).
///
/// A number written with a zero fraction (`1691.0`) is an integer in JSON Schema, so where
/// `openapi.json` says "integer" such a number is read as one: the server accepts exactly
/// what the document allows.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// `x.0` becomes the integer `x` wherever it fits one; everything else stays as sent.
fn integral_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // Exact for every integer an f64 holds; out-of-range values stay floats and
                // fail to deserialize as they did.
                let as_int = if f >= 0.0 && f <= u64::MAX as f64 {
                    format!("{f:.0}")
                        .parse::<u64>()
                        .ok()
                        .map(serde_json::Number::from)
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    format!("{f:.0}")
                        .parse::<i64>()
                        .ok()
                        .map(serde_json::Number::from)
                } else {
                    None
                };
                if let Some(i) = as_int {
                    *n = i;
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(mut v)) => {
                integral_numbers(&mut v);
                serde_path_to_error::deserialize(v)
                    .map(ApiJson)
                    .map_err(|e| Error::Invalid(format!("invalid request body: {e}")).into())
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Error::TooLarge.into())
            }
            Err(JsonRejection::BytesRejection(_)) => {
                Err(Error::Invalid("the request body could not be read".into()).into())
            }
            Err(e) => {
                Err(Error::Invalid(format!("invalid request body: {}", e.body_text())).into())
            }
        }
    }
}

/// Compares a bearer token with a stored hash in constant time.
pub fn bearer_matches(headers: &HeaderMap, stored: &[u8; 32]) -> bool {
    let Some(token) = bearer(headers) else {
        return false;
    };
    use subtle::ConstantTimeEq;
    token_hash(token).ct_eq(stored).into()
}

/// Loads a letter by handle or id, or 404.
pub async fn find_letter(state: &AppState, key: &str) -> AppResult<LetterRow> {
    if key.is_empty()
        || key.len() > 100
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::NotFound("letter").into());
    }
    let started = std::time::Instant::now();
    let row = state.store.letter(key).await;
    state.metrics.database(
        undersigned_service::metrics::Timed::Letter,
        started.elapsed(),
    );
    row?.ok_or(Error::NotFound("letter").into())
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Who may read a letter: anyone for an opened public letter; for a draft only the organizer;
/// for a recipients-only letter the organizer, holders of the signer link, and its recipients
/// (by their response link).
pub async fn may_read(s: &AppState, row: &LetterRow, headers: &HeaderMap) -> AppResult<bool> {
    if bearer_matches(headers, &row.organizer_token_hash) {
        return Ok(true);
    }
    if row.state == LetterState::Draft {
        return Ok(false);
    }
    if row.public {
        return Ok(true);
    }
    if row
        .reader_token_hash
        .is_some_and(|h| bearer_matches(headers, &h))
    {
        return Ok(true);
    }
    if let (Some(token), Some(id)) = (bearer(headers), &row.letter_id) {
        if let Some(d) = s.store.delivery_by_token(&token_hash(token)).await? {
            return Ok(&d.letter_id == id);
        }
    }
    Ok(false)
}

/// The opened letter's id, or 409 for a draft.
pub fn opened_id(row: &LetterRow) -> AppResult<String> {
    row.letter_id
        .clone()
        .ok_or_else(|| Error::Conflict("the letter is not open yet".into()).into())
}
