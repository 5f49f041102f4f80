//! `ETag` and `Cache-Control` for the reads that many people repeat (tally, letter, bundle,
//! letter page), with `If-None-Match` answered by 304, and the short-lived cache of what those
//! reads built.
//!
//! The tag is a hash of the response body itself, not of the state it was built from: it
//! changes exactly when the body does (a new batch, a close, a new cosignature, a witness
//! lag), so no input the body depends on can be forgotten.
//!
//! A public tally's or letter page's tag and body are kept and answered again, without running
//! the handler, while nothing was written since (`Changes`: every write path of this process
//! counts) and for at most `FRESH`, so what another process wrote is seen within that time.
//! A request with a token (a private letter) is never kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// How long a kept read may be answered again at most.
const FRESH: Duration = Duration::from_secs(1);
/// Bodies above this are not kept (a bundle); their tags still are, for 304s.
const MAX_KEPT_BODY: usize = 256 * 1024;
/// Kept reads at most; beyond, all are forgotten (only existing letters' reads are kept, so
/// this bounds a deployment with very many letters, not an attacker's made-up paths).
const MAX_KEPT: usize = 4096;

/// Counts this process's writes: a kept read is answered again only while the count is the
/// one it was built under.
#[derive(Debug, Clone, Default)]
pub struct Changes(Arc<AtomicU64>);

impl Changes {
    /// Called after anything a read shows may have changed.
    pub fn changed(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct Kept {
    generation: u64,
    /// When the handler that built it started: a slower, older build never replaces it.
    started: Instant,
    tag: HeaderValue,
    headers: HeaderMap,
    body: Option<Bytes>,
}

/// The kept public reads, by path and query.
#[derive(Debug, Default)]
pub struct ReadCache {
    kept: Mutex<HashMap<String, Kept>>,
}

/// Counts every request that may write (anything but GET, HEAD and OPTIONS) as a change once
/// it is answered. Layered over the whole app.
pub async fn count_writes(req: Request, next: Next) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let state = req.extensions().get::<AppState>().cloned();
    let res = next.run(req).await;
    if let (true, Some(s)) = (writes, state) {
        s.changes.changed();
    }
    res
}

/// Wraps a read handler (`get(h).layer(axum::middleware::from_fn(caching::etag))`): the ETag
/// and 304, the handler runs every time.
pub async fn etag(req: Request, next: Next) -> Response {
    tagged(req, next, false).await
}

/// `etag`, and the answer kept for the next reads (`ReadCache`). For the reads built from the
/// process's own state (tally and letter page, from the ledger's tree). The bundle is read
/// from the database on every request instead, so what is stored is what is served even when
/// the database was changed behind this process's back.
pub async fn etag_kept(req: Request, next: Next) -> Response {
    tagged(req, next, true).await
}

async fn tagged(req: Request, next: Next, keep_it: bool) -> Response {
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    // A read with a token (a private letter) may be kept by the reader's browser, never by a
    // shared cache, nor by ours.
    let private = req.headers().contains_key(header::AUTHORIZATION);
    let cache = HeaderValue::from_static(if private {
        "private, no-cache"
    } else {
        "public, no-cache"
    });
    let state = req.extensions().get::<AppState>().cloned();
    let key = req.uri().to_string();
    let keep = match &state {
        Some(s) if keep_it && !private && req.method() == Method::GET => {
            Some((s, s.changes.current()))
        }
        _ => None,
    };
    if let Some((s, generation)) = &keep {
        if let Some(res) = s
            .reads
            .answer(&key, *generation, if_none_match.as_ref(), &cache)
        {
            return res;
        }
    }
    let started = Instant::now();
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
    if let Some((s, generation)) = keep {
        s.reads.keep(
            key,
            Kept {
                generation,
                started,
                tag: tag_value.clone(),
                headers: parts.headers.clone(),
                body: (bytes.len() <= MAX_KEPT_BODY).then(|| bytes.clone()),
            },
        );
    }
    if if_none_match.is_some_and(|v| matches(&v, &tag)) {
        return not_modified(tag_value, cache);
    }
    parts.headers.insert(header::ETAG, tag_value);
    parts.headers.insert(header::CACHE_CONTROL, cache);
    Response::from_parts(parts, Body::from(bytes))
}

impl ReadCache {
    /// The kept answer to a read, if it is still current.
    fn answer(
        &self,
        key: &str,
        generation: u64,
        if_none_match: Option<&HeaderValue>,
        cache: &HeaderValue,
    ) -> Option<Response> {
        let kept = self.kept.lock().ok()?;
        let k = kept.get(key)?;
        if k.generation != generation || k.started.elapsed() > FRESH {
            return None;
        }
        let tag = k.tag.to_str().ok()?;
        if if_none_match.is_some_and(|v| matches(v, tag)) {
            return Some(not_modified(k.tag.clone(), cache.clone()));
        }
        let body = k.body.clone()?;
        let mut res = Response::new(Body::from(body));
        *res.headers_mut() = k.headers.clone();
        res.headers_mut().insert(header::ETAG, k.tag.clone());
        res.headers_mut()
            .insert(header::CACHE_CONTROL, cache.clone());
        Some(res)
    }

    fn keep(&self, key: String, new: Kept) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if kept.get(&key).is_some_and(|old| old.started > new.started) {
            return;
        }
        if kept.len() >= MAX_KEPT && !kept.contains_key(&key) {
            kept.clear();
        }
        kept.insert(key, new);
    }
}

fn not_modified(tag: HeaderValue, cache: HeaderValue) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, tag);
    headers.insert(header::CACHE_CONTROL, cache);
    (StatusCode::NOT_MODIFIED, headers).into_response()
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
