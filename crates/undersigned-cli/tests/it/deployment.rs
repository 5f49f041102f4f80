//! The deployment file: the shipped examples check and start a real `serve`, broken files are
//! refused with their line, and an organization only the file names can issue and sign.

use crate::flow::{bin, code_for, free_port, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

/// `serve --config FILE` with the data, tag key and port of this test (flags override the
/// file), waiting for `/readyz`.
fn serve_with(config: &Path, data: &Path, extra: &[&str]) -> (Server, String) {
    let port = free_port();
    let child = bin()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            data.to_str().unwrap(),
            "--tag-key-file",
            data.with_extension("tag.key").to_str().unwrap(),
        ])
        .args(extra)
        // The shipped files name a relay user; its password only ever comes from here.
        .env("UNDERSIGNED_SMTP_PASSWORD", "not-a-real-password")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    loop {
        if let Ok(r) = ureq::get(&format!("{}/readyz", server.url)).call() {
            let body = r.into_string().unwrap();
            return (server, body);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve --config {} did not become ready",
            config.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check(file: &Path) -> std::process::Output {
    bin()
        .args(["config", "check", file.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn shipped_files_check_and_start() {
    let dir = tempfile::tempdir().unwrap();
    for (name, must_list) in [
        ("federal.toml", ["house.gov", "senate.gov", "mspb.gov"]),
        (
            "company.toml",
            [
                "acme-group.example",
                "labs.acme-group.example",
                "acme-retail.example",
            ],
        ),
    ] {
        let file = shipped(name);
        let out = check(&file);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(": ok"), "{text}");
        let (server, ready) = serve_with(&file, &dir.path().join(name), &[]);
        assert!(ready.starts_with("ready\n"), "{ready}");
        assert!(ready.contains("migrations: ok"), "{ready}");
        let info: serde_json::Value = ureq::get(&format!("{}/api/v1/deployment", server.url))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let orgs: Vec<&str> = info["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["domain"].as_str().unwrap())
            .collect();
        for org in must_list {
            assert!(orgs.contains(&org), "{name}: {org} missing from {orgs:?}");
        }
        let host = info["host"].as_str().unwrap();
        assert!(host != "localhost", "{name}: the file's host was not used");
    }
}

/// The federal example is the compiled default list plus Congress: a deployment moving from
/// the defaults to the file loses no agency.
#[test]
fn federal_file_holds_every_default_agency() {
    let d = undersigned_server::deployment::load(&shipped("federal.toml")).unwrap();
    for (domain, name) in undersigned_server::config::DEFAULT_ORGS {
        let org = undersigned_core::ids::OrgId::parse(domain).unwrap();
        assert_eq!(d.config.orgs.get(&org).map(String::as_str), Some(*name));
    }
    assert_eq!(
        d.config.orgs.len(),
        undersigned_server::config::DEFAULT_ORGS.len() + 2
    );
}

/// Each kind of breakage, with the line the message must name.
const BROKEN: &[(&str, &str, usize, &str)] = &[
    ("syntax", "k = 10\nhost = \n", 2, ""),
    (
        "unknown key",
        "k = 10\n\nhots = \"x.org\"\n",
        3,
        "unknown field `hots`",
    ),
    (
        "wrong type",
        "roles = [\"a\"]\nk = \"ten\"\n",
        2,
        "invalid type",
    ),
    ("k below 2", "host = \"x.org\"\nk = 1\n", 2, "at least 2"),
    (
        "duplicate domain",
        "[[org]]\ndomain = \"a.org\"\nname = \"A\"\n\n[[org]]\ndomain = \"a.org\"\nname = \"B\"\n",
        6,
        "listed twice",
    ),
    (
        "free mail",
        "[[org]]\ndomain = \"gmail.com\"\nname = \"G\"\n",
        2,
        "free-mail",
    ),
    ("bad role", "roles = [\n  \"ok\",\n  \"\",\n]\n", 3, "role"),
    (
        "bad URL",
        "k = 5\npublic_url = \"ftp://x.org\"\n",
        2,
        "http",
    ),
    (
        "quorum above witnesses",
        "[witnesses]\nquorum = 2\n",
        2,
        "quorum = 2 but 0 witness",
    ),
    (
        "unknown address rule",
        "[[org]]\ndomain = \"a.org\"\nname = \"A\"\naddress_rules = { strip_dashes = true }\n",
        4,
        "strip_dashes",
    ),
    (
        "secret in the file",
        "[smtp]\nrelay = \"m.org:587\"\npassword = \"hunter2\"\n",
        3,
        "unknown field `password`",
    ),
    ("bad relay", "[smtp]\nrelay = \"m.org\"\n", 2, "HOST:PORT"),
];

#[test]
fn fail_broken_files_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, text, line, reason) in BROKEN {
        let file = dir.path().join(format!("{}.toml", kind.replace(' ', "-")));
        std::fs::write(&file, text).unwrap();
        let out = check(&file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{kind}: accepted");
        let at = format!("{}:{line}: ", file.display());
        assert!(err.contains(&at), "{kind}: wanted {at:?} in {err}");
        assert!(err.contains(reason), "{kind}: wanted {reason:?} in {err}");
    }
    // `serve` refuses the same file before it listens, with the same message.
    let file = dir.path().join("k-below-2.toml");
    let out = bin()
        .args([
            "serve",
            "--dev",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data",
            dir.path().join("data").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("{}:2: ", file.display())), "{err}");
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_undersigned"))
        .args(args)
        .output()
        .unwrap()
}

/// An organization that is not in the compiled defaults, with a role of its own, issues and
/// signs; an agency the file does not list is refused; a flag overrides the file's k.
#[test]
fn org_named_only_in_the_file_issues_and_signs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coop.toml");
    std::fs::write(
        &file,
        "host = \"coop.example\"\nk = 4\nroles = [\"baker\"]\n\n[[org]]\ndomain = \"bakery-coop.example\"\nname = \"Bakery Co-op\"\n",
    )
    .unwrap();
    let (server, _) = serve_with(
        &file,
        &dir.path().join("data"),
        &["--dev", "--publish-interval", "1", "--k", "3"],
    );
    let url = server.url.as_str();
    let info: serde_json::Value = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(info["k"], 3, "--k overrides the file");
    assert_eq!(info["host"], "coop.example");
    assert_eq!(info["roles"], serde_json::json!(["baker"]));

    let holder = dir.path().join("holder");
    let email = "ann@bakery-coop.example";
    let mut req = bin()
        .args([
            "credential",
            "request",
            "--server",
            url,
            "--home",
            holder.to_str().unwrap(),
            "--email",
            email,
            "--role",
            "baker",
        ])
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
    let out = req.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The compiled defaults are replaced, not extended.
    let refused = cli(&[
        "credential",
        "request",
        "--server",
        url,
        "--home",
        dir.path().join("h2").to_str().unwrap(),
        "--email",
        "bob@state.gov",
        "--code",
        "00000000",
    ]);
    assert!(!refused.status.success());

    let body = dir.path().join("letter.md");
    std::fs::write(&body, "More ovens.\n").unwrap();
    let organizer = dir.path().join("organizer");
    let created = cli(&[
        "letter",
        "create",
        "--server",
        url,
        "--home",
        organizer.to_str().unwrap(),
        "--title",
        "Ovens",
        "--body-file",
        body.to_str().unwrap(),
        "--publish-interval",
        "1",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created = String::from_utf8_lossy(&created.stdout).into_owned();
    let handle = created
        .split_whitespace()
        .skip_while(|w| *w != "handle")
        .nth(1)
        .unwrap()
        .to_owned();
    let opened = cli(&[
        "letter",
        "open",
        &handle,
        "--server",
        url,
        "--home",
        organizer.to_str().unwrap(),
    ]);
    let opened = String::from_utf8_lossy(&opened.stdout).into_owned();
    let id = opened
        .split_whitespace()
        .skip_while(|w| *w != "id")
        .nth(1)
        .unwrap()
        .to_owned();
    let signed = cli(&[
        "sign",
        &id,
        "--server",
        url,
        "--home",
        holder.to_str().unwrap(),
        "--consent-small-org",
    ]);
    let out = String::from_utf8_lossy(&signed.stdout);
    assert!(
        out.contains("Signature accepted"),
        "{out}{}",
        String::from_utf8_lossy(&signed.stderr)
    );
}

/// A company whose mail system delivers dotted spellings to one mailbox and whose subdomains
/// belong to it: the deployment publishes its rules, the holder normalizes with them, so a
/// person gets a credential that verifies and another spelling gets no second one, while an
/// address at a subdomain (another mailbox) gets its own.
#[test]
fn company_address_rules_reach_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acme.toml");
    std::fs::write(
        &file,
        "host = \"acme.example\"\nroles = [\"engineer\"]\n\n[[org]]\ndomain = \"acme.example\"\nname = \"Acme\"\nsubdomains = true\naddress_rules = { strip_dots = true }\n",
    )
    .unwrap();
    let (server, _) = serve_with(&file, &dir.path().join("data"), &["--dev"]);
    let url = server.url.as_str();
    let info: serde_json::Value = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(info["orgs"][0]["subdomains"], true, "{info}");
    assert_eq!(
        info["orgs"][0]["address_rules"]["strip_dots"], true,
        "{info}"
    );

    let request = |home: &str, email: &str| {
        let mut req = bin()
            .args(["credential", "request", "--server", url, "--home"])
            .arg(dir.path().join(home))
            .args(["--email", email, "--role", "engineer"])
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
        req.wait_with_output().unwrap()
    };
    let first = request("h1", "A.nn@Acme.example");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = request("h2", "ann@acme.example");
    assert!(!second.status.success(), "a second credential was issued");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("already"), "{err}");
    // A subdomain's mailbox is someone else's (issue 21): it gets a credential of its own, of
    // Acme, with its own address, which the holder computed as the issuer did.
    let third = request("h3", "A.nn@Eu.Acme.example");
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}

/// `serve` with these flags (and a throwaway data directory) must fail before it listens; its
/// stderr. A serve that starts instead is killed after a while and fails the test (rather than
/// hanging it).
fn serve_refuses(dir: &Path, extra: &[&str]) -> String {
    let mut child = bin()
        .args(["serve", "--dev", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--tag-key-file")
        .arg(dir.join("tag.key"))
        .args(extra)
        .env_remove("UNDERSIGNED_DATABASE")
        .env_remove("UNDERSIGNED_SMTP_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve {extra:?} started instead of refusing: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    crate::run::fails(child.wait_with_output().unwrap())
}

/// A flag can set nothing the file would refuse: each setting is refused with the file's own
/// words whether the file or a flag wrote it (issue 21: `--k 1` published exact counts,
/// `--publish-interval 0` made every letter fail).
#[test]
fn fail_flags_are_checked_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (file_text, flags, reason) in [
        (
            "k = 1\n",
            &["--k", "1"][..],
            "k = 1 hides no one: the small-cell threshold must be at least 2",
        ),
        (
            "k = 0\n",
            &["--k", "0"][..],
            "k = 0 hides no one: the small-cell threshold must be at least 2",
        ),
        (
            "publish_interval_secs = 0\n",
            &["--publish-interval", "0"][..],
            "publish_interval_secs must be at least 1",
        ),
        (
            "host = \"Not A Host\"\n",
            &["--host", "Not A Host"][..],
            "host \"Not A Host\" is not a host name",
        ),
        (
            "public_url = \"ftp://x.org\"\n",
            &["--public-url", "ftp://x.org"][..],
            "must start with http:// or https://",
        ),
        (
            "mail_from = \"nobody\"\n",
            &["--mail-from", "nobody"][..],
            "mail_from \"nobody\" has no address",
        ),
        (
            "[limits]\ncode_mails_per_domain_hour = 0\n",
            &["--code-mails-per-domain-hour", "0"][..],
            "code_mails_per_domain_hour must be at least 1",
        ),
        (
            "[witnesses]\ntimeout_ms = 0\n",
            &["--witness-timeout-ms", "0"][..],
            "timeout_ms must be at least 1",
        ),
        (
            "[witnesses]\nquorum = 2\n",
            &["--witness-quorum", "2"][..],
            "quorum = 2 but 0 witness(es) are listed",
        ),
    ] {
        let file = dir.path().join("f.toml");
        std::fs::write(&file, file_text).unwrap();
        let by_file = crate::run::fails(check(&file));
        assert!(by_file.contains(reason), "file {file_text:?}: {by_file}");
        let by_serve_file = serve_refuses(dir.path(), &["--config", file.to_str().unwrap()]);
        assert!(by_serve_file.contains(reason), "{by_serve_file}");
        let by_flag = serve_refuses(dir.path(), flags);
        assert!(by_flag.contains(reason), "{flags:?}: {by_flag}");
        assert!(by_flag.contains(&format!("{}: ", flags[0])), "{by_flag}");
    }
    // A flag cannot undo what the file refused either, nor the file what a flag refused.
    std::fs::write(dir.path().join("ok.toml"), "k = 5\n").unwrap();
    let err = serve_refuses(
        dir.path(),
        &[
            "--config",
            dir.path().join("ok.toml").to_str().unwrap(),
            "--k",
            "1",
        ],
    );
    assert!(err.contains("--k: k = 1 hides no one"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "a refused serve wrote data"
    );
}

/// Secrets come from the environment or a file only: there is no password flag, and a
/// database URL with a password is refused on the command line (the process list shows
/// every argument to every user of the machine).
#[test]
fn fail_secrets_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = serve_refuses(
        dir.path(),
        &["--smtp", "127.0.0.1:2525", "--smtp-password", "hunter2"],
    );
    assert!(err.contains("--smtp-password"), "{err}");
    let err = serve_refuses(
        dir.path(),
        &["--database", "postgres://u:hunter2@127.0.0.1:5432/db"],
    );
    assert!(err.contains("carries a password"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the refusal repeats the secret: {err}"
    );
    // A password file that holds nothing is refused rather than read as no password.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let err = serve_refuses(
        dir.path(),
        &[
            "--smtp",
            "127.0.0.1:2525",
            "--smtp-user",
            "u",
            "--smtp-password-file",
            empty.to_str().unwrap(),
        ],
    );
    assert!(err.contains("holds no password"), "{err}");
}
