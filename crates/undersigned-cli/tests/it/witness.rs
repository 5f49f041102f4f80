//! The witness (`undersigned witness serve`) as a real process on loopback, fed by a log built
//! from core's Merkle tree and log key: it cosigns a growing log, refuses a fork (also after a
//! restart, and after a SIGKILL between its commit and its answer), serializes concurrent
//! requests, and answers malformed bodies with a 4xx that changes nothing. Cosignatures are
//! checked with `WitnessVerifier` and with crosscheck/cosignature.mjs (node, from the C2SP text).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use undersigned_core::log::{
    add_cosignatures, AddCheckpoint, Checkpoint, LogSigner, MerkleLog, WitnessVerifier,
    MAX_ADD_CHECKPOINT_BYTES,
};
use undersigned_witness::{database_path, WitnessStore, PAUSE_ENV, TLOG_SIZE};

const ORIGIN: &str = "witness-test.example/letters/abc";
const WITNESS_NAME: &str = "witness.test/w1";

/// A log under test: an honest history, or a fork signing a second one under the same key.
struct TestLog {
    tree: MerkleLog,
    signer: LogSigner,
}

impl TestLog {
    fn new(signer: &LogSigner) -> Self {
        Self {
            tree: MerkleLog::new(),
            signer: signer.clone(),
        }
    }

    fn grow(&mut self, to: u64, tag: &str) -> &mut Self {
        while self.tree.size() < to {
            let n = self.tree.size();
            self.tree.append(format!("{tag} leaf {n}").as_bytes());
        }
        self
    }

    /// The checkpoint, under the origin its signer is named by.
    fn note(&self) -> String {
        Checkpoint::new(self.signer.name(), self.tree.size(), self.tree.root())
            .sign(&self.signer)
            .unwrap()
    }

    /// The add-checkpoint body for our current checkpoint, from `old`.
    fn request(&self, old: u64) -> Vec<u8> {
        AddCheckpoint {
            old_size: old,
            proof: self
                .tree
                .prove_consistency(old, self.tree.size())
                .unwrap()
                .hashes,
            checkpoint: self.note(),
        }
        .to_body()
        .into_bytes()
    }
}

fn log_signer() -> LogSigner {
    use rand_core::SeedableRng;
    LogSigner::generate(ORIGIN, &mut rand_chacha::ChaCha20Rng::seed_from_u64(77)).unwrap()
}

/// The witness child process; dropping it kills it.
pub(crate) struct WitnessProc {
    child: Child,
    /// Kept open so the witness never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub(crate) url: String,
    pub(crate) vkey: String,
}

impl WitnessProc {
    fn start(data: &Path, logs: &[String], pause_ms: Option<u64>) -> Self {
        let args: Vec<String> = logs
            .iter()
            .flat_map(|l| ["--log".to_owned(), l.clone()])
            .collect();
        Self::start_with(data, &args, pause_ms)
    }

    /// With these arguments after `witness serve`'s own.
    pub(crate) fn start_with(data: &Path, args: &[String], pause_ms: Option<u64>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_undersigned"));
        cmd.args([
            "witness",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--name",
            WITNESS_NAME,
        ])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        cmd.args(args);
        match pause_ms {
            Some(ms) => cmd.env(PAUSE_ENV, ms.to_string()),
            None => cmd.env_remove(PAUSE_ENV),
        };
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // "witness <vkey> listening on http://127.0.0.1:PORT for <origins>"
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words.first(),
            Some(&"witness"),
            "unexpected first line {line:?}"
        );
        Self {
            child,
            _stdout: stdout,
            vkey: words[1].to_owned(),
            url: words[4].to_owned(),
        }
    }

    fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier::from_vkey(&self.vkey).unwrap()
    }

    fn add(&self, body: &[u8]) -> Answer {
        post(&format!("{}/add-checkpoint", self.url), body)
    }

    /// The monitoring endpoint: the latest cosigned checkpoint of ORIGIN, if any.
    fn latest(&self) -> Option<String> {
        self.latest_of(ORIGIN)
    }

    /// The monitoring endpoint for any origin.
    fn latest_of(&self, origin: &str) -> Option<String> {
        let hash = hex::encode(Sha256::digest(origin.as_bytes()));
        match ureq::get(&format!("{}/{hash}/checkpoint", self.url)).call() {
            Ok(r) => Some(r.into_string().unwrap()),
            Err(ureq::Error::Status(404, _)) => None,
            Err(e) => panic!("GET checkpoint: {e}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn post(url: &str, body: &[u8]) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let resp = match agent.post(url).send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    Answer {
        status: resp.status(),
        content_type: resp.content_type().to_owned(),
        body: resp.into_string().unwrap(),
    }
}

fn size_of(note: &str) -> u64 {
    note.lines().nth(1).unwrap().parse().unwrap()
}

/// Checks a cosignature line over `note` with our verifier, and returns the cosigned note.
fn accept(w: &WitnessProc, note: &str, answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer
        .body
        .starts_with(&format!("\u{2014} {WITNESS_NAME} ")));
    assert!(answer.body.ends_with('\n'));
    let cosigned = add_cosignatures(note, [&answer.body]);
    let ts = w.verifier().verify(&cosigned).unwrap();
    let now = undersigned_server::now();
    assert!(
        ts <= now && ts + 120 > now,
        "timestamp {ts} is not now ({now})"
    );
    cosigned
}

fn node_verifies(notes: &[String], vkey: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crosscheck");
    let req = json!({ "verify": notes.iter().map(|n| json!({"note": n, "vkey": vkey})).collect::<Vec<_>>() });
    let mut child = Command::new("node")
        .arg("cosignature.mjs")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is required for the cosignature cross-check (install node)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["verify"].as_array().unwrap().clone()
}

#[test]
fn witness_cosigns_a_growing_log() {
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let vkey = signer.verifier().to_vkey();
    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);

    // The key command prints the same key, which it keeps 0600.
    let out = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(["witness", "key", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), w.vkey);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("witness.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(w.latest().is_none(), "nothing cosigned yet");

    let mut log = TestLog::new(&signer);
    let mut cosigned = Vec::new();
    let mut old = 0;
    for size in [3u64, 4, 8, 9, 21, 64, 100] {
        log.grow(size, "honest");
        let note = log.note();
        let answer = w.add(&log.request(old));
        cosigned.push(accept(&w, &note, &answer));
        // The monitoring endpoint serves exactly what was cosigned.
        assert_eq!(w.latest().unwrap(), *cosigned.last().unwrap());
        old = size;
    }
    // The same checkpoint again (a retry): cosigned again, empty proof.
    let again = w.add(&log.request(100));
    accept(&w, &log.note(), &again);

    // The independent check agrees on every cosignature, and refuses one moved to another
    // checkpoint.
    let mut moved = cosigned[0].clone();
    let line = moved.split_off(moved.find("\u{2014} witness.test").unwrap());
    let other = add_cosignatures(
        &cosigned[1][..cosigned[1].find("\u{2014} witness.test").unwrap()],
        [line],
    );
    let mut notes = cosigned.clone();
    notes.push(other.clone());
    let verdicts = node_verifies(&notes, &w.vkey);
    for v in &verdicts[..cosigned.len()] {
        assert_eq!(v["ok"], true, "{v}");
    }
    assert_eq!(verdicts[cosigned.len()]["ok"], false);
    assert!(w.verifier().verify(&other).is_err());
}

#[test]
fn fail_witness_refuses_a_fork_and_keeps_refusing_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let vkey = signer.verifier().to_vkey();
    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);

    let mut honest = TestLog::new(&signer);
    honest.grow(10, "honest");
    accept(&w, &honest.note(), &w.add(&honest.request(0)));

    // The fork shares 6 leaves, then tells another story, signed by the same key.
    let mut fork = TestLog::new(&signer);
    fork.grow(6, "honest").grow(12, "fork");

    let check_refusals = |w: &WitnessProc| {
        // Claiming the witness saw 6: 409 with its real size.
        let a = w.add(&fork.request(6));
        assert_eq!(
            (a.status, a.content_type.as_str(), a.body.as_str()),
            (409, TLOG_SIZE, "10\n")
        );
        // From 10, the fork's own proof cannot lead from the witness's root: 422.
        let a = w.add(&fork.request(10));
        assert_eq!(a.status, 422, "{a:?}");
        // Same size as stored, other root: 422.
        let mut fork10 = TestLog::new(&signer);
        fork10.grow(6, "honest").grow(10, "fork");
        let a = w.add(&fork10.request(10));
        assert_eq!(a.status, 422, "{a:?}");
        // A smaller tree: 400 (old size above the checkpoint's), or 409 if it claims its own.
        let mut small = TestLog::new(&signer);
        small.grow(8, "honest");
        let claim_10 = AddCheckpoint {
            old_size: 10,
            proof: Vec::new(),
            checkpoint: small.note(),
        };
        assert_eq!(w.add(claim_10.to_body().as_bytes()).status, 400);
        assert_eq!(w.add(&small.request(8)).status, 409);
        assert_eq!(size_of(&w.latest().unwrap()), 10);
    };
    check_refusals(&w);
    w.kill();

    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);
    check_refusals(&w);
    // The honest continuation still goes through.
    honest.grow(15, "honest");
    accept(&w, &honest.note(), &w.add(&honest.request(10)));
    w.kill();

    // The inconsistent checkpoints were kept as evidence of the log's misbehaviour.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let evidence = rt.block_on(async {
        let store = WitnessStore::open(&database_path(dir.path()))
            .await
            .unwrap();
        let e = store.evidence().await.unwrap();
        store.close().await;
        e
    });
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    assert!(evidence.iter().all(|e| e.origin == ORIGIN));
    assert!(evidence.iter().any(|e| e.note == fork.note()));
    // Each was sent twice (before and after the restart): kept once, counted once more.
    assert!(evidence.iter().all(|e| e.repeats == 1), "{evidence:?}");
}

#[test]
fn witness_crash_between_commit_and_answer_never_cosigns_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let vkey = signer.verifier().to_vkey();
    let mut honest = TestLog::new(&signer);
    honest.grow(10, "honest");
    let mut all_cosigned: Vec<(u64, [u8; 32])> = Vec::new();

    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);
    accept(&w, &honest.note(), &w.add(&honest.request(0)));
    all_cosigned.push((10, honest.tree.root()));
    w.kill();

    // With the pause, the witness commits 14 and then sleeps before answering: kill it there.
    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), Some(60_000));
    honest.grow(14, "honest");
    let body = honest.request(10);
    let url = format!("{}/add-checkpoint", w.url);
    let inflight = std::thread::spawn(move || {
        ureq::post(&url)
            .timeout(Duration::from_secs(120))
            .send_bytes(&body)
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.latest().map(|n| size_of(&n)) != Some(14) {
        assert!(Instant::now() < deadline, "the witness never committed 14");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !inflight.is_finished(),
        "the answer went out before the kill"
    );
    w.kill(); // SIGKILL
    assert!(
        inflight.join().unwrap().is_err(),
        "no cosignature reached the log"
    );

    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);
    // A fork from the last size the log heard about (10): the witness remembers 14.
    let mut fork = TestLog::new(&signer);
    fork.grow(10, "honest").grow(16, "fork");
    let a = w.add(&fork.request(10));
    assert_eq!((a.status, a.body.as_str()), (409, "14\n"));
    let a = w.add(&fork.request(14));
    assert_eq!(a.status, 422, "{a:?}");
    let mut fork14 = TestLog::new(&signer);
    fork14.grow(10, "honest").grow(14, "fork");
    assert_eq!(w.add(&fork14.request(14)).status, 422);

    // The honest log learns 14 from the 409 and goes on; the lost answer can be had again.
    accept(&w, &honest.note(), &w.add(&honest.request(14)));
    all_cosigned.push((14, honest.tree.root()));
    honest.grow(16, "honest");
    accept(&w, &honest.note(), &w.add(&honest.request(14)));
    all_cosigned.push((16, honest.tree.root()));

    // Everything it cosigned lies on one history.
    for (size, root) in all_cosigned {
        assert_eq!(honest.tree.root_at(size).unwrap(), root);
    }
    assert_ne!(fork.tree.root(), honest.tree.root());
}

#[test]
fn fail_concurrent_forks_get_one_cosignature() {
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let vkey = signer.verifier().to_vkey();
    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);
    let mut honest = TestLog::new(&signer);
    honest.grow(10, "honest");
    accept(&w, &honest.note(), &w.add(&honest.request(0)));

    // Two histories that both extend 10 consistently but not each other, sent at once.
    honest.grow(14, "honest");
    let mut fork = TestLog::new(&signer);
    fork.grow(10, "honest").grow(14, "fork");
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                honest.request(10)
            } else {
                fork.request(10)
            }
        })
        .collect();
    let url = format!("{}/add-checkpoint", w.url);
    let answers: Vec<Answer> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| {
                let url = url.clone();
                s.spawn(move || post(&url, b))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    assert!(answers
        .iter()
        .all(|a| a.status == 200 || (a.status == 409 && a.body == "14\n")));
}

#[test]
fn fail_malformed_bodies_get_4xx_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let vkey = signer.verifier().to_vkey();
    let w = WitnessProc::start(dir.path(), std::slice::from_ref(&vkey), None);
    let mut log = TestLog::new(&signer);
    log.grow(5, "honest");
    accept(&w, &log.note(), &w.add(&log.request(0)));
    let before = w.latest().unwrap();

    log.grow(13, "honest");
    let good = String::from_utf8(log.request(5)).unwrap();
    let (head, note) = good.split_once("\n\n").unwrap();
    let mut lines: Vec<&str> = head.lines().collect();
    assert!(lines.len() > 2);

    let truncated_proof = format!("{}\n\n{note}", lines[..lines.len() - 1].join("\n"));
    let cut_line = format!(
        "{}\n{}\n\n{note}",
        lines[..lines.len() - 1].join("\n"),
        &lines[lines.len() - 1][..20]
    );
    lines[1] = "not base64!";
    let bad_b64 = format!("{}\n\n{note}", lines.join("\n"));
    let wrong_old = String::from_utf8(log.request(4))
        .unwrap()
        .replacen("old 4", "old 3", 1);
    let mut huge = good.clone().into_bytes();
    huge.resize(MAX_ADD_CHECKPOINT_BYTES + 1, b'A');
    let other_key = LogSigner::generate(ORIGIN, &mut rand_core::OsRng).unwrap();
    let mut stranger = TestLog::new(&other_key);
    stranger.grow(13, "honest");
    let mut tampered = good.clone().into_bytes();
    let sig_at = tampered.len() - 10;
    tampered[sig_at] = if tampered[sig_at] == b'A' { b'B' } else { b'A' };
    let other_origin = good.replacen(ORIGIN, "other.example/log", 1);

    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated proof", truncated_proof.into_bytes(), 422),
        ("proof line cut short", cut_line.into_bytes(), 400),
        ("bad base64", bad_b64.into_bytes(), 400),
        ("wrong old size", wrong_old.into_bytes(), 409),
        ("huge body", huge, 413),
        ("not UTF-8", b"old 5\n\n\xff\xfe\n".to_vec(), 400),
        ("no blank line", b"old 5\n".to_vec(), 400),
        ("empty", Vec::new(), 400),
        ("no checkpoint", b"old 5\n\n".to_vec(), 400),
        (
            "unsigned checkpoint",
            format!("old 5\n\n{ORIGIN}\n13\nAAAA\n").into_bytes(),
            400,
        ),
        ("unknown origin", other_origin.into_bytes(), 404),
        ("signed by another key", stranger.request(5), 403),
        ("tampered signature", tampered, 403),
        (
            "old above size",
            String::from_utf8(log.request(5))
                .unwrap()
                .replacen("old 5", "old 99", 1)
                .into_bytes(),
            400,
        ),
    ];
    for (what, body, status) in cases {
        let a = w.add(&body);
        assert_eq!(a.status, status, "{what}: {a:?}");
        if status == 409 {
            assert_eq!(
                (a.content_type.as_str(), a.body.as_str()),
                (TLOG_SIZE, "5\n"),
                "{what}"
            );
        } else if status != 413 {
            assert!(
                !a.body.is_empty() && !a.body.contains('\u{2014}'),
                "{what}: {a:?}"
            );
        }
        assert_eq!(
            w.latest().unwrap(),
            before,
            "{what} changed the witness's state"
        );
    }
    // And the honest request still goes through.
    accept(&w, &log.note(), &w.add(good.as_bytes()));
}

/// A letter id as an origin spells it: 64 lowercase hex digits.
fn log_id(n: u8) -> String {
    hex::encode(Sha256::digest([n]))
}

/// A log signer named `origin`, with the fixed test key (or another one).
fn signer_for(origin: &str, seed: u64) -> LogSigner {
    use rand_core::SeedableRng;
    LogSigner::generate(origin, &mut rand_chacha::ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

#[test]
fn witness_follows_every_log_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    const PREFIX: &str = "witness-test.example/letters/";
    // The prefix's verifier key: the deployment's log key, named by the prefix.
    let prefix_vkey = signer_for(PREFIX, 77).verifier().to_vkey();
    let args: Vec<String> = ["--logs-under", &prefix_vkey, "--max-logs", "2"]
        .map(String::from)
        .to_vec();
    let w = WitnessProc::start_with(dir.path(), &args, None);

    // Two logs the witness never heard of by name, each signing under its own origin (so each
    // has its own key ID) with the one key: both cosigned, and both served to monitors.
    let mut a = TestLog::new(&signer_for(&format!("{PREFIX}{}", log_id(1)), 77));
    let mut b = TestLog::new(&signer_for(&format!("{PREFIX}{}", log_id(2)), 77));
    assert_ne!(a.signer.key_id(), b.signer.key_id());
    for log in [&mut a, &mut b] {
        log.grow(5, "honest");
        let cosigned = accept(&w, &log.note(), &w.add(&log.request(0)));
        assert_eq!(w.latest_of(log.signer.name()).unwrap(), cosigned);
        log.grow(9, "honest");
        accept(&w, &log.note(), &w.add(&log.request(5)));
    }
    // Each log is held to its own history: a fork of `a` is refused.
    let mut fork = TestLog::new(&a.signer);
    fork.grow(6, "honest").grow(12, "fork");
    assert_eq!(w.add(&fork.request(9)).status, 422);

    // Outside the prefix, or the bare prefix: not followed (404), even with the same key.
    for origin in [
        format!("witness-test.example/issuers/{}", log_id(1)),
        "witness-test.example/letters".into(),
        PREFIX.into(),
        format!("other.example/letters/{}", log_id(1)),
    ] {
        let origin = origin.as_str();
        let mut log = TestLog::new(&signer_for(origin, 77));
        log.grow(3, "honest");
        let answer = w.add(&log.request(0));
        assert_eq!(answer.status, 404, "{origin}: {answer:?}");
        assert!(w.latest_of(origin).is_none(), "{origin}");
    }
    // Under the prefix but signed by another key: 403, nothing stored.
    let origin = format!("{PREFIX}{}", log_id(3));
    let mut stranger = TestLog::new(&signer_for(&origin, 78));
    stranger.grow(3, "honest");
    let answer = w.add(&stranger.request(0));
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(w.latest_of(&origin).is_none());

    // A third log under the prefix is beyond --max-logs 2: refused, nothing stored; the two
    // followed logs go on.
    let mut c = TestLog::new(&signer_for(&origin, 77));
    c.grow(3, "honest");
    let answer = w.add(&c.request(0));
    assert_eq!(answer.status, 507, "{answer:?}");
    assert!(w.latest_of(&origin).is_none());
    b.grow(11, "honest");
    accept(&w, &b.note(), &w.add(&b.request(9)));
    w.kill();

    // After a restart the witness remembers both logs (a fork from an old size gets 409 with
    // the size it cosigned), and a witness started without the prefix serves neither.
    let w = WitnessProc::start_with(dir.path(), &args, None);
    let answer = w.add(&fork.request(5));
    assert_eq!((answer.status, answer.body.as_str()), (409, "9\n"));
    assert_eq!(size_of(&w.latest_of(b.signer.name()).unwrap()), 11);
    w.kill();
    let other = signer_for("witness-test.example/elsewhere", 77)
        .verifier()
        .to_vkey();
    let w = WitnessProc::start(dir.path(), &[other], None);
    assert!(w.latest_of(a.signer.name()).is_none());
    assert_eq!(w.add(&a.request(9)).status, 404);

    // A prefix must end with '/': `.../letters` would also cover `.../letters-old/...`.
    let bad = signer_for("witness-test.example/letters", 77)
        .verifier()
        .to_vkey();
    let out = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args([
            "witness",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--logs-under",
            &bad,
        ])
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ends with '/'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the witness's database holds, read after the witness stopped: the logs kept, and the
/// evidence rows with the conflicts dropped for `origin`.
fn stored(dir: &Path, origin: &str) -> (u64, Vec<undersigned_witness::Evidence>, u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = WitnessStore::open(&database_path(dir)).await.unwrap();
        let out = (
            store.count().await.unwrap(),
            store.evidence().await.unwrap(),
            store.evidence_dropped(origin).await.unwrap(),
        );
        store.close().await;
        out
    })
}

/// Protocol v1.2 "The record": under a prefix, only the prefix plus one id of 64 lowercase hex
/// digits is an origin. Checkpoints of every other spelling, each validly signed by the real
/// log key under its own origin, are refused as unknown (404) and leave nothing behind; the
/// nested one is the attack that got a forked history cosigned.
#[test]
fn fail_witness_refuses_origins_that_are_not_the_prefix_plus_one_id() {
    let dir = tempfile::tempdir().unwrap();
    const PREFIX: &str = "witness-test.example/letters/";
    let prefix_vkey = signer_for(PREFIX, 77).verifier().to_vkey();
    let args: Vec<String> = ["--logs-under", &prefix_vkey].map(String::from).to_vec();
    let w = WitnessProc::start_with(dir.path(), &args, None);

    let id = log_id(9);
    let forged = [
        format!("{PREFIX}x/letters/{id}"),
        format!("{PREFIX}{id}/letters/{id}"),
        format!("{PREFIX}{id}/"),
        format!("{PREFIX}{id}x"),
        format!("{PREFIX}{id}0"),
        format!("{PREFIX}{}", &id[..63]),
        format!("{PREFIX}{}", id.to_uppercase()),
        format!("{PREFIX}{}G", &id[..63]),
        format!("{PREFIX}/{}", &id[..63]),
        format!("{PREFIX}{id}."),
        format!("{PREFIX}{}\u{ff10}", &id[..63]),
        format!("{PREFIX}../letters/{id}"),
    ];
    for origin in &forged {
        let mut log = TestLog::new(&signer_for(origin, 77));
        log.grow(3, "fork");
        let answer = w.add(&log.request(0));
        assert_eq!(answer.status, 404, "{origin:?}: {answer:?}");
        assert!(!answer.body.contains('\u{2014}'), "{origin:?}: {answer:?}");
        assert!(w.latest_of(origin).is_none(), "{origin:?}");
    }
    // The one valid spelling is followed.
    let mut real = TestLog::new(&signer_for(&format!("{PREFIX}{id}"), 77));
    real.grow(3, "honest");
    accept(&w, &real.note(), &w.add(&real.request(0)));
    w.kill();

    let (count, evidence, _) = stored(dir.path(), real.signer.name());
    assert_eq!(count, 1, "only the real log is stored");
    assert!(evidence.is_empty(), "{evidence:?}");
}

/// A `--max-logs` bound is per prefix (per deployment): one deployment's logs filling theirs
/// does not stop another deployment's new letter from being cosigned.
#[test]
fn fail_one_full_prefix_does_not_stop_another() {
    let dir = tempfile::tempdir().unwrap();
    const A: &str = "a.example/letters/";
    const B: &str = "b.example/letters/";
    let args: Vec<String> = [
        "--logs-under",
        &signer_for(A, 77).verifier().to_vkey(),
        "--logs-under",
        &signer_for(B, 78).verifier().to_vkey(),
        "--max-logs",
        "2",
    ]
    .map(String::from)
    .to_vec();
    let w = WitnessProc::start_with(dir.path(), &args, None);
    let mut full: Vec<TestLog> = (1..=2)
        .map(|n| TestLog::new(&signer_for(&format!("{A}{}", log_id(n)), 77)))
        .collect();
    for log in &mut full {
        log.grow(3, "junk");
        accept(&w, &log.note(), &w.add(&log.request(0)));
    }
    let mut third = TestLog::new(&signer_for(&format!("{A}{}", log_id(3)), 77));
    third.grow(3, "junk");
    assert_eq!(w.add(&third.request(0)).status, 507);

    // B's first and second letters still get cosigned, then B is full too.
    for n in 1..=2 {
        let mut log = TestLog::new(&signer_for(&format!("{B}{}", log_id(n)), 78));
        log.grow(4, "letter");
        accept(&w, &log.note(), &w.add(&log.request(0)));
    }
    let mut b3 = TestLog::new(&signer_for(&format!("{B}{}", log_id(3)), 78));
    b3.grow(4, "letter");
    assert_eq!(w.add(&b3.request(0)).status, 507);
    w.kill();
    assert_eq!(stored(dir.path(), "").0, 4);

    // After a restart, a new log under the full prefix first, then its two logs: refused, and
    // both still followed.
    let w = WitnessProc::start_with(dir.path(), &args, None);
    assert_eq!(w.add(&third.request(0)).status, 507);
    for log in &mut full {
        log.grow(5, "junk");
        accept(&w, &log.note(), &w.add(&log.request(3)));
    }
    w.kill();
    assert_eq!(stored(dir.path(), "").0, 4);
}

/// Bytes of the witness's database with its WAL (and shared-memory index).
fn database_bytes(dir: &Path) -> u64 {
    let db = database_path(dir);
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
        })
        .sum()
}

/// Conflicting checkpoints, validly signed by the log's own key and padded to the largest
/// note, are kept as evidence only once per (log, size) and for a bounded number of sizes;
/// the rest are counted. Before, each was kept: 3,000 took about 98 MB.
#[test]
fn fail_conflicting_checkpoints_keep_the_witness_database_bounded() {
    use base64::Engine as _;
    use rand_core::RngCore as _;
    let dir = tempfile::tempdir().unwrap();
    let signer = log_signer();
    let w = WitnessProc::start(dir.path(), &[signer.verifier().to_vkey()], None);
    let mut honest = TestLog::new(&signer);
    honest.grow(10, "honest");
    accept(&w, &honest.note(), &w.add(&honest.request(0)));
    let before = database_bytes(dir.path());

    // A signature line by a key nobody trusts, ignored by the witness but stored with the
    // note: it brings each note near the 16 KiB a note may have.
    let mut pad = vec![0u8; 11_000];
    rand_core::OsRng.fill_bytes(&mut pad);
    let pad = format!(
        "\u{2014} pad.example/junk {}\n",
        base64::engine::general_purpose::STANDARD.encode(pad)
    );
    const N: u64 = 3_000;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let url = format!("{}/add-checkpoint", w.url);
    for i in 0..N {
        let mut root = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut root);
        // Half at the size the witness cosigned (another root: a fork), half at larger sizes
        // with a proof that does not lead there.
        let (size, proof) = if i % 2 == 0 {
            (10, Vec::new())
        } else {
            (11 + i, vec![root])
        };
        let note = Checkpoint::new(ORIGIN, size, root).sign(&signer).unwrap();
        let body = AddCheckpoint {
            old_size: 10,
            proof,
            checkpoint: add_cosignatures(&note, [&pad]),
        }
        .to_body();
        let status = match agent.post(&url).send_bytes(body.as_bytes()) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("POST: {e}"),
        };
        assert_eq!(status, 422, "conflict {i}");
    }
    assert_eq!(size_of(&w.latest().unwrap()), 10);
    let after = database_bytes(dir.path());
    eprintln!(
        "witness database with WAL: {before} bytes before, {after} after {N} conflicting \
         checkpoints of {} bytes",
        pad.len() + 100
    );
    // Every note is above 14 KiB: keeping them all would take over 40 MB.
    assert!(
        after < 8 * 1024 * 1024,
        "{after} bytes after {N} conflicting checkpoints"
    );
    w.kill();

    let (_, evidence, dropped) = stored(dir.path(), ORIGIN);
    assert!(
        !evidence.is_empty() && evidence.len() as u64 <= undersigned_witness::MAX_EVIDENCE_PER_LOG,
        "{} rows",
        evidence.len()
    );
    let same_size = evidence.iter().find(|e| e.size == Some(10)).unwrap();
    assert_eq!(same_size.repeats, N / 2 - 1);
    let counted: u64 = evidence.iter().map(|e| 1 + e.repeats).sum::<u64>() + dropped;
    assert_eq!(counted, N, "every conflict is kept or counted");
    assert!(evidence.iter().all(|e| e.origin == ORIGIN));
}
