//! The issuer log over HTTP on both backends: the signed statement is served with its
//! checkpoint, grows only when the published counts change, and the bundle carries it.

use crate::harness::*;
use axum::http::StatusCode;
use undersigned_core::bundle::{verify_bundle, Bundle};
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;
use undersigned_core::log::{verify_consistency, Checkpoint, LogVerifier};
use undersigned_core::pins::Pins;
use undersigned_core::statement::{
    check_issuer_log, issuer_log_origin, LoggedStatement, SignedStatement,
};

on_both!(issuer_statement_served_and_grows);

async fn logged(t: &TestServer) -> LoggedStatement {
    let (s, v) = t.get("/api/v1/issuer/statement").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

async fn issuer_log_verifier(t: &TestServer) -> LogVerifier {
    let (_, dep) = t.get("/api/v1/deployment").await;
    let key = Pins::parse_log_key(dep["log_public_key"].as_str().unwrap()).unwrap();
    let origin = issuer_log_origin(&t.state.config.host, &t.state.issuer.id());
    assert_eq!(dep["issuer_log_origin"], origin.as_str());
    LogVerifier::new(
        &origin,
        ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap(),
    )
    .unwrap()
}

async fn issuer_statement_served_and_grows(t: &TestServer) {
    let verifier = issuer_log_verifier(t).await;
    let host = t.state.config.host.clone();
    // The first statement exists before anything was issued.
    let first = logged(t).await;
    first.verify(&host, verifier.verifying_key()).unwrap();
    assert_eq!(first.index, 0);
    assert_eq!(first.signed.statement.sequence, 1);
    assert!(first.signed.statement.epochs.is_empty());
    assert_eq!(first.signed.statement.name, t.state.issuer.name);

    // Issuing alone appends nothing: statements go out on the publish schedule only.
    let creds = [
        t.credential("a@state.gov", "analyst", AgeBand::Under30)
            .await,
        t.credential("b@state.gov", "analyst", AgeBand::Under30)
            .await,
    ];
    assert_eq!(logged(t).await.index, 0);
    // Publishing with nothing changed appends nothing either.
    assert!(
        undersigned_server::issuer_log::publish(&t.state, undersigned_server::now())
            .await
            .unwrap()
    );
    assert!(
        !undersigned_server::issuer_log::publish(&t.state, undersigned_server::now())
            .await
            .unwrap()
    );
    let second = logged(t).await;
    second.verify(&host, verifier.verifying_key()).unwrap();
    assert_eq!(second.index, 1);
    let org = undersigned_core::ids::OrgId::parse("state.gov").unwrap();
    let epoch = t.state.epoch();
    assert_eq!(
        second.signed.statement.issued_at_most(&org, &epoch),
        u64::from(t.state.config.k) - 1
    );

    // The log's checkpoints are consistent, and every statement grows from the one before.
    let (s, old_note) = t.get_text("/api/v1/issuer/log/checkpoint?size=1").await;
    assert_eq!(s, StatusCode::OK);
    let old = Checkpoint::open(&old_note, &verifier, None).unwrap();
    let new = Checkpoint::open(&second.checkpoint, &verifier, None).unwrap();
    assert_eq!((old.size, new.size), (1, 2));
    let (s, proof) = t.get("/api/v1/issuer/log/proof/consistency?from=1").await;
    assert_eq!(s, StatusCode::OK, "{proof}");
    let view: undersigned_server::api::read::ConsistencyView =
        serde_json::from_value(proof).unwrap();
    verify_consistency(1, 2, &old.root, &new.root, &view.proof).unwrap();
    let (s, inc) = t
        .get("/api/v1/issuer/log/proof/inclusion?index=0&size=2")
        .await;
    assert_eq!(s, StatusCode::OK, "{inc}");
    let (s, all) = t.get("/api/v1/issuer/log/statements").await;
    assert_eq!(s, StatusCode::OK);
    let all: Vec<SignedStatement> = serde_json::from_value(all).unwrap();
    assert_eq!(all.len(), 2);
    check_issuer_log(
        &all.iter()
            .map(SignedStatement::leaf_bytes)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    // Well-formed, but beyond the log: refused by the log's size (422), as documented.
    let (s, _) = t.get("/api/v1/issuer/log/proof/inclusion?index=5").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A letter's bundle carries the latest statement; it verifies pinned to the deployment.
    let (_, _, id, letter) = t.open_letter("Statement", default_policy()).await;
    for c in &creds {
        let e = t
            .entry(c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await;
        assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    }
    t.publish_all(&id).await;
    let (_, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    let report = verify_bundle(bundle.as_bytes()).unwrap();
    assert_eq!(report.summary.signatures, 2);
    assert_eq!(report.issuers, vec![t.state.issuer.name.clone()]);
    let (_, dep) = t.get_text("/api/v1/deployment").await;
    let pins = Pins::from_deployment(dep.as_bytes()).unwrap();
    let b = Bundle::parse(bundle.as_bytes()).unwrap();
    assert!(b.verify_pinned(&pins).unwrap().keys.log_key_pinned);
    assert_eq!(b.issuers[0].statement.index, 1);
}
