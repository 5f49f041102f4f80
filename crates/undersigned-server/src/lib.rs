//! The undersigned platform's HTTP layer: the JSON API, the pages, static assets, health, the
//! read cache and the listener, over the domain in `undersigned_service`.
//!
//! `app(state)` builds the whole HTTP surface as an axum `Router`, so tests drive it without a
//! socket; `serve` in the CLI binds it and starts the background publisher. Handlers parse,
//! call the domain and render; `AppError` maps the domain's errors to statuses.
#![forbid(unsafe_code)]

pub mod api;
pub mod caching;
pub mod error;
pub mod health;
pub mod listen;
pub mod markdown;
pub mod pages;
pub mod state;
pub mod tiles;

pub use state::AppState;
// The domain's modules under their former paths, for the binary and the tests that reach
// them through this crate; new code names `undersigned_service` directly.
pub use undersigned_service::{
    clock, config, cosigning, delivery, deployment, issuer, issuer_log, issuers, keys, leader,
    ledger, limits, mailer, metrics, now, pairing, publisher, witnesses, Config,
};

use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// Log filter directives every subscriber of the server adds after its own (`RUST_LOG` or a
/// default), whatever level it asks for: modules of our dependencies that would log a client's
/// IP address. axum's `serve` logs `connection <peer address> accepted` at trace level.
pub const NO_ADDRESS_LOGS: &[&str] = &["axum::serve=off"];

/// The whole HTTP surface with its privacy and safety layers.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let csp = content_security_policy(&state.config.public_url, &state.config.issuers);
    let router = api::routes()
        .merge(pages::routes())
        .merge(health::routes())
        .merge(tiles::routes())
        .layer(axum::middleware::from_fn(caching::count_writes))
        // The read cache and the write count reach the layers through the request.
        .layer(axum::Extension(caching::Reads {
            cache: state.reads.clone(),
            changes: state.changes.clone(),
        }))
        .with_state(state);
    protect(router, limit, &csp)
}

/// The pages' content security policy. The holder's page calls every issuer at the URL the
/// deployment lists it with: the named issuers, or this server's own at its public URL (which
/// may be another origin than the one the page was opened at, say `localhost` for `127.0.0.1`).
fn content_security_policy(
    public_url: &str,
    issuers: &[undersigned_service::issuers::IssuerSpec],
) -> String {
    let mut connect = String::from("'self'");
    let urls = std::iter::once(public_url).chain(issuers.iter().map(|i| i.url.as_str()));
    for url in urls {
        // URLs `Config::validate` accepted: http(s), a host, no query or fragment.
        if let Ok(u) = url::Url::parse(url) {
            let origin = u.origin().ascii_serialization();
            if !connect.split(' ').any(|o| o == origin) {
                connect.push(' ');
                connect.push_str(&origin);
            }
        }
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src {connect}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An issuer on its own (`undersigned issuer serve`): its description, issuance, statement
/// log and health, with the same privacy and safety layers; no letters, no pages.
pub fn issuer_app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let router = api::issuer_only_routes()
        .merge(health::routes())
        .with_state(state);
    protect(router, limit, &content_security_policy("", &[]))
}

/// The security headers, `no-store` unless a route says otherwise, and the body limit.
fn protect(mut router: Router, limit: usize, csp: &str) -> Router {
    // Origins are ASCII, so this never falls back; if it did, the strictest policy applies.
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    router = router.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        csp,
    ));
    let headers: [(HeaderName, &'static str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
    ];
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(RequestBodyLimitLayer::new(limit))
}
