//! Probes for load balancers and orchestrators (`/healthz`, `/readyz`) and the API's own
//! description (`/openapi.json`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The OpenAPI document, compiled in so the served copy is the one this build was tested with.
const OPENAPI: &str = include_str!("../openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
}

/// The process is up and answers: nothing else is checked, so a slow database never gets a
/// live process restarted.
async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok\n",
    )
}

/// Ready to serve: the database answers a real query and its schema is the one this build
/// migrates to. 503 names each part that is not ready, so an operator reads the cause at once.
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let mut lines = Vec::new();
    let mut ready = true;
    let started = std::time::Instant::now();
    let versions = s.store.schema_versions().await;
    s.metrics.database(
        undersigned_service::metrics::Timed::Schema,
        started.elapsed(),
    );
    match versions {
        Ok(v) if v.applied == v.expected => {
            lines.push("database: ok".to_owned());
            lines.push(format!("migrations: ok (version {})", v.applied));
        }
        Ok(v) => {
            ready = false;
            lines.push("database: ok".to_owned());
            lines.push(format!(
                "migrations: not current (database at {}, this build expects {})",
                v.applied, v.expected
            ));
        }
        Err(e) => {
            ready = false;
            // The store's message names the backend's failure, never a row's content.
            tracing::warn!("readyz: database: {e}");
            lines.push("database: unreachable".to_owned());
            lines.push("migrations: unknown".to_owned());
        }
    }
    // The keys are loaded before the state exists (`AppState::new` takes them), so a running
    // server always has them; the line says which issuer key is in use.
    lines.push(format!("keys: ok (issuer {})", s.issuer.id().to_hex()));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let head = if ready { "ready" } else { "not ready" };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{head}\n{}\n", lines.join("\n")),
    )
}

async fn openapi() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        OPENAPI,
    )
}
