//! Several `undersigned serve` processes on one PostgreSQL database, behind Debian's haproxy:
//! the load bench runs through the proxy, the process that publishes is killed with SIGKILL in
//! the middle, and another takes over. Every receipted signature must reach the log by its
//! promise plus the takeover time, no entry may be logged twice, and every checkpoint any
//! process served must be consistent with every other (consistency proofs, checked with the
//! core's verifier). Also: a second `serve` on one SQLite file is refused, naming the first.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use undersigned_core::bundle::{verify_bundle, Bundle};
use undersigned_core::log::{leaf_hash, verify_consistency, Checkpoint, LogVerifier, Receipt};
use undersigned_core::record::LogEntry;
use undersigned_server::api::letters::LetterView;
use undersigned_server::api::read::{ConsistencyView, TallyView};

use crate::crash::{describe, free_port, get_json, new_agent, now, PgDatabase, Server};

/// Signers the load bench brings; enough that its submissions outlast the kill.
const SIGNERS: usize = 400;
/// Longest a takeover may take: PostgreSQL ends the dead leader's session when its socket
/// closes, and every process asks for the lock each tick (500 ms).
const TAKEOVER_LIMIT: Duration = Duration::from_secs(10);
/// How often the watcher asks each process for its checkpoint.
const POLL: Duration = Duration::from_millis(200);

/// haproxy, started on its own config; killed when dropped.
struct Proxy {
    child: Child,
    url: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed_haproxy() -> Option<PathBuf> {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Debian's haproxy; on a fresh machine the test installs it with the project's own
/// `scripts/setup`, so `cargo test --workspace` needs nothing set up beforehand.
fn haproxy_binary() -> PathBuf {
    if let Some(p) = installed_haproxy() {
        return p;
    }
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/setup");
    let out = Command::new("bash").arg(&setup).output().unwrap();
    assert!(
        out.status.success(),
        "scripts/setup could not install haproxy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    installed_haproxy().expect("scripts/setup ran, yet haproxy is not installed")
}

/// Round robin over the servers, with health checks so a dead one leaves the rotation; a
/// request that fails to connect is sent to another server.
fn start_proxy(dir: &Path, servers: &[&Server]) -> Proxy {
    let port = free_port();
    let mut cfg = format!(
        "global\n  maxconn 512\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n  retries 3\n  option redispatch\nfrontend front\n  bind 127.0.0.1:{port}\n  default_backend servers\nbackend servers\n  balance roundrobin\n  option httpchk GET /api/v1/deployment\n  default-server inter 300ms fall 2 rise 2\n"
    );
    for (i, s) in servers.iter().enumerate() {
        let addr = s.url.trim_start_matches("http://");
        cfg.push_str(&format!("  server s{i} {addr} check\n"));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let child = Command::new(haproxy_binary())
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let proxy = Proxy {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let agent = new_agent();
    let started = Instant::now();
    while agent
        .get(&format!("{}/api/v1/deployment", proxy.url))
        .call()
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "haproxy did not answer: {}",
            std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    proxy
}

/// What `load-bench --receipts-out` writes.
#[derive(serde::Deserialize)]
struct ReceiptsOut {
    letter_id: String,
    receipts: Vec<Receipt>,
}

const ELECTED: &str = "publisher leadership taken";

/// Which servers said they took the leadership.
fn leaders(servers: &[Server]) -> Vec<usize> {
    servers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.log_text().contains(ELECTED))
        .map(|(i, _)| i)
        .collect()
}

/// One checkpoint as served by one process, and when (unix milliseconds).
#[derive(Debug, Clone)]
struct Seen {
    server: usize,
    at_ms: u64,
    note: String,
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn cluster_three_servers_one_postgres_survive_the_publisher_sigkill() {
    let db = PgDatabase::create();
    let url = db.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The first makes the deployment's keys; the others read them (one deployment).
    let mut servers = vec![Server::start(&data, Some(&url), &dir.path().join("s0.log"))];
    for i in 1..3 {
        servers.push(Server::start(
            &data,
            Some(&url),
            &dir.path().join(format!("s{i}.log")),
        ));
    }
    let proxy = start_proxy(dir.path(), &servers.iter().collect::<Vec<_>>());

    // Exactly one leads.
    let started = Instant::now();
    while leaders(&servers).is_empty() {
        assert!(
            started.elapsed() < TAKEOVER_LIMIT,
            "no process took the leadership"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let first = leaders(&servers);
    assert_eq!(first.len(), 1, "more than one process leads: {first:?}");
    let leader = first[0];

    // The load bench, through haproxy, as its own process.
    let receipts_path = dir.path().join("receipts.json");
    let bench_log = dir.path().join("bench.log");
    let mut bench = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(["load-bench", "--server", &proxy.url, "--concurrency", "6"])
        .args(["--signers", &SIGNERS.to_string()])
        .arg("--receipts-out")
        .arg(&receipts_path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("bench.out")).unwrap())
        .stderr(std::fs::File::create(&bench_log).unwrap())
        .spawn()
        .unwrap();

    // The letter the bench opens: the only one listed.
    let agent = new_agent();
    let started = Instant::now();
    let letter_id = loop {
        let list: Vec<LetterView> = get_json(&agent, &format!("{}/api/v1/letters", proxy.url));
        if let Some(id) = list.first().and_then(|v| v.letter_id.clone()) {
            break id;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no letter");
        std::thread::sleep(Duration::from_millis(100));
    };

    // The watcher: every process's published checkpoint, several times a second.
    let seen: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    // Each process's tally reads: (server, log size it counts, published size it shows).
    let tallies: Mutex<Vec<(usize, u64, u64)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let dead: Mutex<HashSet<usize>> = Mutex::new(HashSet::new());
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let mut killed_at_ms = 0;
    let mut takeover = Duration::ZERO;
    let mut new_leader = leader;
    std::thread::scope(|scope| {
        // Stops the watcher however this scope ends, so a failed assertion cannot hang it.
        let _stop = StopOnDrop(&stop);
        scope.spawn(|| {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(2))
                .build();
            while !stop.load(Ordering::SeqCst) {
                for (i, u) in urls.iter().enumerate() {
                    if dead.lock().unwrap().contains(&i) {
                        continue;
                    }
                    let at_ms = now_ms();
                    if let Ok(r) = agent
                        .get(&format!("{u}/api/v1/letters/{letter_id}/checkpoint"))
                        .call()
                    {
                        let note = r.into_string().unwrap();
                        seen.lock().unwrap().push(Seen {
                            server: i,
                            at_ms,
                            note,
                        });
                    }
                    if let Ok(r) = agent
                        .get(&format!("{u}/api/v1/letters/{letter_id}/tally"))
                        .call()
                    {
                        let t: TallyView = r.into_json().unwrap();
                        tallies
                            .lock()
                            .unwrap()
                            .push((i, t.log_size, t.published_size));
                    }
                }
                std::thread::sleep(POLL);
            }
        });

        // In the middle of the submissions: once the bench fires and a batch went out.
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&bench_log).unwrap_or_default();
            if log.contains("firing") {
                break;
            }
            if let Some(status) = bench.try_wait().unwrap() {
                panic!("the load bench ended before firing ({status}):\n{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "the bench never fired"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            bench.try_wait().unwrap().is_none(),
            "the bench finished before the kill; the test would prove nothing"
        );
        dead.lock().unwrap().insert(leader);
        killed_at_ms = now_ms();
        let kill_instant = Instant::now();
        servers[leader].kill();
        loop {
            let now_leading: Vec<usize> = leaders(&servers)
                .into_iter()
                .filter(|i| *i != leader)
                .collect();
            if let Some(i) = now_leading.first() {
                takeover = kill_instant.elapsed();
                new_leader = *i;
                assert_eq!(now_leading.len(), 1, "two processes took over");
                break;
            }
            assert!(
                kill_instant.elapsed() < TAKEOVER_LIMIT,
                "no process took over within {TAKEOVER_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = bench.wait().unwrap();
        eprintln!(
            "cluster: load bench ended with {status}:\n{}",
            std::fs::read_to_string(dir.path().join("bench.out")).unwrap_or_default()
        );

        // Every promise is due by the latest include_by plus the takeover: wait it out.
        let out: ReceiptsOut =
            serde_json::from_slice(&std::fs::read(&receipts_path).unwrap()).unwrap();
        let due =
            out.receipts.iter().map(|r| r.include_by).max().unwrap_or(0) + takeover.as_secs() + 2;
        assert!(
            due <= now() + 120,
            "receipts promise inclusion too far ahead"
        );
        while now() <= due {
            std::thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, Ordering::SeqCst);
    });
    let seen = seen.into_inner().unwrap();
    let out: ReceiptsOut = serde_json::from_slice(&std::fs::read(&receipts_path).unwrap()).unwrap();
    assert_eq!(out.letter_id, letter_id);
    assert!(
        out.receipts.len() >= SIGNERS / 2,
        "only {} receipts of {SIGNERS}",
        out.receipts.len()
    );

    // The final record, through the proxy: it verifies, and no entry is in it twice.
    let text = match agent
        .get(&format!("{}/api/v1/letters/{letter_id}/bundle", proxy.url))
        .call()
    {
        Ok(r) => r.into_string().unwrap(),
        Err(e) => panic!("bundle: {}", describe(e)),
    };
    let report = verify_bundle(text.as_bytes()).unwrap();
    let bundle = Bundle::parse(text.as_bytes()).unwrap();
    let mut hashes = HashSet::new();
    for e in &bundle.entries {
        assert!(
            hashes.insert(leaf_hash(&e.leaf_bytes())),
            "an entry is logged twice"
        );
    }
    let signatures = bundle
        .entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Signature(_)))
        .count();
    assert_eq!(report.summary.signatures as usize, signatures);

    // Every receipt's entry is in the log, and was served under a checkpoint by its promise
    // plus the takeover (plus one poll of the watcher).
    let view: LetterView = get_json(&agent, &format!("{}/api/v1/letters/{letter_id}", proxy.url));
    let verifier = LogVerifier::from_vkey(view.log_key.as_deref().unwrap()).unwrap();
    let origin = Checkpoint::open(bundle.checkpoint.as_deref().unwrap(), &verifier, None)
        .unwrap()
        .origin;
    let opened: Vec<(Seen, Checkpoint)> = seen
        .iter()
        .map(|s| {
            let cp = Checkpoint::open(&s.note, &verifier, Some(&origin))
                .unwrap_or_else(|e| panic!("server {} served a bad checkpoint: {e}", s.server));
            (s.clone(), cp)
        })
        .collect();
    let slack_ms = takeover.as_millis() as u64 + 2 * POLL.as_millis() as u64 + 1000;
    let mut late = 0;
    let mut after_kill = 0;
    for r in &out.receipts {
        let index = bundle
            .check_receipt(r)
            .unwrap_or_else(|e| panic!("receipt: {e}")) as u64;
        let first = opened
            .iter()
            .filter(|(_, cp)| cp.size > index)
            .map(|(s, _)| s.at_ms)
            .min()
            .unwrap_or_else(|| panic!("entry {index} was never served under a checkpoint"));
        if first > r.include_by * 1000 + slack_ms {
            late += 1;
        }
        if r.received_at * 1000 >= killed_at_ms {
            after_kill += 1;
        }
    }
    assert_eq!(late, 0, "{late} receipted entries were published after their promise plus the takeover ({takeover:?})");

    // Each process's reads only move forward.
    for i in 0..servers.len() {
        let sizes: Vec<u64> = opened
            .iter()
            .filter(|(s, _)| s.server == i)
            .map(|(_, cp)| cp.size)
            .collect();
        assert!(
            sizes.windows(2).all(|w| w[0] <= w[1]),
            "server {i} served a checkpoint older than one it served before: {sizes:?}"
        );
    }
    // Each process's tally follows the log the leader grows: it counts at least what the
    // checkpoint it shows covers, and never less than before.
    let tallies = tallies.into_inner().unwrap();
    let mut grown = 0;
    for i in 0..servers.len() {
        let mine: Vec<(u64, u64)> = tallies
            .iter()
            .filter(|t| t.0 == i)
            .map(|t| (t.1, t.2))
            .collect();
        for (log_size, published) in &mine {
            assert!(
                log_size >= published,
                "server {i}'s tally counts {log_size} entries under a checkpoint of {published}"
            );
        }
        assert!(
            mine.windows(2).all(|w| w[0].0 <= w[1].0),
            "server {i}'s tally went back: {mine:?}"
        );
        if i != leader && mine.first().map(|m| m.0) < mine.last().map(|m| m.0) {
            grown += 1;
        }
    }
    assert!(
        grown > 0,
        "no process but the first leader showed the log grow"
    );
    // One root per size, and consistency proofs between consecutive sizes, up to the bundle's.
    let mut by_size: BTreeMap<u64, Checkpoint> = BTreeMap::new();
    for (s, cp) in &opened {
        if let Some(other) = by_size.get(&cp.size) {
            assert_eq!(
                other.root, cp.root,
                "two roots for size {} (server {})",
                cp.size, s.server
            );
        }
        by_size.insert(cp.size, cp.clone());
    }
    let last = Checkpoint::open(
        bundle.checkpoint.as_deref().unwrap(),
        &verifier,
        Some(&origin),
    )
    .unwrap();
    by_size.entry(last.size).or_insert(last.clone());
    assert_eq!(by_size.get(&last.size).unwrap().root, last.root);
    let servers_seen: HashSet<usize> = opened.iter().map(|(s, _)| s.server).collect();
    assert_eq!(
        servers_seen.len(),
        3,
        "not every process served checkpoints"
    );
    let sizes: Vec<&Checkpoint> = by_size.values().collect();
    // At least one consistency proof between two sizes. A fast machine publishes the whole
    // load in two or three batches, so more cannot be demanded.
    assert!(
        sizes.len() >= 2,
        "too few checkpoints to compare: {}",
        sizes.len()
    );
    for w in sizes.windows(2) {
        let (old, new) = (w[0], w[1]);
        let u = format!(
            "{}/api/v1/letters/{letter_id}/proof/consistency?from={}&to={}",
            proxy.url, old.size, new.size
        );
        let v: ConsistencyView = get_json(&agent, &u);
        assert_eq!((v.from, v.to), (old.size, new.size));
        verify_consistency(old.size, new.size, &old.root, &new.root, &v.proof).unwrap_or_else(
            |e| {
                panic!(
                    "checkpoints {} and {} are not consistent: {e}",
                    old.size, new.size
                )
            },
        );
    }
    println!(
        "cluster: {} receipts ({after_kill} after the kill), {} signatures logged, {} checkpoints (sizes {:?}) consistent across 3 processes; leader {leader} killed, {new_leader} took over in {:.2} s",
        out.receipts.len(),
        signatures,
        by_size.len(),
        by_size.keys().collect::<Vec<_>>(),
        takeover.as_secs_f64()
    );
    drop(proxy);
}

#[test]
fn fail_second_serve_on_one_sqlite_file_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = Server::start(&data, None, &dir.path().join("s0.log"));
    let err_path = dir.path().join("second.err");
    let mut second = Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(["serve", "--dev", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data")
        .arg(&data)
        .arg("--tag-key-file")
        .arg(data.with_extension("tag.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // Refused at once; one still running after this long serves the file too.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second serve on one SQLite file started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        !status.success(),
        "a second serve on one SQLite file started"
    );
    assert!(
        err.contains("in use by another undersigned process")
            && err.contains(&format!("pid {}", first.child.id())),
        "the refusal does not name the first process: {err}"
    );
}
