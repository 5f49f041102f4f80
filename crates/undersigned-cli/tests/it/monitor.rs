//! `undersigned monitor` against a live deployment: consistent while the operator is honest; a
//! log rolled back to an earlier checkpoint, and a rewritten log entry, in the database behind
//! the server, are each reported at the next poll with status 1.

use crate::flow::{bin, start_server};
use sqlx::Connection;

pub(crate) fn monitor(
    url: &str,
    state: &std::path::Path,
    metrics: &std::path::Path,
) -> std::process::Output {
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

/// Signatures past the issued count, put in the pool behind the server's back (the server
/// itself refuses them), are published; the monitor reports them by the issuer log it
/// verified, and keeps reporting them after the operator raised the issued counts in the
/// database by hand, though the bundle then verifies again.
#[test]
fn monitor_reports_signers_past_the_issued_count_after_the_counts_are_raised() {
    use undersigned_core::entry::{present, Action, DisclosureChoice, SmallOrgConsent};
    use undersigned_core::ids::{AddressRules, AgeBand, Email, Epoch, Role};
    use undersigned_core::log::leaf_hash;
    use undersigned_core::record::LogEntry;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_server(&data, &[]);
    let url = server.url.as_str();
    let id = crate::cover::open_letter(url, "Counted");
    let holder = dir.path().join("holder");
    crate::cover::get_credential(url, &holder, "ann@state.gov");
    crate::run::ok(
        bin()
            .args(["sign", &id, "--server", url, "--home"])
            .arg(&holder)
            .arg("--consent-small-org")
            .output()
            .unwrap(),
    );
    let size = |url: &str| -> u64 {
        let t: serde_json::Value = ureq::get(&format!("{url}/api/v1/letters/{id}/tally"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        t["log_size"].as_u64().unwrap()
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !done() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "{what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    wait("the signature is published", &|| size(url) == 2);
    let state = dir.path().join("monitor");
    let metrics = dir.path().join("metrics.prom");
    let o = monitor(url, &state, &metrics);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // The operator mints credentials with the issuer key, enough to pass the count, and
    // pools their signatures directly in the database.
    let keys = undersigned_server::keys::DeploymentKeys::load_or_create(
        &data.join("keys.json"),
        &data.with_extension("tag.key"),
        &undersigned_server::Config::default().issuer_name,
    )
    .unwrap();
    let view: serde_json::Value = ureq::get(&format!("{url}/api/v1/letters/{id}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let letter: undersigned_core::letter::Letter =
        serde_json::from_value(view["letter"].clone()).unwrap();
    let sets: undersigned_core::anonymity::PublishedSets =
        ureq::get(&format!("{url}/api/v1/issuer/anonymity-sets"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
    let org = undersigned_core::ids::OrgId::parse("state.gov").unwrap();
    let allowed = sets.issued_at_most(&org);
    let epoch = sets.epoch.clone();
    let db_url = format!("sqlite://{}", data.join("undersigned.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut db = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
        for i in 0..allowed {
            let (req, pending) =
                undersigned_core::credential::request_credential(&mut rand::rngs::OsRng).unwrap();
            let attrs = undersigned_core::credential::Attributes::new(
                Email::parse(&format!("fake{i}@state.gov"))
                    .unwrap()
                    .normalize(&AddressRules::default())
                    .unwrap(),
                Epoch::parse(epoch.as_str()).unwrap(),
                Role::parse("unspecified").unwrap(),
                AgeBand::Unspecified,
            );
            let resp = keys
                .issuer
                .blind_sign(&req, &attrs, &mut rand::rngs::OsRng)
                .unwrap();
            let cred = undersigned_core::credential::receive_credential(
                pending,
                &resp,
                keys.issuer.public_key(),
                attrs,
            )
            .unwrap();
            let entry = present(
                &cred,
                &letter,
                Action::Sign,
                DisclosureChoice::default(),
                None,
                &sets,
                SmallOrgConsent::Given,
            )
            .unwrap();
            let pseudonym = entry.parts[0].pseudonym.clone();
            let leaf = LogEntry::submission(entry).leaf_bytes();
            sqlx::query(
                "INSERT INTO pseudonyms (letter_id, pseudonym, withdrawn) VALUES (?1, ?2, 0)",
            )
            .bind(&id)
            .bind(&pseudonym)
            .execute(&mut db)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO pool (letter_id, entry_hash, leaf, pseudonym, withdraw, include_by) \
                 VALUES (?1, ?2, ?3, ?4, 0, 0)",
            )
            .bind(&id)
            .bind(&leaf_hash(&leaf)[..])
            .bind(&leaf)
            .bind(&pseudonym)
            .execute(&mut db)
            .await
            .unwrap();
        }
    });
    let n = 2 + allowed;
    wait("the pooled signatures are published", &|| size(url) == n);
    let o = monitor(url, &state, &metrics);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("SIGNERS PAST THE ISSUED COUNT")
            && text.contains(&format!(
                "state.gov has {} distinct signers in epoch {epoch}, but the issuer's statement allows at most {allowed}",
                allowed + 1
            )),
        "{text}"
    );

    // One UPDATE of the issued counts; the next statement covers the extra signers and the
    // bundle verifies again.
    rt.block_on(async {
        let mut db = sqlx::SqliteConnection::connect(&db_url).await.unwrap();
        sqlx::query("UPDATE issued_counts SET count = count + ?1 WHERE org = 'state.gov'")
            .bind(i64::try_from(allowed).unwrap())
            .execute(&mut db)
            .await
            .unwrap();
    });
    let bundle_verifies = || {
        let b = ureq::get(&format!("{url}/api/v1/letters/{id}/bundle"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        undersigned_core::bundle::verify_bundle(b.as_bytes()).is_ok()
    };
    wait("a statement with the raised count", &bundle_verifies);
    // The monitor that saw the breach still reports it.
    let o = monitor(url, &state, &metrics);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("SIGNERS PAST THE ISSUED COUNT")
            && text.contains("seen by this monitor before"),
        "{text}"
    );
    // One that starts now cannot tell the raised count from real issuance: a single issuer's
    // own signed counts are all there is to hold signers against (said on the privacy page).
    let o = monitor(url, &dir.path().join("monitor-late"), &metrics);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// The operator's web server in front of the deployment, serving the signer's script with one
/// byte changed (`path`), everything else as the deployment answers. Returns its URL.
pub(crate) fn tampering_proxy(upstream: &str, path: &'static str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.is_empty() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (
                    parts.next().unwrap_or("GET").to_owned(),
                    parts.next().unwrap_or("/").to_owned(),
                );
                let mut length = 0usize;
                let mut content_type = None;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((h, ""));
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap_or(0),
                        "content-type" => content_type = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let mut req = ureq::request(&method, &format!("{upstream}{target}"));
                if let Some(ct) = &content_type {
                    req = req.set("Content-Type", ct);
                }
                let resp = match if length > 0 {
                    req.send_bytes(&body)
                } else {
                    req.call()
                } {
                    Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                    Err(_) => return,
                };
                let status = resp.status();
                let ct = resp
                    .header("content-type")
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let mut bytes = Vec::new();
                resp.into_reader().read_to_end(&mut bytes).unwrap();
                if target == path && bytes.len() > 200 {
                    bytes[200] ^= 0x20;
                }
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = out.write_all(&bytes);
            });
        }
    });
    url
}

#[test]
fn monitor_reports_a_deployment_serving_a_changed_signer_script() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("data"), &[]);
    let metrics = dir.path().join("metrics.prom");
    // Honest: what the deployment serves is this release's client, byte for byte.
    let o = monitor(&server.url, &dir.path().join("honest"), &metrics);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // One byte of the signing script changed on its way out.
    let proxy = tampering_proxy(&server.url, "/static/js/letter.js");
    let o = monitor(&proxy, &dir.path().join("swapped"), &metrics);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "{said}");
    assert!(
        said.contains("THE SIGNER'S CODE WAS CHANGED") && said.contains("/static/js/letter.js"),
        "{said}"
    );
}
