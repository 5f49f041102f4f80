//! ETag, Cache-Control and 304 on the tally, letter (API and page) and bundle.

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;

/// GET with an optional `If-None-Match`: status, ETag, Cache-Control, body.
async fn get(
    t: &TestServer,
    path: &str,
    inm: Option<&str>,
) -> (StatusCode, String, String, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(tag) = inm {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    let res = t
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let h = |n| {
        res.headers()
            .get(n)
            .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, etag, cache) = (res.status(), h(header::ETAG), h(header::CACHE_CONTROL));
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, etag, cache, body)
}

async fn sign(t: &TestServer, id: &str, letter: &undersigned_core::letter::Letter, who: &str) {
    let c = t.credential(who, "analyst", AgeBand::From30To39).await;
    let e = t
        .entry(&c, letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    assert_eq!(t.submit(id, &e).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn etag_follows_batches_and_close_and_304_answers_a_match() {
    let t = TestServer::sqlite(Default::default()).await;
    let (handle, token, id, letter) = t.open_letter("Cached", default_policy()).await;
    sign(&t, &id, &letter, "a1@state.gov").await;
    t.publish_all(&id).await;
    let paths = [
        format!("/api/v1/letters/{id}/tally"),
        format!("/api/v1/letters/{id}"),
        format!("/api/v1/letters/{id}/bundle"),
        format!("/letters/{id}"),
    ];
    let mut first = Vec::new();
    for p in &paths {
        let (s, tag, cache, body) = get(&t, p, None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert!(tag.starts_with('"') && tag.len() > 20, "{p}: ETag {tag:?}");
        assert_eq!(cache, "public, no-cache", "{p}");
        // Same state, same tag: a 304 with no body, and the tag repeated.
        let (s, again, _, empty) = get(&t, p, Some(&tag)).await;
        assert_eq!(
            (s, again.as_str()),
            (StatusCode::NOT_MODIFIED, tag.as_str()),
            "{p}"
        );
        assert!(empty.is_empty(), "{p}");
        let (s, _, _, _) = get(&t, p, Some(&format!("W/{tag}, \"other\""))).await;
        assert_eq!(
            s,
            StatusCode::NOT_MODIFIED,
            "{p}: weak comparison in a list"
        );
        // Another tag: the full body, byte for byte the same as without the header.
        let (s, _, _, same) = get(&t, p, Some("\"stale\"")).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(same, body, "{p}");
        first.push((tag, body));
    }
    // A new batch changes the tally, the letter view, the bundle and the page.
    sign(&t, &id, &letter, "a2@state.gov").await;
    t.publish_all(&id).await;
    let mut second = Vec::new();
    for (p, (old, old_body)) in paths.iter().zip(&first) {
        let (s, tag, _, body) = get(&t, p, Some(old)).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "{p}: the old tag still matched after a batch"
        );
        assert_ne!(&tag, old, "{p}");
        assert_ne!(&body, old_body, "{p}");
        second.push(tag);
    }
    // Closing changes what the letter says of itself.
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &serde_json::json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for p in [&paths[1], &paths[3]] {
        let i = paths.iter().position(|q| q == p).unwrap();
        let (s, tag, _, _) = get(&t, p, Some(&second[i])).await;
        assert_eq!(s, StatusCode::OK, "{p}: the tag survived the close");
        assert_ne!(tag, second[i], "{p}");
    }
}

/// How many times a letter was looked up in the database: once per handler run.
async fn lookups(t: &TestServer) -> u64 {
    let (_, text) = t.get_text("/metrics").await;
    text.lines()
        .find(|l| l.contains("database_seconds_count") && l.contains("query=\"letter\""))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// A public read is answered again without running its handler while nothing was written
/// (matching tag or not); a write, a batch, a request with a token, or a second's age makes
/// it run again.
#[tokio::test]
async fn kept_reads_are_answered_until_something_changes() {
    let t = TestServer::sqlite(Default::default()).await;
    let (handle, token, id, letter) = t.open_letter("Kept", default_policy()).await;
    sign(&t, &id, &letter, "k1@state.gov").await;
    t.publish_all(&id).await;
    let tally = format!("/api/v1/letters/{id}/tally");
    let (_, tag, _, body) = get(&t, &tally, None).await;
    let before = lookups(&t).await;
    for _ in 0..5 {
        let (s, again, _, same) = get(&t, &tally, None).await;
        assert_eq!((s, &again, &same), (StatusCode::OK, &tag, &body));
        let (s, _, _, _) = get(&t, &tally, Some(&tag)).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);
    }
    assert_eq!(lookups(&t).await, before, "the handler ran for a kept read");
    // With a token: built every time, and never shared.
    let res = t
        .router
        .clone()
        .oneshot(
            Request::get(&tally)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(lookups(&t).await, before + 1);
    // A batch: built again, showing it.
    sign(&t, &id, &letter, "k2@state.gov").await;
    t.publish_all(&id).await;
    let (_, tag2, _, body2) = get(&t, &tally, Some(&tag)).await;
    assert_ne!(tag2, tag);
    assert_ne!(body2, body);
    // A write request of any kind (here a refused close without a token) counts.
    let after_batch = lookups(&t).await;
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &serde_json::json!({}),
            None,
        )
        .await;
    assert_ne!(s, StatusCode::OK);
    get(&t, &tally, None).await;
    assert!(
        lookups(&t).await > after_batch + 1,
        "a write left the kept read in place"
    );
    // Age alone: after a second, built again.
    let aged = lookups(&t).await;
    get(&t, &tally, None).await;
    assert_eq!(lookups(&t).await, aged);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    get(&t, &tally, None).await;
    assert_eq!(lookups(&t).await, aged + 1);
}

/// Issue 21: a kept read was keyed by the whole URL, so made-up query strings each made an
/// entry (4,095 of them grew the server from 25 to 386 MB). Keyed by the route and its path
/// parameters, every variant of one letter's tally and page is one entry each, answered from
/// the cache, and the cache's size is bounded in entries and bytes whatever is asked.
#[tokio::test]
async fn fail_query_variants_do_not_grow_the_read_cache() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, _, id, letter) = t.open_letter("Variants", default_policy()).await;
    sign(&t, &id, &letter, "v1@state.gov").await;
    t.publish_all(&id).await;
    let (s, tag, _, body) = get(&t, &format!("/api/v1/letters/{id}/tally"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _, _) = get(&t, &format!("/letters/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let kept = t.state.reads.size();
    assert_eq!(kept.entries, 2, "{kept:?}");
    let before = lookups(&t).await;
    for i in 0..4095u32 {
        let path = if i % 2 == 0 {
            format!("/api/v1/letters/{id}/tally?v={i}&pad={}", "x".repeat(200))
        } else {
            format!("/letters/{id}?utm_source={i}")
        };
        let (s, got, _, same) = get(&t, &path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        if i % 2 == 0 {
            assert_eq!((&got, &same), (&tag, &body), "{path}");
        }
        // A second may pass during the loop; then one build per route refreshes the entry.
    }
    // The same letter spelled with an escape in its path is the same handler input.
    let escaped = format!(
        "/api/v1/letters/%{:02X}{}/tally",
        id.as_bytes()[0],
        &id[1..]
    );
    let (s, _, _, same) = get(&t, &escaped, None).await;
    assert_eq!((s, same), (StatusCode::OK, body));
    let after = t.state.reads.size();
    assert_eq!(after.entries, 2, "{after:?}");
    assert!(after.bytes <= kept.bytes * 2, "{after:?} vs {kept:?}");
    assert!(
        lookups(&t).await - before < 2000,
        "the variants ran the handler instead of the kept answer"
    );
}
