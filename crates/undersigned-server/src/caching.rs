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
//!
//! A kept read is keyed by what its handler reads (the route and its path parameters, as the
//! router decoded them), never by the URL as sent: a query string or another spelling of the
//! path reaches the same handler with the same input, so it must not make a new entry (4,095
//! made-up query strings once grew the server by 360 MB). The cache is bounded in entries and
//! in bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use undersigned_service::changes::Changes;

/// How long a kept read may be answered again at most.
const FRESH: Duration = Duration::from_secs(1);
/// Bodies above this are not kept (a bundle); their tags still are, for 304s.
const MAX_KEPT_BODY: usize = 256 * 1024;
/// Kept reads at most (only existing letters' reads are kept: this bounds a deployment with
/// very many letters).
const MAX_KEPT: usize = 4096;
/// Bytes of kept bodies and headers at most, whatever the entries' sizes.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
struct Kept {
    generation: u64,
    /// When the handler that built it started: a slower, older build never replaces it.
    started: Instant,
    tag: HeaderValue,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl Kept {
    /// What this entry holds, roughly: its body, headers and key.
    fn bytes(&self, key: &str) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        key.len() + self.tag.len() + headers + self.body.as_ref().map_or(0, Bytes::len)
    }
}

/// The kept public reads, by route and path parameters.
#[derive(Debug, Default)]
pub struct ReadCache {
    kept: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Kept>,
    bytes: usize,
}

/// What the caching layers need, put in every request by the app: the kept reads, and the
/// count of this process's writes that decides whether a kept read is still current. Only
/// these two, not the whole state, so the layers know nothing else of the app.
#[derive(Debug, Clone)]
pub struct Reads {
    pub cache: Arc<ReadCache>,
    pub changes: Changes,
}

/// How much the read cache holds: entries and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSize {
    pub entries: usize,
    pub bytes: usize,
}

/// Counts every request that may write (anything but GET, HEAD and OPTIONS) as a change once
/// it is answered. Layered over the whole app.
pub async fn count_writes(req: Request, next: Next) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let state = req.extensions().get::<Reads>().cloned();
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
    let state = req.extensions().get::<Reads>().cloned();
    let (key, req) = if keep_it {
        read_key(req).await
    } else {
        (String::new(), req)
    };
    let keep = match &state {
        Some(s) if keep_it && !private && req.method() == Method::GET => {
            Some((s, s.changes.current()))
        }
        _ => None,
    };
    if let Some((s, generation)) = &keep {
        if let Some(res) = s
            .cache
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
        s.cache.keep(
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

/// What a kept read's handler reads: its route and its path parameters as the router decoded
/// them. The query string is not part of it (the kept handlers read none), nor the path's
/// spelling (`%61` for `a`). Without a matched route the key is the path alone.
async fn read_key(req: Request) -> (String, Request) {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    let mut key = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
    if let Ok(params) = axum::extract::RawPathParams::from_request_parts(&mut parts, &()).await {
        for (name, value) in &params {
            key.push('\n');
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
    }
    (key, Request::from_parts(parts, body))
}

impl ReadCache {
    /// How much is kept now.
    pub fn size(&self) -> CacheSize {
        self.kept.lock().map_or(
            CacheSize {
                entries: 0,
                bytes: 0,
            },
            |k| CacheSize {
                entries: k.map.len(),
                bytes: k.bytes,
            },
        )
    }

    /// The kept answer to a read, if it is still current.
    fn answer(
        &self,
        key: &str,
        generation: u64,
        if_none_match: Option<&HeaderValue>,
        cache: &HeaderValue,
    ) -> Option<Response> {
        let kept = self.kept.lock().ok()?;
        let k = kept.map.get(key)?;
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
        if kept
            .map
            .get(&key)
            .is_some_and(|old| old.started > new.started)
        {
            return;
        }
        let size = new.bytes(&key);
        if size > MAX_KEPT_BYTES {
            return;
        }
        if let Some(old) = kept.map.remove(&key) {
            kept.bytes = kept.bytes.saturating_sub(old.bytes(&key));
        }
        if kept.map.len() >= MAX_KEPT || kept.bytes + size > MAX_KEPT_BYTES {
            // Stale entries go first; if that frees too little, everything (a kept read is
            // at most `FRESH` old, so nothing of value is lost for long).
            kept.map.retain(|_, k| k.started.elapsed() <= FRESH);
            kept.bytes = kept.map.iter().map(|(key, k)| k.bytes(key)).sum();
            if kept.map.len() >= MAX_KEPT || kept.bytes + size > MAX_KEPT_BYTES {
                kept.map.clear();
                kept.bytes = 0;
            }
        }
        kept.bytes += size;
        kept.map.insert(key, new);
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
