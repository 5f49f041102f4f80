//! Holders of a deployment that names several independent issuers (issue 23): three `issuer
//! serve` processes, each with its own outbox over SMTP, and a letters `serve --issuer URL`
//! for each. A holder gets three codes and three sets of credentials, signs a letter needing t
//! of the three with a composite entry, the tally counts it once, and the bundle verifies with
//! the deployment pinned and says which issuers back each signature.

use crate::flow::{bin, code_for, free_port, start_server, Server};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const ISSUERS: [(&str, &str); 3] = [
    ("The Newsroom", "issuer.newsroom.localhost"),
    ("The Staff Union", "issuer.union.localhost"),
    ("The Law Clinic", "issuer.clinic.localhost"),
];

/// `issuer serve --dev` named `name` at `host`, waiting for its description.
pub fn start_issuer(data: &Path, name: &str, host: &str) -> Server {
    let config = data.with_extension("toml");
    std::fs::write(&config, format!("issuer_name = {name:?}\n")).unwrap();
    let port = free_port();
    let child = bin()
        .args(["issuer", "serve", "--dev", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .arg("--tag-key-file")
        .arg(data.with_extension("tag.key"))
        .args(["--publish-interval", "1", "--host", host])
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

pub fn get_json(url: &str) -> serde_json::Value {
    ureq::get(url).call().unwrap().into_json().unwrap()
}

/// `credential request` at `server`, typing each issuer's code (from its own outbox) when
/// asked, in the order the deployment lists them; the command's stdout and stderr.
pub fn request_all(
    server: &str,
    issuers: &[&Server],
    home: &Path,
    email: &str,
) -> (String, String) {
    let mut req = bin()
        .args(["credential", "request", "--server", server, "--home"])
        .arg(home)
        .args(["--email", email, "--role", "analyst", "--age-band", "30-39"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = req.stdin.take().unwrap();
    for issuer in issuers {
        // The next issuer mails only once the previous code was taken.
        let code = code_for(&issuer.url, email);
        stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let out = req.wait_with_output().unwrap();
    let stdout = crate::run::ok(out.clone());
    (stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Until every issuer's signed statement counts credentials of `org` and the letters server
/// carries that statement.
pub fn statements_count(letters: &str, issuers: &[Server], org: &str) {
    let start = Instant::now();
    loop {
        let dep = get_json(&format!("{letters}/api/v1/deployment"));
        let fresh = issuers.iter().all(|i| {
            let st = get_json(&format!("{}/api/v1/issuer/statement", i.url));
            let st = &st["signed"]["statement"];
            let counted = st["epochs"].as_array().unwrap().iter().any(|e| {
                e["cells"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["org"] == org)
            });
            counted
                && dep["issuers"].as_array().unwrap().iter().any(|d| {
                    d["url"] == i.url.as_str()
                        && d["statement_sequence"].as_u64() >= st["sequence"].as_u64()
                })
        });
        if fresh {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the issuers' statements did not reach the letters server"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Opens a letter of state.gov that accepts every issuer of the deployment at its current
/// epoch and needs `t` of them; its handle.
pub fn open_letter(letters: &str, dir: &Path, t: u32) -> String {
    open_letter_of(letters, dir, t, &["state.gov"])
}

/// Opens a letter of `orgs` that accepts every issuer of the deployment at its current epoch
/// and needs `t` of them; its handle.
pub fn open_letter_of(letters: &str, dir: &Path, t: u32, orgs: &[&str]) -> String {
    let dep = get_json(&format!("{letters}/api/v1/deployment"));
    let issuers: Vec<serde_json::Value> = dep["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| serde_json::json!({"issuer_id": i["issuer_id"], "epochs": [i["current_epoch"]]}))
        .collect();
    let created: serde_json::Value = ureq::post(&format!("{letters}/api/v1/letters"))
        .send_json(serde_json::json!({
            "title": "Review",
            "body": "We ask for a review.\n",
            "policy": {
                "orgs": orgs,
                "deadline": undersigned_server::now() + 86_400,
                "publish_interval_secs": 1,
                "issuers": issuers,
                "threshold": t,
            },
        }))
        .unwrap()
        .into_json()
        .unwrap();
    let handle = created["handle"].as_str().unwrap().to_owned();
    crate::run::ok(
        bin()
            .args(["letter", "open", &handle, "--token"])
            .arg(created["organizer_token"].as_str().unwrap())
            .args(["--server", letters, "--home"])
            .arg(dir.join("organizer"))
            .output()
            .unwrap(),
    );
    handle
}

pub fn sign(letters: &str, home: &Path, handle: &str, action: &str) -> std::process::Output {
    bin()
        .args([action, "--server", letters, "--home"])
        .arg(home)
        .args([handle, "--consent-small-org"])
        .output()
        .unwrap()
}

/// Three issuers, a letter needing `t` of them: three holders get three codes each and sign,
/// one signs twice (refused), one holding a single issuer's credentials is told which it
/// lacks; the tally counts three, and the bundle verifies with the deployment pinned and
/// states `trust`.
fn three_issuers(t: u32, trust: &[&str]) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let issuers: Vec<Server> = ISSUERS
        .iter()
        .enumerate()
        .map(|(i, (name, host))| start_issuer(&dir.path().join(format!("issuer{i}")), name, host))
        .collect();
    let mut extra = vec!["--issuer-refresh-secs", "1"];
    for i in &issuers {
        extra.extend(["--issuer", i.url.as_str()]);
    }
    let letters = start_server(&dir.path().join("letters"), &extra);
    let s = letters.url.as_str();

    // Each holder asks the letters deployment, which sends it to every issuer in turn.
    let order: Vec<&Server> = issuers.iter().collect();
    let holders: Vec<_> = ["ann", "bo", "cy"]
        .iter()
        .map(|n| dir.path().join(format!("holder-{n}")))
        .collect();
    for (home, name) in holders.iter().zip(["ann", "bo", "cy"]) {
        let (out, err) = request_all(s, &order, home, &format!("{name}@state.gov"));
        assert!(
            out.contains("Credentials of 3 issuers for state.gov"),
            "{out}"
        );
        assert!(
            err.contains("Code from the email of issuer issuer.union.localhost (2 of 3)"),
            "{err}"
        );
        let files: Vec<_> = std::fs::read_dir(home.join("credentials"))
            .unwrap()
            .flatten()
            .collect();
        // Three issuers, two issuable epochs each, every file readable by the holder alone.
        assert_eq!(files.len(), 6);
        for f in &files {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
    // A holder with the first issuer's credentials only.
    let partial = dir.path().join("holder-dee");
    request_all(&issuers[0].url, &order[..1], &partial, "dee@state.gov");
    statements_count(s, &issuers, "state.gov");
    println!(
        "issued 3 x 3 + 1 credentials in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let handle = open_letter(s, dir.path(), t);
    let signing = Instant::now();
    for home in &holders {
        let out = crate::run::ok(sign(s, home, &handle, "sign"));
        assert!(out.contains("Signature accepted"), "{out}");
    }
    println!(
        "3 composite signatures (t = {t}) in {:.1} s",
        signing.elapsed().as_secs_f64()
    );
    let twice = crate::run::fails(sign(s, &holders[0], &handle, "sign"));
    assert!(
        twice.contains("409") || twice.to_lowercase().contains("already"),
        "{twice}"
    );
    let lacking = crate::run::fails(sign(s, &partial, &handle, "sign"));
    assert!(
        lacking.contains(&format!(
            "needs credentials of {t} of its 3 issuers and you hold 1"
        )) && lacking.contains("issuer.union.localhost")
            && lacking.contains("issuer.clinic.localhost")
            && !lacking.contains("issuer.newsroom.localhost"),
        "{lacking}"
    );
    // One withdraws: a withdrawal takes t parts as well.
    crate::run::ok(sign(s, &holders[2], &handle, "withdraw"));

    // Open, three signatures, one withdrawal: four published entries, two signers counted.
    let start = Instant::now();
    let tally = loop {
        let tally = get_json(&format!("{s}/api/v1/letters/{handle}/tally"));
        if tally["published_size"].as_u64() >= Some(5) {
            break tally;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no batch: {tally}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(tally["signatures"], 2, "{tally}");
    assert_eq!(tally["withdrawn"], 1, "{tally}");

    let bundle = ureq::get(&format!("{s}/api/v1/letters/{handle}/bundle"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let bundle_file = dir.path().join("bundle.json");
    std::fs::write(&bundle_file, &bundle).unwrap();
    let deployment = dir.path().join("deployment.json");
    std::fs::write(
        &deployment,
        ureq::get(&format!("{s}/api/v1/deployment"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    // The bundle on its own: every issuer's statement under its own log, the composite entries.
    let said = crate::run::ok(bin().arg("verify").arg(&bundle_file).output().unwrap());
    assert!(said.contains("2 distinct verified signatures"), "{said}");
    for (name, _) in ISSUERS {
        assert!(said.contains(name), "{name}: {said}");
    }
    for words in trust {
        assert!(said.contains(words), "{words}: {said}");
    }
    // With the deployment pinned: its log key and host, and each issuer's key and witnesses.
    let pinned = bin()
        .arg("verify")
        .arg(&bundle_file)
        .arg("--deployment")
        .arg(&deployment)
        .output()
        .unwrap();
    assert!(
        pinned.status.success(),
        "verify --deployment refuses the pins of a deployment of independent issuers (each issuer's key, log origin under its own host, witnesses); unpinned, the bundle verified:\n{}{}",
        String::from_utf8_lossy(&pinned.stdout),
        String::from_utf8_lossy(&pinned.stderr)
    );
    let said = String::from_utf8_lossy(&pinned.stdout);
    for words in trust {
        assert!(said.contains(words), "{words}: {said}");
    }
    println!(
        "three issuers, t = {t}: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn three_issuers_all_three_back_every_signature() {
    three_issuers(
        3,
        &[
            // The names follow in the letter's issuer order (by issuer id), checked apart.
            "each signature is backed by 3 of these 3 issuers (",
            "adding a signer or signing twice needs all 3 to collude",
        ],
    );
}

#[test]
fn two_of_three_issuers_back_every_signature() {
    three_issuers(
        2,
        &[
            "each signature is backed by 2 of these 3 issuers",
            "adding a signer needs 2 of them to collude; letting one person sign twice needs any one of them",
        ],
    );
}

/// `demo --issuers 3 --threshold T`: three issuer services beside the letters server, over HTTP
/// and SMTP; its bundle verifies with the deployment it wrote pinned, and the statement names
/// the issuers and what collusion it would take.
fn demo_of_three(t: &str, words: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    crate::run::ok(
        bin()
            .args(["demo", "--issuers", "3", "--threshold", t])
            .args(["--orgs", "2", "--signers", "5", "--seed", "23", "--out"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    let said = crate::run::ok(
        bin()
            .arg("verify")
            .arg(out.join("bundle.json"))
            .arg("--deployment")
            .arg(out.join("deployment.json"))
            .output()
            .unwrap(),
    );
    // Five sign and the demo has one withdraw.
    assert!(said.contains("4 distinct verified signatures"), "{said}");
    assert!(
        said.contains("issuer key") && said.contains("match the pinned keys"),
        "{said}"
    );
    assert!(said.contains(words), "{words}: {said}");
    for (name, _) in ISSUERS {
        assert!(said.contains(name), "{name}: {said}");
    }
}

#[test]
fn demo_of_three_issuers_all_three_verifies_pinned() {
    demo_of_three(
        "3",
        "adding a signer or signing twice needs all 3 to collude",
    );
}

#[test]
fn demo_of_three_issuers_two_of_three_verifies_pinned() {
    demo_of_three(
        "2",
        "adding a signer needs 2 of them to collude; letting one person sign twice needs any one of them",
    );
}
