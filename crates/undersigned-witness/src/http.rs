//! The witness's HTTP surface (tlog-witness `add-checkpoint` and the monitor retrieval
//! mechanism): it turns a [`Refused`] into the status tlog-witness gives it, and nothing more.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use undersigned_core::log::{WitnessRefusal, MAX_ADD_CHECKPOINT_BYTES};

use crate::{Refused, Witness, TLOG_SIZE};

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match &self {
            Refused::Malformed(_) | Refused::BadNote(_) => StatusCode::BAD_REQUEST,
            Refused::UnknownOrigin => StatusCode::NOT_FOUND,
            Refused::BadSignature => StatusCode::FORBIDDEN,
            // tlog-witness has no word for this; the witness cannot store another log.
            Refused::TooManyLogs(_) => {
                tracing::warn!(error = %self, "refused a new log");
                StatusCode::INSUFFICIENT_STORAGE
            }
            Refused::Witness(WitnessRefusal::Conflict { latest, .. }) => {
                // tlog-witness: "The response body MUST consist of the tree size of the latest
                // cosigned checkpoint in decimal, followed by a newline (U+000A)."
                return (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, TLOG_SIZE)],
                    format!("{latest}\n"),
                )
                    .into_response();
            }
            Refused::Witness(r) => {
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Refused::Internal(e) => {
                tracing::error!(error = %e, "witness internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    match w.add_checkpoint(&body).await {
        Ok(line) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            line,
        )
            .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// tlog-witness "Monitor Retrieval Mechanism": `GET <monitoring prefix>/<origin hash>/checkpoint`,
/// the latest cosigned checkpoint with the log's and the witness's signatures, or 404.
async fn get_checkpoint(State(w): State<Arc<Witness>>, UrlPath(hash): UrlPath<String>) -> Response {
    let mut digest = [0u8; 32];
    if hex::decode_to_slice(&hash, &mut digest).is_err() {
        return (StatusCode::NOT_FOUND, "unknown log\n").into_response();
    }
    match w.store().latest_by_hash(&digest).await {
        // A log no longer followed (the witness restarted without it) is not served.
        Ok(Some((origin, note))) if w.follows(&origin) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        Ok(_) => (
            StatusCode::NOT_FOUND,
            "no checkpoint cosigned for this log\n",
        )
            .into_response(),
        Err(e) => Refused::Internal(e).into_response(),
    }
}

/// The witness's HTTP surface, with the submission and monitoring prefixes both at the root.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(get_checkpoint))
        // A body above the largest valid request is refused (413) before it is read whole.
        .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BYTES))
        .with_state(witness)
}
