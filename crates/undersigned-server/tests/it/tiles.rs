//! The tile routes: a letter's log as C2SP tlog-tiles, under its checkpoint origin. Only what
//! a published checkpoint covers is served, one spelling per tile, immutable caching for tiles
//! only; a recipients-only letter's tiles need its link and are never shared-cached.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use undersigned_core::bundle::{Bundle, BundleContext};
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::log::tiles::{entry_bundle, parse_entry_bundle};
use undersigned_core::log::{leaf_hash, Checkpoint, LogVerifier, MerkleLog};
use undersigned_core::record::LogEntry;

async fn get(t: &TestServer, path: &str, token: Option<&str>) -> (StatusCode, Vec<u8>, String) {
    let (s, b, h) = t.call(Method::GET, path, None, token, None).await;
    let cache = h
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (s, b, cache)
}

#[tokio::test]
async fn tiles_serve_exactly_the_published_log() {
    let t = TestServer::sqlite(Default::default()).await;
    let (handle, _, id, letter) = t.open_letter("Tiled", default_policy()).await;
    let prefix = format!("/letters/{id}");
    // Opening published the opened entry: a log of one.
    let (s, _, _) = get(&t, &format!("{prefix}/checkpoint"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = get(&t, &format!("{prefix}/tile/entries/000.p/1"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = get(&t, &format!("{prefix}/tile/entries/000.p/2"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for who in ["t1@state.gov", "t2@state.gov", "t3@state.gov"] {
        let c = t.credential(who, "analyst", AgeBand::From30To39).await;
        let e = t
            .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await;
        assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    }
    let size = t.publish_all(&id).await;
    assert_eq!(size, 4);

    let (s, note, cache) = get(&t, &format!("{prefix}/checkpoint"), None).await;
    assert_eq!((s, cache.as_str()), (StatusCode::OK, "public, max-age=5"));
    let note = String::from_utf8(note).unwrap();
    let (_, ctx, _) = get(&t, &format!("{prefix}/bundle-context.json"), None).await;
    let ctx = BundleContext::parse(&ctx).unwrap();
    let verifier = LogVerifier::from_vkey(ctx.log_public_key.as_deref().unwrap()).unwrap();
    let cp = Checkpoint::open(
        &note,
        &verifier,
        Some(&format!("undersigned.test/letters/{id}")),
    )
    .unwrap();
    assert_eq!(cp.size, 4);

    // The entry bundle and the level-0 tile agree with each other and with the checkpoint.
    let (s, entries, cache) = get(&t, &format!("{prefix}/tile/entries/000.p/4"), None).await;
    assert_eq!(
        (s, cache.as_str()),
        (StatusCode::OK, "public, max-age=31536000, immutable")
    );
    let leaves = parse_entry_bundle(&entries, 4).unwrap();
    assert!(matches!(
        LogEntry::from_leaf_bytes(leaves[0]),
        Some(LogEntry::Opened { .. })
    ));
    let (s, hashes, _) = get(&t, &format!("{prefix}/tile/0/000.p/4"), None).await;
    assert_eq!(s, StatusCode::OK);
    let expected: Vec<u8> = leaves.iter().flat_map(|l| leaf_hash(l)).collect();
    assert_eq!(hashes, expected);
    let mut tree = MerkleLog::new();
    for l in &leaves {
        tree.append(l);
    }
    assert_eq!(tree.root(), cp.root);
    // A narrower partial tile of a size that had no checkpoint is the same prefix: tiles
    // never change once their content exists.
    let (s, two, _) = get(&t, &format!("{prefix}/tile/entries/000.p/2"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(two, entry_bundle(&leaves[..2]).unwrap());
    // The bundle rebuilt from tiles verifies as the bundle does.
    let from_tiles = Bundle::from_tiles(ctx, &leaves, note).unwrap();
    let (_, bundle) = t.get(&format!("/api/v1/letters/{id}/bundle")).await;
    let bundle: Bundle = serde_json::from_value(bundle).unwrap();
    assert_eq!(from_tiles, bundle);
    assert_eq!(from_tiles.verify().unwrap(), bundle.verify().unwrap());

    // Not served: beyond the published size, non-canonical spellings, a handle for a prefix.
    for bad in [
        format!("{prefix}/tile/entries/000.p/5"),
        format!("{prefix}/tile/entries/000"),
        format!("{prefix}/tile/0/000"),
        format!("{prefix}/tile/1/000.p/1"),
        format!("{prefix}/tile/0/00.p/4"),
        format!("{prefix}/tile/0/000.p/04"),
        format!("{prefix}/tile/0/x000/000.p/4"),
        format!("{prefix}/tile/64/000"),
        format!("{prefix}/tile/entries/999999999999999999999"),
        format!("/letters/{handle}/checkpoint"),
        format!("/letters/{handle}/tile/0/000.p/4"),
    ] {
        assert_eq!(get(&t, &bad, None).await.0, StatusCode::NOT_FOUND, "{bad}");
    }
    // A pooled entry is not in any tile until its batch is published.
    let c = t
        .credential("t4@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let e = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        get(&t, &format!("{prefix}/tile/entries/000.p/5"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    t.publish_all(&id).await;
    assert_eq!(
        get(&t, &format!("{prefix}/tile/entries/000.p/5"), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn fail_recipients_only_tiles_need_the_link_and_stay_private() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, token, id) = t
        .open_recipients_only("Private tiles", "Secret body 9d1e")
        .await;
    let (token, id) = (token.as_str(), id.as_str());
    t.publish_all(id).await;
    let prefix = format!("/letters/{id}");
    for path in [
        format!("{prefix}/checkpoint"),
        format!("{prefix}/bundle-context.json"),
        format!("{prefix}/tile/entries/000.p/1"),
        format!("{prefix}/tile/0/000.p/1"),
    ] {
        let (s, body, _) = get(&t, &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        assert!(!String::from_utf8_lossy(&body).contains("Secret body 9d1e"));
        let (s, _, cache) = get(&t, &path, Some(token)).await;
        assert_eq!(
            (s, cache.as_str()),
            (StatusCode::OK, "private, no-cache"),
            "{path}"
        );
    }
}
