//! Static files, embedded in the binary so `serve` works from any directory with nothing
//! downloaded at run time. Each has a fixed content type: browsers refuse module scripts and
//! streaming wasm compilation without the right one, and `nosniff` forbids guessing.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use undersigned_service::Error;

use crate::error::AppError;

/// (path under /static, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "js/common.js",
        JS,
        include_bytes!("../../static/js/common.js"),
    ),
    (
        "js/letter.js",
        JS,
        include_bytes!("../../static/js/letter.js"),
    ),
    (
        "js/verify.js",
        JS,
        include_bytes!("../../static/js/verify.js"),
    ),
    (
        "js/verify-worker.js",
        JS,
        include_bytes!("../../static/js/verify-worker.js"),
    ),
    (
        "js/organize.js",
        JS,
        include_bytes!("../../static/js/organize.js"),
    ),
    (
        "js/manage.js",
        JS,
        include_bytes!("../../static/js/manage.js"),
    ),
    (
        "js/letterform.js",
        JS,
        include_bytes!("../../static/js/letterform.js"),
    ),
    (
        "js/respond.js",
        JS,
        include_bytes!("../../static/js/respond.js"),
    ),
    (
        "wasm/undersigned_wasm.js",
        JS,
        include_bytes!("../../static/wasm/undersigned_wasm.js"),
    ),
    (
        "wasm/undersigned_wasm_bg.wasm",
        "application/wasm",
        include_bytes!("../../static/wasm/undersigned_wasm_bg.wasm"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The bytes of one embedded file (its path under /static), for the exported client.
pub fn bytes(path: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, _, b)| *b)
}

/// Serves one embedded file. A short cache: the files change only with a new binary, and a
/// stale script for a few minutes after an upgrade is harmless because the API is versioned.
pub async fn serve(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *bytes,
        )
            .into_response(),
        None => AppError(Error::NotFound("file")).into_response(),
    }
}
