//! The web pages through `app()`: every page answers HTML under the CSP, the letter page draws
//! the chart and `<k` cells, static files carry their content types, Markdown is rendered
//! inert, and a recipients-only letter's page leaks nothing without its link.

use crate::harness::*;
use axum::http::{header, HeaderMap, Method, StatusCode};
use serde_json::json;
use undersigned_core::entry::{Action, DisclosureChoice};
use undersigned_core::ids::AgeBand;

async fn page(t: &TestServer, path: &str) -> (StatusCode, String, HeaderMap) {
    let (s, b, h) = t.call(Method::GET, path, None, None, None).await;
    (s, String::from_utf8(b).unwrap(), h)
}

fn assert_html_with_csp(path: &str, s: StatusCode, h: &HeaderMap) {
    assert_eq!(s, StatusCode::OK, "{path}");
    let ct = h[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{path}: {ct}");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{path}"
    );
}

/// A public letter with two signers in two organizations, published.
async fn signed_letter(t: &TestServer) -> (String, String) {
    let (handle, _token, id, letter) = t.open_letter("Pages letter", default_policy()).await;
    for email in ["a@state.gov", "b@usaid.gov"] {
        let c = t.credential(email, "analyst", AgeBand::From30To39).await;
        let e = t
            .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
            .await;
        let (s, v) = t.submit(&id, &e).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    t.publish_all(&id).await;
    (handle, id)
}

#[tokio::test]
async fn every_page_is_html_under_the_csp() {
    let t = TestServer::sqlite(Default::default()).await;
    let (handle, id) = signed_letter(&t).await;
    for path in [
        "/".to_owned(),
        format!("/letters/{id}"),
        format!("/letters/{handle}"),
        format!("/letters/{handle}/manage"),
        format!("/letters/{id}/respond"),
        "/organize".into(),
        "/verify".into(),
        "/about/privacy".into(),
        "/dev/outbox".into(),
    ] {
        let (s, body, h) = page(&t, &path).await;
        assert_html_with_csp(&path, s, &h);
        // No inline script or style: the CSP would block them, so none may be relied on.
        assert!(!body.contains("<script>"), "{path} has an inline script");
        assert!(!body.contains("style="), "{path} has an inline style");
        assert!(!body.contains("<style"), "{path} has a style element");
    }
    let (s, body, _) = page(&t, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Pages letter"),
        "the home page lists the letter"
    );
    assert!(body.contains("<strong>2</strong> signatures"));
}

#[tokio::test]
async fn letter_page_draws_the_chart_and_small_cells() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id) = signed_letter(&t).await;
    let (s, body, _) = page(&t, &format!("/letters/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<svg class=\"chart\""), "inline SVG chart");
    assert!(
        body.contains("Department of State"),
        "org names label the bars"
    );
    // One signer per org with k=3: both org cells are withheld.
    assert!(
        body.contains("<td class=\"num below-k\">&lt;3</td>"),
        "{body}"
    );
    assert!(body.contains("data-signatures=\"2\""));
    assert!(
        body.contains("id=\"cp-size\""),
        "the last checkpoint is shown"
    );
    assert!(body.contains("/static/js/letter.js"));
    assert!(
        body.contains("id=\"sign\""),
        "an open letter has the signing panel"
    );
}

#[tokio::test]
async fn static_files_have_their_content_types() {
    let t = TestServer::sqlite(Default::default()).await;
    for (path, want) in [
        ("/static/app.css", "text/css"),
        ("/static/js/letter.js", "text/javascript"),
        ("/static/js/common.js", "text/javascript"),
        ("/static/js/verify.js", "text/javascript"),
        ("/static/wasm/undersigned_wasm.js", "text/javascript"),
        ("/static/wasm/undersigned_wasm_bg.wasm", "application/wasm"),
    ] {
        let (s, body, h) = t.call(Method::GET, path, None, None, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(!body.is_empty(), "{path}");
        let ct = h[header::CONTENT_TYPE].to_str().unwrap();
        assert!(ct.starts_with(want), "{path}: {ct}");
        assert!(h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age"));
    }
    let (s, _, _) = t
        .call(Method::GET, "/static/../Cargo.toml", None, None, None)
        .await;
    assert_ne!(s, StatusCode::OK);
    let (s, _, _) = t
        .call(Method::GET, "/static/nope.js", None, None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fail_markdown_script_is_inert() {
    let t = TestServer::sqlite(Default::default()).await;
    let body = "Hello **there**.\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) <a href=\"#\" onclick=\"alert(4)\">x</a>\n";
    let (s, v) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "<b>Title</b>", "body": body, "policy": default_policy()}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let handle = v["handle"].as_str().unwrap();
    let token = v["organizer_token"].as_str().unwrap();
    let (s, o) = t
        .post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    let (s, html, _) = page(&t, &format!("/letters/{handle}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("<strong>there</strong>"),
        "Markdown is rendered"
    );
    assert!(
        html.contains("&lt;b&gt;Title&lt;/b&gt;"),
        "titles are escaped"
    );
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("alert("), "{html}");
    assert!(!lower.contains("onerror"));
    assert!(!lower.contains("onclick"));
    assert!(!lower.contains("javascript:"));
    assert!(!lower.contains("<img"));
}

#[tokio::test]
async fn fail_recipients_only_page_leaks_nothing_without_a_link() {
    let t = TestServer::sqlite(Default::default()).await;
    let mut policy = default_policy();
    policy["visibility"] = json!("recipients-only");
    let (s, v) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "Secret title 51f0", "body": "Secret body 7a2c", "policy": policy}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let handle = v["handle"].as_str().unwrap();
    let token = v["organizer_token"].as_str().unwrap();
    let (_, o) = t
        .post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some(token),
        )
        .await;
    let id = o["letter_id"].as_str().unwrap();
    for path in [format!("/letters/{id}"), format!("/letters/{handle}")] {
        let (s, html, h) = page(&t, &path).await;
        assert_html_with_csp(&path, s, &h);
        assert!(!html.contains("Secret title 51f0"), "{path}");
        assert!(!html.contains("Secret body 7a2c"), "{path}");
        assert!(html.contains("visible to its recipients and link holders"));
    }
    let (_, home, _) = page(&t, "/").await;
    assert!(!home.contains("Secret title 51f0"));
}

#[tokio::test]
async fn fail_unknown_letter_is_a_404_page() {
    let t = TestServer::sqlite(Default::default()).await;
    let (s, html, h) = page(&t, "/letters/nosuchletter").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(html.contains("letter not found"));
}
