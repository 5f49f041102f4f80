//! Letters' logs as C2SP tlog-tiles, served at `/letters/{id}/checkpoint`, `/letters/{id}/tile/…`
//! and `/letters/{id}/bundle-context.json` (the leader's static copy is written by
//! `undersigned_service::tiles`).
//!
//! The prefix is the checkpoint's origin (`<host>/letters/<id>`), as the spec recommends.
//! Only what a published checkpoint covers is served: a tile beyond it is 404, so a reader
//! can't see entries before the witnesses did. Tiles are immutable and cached for a year; the
//! checkpoint and the context change, and are cached for seconds.

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use undersigned_core::bundle::CONTEXT_FILE;
use undersigned_core::log::Tile;
use undersigned_service::bundle::build_context;
use undersigned_service::tiles::{published, read_tile};
use undersigned_service::Error;
use undersigned_store::LetterRow;

use crate::api::read::readable;
use crate::error::AppResult;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const MUTABLE: &str = "public, max-age=5";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/letters/{letter}/checkpoint", get(checkpoint))
        .route(&format!("/letters/{{letter}}/{CONTEXT_FILE}"), get(context))
        .route("/letters/{letter}/tile/{*path}", get(tile))
        // A signer's client from anywhere reads the log the way every reader does.
        .layer(crate::api::cors())
}

/// A tiled log is read by id: the prefix is the checkpoint's origin, not a handle.
async fn readable_by_id(
    s: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> AppResult<(LetterRow, String)> {
    let (row, id) = readable(s, key, headers).await?;
    if id != key {
        return Err(Error::NotFound("letter").into());
    }
    Ok((row, id))
}

/// Public letters' tiles may sit in any cache and be read from any origin (a verify page
/// elsewhere); a recipients-only letter's only in the reader's own.
fn respond(
    row: &LetterRow,
    cache: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if row.public {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    res
}

async fn checkpoint(
    State(s): State<AppState>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (row, id) = readable_by_id(&s, &key, &headers).await?;
    let cp = published(&s, &id).await?;
    Ok(respond(
        &row,
        MUTABLE,
        "text/plain; charset=utf-8",
        cp.note.into_bytes(),
    ))
}

async fn context(
    State(s): State<AppState>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (row, id) = readable_by_id(&s, &key, &headers).await?;
    let context = build_context(&s, &row, &id).await?;
    Ok(respond(
        &row,
        MUTABLE,
        "application/json",
        context.to_json().into_bytes(),
    ))
}

async fn tile(
    State(s): State<AppState>,
    UrlPath((key, path)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let tile = Tile::parse(&path).map_err(|_| Error::NotFound("tile"))?;
    let (row, id) = readable_by_id(&s, &key, &headers).await?;
    let size = published(&s, &id).await?.size;
    let body = read_tile(&s, &id, &tile, size).await?;
    Ok(respond(&row, IMMUTABLE, "application/octet-stream", body))
}
