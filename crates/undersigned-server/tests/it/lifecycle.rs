//! The ledger and the feed read a letter's log through the one lifecycle the bundle verifier
//! reads it with: what the verifier would refuse, they refuse too, instead of dropping it.

use crate::harness::*;
use axum::http::StatusCode;
use undersigned_core::log::{leaf_hash, MerkleLog};
use undersigned_core::record::LogEntry;
use undersigned_service::Error;

/// The operator's database gains a second opened entry, with a checkpoint signed by the log
/// key: a process that reads the log afresh serves neither a tally nor a feed of it.
#[tokio::test]
async fn fail_a_stored_log_the_verifier_refuses_is_not_served() {
    let t = TestServer::sqlite(Tweaks::default()).await;
    let (_, _, id, letter) = t.open_letter("Lifecycle", default_policy()).await;
    let leaf = LogEntry::Opened { letter, at: 1 }.leaf_bytes();
    let mut tree = MerkleLog::from_leaf_hashes(t.state.store.leaf_hashes(&id).await.unwrap());
    tree.append_hash(leaf_hash(&leaf));
    let cp = t.state.ledger.checkpoint(&id, &tree, 2).unwrap();
    t.state
        .store
        .append_batch(&id, 1, &[(leaf_hash(&leaf), leaf)], &cp)
        .await
        .unwrap();

    let r = t
        .restarted(undersigned_server::clock::Clock::system())
        .await;
    match r.state.ledger.synced(&id).await {
        Err(Error::Internal(detail)) => assert!(
            detail.contains("breaks the letter's lifecycle")
                && detail.contains("entry 1")
                && detail.contains("a second opened entry"),
            "{detail}"
        ),
        other => panic!("a log with two opened entries was read: {other:?}"),
    }
    let (status, _) = r.get(&format!("/api/v1/letters/{id}/tally")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, body) = r.get_text(&format!("/letters/{id}/feed.atom")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.contains("<feed"), "{body}");
}
