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
    // One signer per org with k=3: counts by organization are still exact, since every entry
    // of the public record names its organization (a "<3" would suggest a protection that does
    // not exist); the chart is drawn and the page says so.
    assert!(body.contains("class=\"chart\""), "{body}");
    assert!(!body.contains("id=\"all-small\""), "{body}");
    assert!(
        body.contains("Department of State"),
        "org names label the table"
    );
    let orgs = &body[body.find("By organization").unwrap()..body.find("By role").unwrap()];
    assert!(!orgs.contains("below-k"), "{orgs}");
    assert!(orgs.contains("<td class=\"num\">1</td>"), "{orgs}");
    assert!(body.contains("Counts by organization are exact"), "{body}");
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
    let (handle, _, id) = t
        .open_recipients_only("Secret title 51f0", "Secret body 7a2c")
        .await;
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

/// A public letter with the given policy changes, opened; returns (handle, id, letter).
async fn opened(
    t: &TestServer,
    body: &str,
    change: impl FnOnce(&mut serde_json::Value),
) -> (String, String, undersigned_core::letter::Letter) {
    let mut policy = default_policy();
    change(&mut policy);
    let (s, v) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "Comments letter", "body": body, "policy": policy}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let handle = v["handle"].as_str().unwrap().to_owned();
    let token = v["organizer_token"].as_str().unwrap();
    let (s, o) = t
        .post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    let id = o["letter_id"].as_str().unwrap().to_owned();
    let letter: undersigned_core::letter::Letter =
        serde_json::from_value(v["letter"].clone()).unwrap();
    assert_eq!(letter.id().to_hex(), id);
    (handle, id, letter)
}

#[tokio::test]
async fn comments_show_after_the_batch_with_the_cell_the_tally_allows() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id, letter) = opened(&t, "Text.\n", |_| {}).await;
    let c = t
        .credential("c1@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let choice = DisclosureChoice {
        role: false,
        age_band: false,
        email: false,
    };
    let e = t
        .entry(&c, &letter, Action::Sign, choice, Some("We <mean> it"))
        .await;
    let (s, v) = t.submit(&id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, before, _) = page(&t, &format!("/letters/{id}")).await;
    assert!(
        !before.contains("We &lt;mean&gt; it"),
        "not before the batch"
    );
    t.publish_all(&id).await;
    let (_, html, _) = page(&t, &format!("/letters/{id}")).await;
    assert!(html.contains("What signers said"), "{html}");
    assert!(html.contains("We &lt;mean&gt; it"), "escaped, shown");
    assert!(html.contains("a signer at Department of State"), "{html}");
    // The API view carries the same list for script-filled pages.
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    assert_eq!(view["comments"][0]["text"], "We <mean> it");
    assert_eq!(view["comments"][0]["org"], "state.gov");
    assert!(view["comments"][0]["role"].is_null());
    // Withdrawn: the comment goes with the signature.
    let w = t
        .entry(
            &c,
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
        )
        .await;
    let (s, v) = t.submit(&id, &w).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    t.publish_all(&id).await;
    let (_, html, _) = page(&t, &format!("/letters/{id}")).await;
    assert!(!html.contains("We &lt;mean&gt; it"));
}

#[tokio::test]
async fn fail_comment_on_a_letter_that_takes_none() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id, letter) = opened(&t, "Text.\n", |p| p["comments"] = json!(false)).await;
    assert!(!letter.policy.comments);
    let c = t
        .credential("c2@state.gov", "analyst", AgeBand::From30To39)
        .await;
    // The holder refuses to build it...
    let sets = t.sets().await;
    let refused = undersigned_core::entry::present(
        &c,
        &letter,
        Action::Sign,
        DisclosureChoice::default(),
        Some("hi"),
        &sets,
        undersigned_core::entry::SmallOrgConsent::Given,
    );
    assert!(refused.is_err());
    // ...and the server refuses one built against a letter that allowed comments.
    let mut allowing = letter.clone();
    allowing.policy.comments = true;
    let mut e = t
        .entry(
            &c,
            &allowing,
            Action::Sign,
            DisclosureChoice::default(),
            Some("hi"),
        )
        .await;
    e.letter_id = letter.id();
    let (s, v) = t.submit(&id, &e).await;
    assert_ne!(s, StatusCode::ACCEPTED, "{v}");
    assert!(v.to_string().contains("does not take comments"), "{v}");
    // Without a comment it signs.
    let e = t
        .entry(&c, &letter, Action::Sign, DisclosureChoice::default(), None)
        .await;
    let (s, v) = t.submit(&id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
}

#[tokio::test]
async fn letters_that_allow_comments_keep_their_old_encoding() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id, letter) = opened(&t, "Text.\n", |_| {}).await;
    let bytes = String::from_utf8(letter.canonical_bytes()).unwrap();
    assert!(!bytes.contains("comments"), "{bytes}");
    assert_eq!(letter.id().to_hex(), id);
    let (_, _, closed) = opened(&t, "Text.\n", |p| p["comments"] = json!(false)).await;
    assert!(String::from_utf8(closed.canonical_bytes())
        .unwrap()
        .contains("\"comments\":false"));
}

#[tokio::test]
async fn script_filled_pages_get_rendered_markdown_with_headings_below_the_title() {
    let t = TestServer::sqlite(Default::default()).await;
    let (handle, id, _) = opened(&t, "# Demands\n\n**January 24**\n\n- one\n- two\n", |_| {}).await;
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    let html = view["body_html"].as_str().unwrap();
    assert!(html.contains("<h2>Demands</h2>"), "{html}");
    assert!(html.contains("<strong>January 24</strong>"));
    assert!(html.contains("<li>one</li>"));
    assert!(!html.contains("**"));
    let (_, page_html, _) = page(&t, &format!("/letters/{handle}")).await;
    assert!(
        page_html.contains("<h2>Demands</h2>"),
        "the page shifts headings too"
    );
    let (s, r) = t
        .post(
            "/api/v1/render",
            &json!({"text": "## A\n\n[x](https://e.org)"}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["html"].as_str().unwrap().contains("<h5>A</h5>"), "{r}");
    assert!(r["html"]
        .as_str()
        .unwrap()
        .contains("href=\"https://e.org\""));
}

#[tokio::test]
async fn letter_page_has_a_qr_code_of_the_bundle_and_a_feed() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id) = signed_letter(&t).await;
    let (_, html, _) = page(&t, &format!("/letters/{id}")).await;
    assert!(
        html.contains("aria-label=\"QR code of the bundle link\""),
        "{html}"
    );
    assert!(html.contains(&format!("/api/v1/letters/{id}/bundle")));
    assert!(html.contains(&format!("href=\"/letters/{id}/feed.atom\"")));
    assert!(html.contains("application/atom+xml"));
    let (s, feed, h) = page(&t, &format!("/letters/{id}/feed.atom")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    assert!(feed.starts_with("<?xml"), "{feed}");
    assert!(feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    for tag in ["<id>", "<title>", "<updated>", "<author>"] {
        assert!(feed.contains(tag), "{tag} in {feed}");
    }
    assert!(
        feed.contains("<title>Opened for signatures</title>"),
        "{feed}"
    );
    assert!(
        feed.contains("<title>2 verified signatures</title>"),
        "{feed}"
    );
}

#[tokio::test]
async fn fail_recipients_only_letter_has_no_feed() {
    let t = TestServer::sqlite(Default::default()).await;
    let (_, id, _) = opened(&t, "Text.\n", |p| {
        p["visibility"] = json!("recipients-only")
    })
    .await;
    let (s, body, _) = page(&t, &format!("/letters/{id}/feed.atom")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(!body.contains("Comments letter"));
}

#[tokio::test]
async fn recipients_get_the_comments_in_the_delivery_mail_and_their_view() {
    let t = TestServer::sqlite(Default::default()).await;
    let (s, v) = t
        .post(
            "/api/v1/letters",
            &json!({"title": "Mail letter", "body": "Text with **bold**.\n",
                    "recipients": [{"name": "The Director", "address": "director@state.gov"}],
                    "policy": default_policy()}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let handle = v["handle"].as_str().unwrap().to_owned();
    let token = v["organizer_token"].as_str().unwrap().to_owned();
    assert!(v["organizer_url"]
        .as_str()
        .unwrap()
        .contains(&format!("/letters/{handle}/manage#organizer=")));
    let (_, o) = t
        .post(
            &format!("/api/v1/letters/{handle}/open"),
            &json!({}),
            Some(&token),
        )
        .await;
    let id = o["letter_id"].as_str().unwrap().to_owned();
    let letter: undersigned_core::letter::Letter =
        serde_json::from_value(v["letter"].clone()).unwrap();
    let c = t
        .credential("m1@state.gov", "analyst", AgeBand::From30To39)
        .await;
    let e = t
        .entry(
            &c,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            Some("Read this, please"),
        )
        .await;
    let (s, r) = t.submit(&id, &e).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let (s, _) = t
        .post(
            &format!("/api/v1/letters/{handle}/close"),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    t.outbox.clear();
    undersigned_server::delivery::tick(&t.state).await.unwrap();
    let mail = t
        .outbox
        .messages()
        .into_iter()
        .next()
        .expect("a delivery mail");
    assert!(
        mail.body_text.contains("Comments from signers"),
        "{}",
        mail.body_text
    );
    assert!(mail.body_text.contains("> Read this, please"));
    assert!(mail.body_text.contains("a signer at Department of State"));
    // The letter's Markdown reads as text in a mail client: no raw "**".
    assert!(
        mail.body_text.contains("Text with bold."),
        "{}",
        mail.body_text
    );
    assert!(!mail.body_text.contains("**bold**"), "{}", mail.body_text);
    let link = mail
        .body_text
        .split_whitespace()
        .find_map(|w| w.split_once("/respond#").map(|(_, t)| t.to_owned()))
        .unwrap();
    let (s, view) = t
        .get_with(&format!("/api/v1/letters/{id}/respond"), &link)
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert!(view["body_html"]
        .as_str()
        .unwrap()
        .contains("<strong>bold</strong>"));
    assert_eq!(view["comments"][0]["text"], "Read this, please");
}
