//! `undersigned monitor` against a live deployment: consistent while the operator is honest,
//! and a rewritten log entry in the database is reported at the next poll with status 1.

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
fn monitor_reports_consistent_then_a_rewritten_entry() {
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

    // The operator rewrites the opened entry's time behind the server's back.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = format!("sqlite://{}", data.join("undersigned.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
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
