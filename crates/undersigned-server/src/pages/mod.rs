//! The web pages: server-rendered HTML (maud, escaped by default) and the static files the
//! browser holder needs. Every secret operation runs in the browser (static JS + the committed
//! wasm module); the server renders only what anyone may read.
//!
//! The app's CSP forbids inline scripts and styles, so pages carry data for their scripts in
//! `data-*` attributes and load `/static/js/*.js` modules only.

mod assets;
mod chart;
mod letter;
mod markdown;
mod simple;

pub use markdown::render_markdown;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::error::AppError;
use crate::state::AppState;

/// The page routes. Merged into `app()` next to the API; no fallback of their own, the API's
/// fallback answers unknown paths.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(letter::home))
        .route("/letters/{letter}", get(letter::letter_page))
        .route("/letters/{letter}/manage", get(simple::manage))
        .route("/letters/{letter}/respond", get(simple::respond))
        .route("/organize", get(simple::organize))
        .route("/verify", get(simple::verify))
        .route("/about/privacy", get(simple::privacy))
        .route("/dev/outbox", get(simple::dev_outbox))
        .route("/static/{*path}", get(assets::serve))
}

/// An error shown as a page rather than JSON: people land here from links, not from code.
#[derive(Debug)]
pub struct PageError(AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<undersigned_store::StoreError> for PageError {
    fn from(e: undersigned_store::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 {
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            AppError::Internal(detail) => {
                // Logged once here; the visitor sees no detail.
                tracing::error!(%detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong on the server".to_owned(),
                )
            }
            other => (StatusCode::BAD_REQUEST, other.to_string()),
        };
        let body = layout(
            "Not available",
            html! { h1 { "Not available" } p { (message) } p { a href="/" { "Back to the letters" } } },
            None,
        );
        (status, body).into_response()
    }
}

pub type PageResult = Result<Html<String>, PageError>;

/// The frame of every page. `script` is a module under `/static/js/`, if the page needs one.
pub fn layout(title: &str, main: Markup, script: Option<&str>) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — undersigned" }
                link rel="stylesheet" href="/static/app.css";
                link rel="icon" href="data:,";
                @if let Some(src) = script {
                    script type="module" src=(format!("/static/js/{src}")) {}
                }
            }
            body {
                header.site {
                    a.brand href="/" { "undersigned" }
                    nav {
                        a href="/" { "Letters" }
                        a href="/verify" { "Verify" }
                        a href="/organize" { "Organize" }
                        a href="/about/privacy" { "Privacy" }
                    }
                }
                main { (main) }
                footer.site {
                    p {
                        "Anonymous, verifiable collective letters. "
                        a href="/about/privacy" { "What is protected and what is not." }
                    }
                }
            }
        }
    };
    Html(page.into_string())
}

/// A unix time as a calendar date (UTC), as the CLI prints it.
pub fn date(unix: u64) -> String {
    undersigned_core::encoding::date(unix)
}
