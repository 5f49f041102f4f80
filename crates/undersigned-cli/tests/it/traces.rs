//! What the server leaves at rest (issue 14, findings 1, 2 and 5): a forensic examiner's view of
//! every file `undersigned serve` wrote after a whole letter, and dev mode kept on loopback.
//!
//! The flow runs against the real binary on SQLite with codes mailed over SMTP to a test
//! outbox: 30 credentials, 30 signatures and 5 withdrawals over several batches, close,
//! delivery, and one more credential just before the copy. Then every file the server wrote (database, WAL, shared memory, key file, its
//! log) is read as raw bytes and searched for what would identify or time a person: each
//! submission's arrival time and each code request's time in every encoding we know, every
//! code, code hash, request token and code tag, every signer's address, the tag key, and the
//! client's IP address. Only the recipients' addresses may be there (they are in the letter).
//!
//! Times are only compared at seconds when the server did nothing public (submissions and code
//! requests are made in the second half of each 4-second publish interval, batches go out at
//! its start); a second that nevertheless coincides with a time the server keeps by design
//! (a checkpoint, the letter's own times, a log line's stamp) is left out and counted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::OsRng;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential, IssuanceResponse,
};
use undersigned_core::entry::{present, Action, DisclosureChoice, SmallOrgConsent};
use undersigned_core::ids::{AgeBand, Email, Epoch, IssuerId, Role};
use undersigned_core::letter::{AllowedDisclosures, Letter, Visibility};
use undersigned_core::log::Receipt;
use undersigned_outbox::Outbox;
use undersigned_server::api::issuance::{CodeSent, CredentialIssued, DeploymentInfo};
use undersigned_server::api::letters::{Created, LetterInput, LetterView, Opened, PolicyInput};

const EPOCH: &str = "2026-Q4";
const INTERVAL: u64 = 4;
const SIGNERS: usize = 30;
const WITHDRAWALS: usize = 5;
const RECIPIENT: &str = "rae.recipient@recipient.test";
/// The server listens here; the client connects from 127.0.0.1 (the kernel's source address
/// for the loopback network), the mail relay listens on 127.0.0.4.
const SERVER_IP: &str = "127.0.0.2";
const CLIENT_IP: &str = "127.0.0.1";
const RELAY_IP: &str = "127.0.0.4";

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Waits until the clock is in the quiet part of a publish interval: 2.05 s to 3.7 s after a
/// boundary, when no batch, checkpoint or issuer statement is due.
fn wait_quiet() {
    loop {
        let phase = unix_millis() % (INTERVAL * 1000);
        if (2050..3700).contains(&phase) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn quiet_second(t: u64) -> bool {
    matches!(t % INTERVAL, 2 | 3)
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, tag_key: &Path, relay: std::net::SocketAddr, log: &Path) -> Server {
    let port = free_port(SERVER_IP);
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(["serve", "--listen", &format!("{SERVER_IP}:{port}")])
        .arg("--data")
        .arg(data)
        .arg("--tag-key-file")
        .arg(tag_key)
        .args(["--smtp", &relay.to_string(), "--smtp-tls", "none"])
        .args([
            "--publish-interval",
            &INTERVAL.to_string(),
            "--epoch",
            EPOCH,
        ])
        .args(["--host", "forensic.test"])
        // What a deployment logs: the default level.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        url: format!("http://{SERVER_IP}:{port}"),
        log: log.to_owned(),
    };
    let started = Instant::now();
    while ureq::get(&format!("{}/api/v1/deployment", server.url))
        .call()
        .is_err()
    {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("the server exited with {status}:\n{}", server.log_text());
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn get<T: DeserializeOwned>(url: &str) -> T {
    match ureq::get(url).call() {
        Ok(r) => r.into_json().unwrap(),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn post<T: DeserializeOwned>(url: &str, body: &serde_json::Value, token: Option<&str>) -> T {
    let mut req = ureq::post(url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    match req.send_json(body) {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!("POST {url}: {code} {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// What the examiner looks for about one code request.
struct CodeTrace {
    code: String,
    request_token: String,
    /// Seconds in which the request was made.
    asked: (u64, u64),
}

fn code_from_mail(rt: &tokio::runtime::Runtime, outbox: &Outbox, email: &str) -> String {
    let mail = rt
        .block_on(outbox.wait_for(|m| m.to.iter().any(|t| t == email), Duration::from_secs(10)))
        .expect("a code mail");
    mail.body_text
        .split_whitespace()
        .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
        .expect("a code in the mail")
        .to_owned()
}

fn obtain(
    rt: &tokio::runtime::Runtime,
    outbox: &Outbox,
    base: &str,
    info: &DeploymentInfo,
    email: &str,
) -> (Credential, CodeTrace) {
    let before = undersigned_server::now();
    let sent: CodeSent = post(
        &format!("{base}/api/v1/issuance/code"),
        &serde_json::json!({ "email": email }),
        None,
    );
    let after = undersigned_server::now();
    let code = code_from_mail(rt, outbox, email);
    let (req, pending) = request_credential(&mut OsRng).unwrap();
    let issued: CredentialIssued = post(
        &format!("{base}/api/v1/issuance/credential"),
        &serde_json::json!({
            "email": email, "code": code, "request_token": sent.request_token,
            "commitments": [{"epoch": EPOCH, "commitment": URL_SAFE_NO_PAD.encode(req.commitment)}],
            "role": "unspecified", "age_band": "unspecified",
        }),
        None,
    );
    assert_eq!(issued.issuer_public_key, info.issuer.public_key);
    let pk = undersigned_core::bbs::PublicKey::from_slice(
        &URL_SAFE_NO_PAD.decode(&issued.issuer_public_key).unwrap(),
    )
    .unwrap();
    let blind = &issued.credentials[0];
    let response = IssuanceResponse::from_slices(
        &URL_SAFE_NO_PAD.decode(&blind.signature).unwrap(),
        &URL_SAFE_NO_PAD.decode(&blind.nym_entropy).unwrap(),
    )
    .unwrap();
    let attributes = Attributes::new(
        Email::parse(email).unwrap(),
        Epoch::parse(EPOCH).unwrap(),
        Role::unspecified(),
        AgeBand::Unspecified,
    );
    let credential = receive_credential(pending, &response, &pk, attributes).unwrap();
    (
        credential,
        CodeTrace {
            code,
            request_token: sent.request_token,
            asked: (before, after),
        },
    )
}

/// Every encoding of a unix time we could think of that a store, a serializer or a logger
/// would write. Decimal seconds also cover milliseconds and microseconds (a prefix of them).
fn time_needles(t: u64) -> Vec<(String, Vec<u8>)> {
    let (y, m, d) = undersigned_core::encoding::civil(t);
    let s = t % 86_400;
    let (hh, mm, ss) = (s / 3600, s % 3600 / 60, s % 60);
    let t32 = u32::try_from(t).unwrap();
    vec![
        ("decimal".into(), t.to_string().into_bytes()),
        ("i64 big-endian".into(), t.to_be_bytes().to_vec()),
        ("i64 little-endian".into(), t.to_le_bytes().to_vec()),
        // SQLite stores an integer below 2^31 in four big-endian bytes.
        ("i32 big-endian".into(), t32.to_be_bytes().to_vec()),
        ("i32 little-endian".into(), t32.to_le_bytes().to_vec()),
        (
            "RFC 3339".into(),
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}").into_bytes(),
        ),
        (
            "SQL datetime".into(),
            format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}").into_bytes(),
        ),
        ("hex".into(), hex::encode(t.to_be_bytes()).into_bytes()),
    ]
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, by path.
fn read_all(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_all(&path, out);
        } else {
            // A file can vanish between listing and reading (the WAL, at shutdown).
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
}

/// Times the server keeps by design, read from a copy of the database: checkpoints, issuer
/// statements, the letter's and the deliveries' times.
fn kept_times(data: &Path) -> BTreeSet<u64> {
    let copy = tempfile::tempdir().unwrap();
    for f in ["undersigned.db", "undersigned.db-wal", "undersigned.db-shm"] {
        let _ = std::fs::copy(data.join(f), copy.path().join(f));
    }
    let url = format!("sqlite://{}", copy.path().join("undersigned.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut out = BTreeSet::new();
        for q in [
            "SELECT created_at FROM checkpoints",
            "SELECT created_at FROM issuer_log_checkpoints",
            "SELECT created_at FROM letters UNION SELECT opened_at FROM letters WHERE opened_at IS NOT NULL UNION SELECT closed_at FROM letters WHERE closed_at IS NOT NULL",
            "SELECT next_attempt_at FROM deliveries UNION SELECT delivered_at FROM deliveries WHERE delivered_at IS NOT NULL",
        ] {
            let rows: Vec<i64> = sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap();
            out.extend(rows.into_iter().map(|t| t as u64));
        }
        c.close().await.unwrap();
        out
    })
}

/// Seconds of the server log's own line stamps (`2026-11-24T19:31:13.123456Z`): the
/// publisher's events, public by nature.
fn log_line_seconds(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|l| l.get(..19))
        .filter(|s| s.as_bytes().get(10) == Some(&b'T'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn forensic_files_hold_no_time_code_address_or_ip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tag_key = dir.path().join("secrets").join("tag.key");
    let log = dir.path().join("server.log");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outbox = rt
        .block_on(Outbox::start(format!("{RELAY_IP}:0").parse().unwrap()))
        .unwrap();
    let server = start(&data, &tag_key, outbox.addr(), &log);
    let base = server.url.clone();
    let info: DeploymentInfo = get(&format!("{base}/api/v1/deployment"));
    let domain = "state.gov";

    // The organizer's letter, to one recipient.
    let input = LetterInput {
        title: "Forensic letter".into(),
        body: "Nothing about who signed, or when, may stay behind.".into(),
        recipients: vec![undersigned_core::letter::Recipient {
            name: "Rae Recipient".into(),
            address: RECIPIENT.into(),
            role: None,
        }],
        policy: PolicyInput {
            threshold: None,
            orgs: vec![domain.into()],
            disclosures: AllowedDisclosures::default(),
            k: None,
            deadline: undersigned_server::now() + 3600,
            visibility: Visibility::Public,
            publish_interval_secs: Some(INTERVAL),
            epochs: vec![],
            issuers: vec![],
            comments: None,
        },
        response_days: None,
        reminder_days: vec![],
    };
    let created: Created = post(
        &format!("{base}/api/v1/letters"),
        &serde_json::to_value(&input).unwrap(),
        None,
    );
    let opened: Opened = post(
        &format!("{base}/api/v1/letters/{}/open", created.handle),
        &serde_json::json!({}),
        Some(&created.organizer_token),
    );
    let letter_id = opened.letter_id;
    let view: LetterView = get(&format!("{base}/api/v1/letters/{letter_id}"));
    let letter: Letter = view.letter.canonicalize().unwrap();

    // Credentials, asked for only in quiet seconds.
    let tag: u32 = rand::random();
    let mut emails: Vec<String> = (0..SIGNERS)
        .map(|i| format!("signer{i}.x{tag:08x}@{domain}"))
        .collect();
    let mut credentials = Vec::new();
    let mut codes = Vec::new();
    for email in &emails {
        wait_quiet();
        let (c, trace) = obtain(&rt, &outbox, &base, &info, email);
        credentials.push(c);
        codes.push(trace);
    }
    let sets: PublishedSets = get(&format!(
        "{base}/api/v1/issuer/anonymity-sets?epoch={EPOCH}"
    ));
    let entry = |c: &Credential, action: Action| {
        present(
            c,
            &letter,
            action,
            DisclosureChoice::default(),
            None,
            &sets,
            SmallOrgConsent::Given,
        )
        .unwrap()
    };
    let mut work: Vec<_> = credentials.iter().map(|c| entry(c, Action::Sign)).collect();
    work.extend(
        credentials
            .iter()
            .take(WITHDRAWALS)
            .map(|c| entry(c, Action::Withdraw)),
    );

    // Submissions in quiet seconds, a few per interval, so they fall into several batches.
    let mut receipts: Vec<Receipt> = Vec::new();
    for chunk in work.chunks(8) {
        wait_quiet();
        for e in chunk {
            let r: Receipt = post(
                &format!("{base}/api/v1/letters/{letter_id}/entries"),
                &serde_json::to_value(e).unwrap(),
                None,
            );
            receipts.push(r);
        }
        // The withdrawals come after their signatures' batch.
        std::thread::sleep(Duration::from_millis(2000));
    }
    let batches: BTreeSet<u64> = receipts.iter().map(|r| r.include_by).collect();
    assert!(batches.len() >= 3, "several batches: {batches:?}");

    // Every promise kept, then close and deliver.
    let due = receipts.iter().map(|r| r.include_by).max().unwrap() + 2;
    while undersigned_server::now() <= due {
        std::thread::sleep(Duration::from_millis(200));
    }
    let view: LetterView = get(&format!("{base}/api/v1/letters/{letter_id}"));
    assert_eq!(view.log_size as usize, 1 + SIGNERS + WITHDRAWALS);
    let _: serde_json::Value = post(
        &format!("{base}/api/v1/letters/{}/close", created.handle),
        &serde_json::json!({}),
        Some(&created.organizer_token),
    );
    rt.block_on(outbox.wait_for(
        |m| m.to.iter().any(|t| t == RECIPIENT),
        Duration::from_secs(30),
    ))
    .expect("the delivery mail");
    // Someone gets a credential for later letters just before the copy is taken: the code row
    // was written and deleted moments ago, so only the store's scrub stands between it and
    // the WAL.
    let late = format!("late.x{tag:08x}@{domain}");
    wait_quiet();
    let (_, trace) = obtain(&rt, &outbox, &base, &info, &late);
    codes.push(trace);
    emails.push(late);
    // A few publisher ticks, so whatever it scrubs is scrubbed.
    std::thread::sleep(Duration::from_millis(2500));

    // The examiner's copy, taken while the server runs, and again after it was killed.
    let mut files = Vec::new();
    read_all(&data, &mut files);
    let log_while_running = std::fs::read(&log).unwrap();
    let kept = kept_times(&data);
    drop(server);
    let mut after = Vec::new();
    read_all(&data, &mut after);
    files.extend(after);
    files.push((log.clone(), std::fs::read(&log).unwrap()));
    files.push((log.clone(), log_while_running));
    let names: BTreeSet<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains("undersigned.db") && names.contains("keys.json"),
        "{names:?}"
    );
    let log_text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let log_seconds = log_line_seconds(&log_text);

    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    let mut left_out = 0usize;
    let mut compared = 0usize;
    let mut time_ok = |t: u64, what: &str, needles: &mut Vec<(String, Vec<u8>)>| {
        let stamp = &time_needles(t)[5].1;
        if kept.contains(&t) || log_seconds.contains(String::from_utf8_lossy(stamp).as_ref()) {
            left_out += 1;
            return;
        }
        compared += 1;
        for (enc, n) in time_needles(t) {
            needles.push((format!("{what} {t} as {enc}"), n));
        }
    };
    for (i, r) in receipts.iter().enumerate() {
        assert!(
            quiet_second(r.received_at),
            "submission {i} landed outside the quiet seconds ({}); the machine is too slow for this test",
            r.received_at
        );
        time_ok(r.received_at, &format!("submission {i}"), &mut needles);
    }
    let issuer: IssuerId = info.issuer.id;
    let secret: [u8; 32] = {
        let mut k = [0u8; 32];
        hex::decode_to_slice(std::fs::read_to_string(&tag_key).unwrap().trim(), &mut k).unwrap();
        k
    };
    let normalized = |e: &str| Email::parse(e).unwrap();
    for (i, c) in codes.iter().enumerate() {
        for t in c.asked.0..=c.asked.1 {
            if quiet_second(t) {
                time_ok(t, &format!("code request {i}"), &mut needles);
                // expires_at: the request time plus the code's lifetime (15 minutes).
                time_ok(t + 900, &format!("code {i} expiry"), &mut needles);
            }
        }
        needles.push((format!("code {i}"), c.code.clone().into_bytes()));
        needles.push((
            format!("code {i} hash"),
            Sha256::digest(c.code.as_bytes()).to_vec(),
        ));
        needles.push((
            format!("request token {i}"),
            c.request_token.clone().into_bytes(),
        ));
        needles.push((
            format!("request token {i} hash"),
            Sha256::digest(c.request_token.as_bytes()).to_vec(),
        ));
        let email = normalized(&emails[i]);
        needles.push((
            format!("code tag of signer {i}"),
            undersigned_core::issuer::code_tag(&secret, &issuer, &email).to_vec(),
        ));
    }
    for (i, e) in emails.iter().enumerate() {
        needles.push((format!("address of signer {i}"), e.clone().into_bytes()));
        needles.push((
            format!("local part of signer {i}"),
            e.split('@').next().unwrap().as_bytes().to_vec(),
        ));
    }
    needles.push(("the tag key".into(), secret.to_vec()));
    needles.push((
        "the tag key in hex".into(),
        hex::encode(secret).into_bytes(),
    ));
    needles.push((
        "the client's IP address".into(),
        CLIENT_IP.as_bytes().to_vec(),
    ));
    needles.push((
        "the client's IP address as bytes".into(),
        vec![127, 0, 0, 1],
    ));
    assert!(
        compared >= 2 * (SIGNERS + WITHDRAWALS),
        "only {compared} times could be compared ({left_out} coincided with kept times)"
    );

    let mut found = Vec::new();
    for (what, needle) in &needles {
        for (path, bytes) in &files {
            if find(bytes, needle) {
                found.push(format!("{what} in {}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the files remember:\n{}",
        found.join("\n")
    );

    // The search finds what is there by design, so its silence above means something: the
    // recipient's address (in the letter), and each address's tag of this epoch (the one
    // credential per address rule; useless without the tag key, which is elsewhere).
    let db: Vec<u8> = files
        .iter()
        .filter(|(p, _)| p.starts_with(&data))
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(find(&db, RECIPIENT.as_bytes()));
    let epoch = Epoch::parse(EPOCH).unwrap();
    for e in emails.iter().take(SIGNERS) {
        let t = undersigned_core::issuer::address_tag(&secret, &issuer, &epoch, &normalized(e));
        assert!(find(&db, &t), "the issued tag of {e}");
    }
    println!(
        "forensic: {} files, {} needles, {compared} times compared, {left_out} left out as kept times, {} batches",
        names.len(),
        needles.len(),
        batches.len()
    );
}

#[test]
fn fail_dev_mode_refuses_a_public_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let out = Command::new(env!("CARGO_BIN_EXE_undersigned"))
            .args(["serve", "--dev", "--listen", listen])
            .arg("--data")
            .arg(dir.path().join("data"))
            .arg("--tag-key-file")
            .arg(dir.path().join("tag.key"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("loopback") && err.contains("/dev/outbox"),
            "{listen}: {err}"
        );
        // Refused before anything was created.
        assert!(!dir.path().join("data").exists(), "{listen}");
    }
}
