//! `check --tiles` reads a fixed cover set: whoever serves the tiles (here Python's file
//! server, whose request log we read) sees the same letters' logs requested whichever letters
//! the holder signed.

use crate::flow::{bin, code_for, free_port, start_server};
use crate::run::ok;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Static(Child);

impl Drop for Static {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain file server over `root` that logs every request line to `log`.
fn logged_static_server(root: &Path, log: &Path) -> (Static, String) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-u", "-m", "http.server", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--directory"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while ureq::get(&format!("{url}/letters/")).call().is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "static server");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Static(child), url)
}

/// The letter ids named in the request lines logged after the first `from` bytes.
fn letters_requested(log: &Path, from: usize) -> BTreeSet<String> {
    let text = std::fs::read_to_string(log).unwrap();
    text[from..]
        .lines()
        .filter_map(|l| l.split("GET /letters/").nth(1))
        .filter_map(|rest| rest.split('/').next())
        .filter(|id| id.len() == 64)
        .map(str::to_owned)
        .collect()
}

/// Creates and opens a public letter with a one-second publish interval; returns its id.
pub fn open_letter(url: &str, title: &str) -> String {
    let created: Value = ureq::post(&format!("{url}/api/v1/letters"))
        .send_json(json!({
            "title": title,
            "body": "We ask for a review.\n",
            "policy": {"deadline": undersigned_server::now() + 86_400, "publish_interval_secs": 1},
        }))
        .unwrap()
        .into_json()
        .unwrap();
    let handle = created["handle"].as_str().unwrap();
    let token = created["organizer_token"].as_str().unwrap();
    let opened: Value = ureq::post(&format!("{url}/api/v1/letters/{handle}/open"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({}))
        .unwrap()
        .into_json()
        .unwrap();
    opened["letter_id"].as_str().unwrap().to_owned()
}

/// A credential for `email` in `home`, through the CLI and the dev outbox.
pub fn get_credential(url: &str, home: &Path, email: &str) {
    let mut req = bin()
        .args(["credential", "request", "--server", url, "--home"])
        .arg(home)
        .args(["--email", email])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = code_for(url, email);
    req.stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes())
        .unwrap();
    assert!(req.wait_with_output().unwrap().status.success());
}

#[test]
fn check_tiles_reads_the_same_letters_whichever_were_signed() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    let server = start_server(
        &dir.path().join("data"),
        &["--tiles-dir", tiles.to_str().unwrap()],
    );
    let url = server.url.as_str();
    let letters: Vec<String> = (0..4)
        .map(|i| open_letter(url, &format!("Letter {i}")))
        .collect();

    let holder = dir.path().join("holder");
    get_credential(url, &holder, "ann@state.gov");
    // One holder signs letters 0 and 1; two homes each keep one of the receipts, as two
    // people who signed different letters would.
    for id in &letters[..2] {
        ok(bin()
            .args(["sign", id, "--server", url, "--home"])
            .arg(&holder)
            .arg("--consent-small-org")
            .output()
            .unwrap());
    }
    let homes: Vec<_> = letters[..2]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let home = dir.path().join(format!("home{i}"));
            std::fs::create_dir_all(home.join("receipts")).unwrap();
            for e in std::fs::read_dir(holder.join("receipts"))
                .unwrap()
                .flatten()
            {
                if e.file_name().to_string_lossy().starts_with(&id[..16]) {
                    std::fs::copy(e.path(), home.join("receipts").join(e.file_name())).unwrap();
                }
            }
            home
        })
        .collect();
    // Both signatures published and copied into the tiles directory.
    let start = Instant::now();
    for id in &letters[..2] {
        let cp = tiles.join("letters").join(id).join("checkpoint");
        while std::fs::read_to_string(&cp)
            .ok()
            .and_then(|n| n.lines().nth(1).and_then(|l| l.parse::<u64>().ok()))
            .unwrap_or(0)
            < 2
        {
            assert!(start.elapsed() < Duration::from_secs(30), "not published");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let log = dir.path().join("requests.log");
    let (_static, static_url) = logged_static_server(&tiles, &log);
    let mut seen = Vec::new();
    for home in &homes {
        let from = std::fs::read_to_string(&log).unwrap().len();
        let out = ok(bin()
            .args(["check", "--tiles", &static_url, "--home"])
            .arg(home)
            .output()
            .unwrap());
        assert!(out.starts_with("OK ") && out.lines().count() == 1, "{out}");
        seen.push(letters_requested(&log, from));
    }
    let all: BTreeSet<String> = letters.iter().cloned().collect();
    assert_eq!(seen[0], all, "the first holder's fetches");
    assert_eq!(seen[1], all, "the second holder's fetches");
}
