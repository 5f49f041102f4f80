//! The web pages: server-rendered HTML (maud, escaped by default) and the static files the
//! browser holder needs. Every secret operation runs in the browser (static JS + the committed
//! wasm module); the server renders only what anyone may read.
//!
//! The app's CSP forbids inline scripts and styles, so pages carry data for their scripts in
//! `data-*` attributes and load `/static/js/*.js` modules only.

mod assets;
mod chart;
pub mod client;
mod feed;
mod letter;

mod simple;

pub use crate::markdown::{render_markdown, render_markdown_under};
pub use feed::rfc3339;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use undersigned_service::Error;

use crate::error::AppError;
use crate::state::AppState;

/// The page routes. Merged into `app()` next to the API; no fallback of their own, the API's
/// fallback answers unknown paths.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(letter::home))
        .route(
            "/letters/{letter}",
            get(letter::letter_page).layer(axum::middleware::from_fn(crate::caching::etag_kept)),
        )
        .route("/letters/{letter}/manage", get(simple::manage))
        .route("/letters/{letter}/respond", get(simple::respond))
        .route("/letters/{letter}/feed.atom", get(feed::feed))
        .route("/organize", get(simple::organize))
        .route("/verify", get(simple::verify))
        .route("/about/privacy", get(simple::privacy))
        .route("/dev/outbox", get(simple::dev_outbox))
        .route("/static/{*path}", get(assets::serve))
}

/// An error shown as a page rather than JSON: people land here from links, not from code.
#[derive(Debug)]
pub struct PageError(AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self.0 .0 {
            Error::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            Error::Internal(detail) => {
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
    layout_with_feed(title, main, script, None)
}

/// The frame of a page that has an Atom feed, announced in the head for feed readers.
pub fn layout_with_feed(
    title: &str,
    main: Markup,
    script: Option<&str>,
    feed: Option<String>,
) -> Html<String> {
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
                @if let Some(href) = &feed {
                    link rel="alternate" type="application/atom+xml" title="This letter's feed" href=(href);
                }
                @if let Some(src) = script {
                    script type="module" src=(format!("/static/js/{src}")) {}
                }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.site {
                    a.brand href="/" { "undersigned" }
                    nav {
                        a href="/" { "Letters" }
                        a href="/verify" { "Verify" }
                        a href="/organize" { "Organize" }
                        a href="/about/privacy" { "Privacy" }
                    }
                }
                main #main { (main) }
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

/// A credential period in plain words: `2026-Q4` is "Oct–Dec 2026"; anything else as it is.
pub fn epoch_words(epoch: &str) -> String {
    let months = match epoch.get(4..) {
        Some("-Q1") => "Jan–Mar",
        Some("-Q2") => "Apr–Jun",
        Some("-Q3") => "Jul–Sep",
        Some("-Q4") => "Oct–Dec",
        _ => return epoch.to_owned(),
    };
    format!("{months} {}", epoch.get(..4).unwrap_or(epoch))
}

/// A QR code of `url` as an SVG document, for the printed letter. Drawn by the `qrcode` crate;
/// a URL too long for any QR version draws nothing (the URL is printed beside it anyway).
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build()
            // Only the <svg> element: the XML declaration has no place inside HTML.
            .split_once("<svg")
            .map(|(_, rest)| {
                format!("<svg role=\"img\" aria-label=\"QR code of the bundle link\"{rest}")
            })
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A unix time as a date and minute in UTC, for people ("2026-11-24 19:40 UTC").
pub fn datetime_utc(unix: u64) -> String {
    let secs = unix % 86_400;
    format!(
        "{} {:02}:{:02} UTC",
        date(unix),
        secs / 3600,
        secs % 3600 / 60
    )
}
