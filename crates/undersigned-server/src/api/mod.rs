//! The JSON API (`/api/v1/...`). Wire types live here, not in core.

pub mod access;
pub mod entries;
pub mod issuance;
pub mod issuer;
pub mod letters;
pub mod read;
pub mod respond;

use axum::routing::{get, post};
use axum::Router;
use undersigned_service::Error;

pub use access::{bearer, bearer_matches, find_letter, may_read, opened_id, token_hash, ApiJson};

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Every route of the API. `openapi.yaml` documents exactly these; a test keeps them in step.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/deployment"),
    ("GET", "/api/v1/issuer"),
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

/// The routes of an issuer, whether it runs inside a letters server or on its own (`issuer
/// serve`): its description, issuance and statement log. A holder's browser calls them from
/// another origin, so they answer CORS (`cors`).
pub fn issuer_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/issuer", get(issuer::describe))
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
        .layer(cors())
}

/// Any origin may call an issuer and the signer's routes: the holder's page may be served from
/// the letters deployment, a mirror, or a file (`Origin: null`). No credentials mode: the API
/// takes no cookies, so `*` lets no site act as someone; a bearer token goes only where the
/// page that holds it sends it.
pub fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{header, Method};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .max_age(std::time::Duration::from_secs(600))
}

/// The issuer's routes alone, with the dev outbox and the metrics: `issuer serve`.
pub fn issuer_only_routes() -> Router<AppState> {
    issuer_routes()
        .route("/api/dev/outbox", get(dev_outbox))
        .route("/metrics", get(metrics))
        .fallback(|| async { AppError(Error::NotFound("route")) })
}

/// The routes a signer's client uses, wherever it was loaded from (this deployment, another
/// static host, or a file opened from disk, `Origin: null`): the deployment document, the
/// letter, submitting and reading entries, the tally, the checkpoint and the bundle. They
/// answer CORS (`cors`), which lets no site act as anyone: the API takes no cookies, and a
/// recipients-only letter's token travels in a header the page itself sets.
pub fn signer_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deployment", get(issuance::deployment))
        .route(
            "/api/v1/letters/{letter}",
            get(letters::show)
                .layer(axum::middleware::from_fn(crate::caching::etag))
                .put(letters::update),
        )
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
            "/api/v1/letters/{letter}/bundle",
            get(read::bundle).layer(axum::middleware::from_fn(crate::caching::etag)),
        )
        .layer(cors())
}

pub fn routes() -> Router<AppState> {
    issuer_routes()
        .merge(signer_routes())
        .route("/api/v1/letters", get(letters::list).post(letters::create))
        .route("/api/v1/letters/{letter}/open", post(letters::open))
        .route("/api/v1/letters/{letter}/close", post(letters::close))
        .route(
            "/api/v1/letters/{letter}/proof/inclusion",
            get(read::inclusion),
        )
        .route(
            "/api/v1/letters/{letter}/proof/consistency",
            get(read::consistency),
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
