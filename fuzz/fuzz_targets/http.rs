//! Fuzz target: request bodies and query strings through the whole HTTP surface
//! (`undersigned_server::app()`, in process, on a SQLite store in a temporary directory, with
//! a real SMTP outbox). The first byte picks a route, the second whether the organizer's token
//! goes along; the rest is the body (or the query string of a GET). No input may produce a 500:
//! a 500 is an input the server failed to classify, or a crash it caught.
#![no_main]
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use undersigned_core::ids::Epoch;
use undersigned_outbox::Outbox;
use undersigned_server::keys::DeploymentKeys;
use undersigned_server::mailer::{Mailer, MailerConfig};
use undersigned_server::{app, AppState, Config};
use undersigned_store::SqliteStore;

struct Server {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    open: String,
    draft: String,
    token: String,
    _dir: tempfile::TempDir,
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/issuance/code"),
    ("POST", "/api/v1/issuance/credential"),
    ("POST", "/api/v1/letters"),
    ("PUT", "/api/v1/letters/{draft}"),
    ("POST", "/api/v1/letters/{open}/entries"),
    ("POST", "/api/v1/letters/{open}/respond/acknowledge"),
    ("POST", "/api/v1/letters/{open}/respond/answer"),
    ("POST", "/api/v1/letters/{open}/recipients/0/revoke"),
    ("POST", "/api/v1/letters/{draft}/open"),
    ("GET", "/api/v1/letters/{open}/entries"),
    ("GET", "/api/v1/letters/{open}/proof/inclusion"),
    ("GET", "/api/v1/letters/{open}/proof/consistency"),
    ("GET", "/api/v1/issuer/log/statements"),
    ("GET", "/api/v1/issuer/log/proof/inclusion"),
    ("GET", "/api/v1/issuer/log/proof/consistency"),
    ("GET", "/api/v1/letters/{open}/bundle"),
];

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let (router, open, draft, token) = rt.block_on(async {
            let store = SqliteStore::open(&dir.path().join("fuzz.db"))
                .await
                .expect("store");
            let outbox = Outbox::start("127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("outbox");
            let mailer = Mailer::new(MailerConfig::plain(
                outbox.addr().ip().to_string(),
                outbox.addr().port(),
                "undersigned <no-reply@undersigned.fuzz>",
            ))
            .expect("mailer");
            let keys = DeploymentKeys::load_or_create(
                &dir.path().join("keys.json"),
                &dir.path().join("tag.key"),
                "fuzz",
            )
            .expect("keys");
            let config = Config {
                host: "undersigned.fuzz".into(),
                epoch: Some(Epoch::parse("2026-Q4").expect("epoch")),
                k: 2,
                default_publish_interval_secs: 1,
                publish_grace_secs: 1,
                dev: true,
                ..Config::default()
            };
            let state =
                AppState::new(config, Arc::new(store), keys, mailer, Some(outbox)).expect("state");
            let router = app(state);
            let letter = serde_json::json!({
                "title": "Fuzzed", "body": "Body", "policy": {"deadline": 4_000_000_000u64, "k": 2},
                "recipients": [{"name": "Board", "address": "board@example.org", "role": "board"}]
            });
            let created = call(
                &router,
                Method::POST,
                "/api/v1/letters",
                letter.to_string(),
                None,
            )
            .await;
            assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
            let open = created.1["handle"].as_str().expect("handle").to_owned();
            let token = created.1["organizer_token"]
                .as_str()
                .expect("token")
                .to_owned();
            let opened = call(
                &router,
                Method::POST,
                &format!("/api/v1/letters/{open}/open"),
                String::new(),
                Some(&token),
            )
            .await;
            assert_eq!(opened.0, StatusCode::OK, "{}", opened.1);
            let draft = call(
                &router,
                Method::POST,
                "/api/v1/letters",
                letter.to_string(),
                None,
            )
            .await;
            let draft = draft.1["handle"].as_str().expect("handle").to_owned();
            (router, open, draft, token)
        });
        Server {
            rt,
            router,
            open,
            draft,
            token,
            _dir: dir,
        }
    })
}

async fn call(
    router: &axum::Router,
    method: Method,
    uri: &str,
    body: impl Into<Body>,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let Ok(req) = req.body(body.into()) else {
        return (StatusCode::BAD_REQUEST, serde_json::Value::Null);
    };
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fuzz_target!(|data: &[u8]| {
    let s = server();
    let [route, flags, body @ ..] = data else {
        return;
    };
    let (method, path) = ROUTES[usize::from(*route) % ROUTES.len()];
    let path = path.replace("{open}", &s.open).replace("{draft}", &s.draft);
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let token = (flags & 1 == 1).then_some(s.token.as_str());
    let (uri, body) = if method == Method::GET {
        // The input as a query string, percent-encoded where a URI needs it.
        let mut q = String::new();
        for &b in body {
            if b.is_ascii_alphanumeric() || b"=&-_.~,".contains(&b) {
                q.push(char::from(b));
            } else {
                q.push_str(&format!("%{b:02X}"));
            }
        }
        (format!("{path}?{q}"), Vec::new())
    } else {
        (path, body.to_vec())
    };
    let (status, answer) = s.rt.block_on(call(&s.router, method, &uri, body, token));
    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR,
        "500 for {uri}: {answer}"
    );
});
