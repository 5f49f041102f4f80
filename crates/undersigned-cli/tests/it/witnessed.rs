//! `serve --witness` with three real witness processes and a quorum of two, started before any
//! letter exists with the `--logs-under` arguments the deployment publishes: the demo runs
//! against it (its receipt checks demand the cosignatures), a second letter opened afterwards is
//! published cosigned too, the bundle verifies with the deployment pinned, and the monitor finds
//! every checkpoint cosigned and consistent with what each witness saw, also with one witness
//! killed.

use crate::flow::{bin, free_port, start_server};
use crate::run::ok;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use undersigned_core::log::{check_quorum, WitnessVerifier};

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_witness(data: &Path, port: u16, prefixes: &[String]) -> Proc {
    let mut cmd = bin();
    cmd.args(["witness", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for p in prefixes {
        cmd.args(["--logs-under", p]);
    }
    let p = Proc(cmd.spawn().unwrap());
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "witness did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

#[test]
fn serve_with_three_witnesses_demo_verify_and_monitor_sqlite() {
    three_witnesses_demo_verify_and_monitor(None);
}

#[test]
fn serve_with_three_witnesses_demo_verify_and_monitor_postgres() {
    let db = crate::crash::PgDatabase::create();
    three_witnesses_demo_verify_and_monitor(Some(db.url()));
}

fn three_witnesses_demo_verify_and_monitor(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let wdirs: Vec<_> = (1..=3).map(|i| dir.path().join(format!("w{i}"))).collect();
    let vkeys: Vec<String> = wdirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let o = bin()
                .args([
                    "witness",
                    "key",
                    "--name",
                    &format!("w{}.test/witness", i + 1),
                ])
                .arg("--data")
                .arg(d)
                .output()
                .unwrap();
            ok(o).trim().to_owned()
        })
        .collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut extra: Vec<String> = Vec::new();
    for (v, p) in vkeys.iter().zip(&ports) {
        extra.push("--witness".into());
        extra.push(format!("{v}@http://127.0.0.1:{p}"));
    }
    extra.extend(["--witness-quorum", "2", "--witness-timeout-ms", "500"].map(String::from));
    if let Some(url) = database {
        extra.extend(["--database".to_owned(), url]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = start_server(&dir.path().join("data"), &extra);
    let url = server.url.clone();
    let dep: Value = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(dep["witness_quorum"], 2);
    assert_eq!(dep["witnesses"].as_array().unwrap().len(), 3);
    let dep_file = dir.path().join("deployment.json");
    std::fs::write(&dep_file, dep.to_string()).unwrap();

    // The witnesses start before any letter exists, with what the deployment tells them.
    let prefixes: Vec<String> = dep["witness_logs_under"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(prefixes.len(), 2, "{dep}");
    let mut witnesses: Vec<Proc> = (0..3)
        .map(|i| start_witness(&wdirs[i], ports[i], &prefixes))
        .collect();

    // The demo opens its letter afterwards.
    let out = dir.path().join("demo");
    let demo = Proc(
        bin()
            .args(["demo", "--server", &url, "--orgs", "2", "--signers", "24"])
            .args(["--seed", "7", "--publish-interval", "1", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut demo = demo;
    let status = demo.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(demo.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "demo: {err}");

    // A second letter, opened after the demo's: its checkpoint is published with its quorum.
    let id2 = open_letter(&url, dir.path());
    let verifiers: Vec<WitnessVerifier> = vkeys
        .iter()
        .map(|v| WitnessVerifier::from_vkey(v).unwrap())
        .collect();
    let start = Instant::now();
    let note = loop {
        match ureq::get(&format!("{url}/api/v1/letters/{id2}/checkpoint")).call() {
            Ok(r) => break r.into_string().unwrap(),
            Err(ureq::Error::Status(404, _)) => {}
            Err(e) => panic!("checkpoint of the second letter: {e}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the second letter was never published"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        note.starts_with(&format!(
            "{}/letters/{id2}\n",
            dep["host"].as_str().unwrap()
        )),
        "{note}"
    );
    assert!(check_quorum(&note, &verifiers, 2).unwrap().len() >= 2);

    // The bundle verifies with the deployment pinned, its witnesses included.
    let bundle = out.join("bundle.json");
    let text = ok(bin()
        .arg("verify")
        .arg(&bundle)
        .arg("--deployment")
        .arg(&dep_file)
        .output()
        .unwrap());
    assert!(
        text.contains("of the pinned witnesses (quorum 2)") && text.contains(".test/witness"),
        "{text}"
    );

    // The operator's nested-origin fork (issue 21, finding 1), sent to the real witnesses and
    // checked by the real verifier: refused by both.
    nested_origin_fork(dir.path(), &bundle, &dep_file, &dep, &ports);

    // The monitor: consistent, cosigned, and matching what each witness cosigned; still so
    // with one witness killed.
    let state = dir.path().join("monitor");
    let monitor = || {
        bin()
            .args(["monitor", &url, "--once", "--state"])
            .arg(&state)
            .output()
            .unwrap()
    };
    let text = ok(monitor());
    assert!(
        text.starts_with("consistent: 2 public letters")
            && text.contains("every checkpoint cosigned by at least 2 of the 3 witnesses"),
        "{text}"
    );
    drop(witnesses.remove(0));
    let text = ok(monitor());
    assert!(text.starts_with("consistent:"), "{text}");
}

/// Creates and opens a letter with the CLI; returns its id.
fn open_letter(url: &str, dir: &Path) -> String {
    let home = dir.join("organizer");
    let body = dir.join("letter2.md");
    std::fs::write(&body, "A second letter.\n").unwrap();
    let created = ok(bin()
        .args(["letter", "create", "--server", url, "--home"])
        .arg(&home)
        .args(["--title", "Second", "--body-file"])
        .arg(&body)
        .args(["--allow-role", "--publish-interval", "1"])
        .output()
        .unwrap());
    let handle = created
        .split_whitespace()
        .skip_while(|w| *w != "handle")
        .nth(1)
        .unwrap()
        .to_owned();
    let opened = ok(bin()
        .args(["letter", "open", &handle, "--server", url, "--home"])
        .arg(&home)
        .output()
        .unwrap());
    opened
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .unwrap()
        .to_owned()
}

/// With the deployment's log key alone (read from its data directory, as the operator can),
/// a history that drops signatures is signed under `<host>/letters/x/letters/<id>` and the
/// issuer statement re-logged under `<host>/letters/x/issuers/<id>`: both lie under the
/// prefixes the witnesses follow. Every witness refuses both checkpoints (404, an origin it
/// does not follow), and `verify` refuses the forked bundle with the deployment or the host
/// pinned, even with every witness's cosignature forged in by a helper that holds their keys.
fn nested_origin_fork(dir: &Path, bundle: &Path, dep_file: &Path, dep: &Value, ports: &[u16]) {
    use undersigned_core::bundle::Bundle;
    use undersigned_core::log::{AddCheckpoint, LogSigner, MerkleLog};
    use undersigned_core::statement::LoggedStatement;

    let data = dir.join("data");
    let keys = undersigned_server::keys::DeploymentKeys::load_or_create(
        &data.join("keys.json"),
        &data.with_extension("tag.key"),
        "x",
    )
    .unwrap();
    let host = dep["host"].as_str().unwrap();
    let mut fork = Bundle::parse(&std::fs::read(bundle).unwrap()).unwrap();
    let kept = fork.entries.len() - 3;
    fork.entries.truncate(kept);
    let nested = format!("{host}/letters/x/letters/{}", fork.letter_id);
    fork.seal(&LogSigner::new(&nested, keys.log_key.clone()).unwrap())
        .unwrap();
    let statement = fork.issuers[0].statement.signed.clone();
    let mut tree = MerkleLog::new();
    tree.append(&statement.leaf_bytes());
    let issuer_origin = format!("{host}/letters/x/issuers/{}", statement.statement.issuer_id);
    let signer = LogSigner::new(&issuer_origin, keys.log_key.clone()).unwrap();
    fork.issuers[0].statement = LoggedStatement::prove(statement, 0, &tree, &signer).unwrap();

    for port in ports {
        for note in [
            fork.checkpoint.clone().unwrap(),
            fork.issuers[0].statement.checkpoint.clone(),
        ] {
            let body = AddCheckpoint {
                old_size: 0,
                proof: vec![],
                checkpoint: note,
            }
            .to_body();
            match ureq::post(&format!("http://127.0.0.1:{port}/add-checkpoint")).send_string(&body)
            {
                Err(ureq::Error::Status(404, _)) => {}
                other => panic!("a witness must refuse a nested origin with 404, got {other:?}"),
            }
        }
    }

    let path = dir.join("fork.json");
    std::fs::write(&path, fork.to_json()).unwrap();
    for pins in [
        vec!["--deployment".to_owned(), dep_file.display().to_string()],
        vec!["--host".to_owned(), host.to_owned()],
        vec![],
    ] {
        let o = bin().arg("verify").arg(&path).args(&pins).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{pins:?}: {err}");
        assert!(
            err.contains("NOT VERIFIED") && err.contains("is not a log origin"),
            "{pins:?}: {err}"
        );
    }
}
