//! `undersigned monitor` against a live deployment: consistent while the operator is honest; a
//! log rolled back to an earlier checkpoint, and a rewritten log entry, in the database behind
//! the server, are each reported at the next poll with status 1.

use crate::flow::{bin, start_server};
use sqlx::Connection;

fn monitor(url: &str, state: &std::path::Path, metrics: &std::path::Path) -> std::process::Output {
    bin()
        .args([
            "monitor",
            url,
            "--state",
            state.to_str().unwrap(),
            "--once",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn monitor_reports_consistent_then_a_rollback_and_a_rewritten_entry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_server(&data, &[]);
    let out = dir.path().join("demo");
    let o = bin()
        .args([
            "demo",
            "--server",
            &server.url,
            "--orgs",
            "2",
            "--signers",
            "24",
            "--seed",
            "7",
            "--publish-interval",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = dir.path().join("monitor");
    let metrics = dir.path().join("metrics.prom");

    let o = monitor(&server.url, &state, &metrics);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The count the demo's own bundle proves, offline.
    let demo =
        undersigned_core::bundle::verify_bundle(&std::fs::read(out.join("bundle.json")).unwrap())
            .unwrap();
    let n = demo.summary.signatures;
    assert!(n > 20, "{n}");
    assert!(
        text.starts_with(&format!("consistent: 1 public letters, {n} signatures")),
        "{text}"
    );
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        m.contains("undersigned_monitor_inconsistencies_total 0"),
        "{m}"
    );
    // A second poll over an unchanged log stays consistent (the saved checkpoints are extended).
    let o = monitor(&server.url, &state, &metrics);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // The operator rolls the log back to its previous checkpoint, dropping the last batch:
    // self-consistent for a newcomer, caught by a monitor that saw the longer log.
    let db_url = format!("sqlite://{}", data.join("undersigned.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut db = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
        let (previous,): (i64,) =
            sqlx::query_as("SELECT size FROM checkpoints ORDER BY size DESC LIMIT 1 OFFSET 1")
                .fetch_one(&mut db)
                .await
                .unwrap();
        sqlx::query("DELETE FROM log_leaves WHERE idx >= ?1")
            .bind(previous)
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("DELETE FROM checkpoints WHERE size > ?1")
            .bind(previous)
            .execute(&mut db)
            .await
            .unwrap();
    });
    let o = monitor(&server.url, &state, &metrics);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INCONSISTENT") && text.contains("THE LOG SHRANK"),
        "{text}"
    );
    // A monitor that starts now sees a consistent (shorter) log; the next rewrite it catches.
    let state = dir.path().join("monitor-late");
    let o = monitor(&server.url, &state, &metrics);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // The operator rewrites the opened entry's time behind the server's back.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut db = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
        let changed = sqlx::query(
            "UPDATE log_leaves SET leaf = CAST(REPLACE(CAST(leaf AS TEXT), '\"at\":', '\"at\":1') AS BLOB) WHERE idx = 0",
        )
        .execute(&mut db)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(changed, 1);
    });
    let o = monitor(&server.url, &state, &metrics);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INCONSISTENT") && text.contains("do not hash to the signed root"),
        "{text}"
    );
    let m = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        m.contains("undersigned_monitor_inconsistencies_total 1"),
        "{m}"
    );
}

/// Running for good, the monitor serves its metrics over HTTP and keeps polling.
#[test]
fn monitor_serves_metrics_while_it_polls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), &[]);
    let port = crate::flow::free_port();
    let mut child = bin()
        .args(["monitor", &server.url, "--interval", "1", "--state"])
        .arg(dir.path().join("state"))
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let polls = loop {
        let text = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default();
        let polls: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("undersigned_monitor_polls_total "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if polls >= 2 {
            assert!(
                text.contains("undersigned_monitor_inconsistencies_total 0"),
                "{text}"
            );
            break polls;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the monitor stopped after {polls} polls"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
