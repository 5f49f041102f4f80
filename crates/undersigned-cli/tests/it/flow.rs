//! The README's newcomer flow with the real binary: `serve --dev`, then the CLI alone gets a
//! credential through the dev outbox, opens a letter, signs, checks, tallies and verifies.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_undersigned"))
}

/// Kills the server when the test ends, however it ends.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_server(data: &std::path::Path, extra: &[&str]) -> Server {
    let port = free_port();
    let child = bin()
        .args([
            "serve",
            "--dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            data.to_str().unwrap(),
            "--tag-key-file",
            data.with_extension("tag.key").to_str().unwrap(),
            "--publish-interval",
            "1",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while ureq::get(&format!("{}/api/v1/deployment", server.url))
        .call()
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// The newest code the dev outbox holds for an address.
pub fn code_for(url: &str, email: &str) -> String {
    let start = Instant::now();
    loop {
        let mails: Vec<serde_json::Value> = ureq::get(&format!("{url}/api/dev/outbox"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        if let Some(m) = mails.iter().rev().find(|m| m["to"][0] == email) {
            return m["body"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
                .unwrap()
                .to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no code mail");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many mails the dev outbox holds for an address.
pub fn mails_to(url: &str, email: &str) -> usize {
    let mails: Vec<serde_json::Value> = ureq::get(&format!("{url}/api/dev/outbox"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    mails.iter().filter(|m| m["to"][0] == email).count()
}

/// The code of the first mail to an address after the first `seen` ones.
pub fn code_after(url: &str, email: &str, seen: usize) -> String {
    let start = Instant::now();
    while mails_to(url, email) <= seen {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no new code mail"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    code_for(url, email)
}

fn ok(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn newcomer_flow_with_cli_and_dev_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    let server = start_server(
        &dir.path().join("data"),
        &["--tiles-dir", tiles.to_str().unwrap()],
    );
    let url = server.url.as_str();
    let holder = dir.path().join("holder");
    let organizer = dir.path().join("organizer");

    // Get a credential: the command asks for the code, which the person reads from their mail.
    let mut req = bin()
        .args([
            "credential",
            "request",
            "--server",
            url,
            "--home",
            holder.to_str().unwrap(),
            "--email",
            "newcomer@state.gov",
            "--role",
            "analyst",
            "--age-band",
            "30-39",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = code_for(url, "newcomer@state.gov");
    req.stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes())
        .unwrap();
    let out = req.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One 0600 file per issuable epoch; a fresh dev server has only the current one.
    let files: Vec<_> = std::fs::read_dir(holder.join("credentials"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let cred_path = files[0].clone();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&cred_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A second credential for the same address and epoch is refused by the issuer, with the
    // real code from the new mail: the refusal is the one-credential rule, not a wrong code.
    let sent = mails_to(url, "newcomer@state.gov");
    let mut again = bin()
        .args([
            "credential",
            "request",
            "--server",
            url,
            "--home",
            dir.path().join("h2").to_str().unwrap(),
            "--email",
            "newcomer@state.gov",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = code_after(url, "newcomer@state.gov", sent);
    again
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{code}\n").as_bytes())
        .unwrap();
    let again = again.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second credential was issued");
    assert!(err.contains("already issued"), "{err}");

    // An organizer opens a letter.
    let body = dir.path().join("letter.md");
    std::fs::write(&body, "We ask for a review of the policy.\n").unwrap();
    // Two epochs would give one person two unlinkable signatures: refused, naming the rule.
    let two = bin()
        .args([
            "letter",
            "create",
            "--server",
            url,
            "--home",
            organizer.to_str().unwrap(),
            "--title",
            "Two epochs",
            "--body-file",
            body.to_str().unwrap(),
            "--epoch",
            "2026-Q4",
            "--epoch",
            "2027-Q1",
        ])
        .output()
        .unwrap();
    assert!(!two.status.success());
    let err = String::from_utf8_lossy(&two.stderr);
    assert!(
        err.contains("a letter accepts exactly one epoch per issuer"),
        "{err}"
    );
    assert!(
        !organizer.join("organizer").exists(),
        "no letter was created, so no token was kept"
    );
    let created = ok(&[
        "letter",
        "create",
        "--server",
        url,
        "--home",
        organizer.to_str().unwrap(),
        "--title",
        "Review the policy",
        "--body-file",
        body.to_str().unwrap(),
        "--allow-role",
        "--publish-interval",
        "1",
    ]);
    let handle = created
        .split_whitespace()
        .skip_while(|w| *w != "handle")
        .nth(1)
        .unwrap()
        .to_owned();
    let opened = ok(&[
        "letter",
        "open",
        &handle,
        "--server",
        url,
        "--home",
        organizer.to_str().unwrap(),
    ]);
    let id = opened
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 64);

    // Sign: the org has fewer than k holders, so consent is required and then given.
    let refused = bin()
        .args([
            "sign",
            &id,
            "--server",
            url,
            "--home",
            holder.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--consent-small-org"));
    let signed = ok(&[
        "sign",
        &id,
        "--server",
        url,
        "--home",
        holder.to_str().unwrap(),
        "--consent-small-org",
        "--comment",
        "I agree",
    ]);
    assert!(signed.contains("Signature accepted"), "{signed}");
    let twice = bin()
        .args([
            "sign",
            &id,
            "--server",
            url,
            "--home",
            holder.to_str().unwrap(),
            "--consent-small-org",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("already signed"),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );

    // After the batch, the signature is provably in the log and counted.
    std::thread::sleep(Duration::from_millis(3500));
    let checked = ok(&["check", "--server", url, "--home", holder.to_str().unwrap()]);
    assert!(checked.starts_with("OK "), "{checked}");
    // The same check from the static copy of the logs (what a CDN would serve).
    let from_copy = ok(&[
        "check",
        "--tiles",
        tiles.to_str().unwrap(),
        "--home",
        holder.to_str().unwrap(),
    ]);
    assert!(from_copy.starts_with("OK "), "{from_copy}");
    let tally = ok(&["tally", &id, "--server", url]);
    assert!(
        tally.contains("1 signatures from 1 organizations"),
        "{tally}"
    );
    let bundle = dir.path().join("bundle.json");
    ok(&[
        "bundle",
        &id,
        "--server",
        url,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let receipts: Vec<_> = std::fs::read_dir(holder.join("receipts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let verified = ok(&[
        "verify",
        bundle.to_str().unwrap(),
        "--receipt",
        receipts[0].to_str().unwrap(),
    ]);
    assert!(
        verified.contains("1 distinct verified signature from 1 organization"),
        "{verified}"
    );
    assert!(
        verified.contains("the keys were taken from the bundle itself"),
        "{verified}"
    );
    // The deployment's answer, saved as it is, pins both keys.
    let deployment = dir.path().join("deployment.json");
    let answer = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    std::fs::write(&deployment, answer).unwrap();
    let pinned = ok(&[
        "verify",
        bundle.to_str().unwrap(),
        "--deployment",
        deployment.to_str().unwrap(),
    ]);
    assert!(pinned.contains("match the pinned keys"), "{pinned}");
    // The credential never left the device: nothing of it is in the bundle.
    let cred: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cred_path).unwrap()).unwrap();
    let bundle_text = std::fs::read_to_string(&bundle).unwrap();
    for secret in ["signature", "nym_secret", "prover_blind"] {
        let s = cred["secrets"][secret].as_str().unwrap();
        assert!(!bundle_text.contains(s), "{secret} leaked");
    }
    assert!(!bundle_text.contains("newcomer@"));
    // A second check proves consistency with the checkpoint seen the first time.
    let again = ok(&["check", "--server", url, "--home", holder.to_str().unwrap()]);
    assert!(again.contains("consistent with the checkpoint"), "{again}");
}

#[test]
fn serve_without_a_relay_serves_pages_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--tag-key-file",
            dir.path().join("tag.key").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    let home = loop {
        if let Ok(r) = ureq::get(&format!("{}/", server.url)).call() {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(home.content_type().starts_with("text/html"));
    // No dev outbox outside dev mode, and issuance explains the missing relay.
    assert!(matches!(
        ureq::get(&format!("{}/api/dev/outbox", server.url)).call(),
        Err(ureq::Error::Status(404, _))
    ));
    match ureq::post(&format!("{}/api/v1/issuance/code", server.url))
        .send_json(serde_json::json!({"email": "a@state.gov"}))
    {
        Err(ureq::Error::Status(503, r)) => assert!(r.into_string().unwrap().contains("--smtp")),
        other => panic!("{other:?}"),
    }
}
