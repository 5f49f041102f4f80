//! A hostile world (issue 14, "Faults"): PostgreSQL restarted under load, the SMTP relay down,
//! a full disk under SQLite, the clock set back. In each case every receipted entry reaches the
//! log (by its promised time, plus the outage when the outage is what held it), none twice,
//! requests during the fault get a plain 503 and never a receipt, and the server recovers by
//! itself: the background publisher keeps running, nothing is restarted but the broken part.
//!
//! `UNDERSIGNED_FAULT_MINUTES=3` makes the SMTP outage last that many minutes (CI: 20 s).

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use undersigned_core::credential::Credential;
use undersigned_core::entry::{Action, DisclosureChoice, SignatureEntry};
use undersigned_core::ids::AgeBand;
use undersigned_core::letter::Letter;
use undersigned_core::log::Receipt;
use undersigned_server::clock::Clock;
use undersigned_store::SqliteStore;

/// Credentials for `n` signers and a fresh open letter; the entries are made up front, so the
/// load run only submits.
async fn signed_entries(t: &TestServer, n: usize) -> (String, Letter, Vec<SignatureEntry>) {
    let mut creds: Vec<Credential> = Vec::new();
    for i in 0..n {
        creds.push(
            t.credential(
                &format!("load{i}@state.gov"),
                "analyst",
                AgeBand::Unspecified,
            )
            .await,
        );
    }
    let (_, _, id, letter) = t.open_letter("Under load", default_policy()).await;
    let mut entries = Vec::new();
    for c in &creds {
        entries.push(
            t.entry(c, &letter, Action::Sign, DisclosureChoice::default(), None)
                .await,
        );
    }
    (id, letter, entries)
}

/// What a load run saw: every receipt, and how many submissions the fault refused.
struct Outcome {
    receipts: Vec<Receipt>,
    refused: usize,
}

/// Submits `entries` from `tasks` concurrent tasks, one every `pace`; a submission refused
/// with 503 is retried (the same entry: the server must not log it twice) until it gets its
/// receipt. Any other answer fails the test.
async fn load(
    t: &Arc<TestServer>,
    id: &str,
    entries: Vec<SignatureEntry>,
    tasks: usize,
    pace: Duration,
) -> Outcome {
    let mut chunks: Vec<Vec<SignatureEntry>> = vec![Vec::new(); tasks];
    for (i, e) in entries.into_iter().enumerate() {
        chunks[i % tasks].push(e);
    }
    let mut handles = Vec::new();
    for chunk in chunks {
        let t = t.clone();
        let id = id.to_owned();
        handles.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            let mut refused = 0;
            for e in chunk {
                let started = Instant::now();
                loop {
                    let (s, v) = t.submit(&id, &e).await;
                    match s {
                        StatusCode::ACCEPTED => {
                            receipts.push(serde_json::from_value::<Receipt>(v).unwrap());
                            break;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert_eq!(v["error"], "unavailable", "{v}");
                            assert!(v["message"].as_str().unwrap().contains("try again"));
                            refused += 1;
                            assert!(
                                started.elapsed() < Duration::from_secs(120),
                                "no recovery after 120 s: {v}"
                            );
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        other => panic!("submission answered {other}: {v}"),
                    }
                }
                tokio::time::sleep(pace).await;
            }
            (receipts, refused)
        }));
    }
    let mut out = Outcome {
        receipts: Vec::new(),
        refused: 0,
    };
    for h in handles {
        let (r, n) = h.await.unwrap();
        out.receipts.extend(r);
        out.refused += n;
    }
    out
}

/// When each leaf hash first appeared in the log, by the server's clock.
type Seen = Arc<std::sync::Mutex<HashMap<[u8; 32], u64>>>;

/// Watches the log of `id` every 200 ms and notes, by the server's clock, when each leaf hash
/// first appeared there. Read errors (the database is down) are skipped.
fn watch_log(t: &Arc<TestServer>, id: &str) -> (Seen, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let (t, id, s) = (t.clone(), id.to_owned(), seen.clone());
    let h = tokio::spawn(async move {
        loop {
            if let Ok(hashes) = t.state.store.leaf_hashes(&id).await {
                let now = t.state.clock.now();
                let mut s = s.lock().unwrap();
                for h in hashes {
                    s.entry(h).or_insert(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (seen, h)
}

/// Waits until every receipted entry is in the log (at most `limit`), then checks: each is
/// there exactly once, each appeared by its `include_by` (plus `allowance(receipt)` seconds,
/// the outage that held it), and each receipt verifies.
async fn check_receipts(
    t: &TestServer,
    id: &str,
    receipts: &[Receipt],
    seen: &std::sync::Mutex<HashMap<[u8; 32], u64>>,
    allowance: impl Fn(&Receipt) -> u64,
    limit: Duration,
) {
    let start = Instant::now();
    loop {
        let all = {
            let s = seen.lock().unwrap();
            receipts.iter().all(|r| s.contains_key(&r.entry_hash))
        };
        if all {
            break;
        }
        assert!(
            start.elapsed() < limit,
            "receipted entries missing from the log after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hashes = t.state.store.leaf_hashes(id).await.unwrap();
    let unique: HashSet<_> = hashes.iter().collect();
    assert_eq!(unique.len(), hashes.len(), "a leaf was logged twice");
    let hashes: HashSet<_> = hashes.into_iter().collect();
    let (_, view) = t.get(&format!("/api/v1/letters/{id}")).await;
    let verifier =
        undersigned_core::log::LogVerifier::from_vkey(view["log_key"].as_str().unwrap()).unwrap();
    let seen = seen.lock().unwrap().clone();
    for r in receipts {
        assert!(hashes.contains(&r.entry_hash));
        undersigned_core::log::verify_receipt(r, &verifier).unwrap();
        // The watcher polls every 200 ms and the publisher ticks every 500 ms: 2 s of slack.
        let by = r.include_by + allowance(r) + 2;
        let at = seen[&r.entry_hash];
        assert!(
            at <= by,
            "entry promised by {} (+{} allowed) appeared at {at}",
            r.include_by,
            allowance(r)
        );
    }
}

fn publisher(t: &Arc<TestServer>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(undersigned_server::publisher::run(t.state.clone()))
}

/// The bundle of `id` verifies offline and counts `signatures`.
async fn bundle_verifies(t: &TestServer, id: &str, signatures: u64) {
    let (s, bundle) = t.get_text(&format!("/api/v1/letters/{id}/bundle")).await;
    assert_eq!(s, StatusCode::OK);
    let report = undersigned_core::bundle::verify_bundle(bundle.as_bytes()).unwrap();
    assert_eq!(report.summary.signatures, signatures);
}

// ---------------------------------------------------------------- PostgreSQL restarted

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_during_a_load_run() {
    let cluster = crate::pgserver::Cluster::start().unwrap();
    let store = undersigned_store::PgStore::connect(&cluster.url())
        .await
        .unwrap();
    let t = Arc::new(
        TestServer::on_store(
            Arc::new(store),
            Tweaks {
                publish_interval: 2,
                ..Default::default()
            },
        )
        .await,
    );
    let (id, _, entries) = signed_entries(&t, 36).await;
    let _publisher = publisher(&t);
    let (seen, _watch) = watch_log(&t, &id);
    let run = {
        let (t, id) = (t.clone(), id.clone());
        tokio::spawn(async move { load(&t, &id, entries, 4, Duration::from_millis(250)).await })
    };
    // Crash in the middle of the run: every backend killed, crash recovery at start.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let down_at = t.state.clock.now();
    cluster.stop_immediate().unwrap();
    // Longer than the pool's acquire timeout (10 s): requests that waited for a connection
    // through it are refused with 503, and retried.
    tokio::time::sleep(Duration::from_secs(12)).await;
    cluster.pg_ctl_start().unwrap();
    let up_at = t.state.clock.now();
    assert!(
        !run.is_finished(),
        "the run ended before the restart: it missed the fault"
    );
    let out = run.await.unwrap();
    // Submissions waiting less than the acquire timeout for a connection get one once the
    // server is back (the pool reconnects); the others got a 503 and were retried.
    eprintln!(
        "postgres restart: {} receipts, {} submissions refused during {} s down",
        out.receipts.len(),
        out.refused,
        up_at - down_at
    );
    assert_eq!(out.receipts.len(), 36);
    assert!(
        out.refused > 0,
        "no submission was refused during the outage"
    );
    // A batch due while the database was down is published once it is back: its entries may
    // be late by the outage and the reconnection.
    let outage = up_at - down_at + 5;
    check_receipts(
        &t,
        &id,
        &out.receipts,
        &seen,
        |r| {
            if r.include_by + 2 >= down_at {
                outage
            } else {
                0
            }
        },
        Duration::from_secs(60),
    )
    .await;
    bundle_verifies(&t, &id, 36).await;
}

// ---------------------------------------------------------------- SMTP relay down

/// Seconds the relay stays down: `UNDERSIGNED_FAULT_MINUTES` minutes, else 20 s.
fn smtp_outage() -> Duration {
    std::env::var("UNDERSIGNED_FAULT_MINUTES")
        .ok()
        .and_then(|m| m.parse::<f64>().ok())
        .map(|m| Duration::from_secs_f64(m * 60.0))
        .unwrap_or(Duration::from_secs(20))
}

/// SMTP is the same on both backends; SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_relay_down_for_minutes() {
    use undersigned_core::record::LogEntry;
    use undersigned_outbox::Outbox;
    let relay = Outbox::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = relay.addr();
    let t = Arc::new(
        TestServer::sqlite(Tweaks {
            smtp: Some(addr),
            ..Default::default()
        })
        .await,
    );
    *t.relay.lock().unwrap() = Some(relay);
    let (_, _, id, _) = crate::delivery::closed_letter(&t, "public").await;
    // The relay goes away: listener closed, port refused.
    drop(t.relay.lock().unwrap().take());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let outage = smtp_outage();
    let down = Instant::now();
    let _publisher = publisher(&t);
    // Code requests during the outage get a plain 503 and no promise.
    let (s, v) = t
        .post(
            "/api/v1/issuance/code",
            &json!({"email": "during@state.gov"}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("could not be sent"),
        "{v}"
    );
    assert!(v.get("request_token").is_none());
    tokio::time::sleep(outage.saturating_sub(down.elapsed())).await;
    let deliveries = t.state.store.deliveries(&id).await.unwrap();
    assert_eq!(deliveries.len(), 3);
    for d in &deliveries {
        assert!(d.delivered_at.is_none());
        assert!(d.attempts >= 2, "retried during the outage: {}", d.attempts);
    }
    let attempts: Vec<u32> = deliveries.iter().map(|d| d.attempts).collect();
    // Back on the same port.
    let relay = Outbox::start(addr).await.unwrap();
    *t.relay.lock().unwrap() = Some(relay.clone());
    let up = Instant::now();
    // The next retry comes at most one backoff later (the backoff doubles from 1 s).
    let bound = outage * 2 + Duration::from_secs(30);
    loop {
        let delivered = crate::delivery::log_entries(&t, &id)
            .await
            .iter()
            .filter(|e| matches!(e, LogEntry::Delivered { .. }))
            .count();
        if delivered == 3 {
            break;
        }
        assert!(up.elapsed() < bound, "deliveries not done {bound:?} after");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "smtp outage of {outage:?}: attempts during it {attempts:?}, delivered {:?} after the relay came back",
        up.elapsed()
    );
    // Exactly one letter mail per recipient, none twice.
    for to in [
        "secretary@state.gov",
        "deputy@state.gov",
        "counsel@state.gov",
    ] {
        let n = relay
            .messages()
            .iter()
            .filter(|m| m.to.iter().any(|x| x == to))
            .count();
        assert_eq!(n, 1, "{to}");
    }
    // Codes go out again.
    t.code_for("after@state.gov").await;
}

// ---------------------------------------------------------------- full disk under SQLite

/// A tmpfs of `size` mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the filesystem has no room left.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0xA5u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_under_sqlite() {
    let disk = SmallDisk::mount("24m");
    let db = disk.dir.path().join("undersigned.db");
    let store = SqliteStore::open(&db).await.unwrap();
    let t = Arc::new(
        TestServer::on_store(
            Arc::new(store),
            Tweaks {
                publish_interval: 2,
                ..Default::default()
            },
        )
        .await,
    );
    let (id, _, mut entries) = signed_entries(&t, 30).await;
    let _publisher = publisher(&t);
    let (seen, _watch) = watch_log(&t, &id);
    // Some before the disk fills.
    let rest = entries.split_off(10);
    let before = load(&t, &id, entries, 2, Duration::from_millis(50)).await;
    assert_eq!(before.refused, 0);
    let filler = disk.dir.path().join("filler");
    fill(&filler);
    let full_at = t.state.clock.now();
    // While full: refused with 503, no receipt. (A write that still fits in a page SQLite
    // already holds may succeed: then its receipt must be kept like any other.)
    let mut refused_while_full = 0;
    let mut accepted_while_full = Vec::new();
    for e in rest.iter().take(5) {
        let (s, v) = t.submit(&id, e).await;
        match s {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(v.get("entry_hash").is_none(), "{v}");
                assert!(v["message"].as_str().unwrap().contains("try again"), "{v}");
                refused_while_full += 1;
            }
            StatusCode::ACCEPTED => accepted_while_full.push(v["entry_hash"].clone()),
            other => panic!("while full: {other} {v}"),
        }
    }
    assert!(refused_while_full > 0, "the full disk refused nothing");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Room again: the same entries and the rest go through, nothing restarted.
    std::fs::remove_file(&filler).unwrap();
    let freed_at = t.state.clock.now();
    let after = load(&t, &id, rest, 2, Duration::from_millis(50)).await;
    eprintln!(
        "full disk: {refused_while_full} refused while full, {} more retried after",
        after.refused
    );
    let mut receipts = before.receipts;
    receipts.extend(after.receipts);
    assert_eq!(receipts.len(), 30);
    // A receipt given while full is the one the retry got: the same entry, kept.
    for h in &accepted_while_full {
        assert!(receipts
            .iter()
            .any(|r| &json!(hex::encode(r.entry_hash)) == h));
    }
    let outage = freed_at - full_at + 3;
    check_receipts(
        &t,
        &id,
        &receipts,
        &seen,
        |r| {
            if r.include_by + 2 >= full_at {
                outage
            } else {
                0
            }
        },
        Duration::from_secs(60),
    )
    .await;
    bundle_verifies(&t, &id, 30).await;
    // The database file is sound.
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}?mode=ro",
        db.display()
    ))
    .await
    .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");
}

// ---------------------------------------------------------------- clock set back

/// The clock's time is set back by an hour after a batch, then (a second server) by a few
/// seconds across a batch boundary. What is right (`clock.rs`): the server's clock never goes
/// back; it keeps counting elapsed time, so batches publish by their promised time as measured
/// by elapsed time, checkpoint timestamps never decrease, and no entry is lost or logged twice.
mod clock_set_back_between_batches {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        for back in [3600, 5] {
            let clock = Clock::manual();
            let t = TestServer::sqlite(tweaks(&clock)).await;
            clock_set_back(Arc::new(t), &clock, back).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        for back in [3600, 5] {
            let clock = Clock::manual();
            let t = TestServer::postgres(tweaks(&clock)).await;
            clock_set_back(Arc::new(t), &clock, back).await;
        }
    }

    fn tweaks(clock: &Clock) -> Tweaks {
        Tweaks {
            clock: Some(clock.clone()),
            publish_interval: 2,
            ..Default::default()
        }
    }
}

async fn clock_set_back(t: Arc<TestServer>, clock: &Clock, back: i64) {
    let (id, _, mut a) = signed_entries(&t, 9).await;
    let mut b = a.split_off(3);
    let c = b.split_off(3);
    let publisher = publisher(&t);
    let (seen, watch) = watch_log(&t, &id);
    // A first batch, published.
    let first = load(&t, &id, a, 1, Duration::ZERO).await;
    check_receipts(
        &t,
        &id,
        &first.receipts,
        &seen,
        |_| 0,
        Duration::from_secs(10),
    )
    .await;
    // Entries pooled before the jump, the clock set back, entries after it.
    let before = load(&t, &id, b, 1, Duration::ZERO).await;
    let started = Instant::now();
    clock.shift_by(-back);
    let system_then = clock.system_now();
    let after = load(&t, &id, c, 1, Duration::ZERO).await;
    let mut all = first.receipts;
    all.extend(before.receipts);
    all.extend(after.receipts);
    // By the server's clock, with no allowance; and within seconds of real time, where a
    // server reading the system clock would hold the pooled batch `back` seconds more.
    check_receipts(&t, &id, &all, &seen, |_| 0, Duration::from_secs(20)).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(clock.system_now() < system_then + 30);
    // Checkpoint timestamps never went back.
    let size = t.log_size(&id).await;
    let mut last = 0;
    for n in 1..=size {
        if let Some(cp) = t.state.store.checkpoint_at(&id, n).await.unwrap() {
            assert!(
                cp.created_at >= last,
                "checkpoint {n} went back (set back {back} s)"
            );
            last = cp.created_at;
        }
    }
    bundle_verifies(&t, &id, 9).await;
    publisher.abort();
    watch.abort();
}

/// The clock set back an hour across a restart: the new process floors its clock at the newest
/// checkpoint it finds (`publisher::recover`), so checkpoints stay in order and entries
/// submitted after the restart are published on time.
mod clock_set_back_across_a_restart {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let t = TestServer::sqlite(tweaks(Clock::manual())).await;
        across_a_restart(t).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let t = TestServer::postgres(tweaks(Clock::manual())).await;
        across_a_restart(t).await;
    }

    fn tweaks(clock: Clock) -> Tweaks {
        Tweaks {
            clock: Some(clock),
            publish_interval: 2,
            ..Default::default()
        }
    }

    async fn across_a_restart(t: TestServer) {
        let t = Arc::new(t);
        let (id, _, mut a) = signed_entries(&t, 6).await;
        let b = a.split_off(3);
        let first_publisher = publisher(&t);
        let (seen, watch) = watch_log(&t, &id);
        let first = load(&t, &id, a, 1, Duration::ZERO).await;
        check_receipts(
            &t,
            &id,
            &first.receipts,
            &seen,
            |_| 0,
            Duration::from_secs(10),
        )
        .await;
        first_publisher.abort();
        watch.abort();
        let last = t.state.store.latest_checkpoint(&id).await.unwrap().unwrap();
        // Started again an hour earlier by the system clock.
        let clock = Clock::manual_shifted(-3600);
        assert!(clock.now() + 3000 < last.created_at);
        let t2 = Arc::new(t.restarted(clock.clone()).await);
        let second_publisher = publisher(&t2);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(clock.now() >= last.created_at, "the clock was not floored");
        let (seen, watch) = watch_log(&t2, &id);
        let second = load(&t2, &id, b, 1, Duration::ZERO).await;
        for r in &second.receipts {
            assert!(r.received_at >= last.created_at);
        }
        check_receipts(
            &t2,
            &id,
            &second.receipts,
            &seen,
            |_| 0,
            Duration::from_secs(15),
        )
        .await;
        let size = t2.log_size(&id).await;
        let mut latest = 0;
        for n in 1..=size {
            if let Some(cp) = t2.state.store.checkpoint_at(&id, n).await.unwrap() {
                assert!(cp.created_at >= latest, "checkpoint {n} went back");
                latest = cp.created_at;
            }
        }
        bundle_verifies(&t2, &id, 6).await;
        second_publisher.abort();
        watch.abort();
    }
}
