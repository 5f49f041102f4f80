//! The JSON API (`/api/v1/...`). Wire types live here, not in core.

pub mod entries;
pub mod issuance;
pub mod issuer;
pub mod letters;
pub mod read;
pub mod respond;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use undersigned_service::Error;
use undersigned_store::{LetterRow, LetterState};

pub use undersigned_service::letters::token_hash;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Every route of the API. `openapi.yaml` documents exactly these; a test keeps them in step.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/deployment"),
    ("GET", "/api/v1/issuer/anonymity-sets"),
    ("GET", "/api/v1/issuer/statement"),
    ("GET", "/api/v1/issuer/log/checkpoint"),
    ("GET", "/api/v1/issuer/log/statements"),
    ("GET", "/api/v1/issuer/log/proof/inclusion"),
    ("GET", "/api/v1/issuer/log/proof/consistency"),
    ("GET", "/api/v1/issuance/epochs"),
    ("POST", "/api/v1/issuance/code"),
    ("POST", "/api/v1/issuance/credential"),
    ("GET", "/api/v1/letters"),
    ("POST", "/api/v1/letters"),
    ("GET", "/api/v1/letters/{letter}"),
    ("PUT", "/api/v1/letters/{letter}"),
    ("POST", "/api/v1/letters/{letter}/open"),
    ("POST", "/api/v1/letters/{letter}/close"),
    ("GET", "/api/v1/letters/{letter}/tally"),
    ("GET", "/api/v1/letters/{letter}/checkpoint"),
    ("GET", "/api/v1/letters/{letter}/entries"),
    ("POST", "/api/v1/letters/{letter}/entries"),
    ("GET", "/api/v1/letters/{letter}/proof/inclusion"),
    ("GET", "/api/v1/letters/{letter}/proof/consistency"),
    ("GET", "/api/v1/letters/{letter}/bundle"),
    ("GET", "/api/v1/letters/{letter}/respond"),
    ("POST", "/api/v1/letters/{letter}/respond/acknowledge"),
    ("POST", "/api/v1/letters/{letter}/respond/answer"),
    ("GET", "/api/v1/letters/{letter}/deliveries"),
    ("POST", "/api/v1/letters/{letter}/recipients/{index}/revoke"),
    ("GET", "/api/dev/outbox"),
    ("POST", "/api/v1/render"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deployment", get(issuance::deployment))
        .route(
            "/api/v1/issuer/anonymity-sets",
            get(issuance::anonymity_sets),
        )
        .route("/api/v1/issuer/statement", get(issuer::statement))
        .route("/api/v1/issuer/log/checkpoint", get(issuer::checkpoint))
        .route("/api/v1/issuer/log/statements", get(issuer::statements))
        .route("/api/v1/issuer/log/proof/inclusion", get(issuer::inclusion))
        .route(
            "/api/v1/issuer/log/proof/consistency",
            get(issuer::consistency),
        )
        .route("/api/v1/issuance/epochs", get(issuance::issuable_epochs))
        .route("/api/v1/issuance/code", post(issuance::request_code))
        .route(
            "/api/v1/issuance/credential",
            post(issuance::issue_credential),
        )
        .route("/api/v1/letters", get(letters::list).post(letters::create))
        .route(
            "/api/v1/letters/{letter}",
            get(letters::show)
                .layer(axum::middleware::from_fn(crate::caching::etag))
                .put(letters::update),
        )
        .route("/api/v1/letters/{letter}/open", post(letters::open))
        .route("/api/v1/letters/{letter}/close", post(letters::close))
        .route(
            "/api/v1/letters/{letter}/tally",
            get(read::tally).layer(axum::middleware::from_fn(crate::caching::etag_kept)),
        )
        .route("/api/v1/letters/{letter}/checkpoint", get(read::checkpoint))
        .route(
            "/api/v1/letters/{letter}/entries",
            get(read::entries).post(entries::submit),
        )
        .route(
            "/api/v1/letters/{letter}/proof/inclusion",
            get(read::inclusion),
        )
        .route(
            "/api/v1/letters/{letter}/proof/consistency",
            get(read::consistency),
        )
        .route(
            "/api/v1/letters/{letter}/bundle",
            get(read::bundle).layer(axum::middleware::from_fn(crate::caching::etag)),
        )
        .route("/api/v1/letters/{letter}/respond", get(respond::show))
        .route(
            "/api/v1/letters/{letter}/respond/acknowledge",
            post(respond::acknowledge),
        )
        .route(
            "/api/v1/letters/{letter}/respond/answer",
            post(respond::answer),
        )
        .route(
            "/api/v1/letters/{letter}/deliveries",
            get(respond::deliveries),
        )
        .route(
            "/api/v1/letters/{letter}/recipients/{index}/revoke",
            post(respond::revoke),
        )
        .route("/api/dev/outbox", get(dev_outbox))
        .route("/metrics", get(metrics))
        .route("/api/v1/render", post(respond::render))
        .fallback(|| async { AppError(Error::NotFound("route")) })
}

/// Dev mode only: the mail the outbox received, newest last. Lets the demo and a newcomer read
/// codes without a mail server. Absent (404) in production.
async fn dev_outbox(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> AppResult<axum::Json<Vec<serde_json::Value>>> {
    let outbox = s.outbox.as_ref().ok_or(Error::NotFound("route"))?;
    Ok(axum::Json(
        outbox
            .messages()
            .into_iter()
            .map(|m| serde_json::json!({ "id": m.id, "to": m.to, "subject": m.subject, "body": m.body_text }))
            .collect(),
    ))
}

/// Prometheus text: how far the published checkpoints lag behind the log, and how often each
/// witness failed. Only counts and witness names (operators' services), never a person.
async fn metrics(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    let mut out = String::from(
        "# HELP undersigned_witness_lag_seconds Seconds the slowest log's published checkpoint has waited for its witness quorum.\n\
         # TYPE undersigned_witness_lag_seconds gauge\n",
    );
    out.push_str(&format!(
        "undersigned_witness_lag_seconds {}\n",
        s.cosigning.lag_secs(s.clock.now())
    ));
    out.push_str(
        "# HELP undersigned_witness_quorum Cosignatures a checkpoint needs to be published.\n\
         # TYPE undersigned_witness_quorum gauge\n",
    );
    out.push_str(&format!(
        "undersigned_witness_quorum {}\n",
        s.cosigning.quorum()
    ));
    out.push_str(
        "# HELP undersigned_witness_cosign_failures_total Requests to a witness that brought no valid cosignature.\n\
         # TYPE undersigned_witness_cosign_failures_total counter\n",
    );
    for (name, n) in s.cosigning.failures() {
        out.push_str(&format!(
            "undersigned_witness_cosign_failures_total{{witness=\"{}\"}} {n}\n",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    s.metrics.encode(&mut out);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

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
    let h = token_hash(token);
    h.iter().zip(stored).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
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
