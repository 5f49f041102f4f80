//! `ETag` and `Cache-Control` for the reads that many people repeat (tally, letter, bundle,
//! letter page), with `If-None-Match` answered by 304.
//!
//! The tag is a hash of the response body itself, not of the state it was built from: it
//! changes exactly when the body does (a new batch, a close, a new cosignature, a witness
//! lag), so no input the body depends on can be forgotten. What a 304 saves is the transfer
//! and the client's parsing, not the server's work of building the body.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Wraps a read handler (`get(h).layer(axum::middleware::from_fn(caching::etag))`).
pub async fn etag(req: Request, next: Next) -> Response {
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    // A read with a token (a private letter) may be kept by the reader's browser, never by a
    // shared cache.
    let private = req.headers().contains_key(header::AUTHORIZATION);
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let digest = Sha256::digest(&bytes);
    let tag = format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or(&digest)));
    let Ok(tag_value) = HeaderValue::from_str(&tag) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cache = HeaderValue::from_static(if private {
        "private, no-cache"
    } else {
        "public, no-cache"
    });
    if if_none_match.is_some_and(|v| matches(&v, &tag)) {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, tag_value);
        headers.insert(header::CACHE_CONTROL, cache);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    parts.headers.insert(header::ETAG, tag_value);
    parts.headers.insert(header::CACHE_CONTROL, cache);
    Response::from_parts(parts, Body::from(bytes))
}

/// `If-None-Match` uses the weak comparison (RFC 9110 13.1.2): `W/` is ignored, `*` matches.
fn matches(header: &HeaderValue, tag: &str) -> bool {
    let Ok(list) = header.to_str() else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}
