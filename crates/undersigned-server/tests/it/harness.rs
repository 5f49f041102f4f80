//! A server per test on either backend, driven through `app()` without a socket, with a real
//! SMTP outbox receiving its mail.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::BodyExt;
use rand_core::OsRng;
use serde_json::{json, Value};
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use undersigned_core::credential::{
    receive_credential, request_credential, Credential, IssuanceResponse, PendingIssuance,
};
use undersigned_core::entry::{present, Action, DisclosureChoice, SignatureEntry, SmallOrgConsent};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::letter::Letter;
use undersigned_outbox::Outbox;
use undersigned_server::keys::DeploymentKeys;
use undersigned_server::mailer::{Mailer, MailerConfig};
use undersigned_server::{app, AppState, Config};
use undersigned_store::{PgStore, SqliteStore, Store};

pub const EPOCH: &str = "2026-Q4";
pub const K: u32 = 3;

/// Runs each listed suite function on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let t = $crate::harness::TestServer::sqlite(Default::default()).await;
                    super::$name(&t).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let t = $crate::harness::TestServer::postgres(Default::default()).await;
                    super::$name(&t).await;
                }
            }
        )*
    };
}
pub(crate) use on_both;

/// Knobs a test may turn.
#[derive(Clone, Debug)]
pub struct Tweaks {
    pub code_ttl_secs: u64,
    pub publish_interval: u64,
    pub witnesses: Vec<undersigned_server::cosigning::WitnessSpec>,
    pub witness_quorum: Option<usize>,
    pub code_mails_per_domain_hour: u32,
    /// The server's clock (default: the system clock); `Clock::manual()` lets a test move it.
    pub clock: Option<undersigned_server::clock::Clock>,
    /// The SMTP relay mail goes to instead of the test's outbox (a fault test's own relay,
    /// which it stops and restarts).
    pub smtp: Option<std::net::SocketAddr>,
    /// `Config::code_answer_millis`; 0 here, so that tests that ask for many codes do not
    /// wait out the production deadline for each.
    pub code_answer_millis: u64,
    /// Organizations (of the defaults) that accept their subdomains, with their address rules.
    pub subdomains: Vec<(&'static str, undersigned_core::ids::AddressRules)>,
}

impl Default for Tweaks {
    fn default() -> Self {
        Self {
            code_ttl_secs: 900,
            publish_interval: 1,
            witnesses: Vec::new(),
            witness_quorum: None,
            code_mails_per_domain_hour: Config::default().code_mails_per_domain_hour,
            clock: None,
            smtp: None,
            code_answer_millis: 0,
            subdomains: Vec::new(),
        }
    }
}

pub struct TestServer {
    pub state: AppState,
    pub router: axum::Router,
    pub outbox: Outbox,
    /// The relay `Tweaks::smtp` points at, when the test started one: code mails are read
    /// from it. Held only here, so that taking it out closes its port.
    pub relay: std::sync::Mutex<Option<Outbox>>,
    pub dir: Arc<tempfile::TempDir>,
    _pg: Option<PgGuard>,
    tweaks: Tweaks,
    /// The request token of the latest code asked for each address (lowercased), which
    /// `redeem` sends with the code.
    pub request_tokens: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// Set by `listen`: requests then go over a real loopback socket instead of `oneshot`.
    socket: std::sync::OnceLock<std::net::SocketAddr>,
}

pub fn config(t: &Tweaks) -> Config {
    Config {
        host: "undersigned.test".into(),
        public_url: "http://undersigned.test".into(),
        k: K,
        epoch: Some(Epoch::parse(EPOCH).unwrap()),
        code_ttl_secs: t.code_ttl_secs,
        code_mails_per_domain_hour: t.code_mails_per_domain_hour,
        code_answer_millis: t.code_answer_millis,
        subdomains: t
            .subdomains
            .iter()
            .map(|(d, _)| undersigned_core::ids::OrgId::parse(d).unwrap())
            .collect(),
        address_rules: t
            .subdomains
            .iter()
            .map(|(d, r)| (undersigned_core::ids::OrgId::parse(d).unwrap(), *r))
            .collect(),
        default_publish_interval_secs: t.publish_interval,
        publish_grace_secs: 1,
        delivery_backoff_secs: 1,
        witnesses: t.witnesses.clone(),
        witness_quorum: t.witness_quorum,
        witness_timeout_millis: 1000,
        witness_grace_secs: 120,
        roles: ["analyst", "officer"]
            .iter()
            .map(|r| Role::parse(r).unwrap())
            .collect(),
        ..Config::default()
    }
}

/// A letter created and opened by `TestServer::create_and_open`.
pub struct Opened {
    pub handle: String,
    pub token: String,
    pub id: String,
    pub letter: Letter,
    /// The create response.
    pub created: Value,
}

impl TestServer {
    pub async fn sqlite(t: Tweaks) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("undersigned.db"))
            .await
            .unwrap();
        Self::build(Arc::new(store), Arc::new(dir), None, &t).await
    }

    pub async fn postgres(t: Tweaks) -> Self {
        let guard = PgGuard::new().await;
        let store = PgStore::connect(&guard.url).await.unwrap();
        Self::build(
            Arc::new(store),
            Arc::new(tempfile::tempdir().unwrap()),
            Some(guard),
            &t,
        )
        .await
    }

    /// A server on a store the test made (a database on a filesystem or cluster of its own).
    pub async fn on_store(store: Arc<dyn Store>, t: Tweaks) -> Self {
        Self::build(store, Arc::new(tempfile::tempdir().unwrap()), None, &t).await
    }

    async fn build(
        store: Arc<dyn Store>,
        dir: Arc<tempfile::TempDir>,
        pg: Option<PgGuard>,
        t: &Tweaks,
    ) -> Self {
        Self::build_at(store, dir, pg, t, EPOCH).await
    }

    /// The same deployment (store, keys) after its clock moved on to `epoch`. The returned
    /// server must not outlive `self`, which owns the database.
    pub async fn at_epoch(&self, epoch: &str) -> Self {
        Self::build_at(
            self.state.store.clone(),
            self.dir.clone(),
            None,
            &self.tweaks,
            epoch,
        )
        .await
    }

    /// The same deployment (store, keys, epoch) started again, with `clock`. The returned
    /// server must not outlive `self`, which owns the database.
    pub async fn restarted(&self, clock: undersigned_server::clock::Clock) -> Self {
        let tweaks = Tweaks {
            clock: Some(clock),
            ..self.tweaks.clone()
        };
        Self::build_at(
            self.state.store.clone(),
            self.dir.clone(),
            None,
            &tweaks,
            EPOCH,
        )
        .await
    }

    async fn build_at(
        store: Arc<dyn Store>,
        dir: Arc<tempfile::TempDir>,
        pg: Option<PgGuard>,
        t: &Tweaks,
        epoch: &str,
    ) -> Self {
        let outbox = Outbox::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let relay = t.smtp.unwrap_or(outbox.addr());
        let mailer = Mailer::new(MailerConfig::plain(
            relay.ip().to_string(),
            relay.port(),
            "undersigned <no-reply@undersigned.test>",
        ))
        .unwrap();
        let keys = DeploymentKeys::load_or_create(
            &dir.path().join("keys.json"),
            &dir.path().join("tag.key"),
            "test issuer",
        )
        .unwrap();
        let config = Config {
            epoch: Some(Epoch::parse(epoch).unwrap()),
            ..config(t)
        };
        let clock = t.clock.clone().unwrap_or_default();
        let state =
            AppState::with_clock(config, store, keys, mailer, Some(outbox.clone()), clock).unwrap();
        let router = app(state.clone());
        Self {
            state,
            router,
            outbox,
            relay: std::sync::Mutex::new(None),
            dir,
            _pg: pg,
            tweaks: t.clone(),
            request_tokens: Arc::default(),
            socket: std::sync::OnceLock::new(),
        }
    }

    /// Serves the app on a real listener on 127.0.0.1 (with the peer address available to
    /// every layer, as a production server could make it) and sends every later request of
    /// this test through it, so that the client's IP address really reaches the server.
    pub async fn listen(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self
            .router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.socket.set(addr).unwrap();
        addr
    }

    /// One HTTP/1.1 exchange over a fresh connection.
    async fn over_socket(
        addr: std::net::SocketAddr,
        method: Method,
        path: &str,
        body: Vec<u8>,
        token: Option<&str>,
        content_type: Option<&str>,
    ) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut payload = raw[split + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut headers = axum::http::HeaderMap::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                headers.append(
                    axum::http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                    v.trim().parse().unwrap(),
                );
            }
        }
        if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"))
        {
            let mut out = Vec::new();
            let mut rest = payload.as_slice();
            loop {
                let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                        .unwrap();
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
                rest = &rest[eol + 2 + size + 2..];
            }
            payload = out;
        }
        (StatusCode::from_u16(status).unwrap(), payload, headers)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        token: Option<&str>,
        content_type: Option<&str>,
    ) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
        if let Some(addr) = self.socket.get() {
            let bytes = match body {
                Some(b) => b.collect().await.unwrap().to_bytes().to_vec(),
                None => Vec::new(),
            };
            return Self::over_socket(*addr, method, path, bytes, token, content_type).await;
        }
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body.unwrap_or_else(Body::empty)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes, headers)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.call(Method::GET, path, None, None, None).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// GET with a bearer token (organizer, signer link or response link).
    pub async fn get_with(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.call(Method::GET, path, None, Some(token), None).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let (s, b, _) = self.call(Method::GET, path, None, None, None).await;
        (s, String::from_utf8_lossy(&b).into_owned())
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let (s, b, _) = self
            .call(
                method,
                path,
                Some(Body::from(serde_json::to_vec(body).unwrap())),
                token,
                Some("application/json"),
            )
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
        self.send(Method::POST, path, body, token).await
    }

    /// The request token of the latest code asked for `email`.
    pub fn request_token(&self, email: &str) -> String {
        self.request_tokens
            .lock()
            .unwrap()
            .get(&email.to_ascii_lowercase())
            .cloned()
            .expect("a code was asked for this address")
    }

    /// Asks for a code and reads it from the mail the outbox received over SMTP.
    pub async fn code_for(&self, email: &str) -> String {
        let (s, v) = self
            .post("/api/v1/issuance/code", &json!({ "email": email }), None)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let want = email.to_ascii_lowercase();
        self.request_tokens.lock().unwrap().insert(
            want.clone(),
            v["request_token"].as_str().unwrap().to_owned(),
        );
        let outbox = self
            .relay
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| self.outbox.clone());
        let mail = outbox
            .wait_for(
                |m| m.to.iter().any(|t| t.to_ascii_lowercase() == want),
                Duration::from_secs(5),
            )
            .await
            .expect("a code mail");
        outbox.clear();
        mail.body_text
            .split_whitespace()
            .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
            .expect("a code in the mail")
            .to_owned()
    }

    /// The credential of the current epoch, out of the one request for every issuable epoch.
    pub async fn credential(&self, email: &str, role: &str, age: AgeBand) -> Credential {
        self.credentials(email, role, age)
            .await
            .into_iter()
            .find(|c| c.attributes.epoch.as_str() == EPOCH)
            .expect("a credential of the current epoch")
    }

    /// Asks for a code and then, as every holder does, for every issuable epoch in one request.
    pub async fn credentials(&self, email: &str, role: &str, age: AgeBand) -> Vec<Credential> {
        let code = self.code_for(email).await;
        let (s, v, pending) = self.redeem(email, &code, role, age).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        self.receive(&v, pending, email, role, age)
    }

    /// `POST /api/v1/issuance/credential` with one fresh commitment per issuable epoch.
    pub async fn redeem(
        &self,
        email: &str,
        code: &str,
        role: &str,
        age: AgeBand,
    ) -> (StatusCode, Value, Vec<(String, PendingIssuance)>) {
        let (_, epochs) = self.get("/api/v1/issuance/epochs").await;
        let mut pending = Vec::new();
        let mut commitments = Vec::new();
        for e in epochs["epochs"].as_array().unwrap() {
            let (req, p) = request_credential(&mut OsRng).unwrap();
            let epoch = e.as_str().unwrap().to_owned();
            commitments.push(
                json!({"epoch": epoch, "commitment": URL_SAFE_NO_PAD.encode(req.commitment)}),
            );
            pending.push((epoch, p));
        }
        let request_token = self
            .request_tokens
            .lock()
            .unwrap()
            .get(&email.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        let (s, v) = self
            .post(
                "/api/v1/issuance/credential",
                &json!({"email": email, "code": code, "request_token": request_token, "commitments": commitments, "role": role, "age_band": age.as_str()}),
                None,
            )
            .await;
        (s, v, pending)
    }

    /// Finishes every blind signature of an answer into a credential (checked by core).
    pub fn receive(
        &self,
        v: &Value,
        pending: Vec<(String, PendingIssuance)>,
        email: &str,
        role: &str,
        age: AgeBand,
    ) -> Vec<Credential> {
        let pk = undersigned_core::bbs::PublicKey::from_slice(
            &URL_SAFE_NO_PAD
                .decode(v["issuer_public_key"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        // As a holder does: the deployment's normalization and the organization it finds.
        let email = Email::parse(email).unwrap();
        let mut pending = pending;
        v["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let epoch = c["epoch"].as_str().unwrap();
                let at = pending.iter().position(|(e, _)| e == epoch).unwrap();
                let (_, p) = pending.remove(at);
                let resp = IssuanceResponse::from_slices(
                    &URL_SAFE_NO_PAD
                        .decode(c["signature"].as_str().unwrap())
                        .unwrap(),
                    &URL_SAFE_NO_PAD
                        .decode(c["nym_entropy"].as_str().unwrap())
                        .unwrap(),
                )
                .unwrap();
                let attrs = self
                    .state
                    .membership
                    .attributes(
                        &email,
                        Epoch::parse(epoch).unwrap(),
                        Role::parse(role).unwrap(),
                        age,
                    )
                    .unwrap();
                receive_credential(p, &resp, &pk, attrs).unwrap()
            })
            .collect()
    }

    /// Creates a letter from the create request `body` and opens it; returns the handle, the
    /// organizer token, the letter id, the letter (read with the token, which a recipients-only
    /// letter needs) and the create response.
    pub async fn create_and_open(&self, body: &Value) -> Opened {
        let (s, created) = self.post("/api/v1/letters", body, None).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let handle = created["handle"].as_str().unwrap().to_owned();
        let token = created["organizer_token"].as_str().unwrap().to_owned();
        let (s, o) = self
            .post(
                &format!("/api/v1/letters/{handle}/open"),
                &json!({}),
                Some(&token),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{o}");
        let id = o["letter_id"].as_str().unwrap().to_owned();
        let (_, view) = self
            .get_with(&format!("/api/v1/letters/{id}"), &token)
            .await;
        let letter: Letter = serde_json::from_value(view["letter"].clone()).unwrap();
        assert_eq!(letter.id().to_hex(), id);
        Opened {
            handle,
            token,
            id,
            letter,
            created,
        }
    }

    /// Creates and opens a letter; returns (handle, token, letter id, letter).
    pub async fn open_letter(
        &self,
        title: &str,
        policy: Value,
    ) -> (String, String, String, Letter) {
        let o = self
            .create_and_open(
                &json!({"title": title, "body": "We ask for a review.\n", "policy": policy}),
            )
            .await;
        (o.handle, o.token, o.id, o.letter)
    }

    /// Creates and opens a recipients-only letter; returns (handle, organizer token, letter id).
    pub async fn open_recipients_only(&self, title: &str, body: &str) -> (String, String, String) {
        let mut policy = default_policy();
        policy["visibility"] = json!("recipients-only");
        let o = self
            .create_and_open(&json!({"title": title, "body": body, "policy": policy}))
            .await;
        (o.handle, o.token, o.id)
    }

    pub async fn sets(&self) -> undersigned_core::anonymity::PublishedSets {
        let (_, v) = self.get("/api/v1/issuer/anonymity-sets").await;
        serde_json::from_value(v).unwrap()
    }

    pub async fn entry(
        &self,
        c: &Credential,
        letter: &Letter,
        action: Action,
        choice: DisclosureChoice,
        comment: Option<&str>,
    ) -> SignatureEntry {
        present(
            c,
            letter,
            action,
            choice,
            comment,
            &self.sets().await,
            SmallOrgConsent::Given,
        )
        .unwrap()
    }

    pub async fn submit(&self, id: &str, e: &SignatureEntry) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/letters/{id}/entries"),
            &serde_json::to_value(e).unwrap(),
            None,
        )
        .await
    }

    /// Publishes every pooled entry now, as the publisher does when batches fall due.
    pub async fn publish_all(&self, id: &str) -> u64 {
        undersigned_server::issuer_log::publish(&self.state, undersigned_server::now())
            .await
            .unwrap();
        self.state
            .ledger
            .publish(id, u64::MAX, undersigned_server::now(), vec![], [3u8; 32])
            .await
            .unwrap()
    }

    pub async fn log_size(&self, id: &str) -> u64 {
        self.state.store.log_size(id).await.unwrap()
    }

    pub async fn pending(&self, id: &str) -> usize {
        self.state.store.pending(id, u64::MAX).await.unwrap().len()
    }
}

pub fn default_policy() -> Value {
    json!({"disclosures": {"role": true, "age_band": true, "email": false}, "deadline": undersigned_server::now() + 86_400})
}

/// A PostgreSQL database of its own on the tests' server (`crate::pgserver`), dropped
/// afterwards; the test fails when no server can be reached or started.
pub struct PgGuard {
    pub url: String,
    admin: String,
    name: String,
}

impl PgGuard {
    pub async fn new() -> Self {
        let admin = crate::pgserver::admin_url();
        let mut conn =
            tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&admin))
                .await
                .unwrap_or_else(|_| panic!("PostgreSQL at {admin}: connection timed out"))
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!("undersigned_srv_{}", hex::encode(rand::random::<[u8; 8]>()));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => admin.clone(),
        };
        Self { url, admin, name }
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}
