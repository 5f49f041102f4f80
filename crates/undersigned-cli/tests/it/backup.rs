//! Backups as an operator makes them: `undersigned backup` while the server runs (SQLite and
//! PostgreSQL), the server lost, `undersigned restore` into a fresh directory or database with
//! the tag key kept apart, a new server on it, and every letter's bundle verified with the old
//! deployment pinned, stating exactly what it stated before. A backup restored with another
//! deployment's key file, a changed manifest, or without the tag key, is refused before anything
//! is served; its files are the owner's only and hold no email code. A backup older than what
//! the witnesses cosigned (real witness processes) is refused by `restore` and by `serve`, and
//! never published when the witness was away at startup.

use crate::flow::{bin, free_port, start_server};
use crate::run::{fails, ok};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Every public letter's id, and the statement `verify` makes of its bundle with `dep` pinned.
fn statements(url: &str, dep: &Path, dir: &Path) -> Vec<(String, String)> {
    let letters: Vec<Value> = ureq::get(&format!("{url}/api/v1/letters"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let mut out = Vec::new();
    for l in letters {
        let id = l["letter_id"].as_str().unwrap().to_owned();
        let file = dir.join(format!("{id}.json"));
        ok(bin()
            .args(["bundle", &id, "--server", url, "--out"])
            .arg(&file)
            .output()
            .unwrap());
        let text = ok(bin()
            .arg("verify")
            .arg(&file)
            .arg("--deployment")
            .arg(dep)
            .output()
            .unwrap());
        out.push((id, text));
    }
    out.sort();
    out
}

#[test]
fn backup_restore_verifies_every_bundle_sqlite() {
    backup_restore(None, None);
}

#[test]
fn backup_restore_verifies_every_bundle_postgres() {
    let old = crate::crash::PgDatabase::create();
    let new = crate::crash::PgDatabase::create();
    backup_restore(Some(old.url()), Some(new.url()));
}

fn backup_restore(database: Option<String>, restored_db: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut extra: Vec<String> = Vec::new();
    if let Some(url) = &database {
        extra.extend(["--database".to_owned(), url.clone()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = start_server(&data, &extra);
    let url = server.url.clone();

    // A letter with signatures and withdrawals (the demo), published.
    ok(bin()
        .args(["demo", "--server", &url, "--orgs", "2", "--signers", "16"])
        .args(["--seed", "11", "--publish-interval", "1", "--out"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap());
    // A code is live while the backup runs: it must not be in the backup.
    ureq::post(&format!("{url}/api/v1/issuance/code"))
        .send_json(serde_json::json!({"email": "backup@state.gov"}))
        .unwrap();
    let live_codes = match &database {
        None => sqlite_count(&data.join("undersigned.db"), "email_codes"),
        Some(db) => pg_count(db, "email_codes"),
    };
    assert_eq!(live_codes, 1);
    let dep_file = dir.path().join("deployment.json");
    let dep: Value = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    std::fs::write(&dep_file, dep.to_string()).unwrap();
    let before_dir = dir.path().join("before");
    std::fs::create_dir_all(&before_dir).unwrap();
    let before = statements(&url, &dep_file, &before_dir);
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|(_, s)| s.contains("VERIFIED")),
        "{before:?}"
    );

    // The backup is taken while the server runs, then the server is lost.
    let backup = dir.path().join("backup");
    let mut cmd = bin();
    cmd.args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&backup);
    if let Some(url) = &database {
        cmd.args(["--database", url]);
    }
    let said = ok(cmd.output().unwrap());
    assert!(said.contains("address-tag key is not in it"), "{said}");
    drop(server);
    // The owner's only: the directory 0700, every file 0600.
    assert_eq!(mode(&backup), 0o700);
    for f in std::fs::read_dir(&backup).unwrap() {
        let f = f.unwrap().path();
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    if database.is_none() {
        assert_eq!(
            sqlite_count(&backup.join("undersigned.db"), "email_codes"),
            0
        );
    }
    // The tag key is not in the backup: the operator keeps it apart.
    let tag_key = data.with_extension("tag.key");
    for f in std::fs::read_dir(&backup).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        let key = std::fs::read(&tag_key).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_slice()),
            "the backup holds the tag key"
        );
    }

    let restore = |target: &Path, tag: &Path, from: &Path| {
        let mut cmd = bin();
        cmd.args(["restore", "--from"])
            .arg(from)
            .arg("--data")
            .arg(target)
            .arg("--tag-key-file")
            .arg(tag);
        if let Some(url) = &restored_db {
            cmd.args(["--database", url]);
        }
        cmd.output().unwrap()
    };

    // Refused: without the tag key, and with another deployment's key file.
    let fresh = dir.path().join("fresh");
    let err = fails(restore(&fresh, &dir.path().join("nowhere.key"), &backup));
    assert!(err.contains("address-tag key"), "{err}");
    let stranger = dir.path().join("stranger");
    drop(start_server(&stranger, &[]));
    let forged = dir.path().join("forged-backup");
    std::fs::create_dir_all(&forged).unwrap();
    for f in std::fs::read_dir(&backup).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, forged.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(forged.join("keys.json")).unwrap();
    std::fs::copy(stranger.join("keys.json"), forged.join("keys.json")).unwrap();
    // The manifest's signature is checked before anything is copied, on either backend.
    let wrong = dir.path().join("wrong");
    let err = fails(restore(&wrong, &tag_key, &forged));
    assert!(
        err.contains("does not verify with its key file's log key"),
        "{err}"
    );
    assert!(!wrong.join("keys.json").exists());
    // A manifest changed after the backup (here: naming no letter, so that none would be
    // held against it) is refused, and so is one without its signature.
    let tampered = copy_dir(&backup, &dir.path().join("tampered"));
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(tampered.join("backup.json")).unwrap()).unwrap();
    assert!(!m["letters"].as_array().unwrap().is_empty());
    m["letters"] = Value::Array(Vec::new());
    std::fs::write(tampered.join("backup.json"), m.to_string()).unwrap();
    let err = fails(restore(&wrong, &tag_key, &tampered));
    assert!(
        err.contains("the manifest, the key file or the database was changed"),
        "{err}"
    );
    assert!(!wrong.join("keys.json").exists());
    let unsigned = copy_dir(&backup, &dir.path().join("unsigned"));
    std::fs::remove_file(unsigned.join("backup.sig")).unwrap();
    let err = fails(restore(&wrong, &tag_key, &unsigned));
    assert!(err.contains("no signed manifest"), "{err}");

    // The restore, with the tag key put back from where it was kept.
    let data2 = dir.path().join("data2");
    std::fs::copy(&tag_key, data2.with_extension("tag.key")).unwrap();
    let said = ok(restore(&data2, &data2.with_extension("tag.key"), &backup));
    assert!(said.contains("letter logs checked"), "{said}");
    if let Some(db) = &restored_db {
        assert_eq!(pg_count(db, "email_codes"), 0);
    }
    let err = fails(restore(&data2, &data2.with_extension("tag.key"), &backup));
    assert!(err.contains("already holds a deployment"), "{err}");

    let mut extra: Vec<String> = Vec::new();
    if let Some(url) = &restored_db {
        extra.extend(["--database".to_owned(), url.clone()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = start_server(&data2, &extra);
    let after_dir = dir.path().join("after");
    std::fs::create_dir_all(&after_dir).unwrap();
    let after = statements(&server.url, &dep_file, &after_dir);
    assert_eq!(before, after);
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn copy_dir(from: &Path, to: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
    to.to_owned()
}

/// Rows of a table in a SQLite file, read as anyone with the file could.
fn sqlite_count(db: &Path, table: &str) -> i64 {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", db.display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut c)
            .await
            .unwrap();
        n
    })
}

/// Rows of a table in a PostgreSQL database, through psql.
fn pg_count(url: &str, table: &str) -> i64 {
    let o = std::process::Command::new("psql")
        .args(["-w", "-X", "-q", "-t", "-A", "-d", url, "-c"])
        .arg(format!("SELECT count(*) FROM {table}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

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

/// The size of a letter's published checkpoint, waiting until it is at least `size`.
fn published_size(url: &str, id: &str, size: u64) -> u64 {
    let start = Instant::now();
    loop {
        if let Ok(r) = ureq::get(&format!("{url}/api/v1/letters/{id}/checkpoint")).call() {
            let note = r.into_string().unwrap();
            let n: u64 = note.lines().nth(1).unwrap().parse().unwrap();
            if n >= size {
                return n;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "letter {id} was never published at size {size}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates and opens a letter with the CLI; returns its handle and id.
fn open_letter(url: &str, home: &Path, dir: &Path) -> (String, String) {
    let body = dir.join("letter.md");
    std::fs::write(&body, "A witnessed letter.\n").unwrap();
    let created = ok(bin()
        .args(["letter", "create", "--server", url, "--home"])
        .arg(home)
        .args(["--title", "Witnessed", "--body-file"])
        .arg(&body)
        .args(["--publish-interval", "1"])
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
        .arg(home)
        .output()
        .unwrap());
    let id = opened
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .unwrap()
        .to_owned();
    (handle, id)
}

/// `serve` on `data` with one witness, its output (both streams) kept in `log`.
fn serve(data: &Path, port: u16, witness: &str, log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    Proc(
        bin()
            .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(data)
            .arg("--tag-key-file")
            .arg(data.with_extension("tag.key"))
            .args(["--publish-interval", "1", "--witness", witness])
            .args(["--witness-timeout-ms", "500"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    )
}

fn wait_up(url: &str) {
    let start = Instant::now();
    while ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A backup older than what the witness cosigned: the letter grew after it. `restore
/// --witness` refuses it, naming the letter and the sizes; restored without witnesses,
/// `serve` refuses to start on it; started while the witness is away, it serves the old
/// checkpoint, and a checkpoint it then makes is never shown to the witness nor published.
#[test]
fn fail_an_older_backup_cannot_fork_the_witnessed_log() {
    let dir = tempfile::tempdir().unwrap();
    let wdir = dir.path().join("witness");
    let vkey = ok(bin()
        .args(["witness", "key", "--name", "w1.test/witness", "--data"])
        .arg(&wdir)
        .output()
        .unwrap())
    .trim()
    .to_owned();
    let wport = free_port();
    let witness = format!("{vkey}@http://127.0.0.1:{wport}");
    let data = dir.path().join("data");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = serve(&data, port, &witness, &dir.path().join("serve1.log"));
    wait_up(&url);
    let dep: Value = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let prefixes: Vec<String> = dep["witness_logs_under"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let w = start_witness(&wdir, wport, &prefixes);

    // The letter is opened and cosigned at size 1; the backup is taken then.
    let home = dir.path().join("organizer");
    let (handle, id) = open_letter(&url, &home, dir.path());
    assert_eq!(published_size(&url, &id, 1), 1);
    let old = dir.path().join("old-backup");
    ok(bin()
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&old)
        .output()
        .unwrap());
    // It grows afterwards: closed, cosigned at size 2.
    ok(bin()
        .args(["letter", "close", &handle, "--server", &url, "--home"])
        .arg(&home)
        .output()
        .unwrap());
    assert_eq!(published_size(&url, &id, 2), 2);
    let closed_at = Instant::now();
    drop(server);
    let target = dir.path().join("data2");
    // The tag key, kept apart, is put back beside the new data directory.
    let tag = target.with_extension("tag.key");
    std::fs::copy(data.with_extension("tag.key"), &tag).unwrap();

    // `restore --witness`: refused, saying which letter, which sizes, what is needed.
    let err = fails(
        bin()
            .args(["restore", "--from"])
            .arg(&old)
            .arg("--data")
            .arg(&target)
            .arg("--tag-key-file")
            .arg(&tag)
            .args(["--witness", &witness])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains(&format!("letter {id}: witness w1.test/witness cosigned a checkpoint of size 2, but this deployment holds only 1 entries"))
            && err.contains("one holding at least size 2 of that log"),
        "{err}"
    );
    assert!(!target.join("keys.json").exists() && !target.join("undersigned.db").exists());

    // Restored without witnesses, `serve` refuses to start on it, saying the same.
    let said = ok(bin()
        .args(["restore", "--from"])
        .arg(&old)
        .arg("--data")
        .arg(&target)
        .arg("--tag-key-file")
        .arg(&tag)
        .output()
        .unwrap());
    assert!(said.contains("not compared with witnesses"), "{said}");
    let log = dir.path().join("serve2.log");
    let mut refused = serve(&target, free_port(), &witness, &log);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = refused.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not refuse"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("refusing to serve a forked log")
            && text.contains(&format!(
                "letter {id}: witness w1.test/witness cosigned a checkpoint of size 2"
            )),
        "{text}"
    );

    // With the witness away at startup, it serves (the old checkpoint), but the checkpoint it
    // makes on top is neither shown to the witness nor published once the witness is back.
    let before = ureq::get(&format!(
        "http://127.0.0.1:{wport}/{}/checkpoint",
        origin_hash(&dep, &id)
    ))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    drop(w);
    let port3 = free_port();
    let url3 = format!("http://127.0.0.1:{port3}");
    let log = dir.path().join("serve3.log");
    let _server = serve(&target, port3, &witness, &log);
    wait_up(&url3);
    assert_eq!(published_size(&url3, &id, 1), 1);
    // The closed entry carries the second it was made: closed within the same second as the
    // first time, the restored log would be the witnessed one again, not a fork of it.
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(closed_at.elapsed()));
    ok(bin()
        .args(["letter", "close", &handle, "--server", &url3, "--home"])
        .arg(&home)
        .output()
        .unwrap());
    let _w = start_witness(&wdir, wport, &prefixes);
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("not cosigned, not published")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("warning: letter"), "{text}");
    assert!(
        text.contains("cosigned a checkpoint of size 2 whose root is not the root"),
        "{text}"
    );
    assert_eq!(published_size(&url3, &id, 1), 1);
    let after = ureq::get(&format!(
        "http://127.0.0.1:{wport}/{}/checkpoint",
        origin_hash(&dep, &id)
    ))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    assert_eq!(before, after);
}

fn origin_hash(dep: &Value, id: &str) -> String {
    use sha2::Digest;
    let origin = format!("{}/letters/{id}", dep["host"].as_str().unwrap());
    hex::encode(sha2::Sha256::digest(origin.as_bytes()))
}
