//! Crash test: SIGKILL the real `undersigned serve` while signatures are in flight, restart it on
//! the same data, and check that every receipted entry reaches the log and no credential counts
//! twice — on SQLite and on PostgreSQL. SIGKILL spares the page cache, so the test also reads
//! the durability settings the server's own connections report and fails when they are weaker.
//!
//! A receipt is the server's signed promise; it is sent only after the entry is durable, so a
//! crash may lose an answer but never a promised entry. Submissions whose answer the crash ate
//! are "unknown": resubmitted after the restart, each must be accepted now or refused as a double
//! signature (it was in after all), and either way it is counted exactly once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use rand_core::OsRng;
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::bundle::{verify_bundle, Bundle};
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential, IssuanceResponse,
};
use undersigned_core::entry::{present, Action, DisclosureChoice, SignatureEntry, SmallOrgConsent};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::letter::{AllowedDisclosures, Letter, Visibility};
use undersigned_core::log::{leaf_hash, verify_receipt, LogVerifier, Receipt};
use undersigned_core::record::LogEntry;
use undersigned_server::api::issuance::{CredentialIssued, DeploymentInfo, IssuableEpochs};
use undersigned_server::api::letters::{Created, LetterInput, LetterView, Opened, PolicyInput};

const SIGNERS: usize = 30;
const THREADS: usize = 4;
pub(crate) const EPOCH: &str = "2026-Q4";

pub(crate) fn now() -> u64 {
    undersigned_server::now()
}

pub(crate) fn new_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// A port nobody listens on right now (the kernel picks it; we release it for the server).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server child process. Dropping it kills it, so a failing test leaves nothing running.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `undersigned serve --dev` on a fresh loopback port and waits until it answers.
    pub(crate) fn start(data: &Path, database: Option<&str>, log: &Path) -> Server {
        let port = free_port();
        let out = File::options().create(true).append(true).open(log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_undersigned"));
        cmd.args(["serve", "--dev", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(data)
            .arg("--tag-key-file")
            .arg(data.with_extension("tag.key"))
            .args(["--publish-interval", "2", "--epoch", EPOCH]);
        if let Some(db) = database {
            cmd.args(["--database", db]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let probe = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited with {status}:\n{}", self.log_text());
            }
            if probe
                .get(&format!("{}/api/v1/deployment", self.url))
                .call()
                .is_ok()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not answer within 60 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs, as in a power cut.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A throwaway PostgreSQL database, dropped (with its connections) when the test ends.
pub(crate) struct PgDatabase {
    name: String,
}

/// The tests' PostgreSQL server (`crate::pgserver`): its admin URL without the database.
fn pg_base() -> String {
    let admin = crate::pgserver::admin_url();
    admin
        .rsplit_once('/')
        .map(|(base, _)| base.to_owned())
        .unwrap_or(admin)
}

fn psql(sql: &str) -> std::process::Output {
    let admin = crate::pgserver::admin_url();
    Command::new("psql")
        .args(["-w", "-X", "-q", "-d", &admin, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("psql: {e}"))
}

impl PgDatabase {
    /// A fresh database; fails the test when PostgreSQL cannot be reached or started.
    pub(crate) fn create() -> PgDatabase {
        let name = format!("undersigned_crash_{:016x}", OsRng.gen::<u64>());
        let o = psql(&format!("CREATE DATABASE {name}"));
        assert!(
            o.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        PgDatabase { name }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/{}", pg_base(), self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// The durability settings the running server read from its own database connections (its
/// `store durability:` line); the test fails when any is weaker than a receipt's promise needs.
/// Killing the process keeps the page cache, so without this check the crash test would also
/// pass with `synchronous=OFF`.
fn check_durability(server: &Server, backend: &str) {
    let log = server.log_text();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("store durability: "))
        .unwrap_or_else(|| panic!("the server did not report its durability settings:\n{log}"));
    let settings: std::collections::BTreeMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let wanted: &[(&str, &str)] = match backend {
        "sqlite" => &[("synchronous", "full"), ("journal_mode", "wal")],
        _ => &[("fsync", "on"), ("synchronous_commit", "on")],
    };
    for (name, value) in wanted {
        assert_eq!(
            settings.get(name),
            Some(value),
            "{backend}: {name} must be {value} for receipts to survive a power cut ({line})"
        );
    }
}

pub(crate) fn get_json<T: DeserializeOwned>(agent: &ureq::Agent, url: &str) -> T {
    match agent.get(url).call() {
        Ok(r) => r.into_json().unwrap(),
        Err(e) => panic!("GET {url}: {}", describe(e)),
    }
}

fn post_json<T: DeserializeOwned>(
    agent: &ureq::Agent,
    url: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> T {
    let mut req = agent.post(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_json(body) {
        Ok(r) => r.into_json().unwrap(),
        Err(e) => panic!("POST {url}: {}", describe(e)),
    }
}

pub(crate) fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, r) => format!("{code} {}", r.into_string().unwrap_or_default()),
        ureq::Error::Transport(t) => t.to_string(),
    }
}

/// Reads the newest code mailed to `email` from the dev outbox.
fn code_from_outbox(agent: &ureq::Agent, base: &str, email: &str) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let mails: Vec<serde_json::Value> = get_json(agent, &format!("{base}/api/dev/outbox"));
        let body = mails.iter().rev().find_map(|m| {
            let to = m["to"].as_array()?;
            to.iter()
                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(email)))
                .then(|| m["body"].as_str().unwrap_or_default().to_owned())
        });
        if let Some(body) = body {
            return body
                .split_whitespace()
                .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
                .expect("a code in the mail")
                .to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no mail for {email} in the dev outbox");
}

/// Issuance as a holder does it (see `holder::obtain`): code by mail, blind commitment, finish.
fn obtain(agent: &ureq::Agent, base: &str, info: &DeploymentInfo, email: &str) -> Credential {
    let sent: serde_json::Value = post_json(
        agent,
        &format!("{base}/api/v1/issuance/code"),
        &serde_json::json!({ "email": email }),
        None,
    );
    let code = code_from_outbox(agent, base, email);
    let epochs: IssuableEpochs = get_json(agent, &format!("{base}/api/v1/issuance/epochs"));
    let mut pending = Vec::new();
    let mut commitments = Vec::new();
    for e in &epochs.epochs {
        let (req, p) = request_credential(&mut OsRng).unwrap();
        commitments.push(
            serde_json::json!({"epoch": e, "commitment": URL_SAFE_NO_PAD.encode(req.commitment)}),
        );
        pending.push(p);
    }
    let issued: CredentialIssued = post_json(
        agent,
        &format!("{base}/api/v1/issuance/credential"),
        &serde_json::json!({
            "email": email,
            "code": code,
            "request_token": sent["request_token"],
            "commitments": commitments,
            "role": "unspecified",
            "age_band": "unspecified",
        }),
        None,
    );
    assert_eq!(issued.issuer_public_key, info.issuer.public_key);
    let pk = undersigned_core::bbs::PublicKey::from_slice(
        &URL_SAFE_NO_PAD.decode(&issued.issuer_public_key).unwrap(),
    )
    .unwrap();
    // Only the current epoch is issuable in this test, so there is exactly one.
    assert_eq!(issued.credentials.len(), 1);
    let blind = &issued.credentials[0];
    let response = IssuanceResponse::from_slices(
        &URL_SAFE_NO_PAD.decode(&blind.signature).unwrap(),
        &URL_SAFE_NO_PAD.decode(&blind.nym_entropy).unwrap(),
    )
    .unwrap();
    let attributes = Attributes::new(
        Email::parse(email).unwrap(),
        Epoch::parse(&blind.epoch).unwrap(),
        Role::unspecified(),
        AgeBand::Unspecified,
    );
    receive_credential(pending.remove(0), &response, &pk, attributes).unwrap()
}

/// What became of one submission.
#[derive(Debug, Clone)]
enum Outcome {
    /// 202 with a receipt that verifies.
    Receipt(Receipt),
    /// The server answered with a refusal.
    Refused(u16, String),
    /// No answer (the server died mid-request, or was already dead): maybe in, maybe not.
    Unknown(String),
    /// Never sent, because the kill came first: certainly not in.
    Unsent,
}

fn submit(agent: &ureq::Agent, base: &str, letter_id: &str, entry: &SignatureEntry) -> Outcome {
    let url = format!("{base}/api/v1/letters/{letter_id}/entries");
    match agent.post(&url).send_json(entry) {
        Ok(r) if r.status() == 202 => match r.into_json::<Receipt>() {
            Ok(receipt) => Outcome::Receipt(receipt),
            // The status line arrived but the body did not: no receipt in hand.
            Err(e) => Outcome::Unknown(format!("body lost: {e}")),
        },
        Ok(r) => {
            let status = r.status();
            Outcome::Refused(status, r.into_string().unwrap_or_default())
        }
        Err(ureq::Error::Status(code, r)) => {
            Outcome::Refused(code, r.into_string().unwrap_or_default())
        }
        Err(ureq::Error::Transport(t)) => Outcome::Unknown(t.to_string()),
    }
}

/// The receipt verifies under the letter's log key and names this entry of this letter.
fn check_receipt(receipt: &Receipt, verifier: &LogVerifier, letter: &Letter, hash: &[u8; 32]) {
    verify_receipt(receipt, verifier).unwrap();
    assert_eq!(&receipt.entry_hash, hash, "receipt for another entry");
    assert_eq!(
        receipt.letter_id,
        letter.id().0,
        "receipt for another letter"
    );
}

fn crash_scenario(backend: &str, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = Server::start(&data, database.as_deref(), &log);
    check_durability(&server, backend);
    let agent = new_agent();
    let base = server.url.clone();

    // The organizer opens a letter that accepts one organization.
    let info: DeploymentInfo = get_json(&agent, &format!("{base}/api/v1/deployment"));
    assert_eq!(info.epoch, EPOCH);
    let domain = info.orgs.first().expect("an organization").domain.clone();
    let input = LetterInput {
        title: "Crash test letter".into(),
        body: "We ask that receipts be kept even when the power goes out.".into(),
        recipients: vec![],
        policy: PolicyInput {
            threshold: None,
            orgs: vec![domain.clone()],
            disclosures: AllowedDisclosures::default(),
            k: None,
            deadline: now() + 86_400,
            visibility: Visibility::Public,
            publish_interval_secs: Some(2),
            epochs: vec![],
            issuers: vec![],
            comments: None,
        },
        response_days: None,
        reminder_days: vec![],
    };
    let created: Created = post_json(
        &agent,
        &format!("{base}/api/v1/letters"),
        &serde_json::to_value(&input).unwrap(),
        None,
    );
    let opened: Opened = post_json(
        &agent,
        &format!("{base}/api/v1/letters/{}/open", created.handle),
        &serde_json::json!({}),
        Some(&created.organizer_token),
    );
    let letter_id = opened.letter_id;
    let view: LetterView = get_json(&agent, &format!("{base}/api/v1/letters/{letter_id}"));
    let letter = view.letter.canonicalize().unwrap();
    assert_eq!(letter.id().to_hex(), letter_id);
    let verifier =
        LogVerifier::from_vkey(&view.log_key.expect("an open letter's log key")).unwrap();

    // Credentials through the real issuance path, then every entry computed up front so the
    // submission phase is nothing but HTTP.
    let tag: u32 = OsRng.gen();
    let credentials: Vec<Credential> = (0..SIGNERS)
        .map(|n| {
            obtain(
                &agent,
                &base,
                &info,
                &format!("crash{n}.{tag:08x}@{domain}"),
            )
        })
        .collect();
    let sets: PublishedSets = get_json(
        &agent,
        &format!("{base}/api/v1/issuer/anonymity-sets?epoch={EPOCH}"),
    );
    let entries: Vec<SignatureEntry> = credentials
        .iter()
        .map(|c| {
            present(
                c,
                &letter,
                Action::Sign,
                DisclosureChoice::default(),
                None,
                &sets,
                SmallOrgConsent::Given,
            )
            .unwrap()
        })
        .collect();
    let hashes: Vec<[u8; 32]> = entries
        .iter()
        .map(|e| leaf_hash(&LogEntry::submission(e.clone()).leaf_bytes()))
        .collect();

    // Submit from several threads; SIGKILL the server once about half hold receipts.
    let outcomes: Vec<Mutex<Outcome>> = (0..SIGNERS).map(|_| Mutex::new(Outcome::Unsent)).collect();
    let next = AtomicUsize::new(0);
    let receipted = AtomicUsize::new(0);
    let killed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                let agent = agent.clone();
                while !killed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(entry) = entries.get(i) else { break };
                    let outcome = submit(&agent, &base, &letter_id, entry);
                    if matches!(outcome, Outcome::Receipt(_)) {
                        receipted.fetch_add(1, Ordering::SeqCst);
                    }
                    *outcomes[i].lock().unwrap() = outcome;
                }
            });
        }
        let started = Instant::now();
        while receipted.load(Ordering::SeqCst) < SIGNERS / 2 {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "only {} receipts after 120 s:\n{}",
                receipted.load(Ordering::SeqCst),
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Stop handing out work first, so only requests already on the wire become unknown.
        killed.store(true, Ordering::SeqCst);
        server.kill();
    });
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|m| m.into_inner().unwrap())
        .collect();

    let mut receipts: Vec<(usize, Receipt)> = Vec::new();
    let mut unknown: Vec<usize> = Vec::new();
    let mut unsent: Vec<usize> = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Outcome::Receipt(r) => {
                check_receipt(r, &verifier, &letter, &hashes[i]);
                receipts.push((i, r.clone()));
            }
            Outcome::Unknown(why) => {
                if unknown.is_empty() {
                    eprintln!("crash test ({backend}): first unanswered submission: {why}");
                }
                unknown.push(i);
            }
            Outcome::Unsent => unsent.push(i),
            Outcome::Refused(code, body) => {
                panic!("submission {i} refused before the kill: {code} {body}")
            }
        }
    }
    let before_kill = receipts.len();
    assert!(
        before_kill < SIGNERS,
        "every submission finished before the kill; the test proved nothing"
    );

    // Restart on the same data. Unknown ones: accepted now, or refused because they got in.
    let mut server = Server::start(&data, database.as_deref(), &log);
    let base = server.url.clone();
    let agent = new_agent();
    let mut already_in: Vec<usize> = Vec::new();
    let mut after_restart = 0;
    for &i in unknown.iter().chain(&unsent) {
        match submit(&agent, &base, &letter_id, &entries[i]) {
            Outcome::Receipt(r) => {
                check_receipt(&r, &verifier, &letter, &hashes[i]);
                receipts.push((i, r));
                after_restart += 1;
            }
            Outcome::Refused(409, _) if unknown.contains(&i) => already_in.push(i),
            other => panic!("resubmission of {i} after the restart: {other:?}"),
        }
    }
    // A receipted entry stays one signature across the crash: sending the same entry again
    // returns its receipt again (a retry after a lost answer), never a second signature.
    if let Some((i, first)) = receipts.first().cloned() {
        match submit(&agent, &base, &letter_id, &entries[i]) {
            Outcome::Receipt(r) => {
                assert_eq!(
                    r.entry_hash, first.entry_hash,
                    "a resent entry got another entry's receipt"
                );
                check_receipt(&r, &verifier, &letter, &hashes[i]);
            }
            other => panic!("resending a receipted entry after the restart: {other:?}"),
        }
    }

    // Every promise is due by the latest include_by; wait it out, then read the record.
    let due = receipts
        .iter()
        .map(|(_, r)| r.include_by)
        .max()
        .unwrap_or(0)
        + 2;
    assert!(
        due <= now() + 120,
        "receipts promise inclusion too far ahead"
    );
    while now() <= due {
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = match agent
        .get(&format!("{base}/api/v1/letters/{letter_id}/bundle"))
        .call()
    {
        Ok(r) => r.into_string().unwrap(),
        Err(e) => panic!("bundle: {}", describe(e)),
    };
    let report = verify_bundle(text.as_bytes())
        .unwrap_or_else(|e| panic!("the bundle does not verify: {e}\n{}", server.log_text()));
    let bundle = Bundle::parse(text.as_bytes()).unwrap();
    for (i, r) in &receipts {
        bundle
            .check_receipt(r)
            .unwrap_or_else(|e| panic!("receipted entry {i}: {e}\n{}", server.log_text()));
    }
    let mut seen = HashSet::new();
    let mut in_log = BTreeSet::new();
    for e in &bundle.entries {
        if let LogEntry::Signature(s) = e {
            assert!(
                seen.insert(s.parts[0].pseudonym.clone()),
                "a pseudonym signed twice"
            );
            in_log.insert(leaf_hash(&e.leaf_bytes()));
        }
    }
    for i in &already_in {
        assert!(
            in_log.contains(&hashes[*i]),
            "entry {i} was refused as a double signature but is not in the log"
        );
    }
    let receipted_any: HashSet<usize> = receipts.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        report.summary.signatures as usize,
        receipted_any.len() + already_in.len(),
        "signatures in the log vs credentials with a receipt (plus unknowns already in)"
    );
    assert_eq!(
        in_log.len(),
        SIGNERS,
        "every credential signed exactly once"
    );
    assert_eq!(report.log_size as usize, 1 + SIGNERS);
    println!(
        "crash test ({backend}): {before_kill} receipts before kill, {} unknown ({} of them already in), {} unsent, {after_restart} accepted after restart, {} signatures in log (log size {})",
        unknown.len(),
        already_in.len(),
        unsent.len(),
        report.summary.signatures,
        report.log_size
    );
    server.kill();
}

#[test]
fn crash_sqlite_sigkill_keeps_every_receipt() {
    crash_scenario("sqlite", None);
}

#[test]
fn crash_postgres_sigkill_keeps_every_receipt() {
    let db = PgDatabase::create();
    crash_scenario("postgres", Some(db.url()));
}
