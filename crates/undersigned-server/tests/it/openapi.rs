//! The OpenAPI document describes exactly the routes the server answers.

use crate::harness::TestServer;
use axum::http::{Method, StatusCode};
use std::collections::BTreeSet;
use undersigned_server::api::ROUTES;

fn documented() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["openapi"].as_str().unwrap().split('.').next(),
        Some("3")
    );
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
                let op = &item[method];
                assert!(
                    op.get("summary").is_some(),
                    "{method} {path} has no summary"
                );
                assert!(
                    op.get("responses").is_some(),
                    "{method} {path} has no responses"
                );
            }
        }
    }
    out
}

#[test]
fn openapi_documents_every_route_and_nothing_else() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let docs = documented();
    let missing: Vec<_> = routes.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented: {missing:?}; documented but not routed: {extra:?}"
    );
}

#[tokio::test]
async fn every_listed_route_is_really_routed() {
    let t = TestServer::sqlite(Default::default()).await;
    for (method, path) in ROUTES {
        let path = path.replace("{letter}", "no-such-letter");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let (s, body, _) = t
            .call(
                m,
                &path,
                Some(axum::body::Body::from("{}")),
                None,
                Some("application/json"),
            )
            .await;
        let text = String::from_utf8_lossy(&body);
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !text.contains("route not found"),
            "{method} {path} is not routed"
        );
    }
}
