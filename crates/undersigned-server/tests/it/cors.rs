//! A signer's client runs from anywhere (issue 24): served by the deployment, by another static
//! host, or opened from disk (`Origin: null`). The routes it uses answer CORS without
//! credentials mode; the organizer's and the recipients' routes do not.

use crate::harness::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;

/// The answer's status and its `access-control-allow-*` headers, for `origin`.
async fn ask(
    t: &TestServer,
    method: Method,
    path: &str,
    origin: &str,
    preflight_for: Option<&str>,
) -> (StatusCode, Vec<(String, String)>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("origin", origin);
    if let Some(m) = preflight_for {
        req = req.header("access-control-request-method", m).header(
            "access-control-request-headers",
            "authorization,content-type",
        );
    }
    let resp = t
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cors = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("access-control-"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    (resp.status(), cors)
}

fn allows_any(cors: &[(String, String)]) -> bool {
    cors.iter()
        .any(|(k, v)| k == "access-control-allow-origin" && v == "*")
}

#[tokio::test]
async fn the_signers_routes_answer_any_origin_without_credentials() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, _, id, letter) = t.open_letter("From anywhere", default_policy()).await;
    let c = t
        .credential("far@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let e = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    assert_eq!(t.submit(&id, &e).await.0, StatusCode::ACCEPTED);
    t.publish_all(&id).await;
    for origin in ["null", "https://mirror.example"] {
        for path in [
            "/api/v1/deployment".to_owned(),
            format!("/api/v1/letters/{id}"),
            format!("/api/v1/letters/{id}/tally"),
            format!("/api/v1/letters/{id}/checkpoint"),
            format!("/api/v1/letters/{id}/bundle"),
            format!("/letters/{id}/checkpoint"),
            format!("/letters/{id}/tile/0/000.p/2"),
            "/api/v1/issuance/epochs".to_owned(),
        ] {
            let (s, cors) = ask(&t, Method::GET, &path, origin, None).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            assert!(allows_any(&cors), "{origin} {path}: {cors:?}");
            // No credentials mode: cookies are never invited.
            assert!(
                !cors
                    .iter()
                    .any(|(k, _)| k == "access-control-allow-credentials"),
                "{path}: {cors:?}"
            );
        }
        // Submitting (JSON, with a recipients-only letter's bearer token) is preflighted.
        let (s, cors) = ask(
            &t,
            Method::OPTIONS,
            &format!("/api/v1/letters/{id}/entries"),
            origin,
            Some("POST"),
        )
        .await;
        assert!(s.is_success(), "{s}");
        assert!(allows_any(&cors), "{cors:?}");
        let headers = cors
            .iter()
            .find(|(k, _)| k == "access-control-allow-headers")
            .map(|(_, v)| v.to_lowercase())
            .unwrap_or_default();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "{headers}"
        );
    }
    // The organizer's and the recipients' routes stay same-origin.
    for path in [
        format!("/api/v1/letters/{id}/deliveries"),
        format!("/api/v1/letters/{id}/respond"),
        "/api/v1/letters".to_owned(),
    ] {
        let (_, cors) = ask(&t, Method::GET, &path, "null", None).await;
        assert!(!allows_any(&cors), "{path}: {cors:?}");
    }
}
