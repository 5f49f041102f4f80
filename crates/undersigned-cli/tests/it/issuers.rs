//! Independent issuers (issue 23): `issuer serve` as its own process, issuing over HTTP and
//! SMTP (its dev outbox), describing itself and answering any origin; a letters `serve
//! --issuer URL` that lists it, verifies entries and bundles with its statement, and refuses an
//! answer that breaks the pins or is too large while keeping the last good one.

use crate::flow::{bin, code_for, free_port, start_server, Server};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `issuer serve --dev` (mail to its own outbox over SMTP) at `host`, waiting for its
/// description.
fn start_issuer(data: &Path, host: &str) -> Server {
    let port = free_port();
    let child = bin()
        .args([
            "issuer",
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
            "--host",
            host,
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
    while ureq::get(&format!("{}/api/v1/issuer", server.url))
        .call()
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "issuer did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn get_json(url: &str) -> serde_json::Value {
    ureq::get(url).call().unwrap().into_json().unwrap()
}

fn status_of(r: Result<ureq::Response, ureq::Error>) -> u16 {
    match r {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

/// `credential request` against `issuer`, the code read from its outbox; the credential files.
fn request_credential(issuer: &str, home: &Path, email: &str) -> Vec<std::path::PathBuf> {
    let mut req = bin()
        .args([
            "credential",
            "request",
            "--server",
            issuer,
            "--home",
            home.to_str().unwrap(),
            "--email",
            email,
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
    let code = code_for(issuer, email);
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
    let mut files: Vec<_> = std::fs::read_dir(home.join("credentials"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

#[test]
fn an_issuer_on_its_own_describes_itself_issues_and_answers_any_origin() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = start_issuer(&dir.path().join("issuer"), "issuer.newsroom.localhost");
    let url = issuer.url.as_str();

    let d = get_json(&format!("{url}/api/v1/issuer"));
    assert_eq!(d["format"], "undersigned-issuer/1");
    let id = d["issuer_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(d["host"], "issuer.newsroom.localhost");
    assert_eq!(
        d["log_origin"],
        format!("issuer.newsroom.localhost/issuers/{id}")
    );
    assert_eq!(d["log_public_key"].as_str().unwrap().len(), 64);
    assert!(d["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["domain"] == "state.gov" && o["name"] == "Department of State"));
    // Without letters: the current quarter and the next.
    let epochs: Vec<&str> = d["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(epochs.len(), 2, "{epochs:?}");
    assert_eq!(epochs[0], d["current_epoch"].as_str().unwrap());
    assert_eq!(
        get_json(&format!("{url}/api/v1/issuance/epochs"))["epochs"],
        d["epochs"]
    );
    // An issuer has no letters, pages or deployment document.
    for path in ["/api/v1/letters", "/api/v1/deployment", "/"] {
        assert_eq!(
            status_of(ureq::get(&format!("{url}{path}")).call()),
            404,
            "{path}"
        );
    }

    // CORS: any origin, a page opened from a file (`Origin: null`) included; no credentials.
    let r = ureq::get(&format!("{url}/api/v1/issuer"))
        .set("Origin", "null")
        .call()
        .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    for path in ["/api/v1/issuance/code", "/api/v1/issuance/credential"] {
        let pre = ureq::request("OPTIONS", &format!("{url}{path}"))
            .set("Origin", "null")
            .set("Access-Control-Request-Method", "POST")
            .set("Access-Control-Request-Headers", "content-type")
            .call()
            .unwrap();
        assert!(pre.status() < 300, "{path}: {}", pre.status());
        assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
        assert!(pre
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(pre
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("content-type"));
        assert_eq!(pre.header("access-control-allow-credentials"), None);
    }
    // A refused cross-origin POST still carries the header, so the page can read why.
    let refused = ureq::post(&format!("{url}/api/v1/issuance/code"))
        .set("Origin", "https://letters.example.org")
        .send_json(serde_json::json!({"email": "someone@gmail.com"}));
    match refused {
        Err(ureq::Error::Status(code, r)) => {
            assert!((400..500).contains(&code));
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        }
        other => panic!("a free-mail address was accepted: {other:?}"),
    }

    // A holder gets a credential per issued epoch, over HTTP and SMTP, under the issuer's key.
    let files = request_credential(url, &dir.path().join("holder"), "ann@state.gov");
    assert_eq!(files.len(), 2, "{files:?}");
    let cred: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(cred["issuer_id"], id.as_str());

    // Its statement log: signed by it, under its own origin.
    let st = get_json(&format!("{url}/api/v1/issuer/statement"));
    assert_eq!(st["signed"]["statement"]["issuer_id"], id.as_str());
    assert!(st["checkpoint"]
        .as_str()
        .unwrap()
        .starts_with(&format!("issuer.newsroom.localhost/issuers/{id}\n")));
}

#[test]
fn a_letters_deployment_lists_a_named_issuer_and_bundles_its_statement() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = start_issuer(&dir.path().join("issuer"), "issuer.union.localhost");
    let id = get_json(&format!("{}/api/v1/issuer", issuer.url))["issuer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let letters = start_server(
        &dir.path().join("letters"),
        &["--issuer", &issuer.url, "--issuer-refresh-secs", "1"],
    );
    let s = letters.url.as_str();

    let dep = get_json(&format!("{s}/api/v1/deployment"));
    let listed = dep["issuers"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["url"], issuer.url.as_str());
    assert_eq!(listed[0]["issuer_id"], id.as_str());
    assert_eq!(listed[0]["host"], "issuer.union.localhost");
    assert_eq!(dep["issuer"]["id"], id.as_str());
    // The letters server runs no issuer of its own now.
    assert_eq!(
        status_of(ureq::get(&format!("{s}/api/v1/issuance/epochs")).call()),
        404
    );
    // The deployment document answers any origin too.
    let r = ureq::get(&format!("{s}/api/v1/deployment"))
        .set("Origin", "null")
        .call()
        .unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    // The holder's page here may call the issuer and this server at its public URL, and
    // nothing else elsewhere.
    let page = ureq::get(&format!("{s}/")).call().unwrap();
    let csp = page.header("content-security-policy").unwrap().to_owned();
    let connect = csp
        .split("; ")
        .find_map(|d| d.strip_prefix("connect-src "))
        .unwrap();
    let mut origins: Vec<&str> = connect.split(' ').collect();
    origins.sort_unstable();
    let mut expected = vec!["'self'", s, issuer.url.as_str()];
    expected.sort_unstable();
    assert_eq!(origins, expected, "{csp}");

    // A holder asks the issuer, an organizer opens a letter here, the holder signs it here.
    let holder = dir.path().join("holder");
    request_credential(&issuer.url, &holder, "bo@state.gov");
    // The issuer's next statement counts the credential, and the deployment fetches it: only
    // then may it count a signer of state.gov.
    listed_when(s, |i| i["statement_sequence"].as_u64() >= Some(2));
    let body = dir.path().join("letter.md");
    std::fs::write(&body, "We ask for a review.\n").unwrap();
    let organizer = dir.path().join("organizer");
    let o = |args: &[&str]| {
        let out = bin()
            .args(args)
            .args(["--server", s, "--home", organizer.to_str().unwrap()])
            .output()
            .unwrap();
        crate::run::ok(out)
    };
    let created = o(&[
        "letter",
        "create",
        "--title",
        "Review",
        "--body-file",
        body.to_str().unwrap(),
        "--org",
        "state.gov",
        "--publish-interval",
        "1",
    ]);
    let handle = created
        .split_whitespace()
        .skip_while(|w| *w != "handle")
        .nth(1)
        .unwrap()
        .to_owned();
    o(&["letter", "open", &handle]);
    let signed = crate::run::ok(
        bin()
            .args([
                "sign",
                "--server",
                s,
                "--home",
                holder.to_str().unwrap(),
                &handle,
                "--consent-small-org",
            ])
            .output()
            .unwrap(),
    );
    assert!(signed.contains("Signature accepted"), "{signed}");
    // The bundle carries the issuer's own signed statement and the signature.
    let start = Instant::now();
    loop {
        let b = get_json(&format!("{s}/api/v1/letters/{handle}/bundle"));
        let issuers = b["issuers"].as_array().unwrap();
        assert_eq!(issuers.len(), 1);
        assert_eq!(issuers[0]["id"], id.as_str());
        assert_eq!(
            issuers[0]["statement"]["signed"]["statement"]["issuer_id"],
            id.as_str()
        );
        assert!(issuers[0]["statement"]["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with(&format!("issuer.union.localhost/issuers/{id}\n")));
        if b["entries"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no batch");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the in-test issuer proxy answers with.
#[derive(Clone)]
enum Answer {
    From(String),
    TooLarge,
    /// Headers, then nothing for far longer than the deployment waits.
    Stall,
}

/// An HTTP stand-in for an issuer's address: relays GETs to the issuer it points at, or
/// answers with a body far over any limit.
fn proxy(answer: Arc<Mutex<Answer>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.lock().unwrap().clone();
            std::thread::spawn(move || relay(stream, &answer));
        }
    });
    url
}

fn relay(mut stream: std::net::TcpStream, answer: &Answer) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    match answer {
        Answer::From(upstream) => {
            let (status, body) = match ureq::get(&format!("{upstream}{path}")).call() {
                Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
                Err(_) => (502, String::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::Stall => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            );
            std::thread::sleep(Duration::from_secs(10));
        }
        Answer::TooLarge => {
            let size = 64 << 20;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n{{\"x\":\""
            );
            let chunk = vec![b'a'; 1 << 16];
            for _ in 0..(size >> 16) {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
    }
}

/// The first issuer the deployment lists, once `done` holds of it.
fn listed_when(letters: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let dep = get_json(&format!("{letters}/api/v1/deployment"));
        let first = dep["issuers"][0].clone();
        if done(&first) {
            return first;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the deployment never showed it: {first}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fail_an_issuer_answer_off_its_pins_or_too_large_is_refused_and_the_last_good_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_issuer(&dir.path().join("a"), "issuer.clinic.localhost");
    // Another issuer at the same host: another BBS key and another log key.
    let b = start_issuer(&dir.path().join("b"), "issuer.clinic.localhost");
    let a_id = get_json(&format!("{}/api/v1/issuer", a.url))["issuer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_id = get_json(&format!("{}/api/v1/issuer", b.url))["issuer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = Arc::new(Mutex::new(Answer::From(a.url.clone())));
    let at = proxy(answer.clone());
    let letters = start_server(
        &dir.path().join("letters"),
        &[
            "--issuer",
            &at,
            "--issuer-refresh-secs",
            "1",
            "--issuer-timeout-ms",
            "1000",
        ],
    );
    let s = letters.url.as_str();
    let first = listed_when(s, |i| i["issuer_id"] == a_id.as_str());
    assert!(first["refused"].is_null(), "{first}");
    let sequence = first["statement_sequence"].clone();

    // The address now answers with another issuer's key and log: refused, A kept.
    *answer.lock().unwrap() = Answer::From(b.url.clone());
    let refused = listed_when(s, |i| !i["refused"].is_null());
    assert!(
        refused["refused"].as_str().unwrap().contains("pinned"),
        "{refused}"
    );
    assert_eq!(refused["issuer_id"], a_id.as_str());
    assert_eq!(refused["statement_sequence"], sequence);
    let bundled = get_json(&format!("{s}/api/v1/deployment"));
    assert_eq!(bundled["issuer"]["id"], a_id.as_str());
    assert_ne!(bundled["issuer"]["id"], b_id.as_str());

    // An answer far over the limit is cut off and refused, A still kept.
    *answer.lock().unwrap() = Answer::TooLarge;
    let cut = listed_when(s, |i| {
        i["refused"]
            .as_str()
            .is_some_and(|r| r.contains("larger than"))
    });
    assert_eq!(cut["issuer_id"], a_id.as_str());

    // An answer that never finishes is given up after the timeout, A still kept.
    *answer.lock().unwrap() = Answer::Stall;
    let slow = listed_when(s, |i| {
        i["refused"]
            .as_str()
            .is_some_and(|r| r.contains("timed out") || r.contains("imeout"))
    });
    assert_eq!(slow["issuer_id"], a_id.as_str());

    // The real issuer answers again: accepted, nothing refused.
    *answer.lock().unwrap() = Answer::From(a.url.clone());
    listed_when(s, |i| {
        i["refused"].is_null() && i["issuer_id"] == a_id.as_str()
    });

    // Pinned in the file to B's id, a deployment refuses to start on A's answers.
    let file = dir.path().join("pinned.toml");
    std::fs::write(
        &file,
        format!("[[issuer]]\nurl = \"{}\"\nid = \"{b_id}\"\n", a.url),
    )
    .unwrap();
    let out = bin()
        .args([
            "serve",
            "--dev",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
            dir.path().join("pinned").to_str().unwrap(),
            "--tag-key-file",
            dir.path().join("pinned.tag.key").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = crate::run::fails(out);
    assert!(err.contains(&format!("is not the pinned {b_id}")), "{err}");
}

#[test]
fn the_shipped_three_issuer_files_check() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let letters = crate::run::ok(
        bin()
            .args(["config", "check"])
            .arg(deploy.join("three-issuers.toml"))
            .output()
            .unwrap(),
    );
    for url in [
        "https://issuer.newsroom.example",
        "https://issuer.union.example",
        "https://issuer.lawclinic.example",
    ] {
        assert!(letters.contains(url), "{letters}");
    }
    assert!(letters.contains("none of its own"), "{letters}");
    let issuer = crate::run::ok(
        bin()
            .args(["config", "check"])
            .arg(deploy.join("issuer-newsroom.toml"))
            .output()
            .unwrap(),
    );
    assert!(
        issuer.contains("The Daily Ledger staff attestor"),
        "{issuer}"
    );
    // A pin that is no issuer id is refused with its line.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "host = \"letters.example.org\"\n\n[[issuer]]\nurl = \"https://i.example\"\nid = \"abc\"\n",
    )
    .unwrap();
    let err = crate::run::fails(bin().args(["config", "check"]).arg(&bad).output().unwrap());
    assert!(err.contains("bad.toml:") && err.contains("64 hex"), "{err}");
}
