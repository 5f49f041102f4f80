//! `client export` and `client verify` (issue 24): the signer's client as a release that any
//! static host can serve, the same bytes every build, and a check that names any byte a copy
//! changed.

use crate::flow::bin;
use std::path::Path;

fn export(dir: &Path) -> String {
    crate::run::ok(bin().arg("client").arg("export").arg(dir).output().unwrap())
}

fn verify(path: &Path) -> std::process::Output {
    bin()
        .arg("client")
        .arg("verify")
        .arg(path)
        .output()
        .unwrap()
}

/// Every file under `dir` with its bytes, by relative path.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_client_exports_the_same_bytes_twice_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let said = export(&a);
    export(&b);
    assert_eq!(tree(&a), tree(&b), "two exports differ");
    let files: Vec<String> = tree(&a).into_iter().map(|(p, _)| p).collect();
    for f in [
        "index.html",
        "app.css",
        "js/common.js",
        "js/letter.js",
        "wasm/undersigned_wasm.js",
        "wasm/undersigned_wasm_bg.wasm",
        "undersigned-client.html",
        "manifest.json",
    ] {
        assert!(files.iter().any(|p| p == f), "{f} not in {files:?}");
    }
    assert!(said.contains("index.html"), "{said}");

    // The manifest names every other file's SHA-256 and the exact policies the pages carry.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("manifest.json")).unwrap()).unwrap();
    for (path, bytes) in tree(&a).into_iter().filter(|(p, _)| p != "manifest.json") {
        use sha2::Digest;
        assert_eq!(
            manifest["files"][&path],
            hex::encode(sha2::Sha256::digest(&bytes)),
            "{path}"
        );
    }
    let index = std::fs::read_to_string(a.join("index.html")).unwrap();
    let csp = manifest["csp"].as_str().unwrap();
    assert!(index.contains(&format!("content=\"{csp}\"")), "{index}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let single = std::fs::read_to_string(a.join("undersigned-client.html")).unwrap();
    let single_csp = manifest["single_file_csp"].as_str().unwrap();
    assert!(single.contains(&format!("content=\"{single_csp}\"")));
    assert!(single_csp.contains("script-src 'sha256-") && !single_csp.contains("unsafe-inline"));
    // Self-contained: no script, stylesheet or module fetched from anywhere.
    assert!(!single.contains("src=\"js/") && !single.contains("href=\"app.css"));

    // Both copies verify as this release.
    let ok = crate::run::ok(verify(&a));
    assert!(ok.contains("the exported client of this release"), "{ok}");
    let ok = crate::run::ok(verify(&a.join("undersigned-client.html")));
    assert!(
        ok.contains("the single-file client of this release"),
        "{ok}"
    );
}

#[test]
fn fail_a_copy_with_one_byte_changed_an_extra_file_or_another_manifest() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("client");
    export(&dir);
    // One byte of the script.
    let script = dir.join("js/letter.js");
    let mut bytes = std::fs::read(&script).unwrap();
    bytes[100] ^= 0x20;
    std::fs::write(&script, &bytes).unwrap();
    let said = crate::run::fails(verify(&dir));
    assert!(said.contains("js/letter.js differs"), "{said}");
    bytes[100] ^= 0x20;
    std::fs::write(&script, &bytes).unwrap();
    crate::run::ok(verify(&dir));
    // A file the release does not have.
    std::fs::write(dir.join("js/extra.js"), "alert(1)").unwrap();
    let said = crate::run::fails(verify(&dir));
    assert!(
        said.contains("js/extra.js is not part of the release"),
        "{said}"
    );
    std::fs::remove_file(dir.join("js/extra.js")).unwrap();
    // A manifest that is not this release's (another CSP).
    let m = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        m.replace("form-action 'none'", "form-action *"),
    )
    .unwrap();
    let said = crate::run::fails(verify(&dir));
    assert!(said.contains("manifest.json differs"), "{said}");
    // The single file with one byte changed.
    let single = dir.join("undersigned-client.html");
    let mut bytes = std::fs::read(&single).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&single, &bytes).unwrap();
    let said = crate::run::fails(verify(&single));
    assert!(said.contains("NOT this release's client"), "{said}");
}

fn release(key: &Path, log: &Path, from: Option<&Path>) -> String {
    let mut cmd = bin();
    cmd.args(["client", "release", "--key"])
        .arg(key)
        .arg("--log")
        .arg(log)
        .args(["--host", "releases.undersigned.test"]);
    if let Some(f) = from {
        cmd.arg("--from").arg(f);
    }
    crate::run::ok(cmd.output().unwrap())
}

fn verify_logged(path: &Path, log: &Path, vkey: &str) -> std::process::Output {
    bin()
        .args(["client", "verify"])
        .arg(path)
        .arg("--release-log")
        .arg(log)
        .args(["--release-key", vkey])
        .output()
        .unwrap()
}

/// The release key's verifier, as `client release` prints it.
fn vkey_of(said: &str) -> String {
    said.lines()
        .find_map(|l| l.strip_prefix("release key: "))
        .unwrap()
        .to_owned()
}

#[test]
fn releases_are_logged_and_copies_are_checked_against_the_log() {
    let t = tempfile::tempdir().unwrap();
    let (dir, log, key) = (
        t.path().join("client"),
        t.path().join("log"),
        t.path().join("release.key"),
    );
    export(&dir);
    let said = release(&key, &log, Some(&dir));
    assert!(said.contains("as release 1 of 1"), "{said}");
    let vkey = vkey_of(&said);
    assert!(
        vkey.starts_with("releases.undersigned.test/releases/"),
        "{vkey}"
    );
    // The key file is the release key's alone, readable by its owner only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Logging the same release again changes nothing.
    let again = release(&key, &log, Some(&dir));
    assert!(
        again.contains("already the newest release (1 of 1)"),
        "{again}"
    );

    let ok = crate::run::ok(verify_logged(&dir, &log, &vkey));
    assert!(ok.contains("logged release 1 of 1"), "{ok}");
    let ok = crate::run::ok(verify_logged(
        &dir.join("undersigned-client.html"),
        &log,
        &vkey,
    ));
    assert!(
        ok.contains("single-file client of logged release 1 of 1"),
        "{ok}"
    );

    // One byte changed: the copy no longer matches its own manifest.
    let changed = t.path().join("changed");
    export(&changed);
    let script = changed.join("js/letter.js");
    let mut bytes = std::fs::read(&script).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&script, &bytes).unwrap();
    let said = crate::run::fails(verify_logged(&changed, &log, &vkey));
    assert!(
        said.contains("js/letter.js differs from its manifest"),
        "{said}"
    );
    // Its manifest rewritten to match: consistent, but not a logged release.
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(changed.join("manifest.json")).unwrap()).unwrap();
    use sha2::Digest;
    m["files"]["js/letter.js"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
    std::fs::write(changed.join("manifest.json"), m.to_string()).unwrap();
    let said = crate::run::fails(verify_logged(&changed, &log, &vkey));
    assert!(said.contains("is not in the release log"), "{said}");
    let mut single = std::fs::read(changed.join("undersigned-client.html")).unwrap();
    single[50] ^= 0x01;
    std::fs::write(changed.join("undersigned-client.html"), &single).unwrap();
    let said = crate::run::fails(verify_logged(
        &changed.join("undersigned-client.html"),
        &log,
        &vkey,
    ));
    assert!(said.contains("NOT a logged release"), "{said}");
    single[50] ^= 0x01;
    std::fs::write(changed.join("undersigned-client.html"), &single).unwrap();

    // Once logged as the next release, the changed copy verifies as release 2.
    let said = release(&key, &log, Some(&changed));
    assert!(said.contains("as release 2 of 2"), "{said}");
    let ok = crate::run::ok(verify_logged(&changed, &log, &vkey));
    assert!(ok.contains("logged release 2 of 2"), "{ok}");
    let ok = crate::run::ok(verify_logged(&dir, &log, &vkey));
    assert!(ok.contains("logged release 1 of 2"), "{ok}");

    // Another key, or the release key named for another log: refused, with the reason.
    let other = vkey_of(&release(
        &t.path().join("other.key"),
        &t.path().join("other-log"),
        None,
    ));
    let said = crate::run::fails(verify_logged(&dir, &log, &other));
    assert!(said.contains("checkpoint"), "{said}");
    let id = vkey.split('+').next().unwrap().rsplit('/').next().unwrap();
    let letters_name = vkey.replace(&format!("/releases/{id}"), &format!("/letters/{id}"));
    let said = crate::run::fails(verify_logged(&dir, &log, &letters_name));
    assert!(said.contains("release"), "{said}");
    // A log whose checkpoint was rolled back to another history: refused.
    std::fs::write(
        log.join("checkpoint"),
        std::fs::read(t.path().join("other-log/checkpoint")).unwrap(),
    )
    .unwrap();
    crate::run::fails(verify_logged(&dir, &log, &vkey));
}

#[test]
fn a_release_is_published_only_with_its_witnesses_quorum() {
    let t = tempfile::tempdir().unwrap();
    let (dir, log, key) = (
        t.path().join("client"),
        t.path().join("log"),
        t.path().join("release.key"),
    );
    export(&dir);
    let first = release(&key, &log, None);
    let vkey = vkey_of(&first);
    let under = first
        .lines()
        .find_map(|l| l.strip_prefix("witnesses follow it with: --logs-under "))
        .unwrap()
        .to_owned();
    // A witness that follows the release logs under the release key's prefix, like a letter's.
    let args = vec!["--logs-under".to_owned(), under];
    let w = crate::witness::WitnessProc::start_with(&t.path().join("witness"), &args, None);
    let spec = format!("{}@{}", w.vkey, w.url);
    // The next release (another copy's manifest), cosigned by it.
    let next = t.path().join("next");
    export(&next);
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(next.join("manifest.json")).unwrap()).unwrap();
    std::fs::write(next.join("NOTES.txt"), "release notes").unwrap();
    use sha2::Digest;
    m["files"]["NOTES.txt"] = hex::encode(sha2::Sha256::digest(b"release notes")).into();
    std::fs::write(next.join("manifest.json"), m.to_string()).unwrap();
    let said = crate::run::ok(
        bin()
            .args(["client", "release", "--key"])
            .arg(&key)
            .arg("--log")
            .arg(&log)
            .args(["--host", "releases.undersigned.test", "--from"])
            .arg(&next)
            .args(["--witness", &spec])
            .output()
            .unwrap(),
    );
    assert!(
        said.contains("release 2 of 2") && said.contains("cosigned by 1 witnesses"),
        "{said}"
    );
    // Verified with the witness pinned: the quorum is there.
    let pinned = |path: &Path, witness: &str| {
        bin()
            .args(["client", "verify"])
            .arg(path)
            .arg("--release-log")
            .arg(&log)
            .args([
                "--release-key",
                &vkey,
                "--witness",
                witness,
                "--quorum",
                "1",
            ])
            .output()
            .unwrap()
    };
    let ok = crate::run::ok(pinned(&next, &w.vkey));
    assert!(ok.contains("logged release 2 of 2"), "{ok}");
    // Pinned to a witness that never cosigned it: refused, naming the cosignatures.
    let stranger = undersigned_core::log::WitnessSigner::new(
        "stranger.example/w",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap()
    .verifier()
    .to_vkey();
    let said = crate::run::fails(pinned(&next, &stranger));
    assert!(said.contains("cosignatures"), "{said}");
    // A witness that refuses (the log it saw is not a prefix of this one) stops publication.
    let said = crate::run::fails(
        bin()
            .args(["client", "release", "--key"])
            .arg(t.path().join("other.key"))
            .arg("--log")
            .arg(t.path().join("other-log"))
            .args(["--host", "releases.undersigned.test", "--witness", &spec])
            .output()
            .unwrap(),
    );
    assert!(said.contains("the checkpoint is not published"), "{said}");
    assert!(!t.path().join("other-log/checkpoint").exists());
}

#[test]
fn client_verify_url_checks_what_a_deployment_serves_to_signers() {
    let t = tempfile::tempdir().unwrap();
    let server = crate::flow::start_server(&t.path().join("data"), &[]);
    let run = |url: &str, log: Option<(&Path, &str)>| {
        let mut cmd = bin();
        cmd.args(["client", "verify", url]);
        if let Some((log, vkey)) = log {
            cmd.arg("--release-log")
                .arg(log)
                .args(["--release-key", vkey]);
        }
        cmd.output().unwrap()
    };
    let ok = crate::run::ok(run(&server.url, None));
    assert!(ok.contains("serves this binary's client release"), "{ok}");
    // Against a release log holding this binary's release.
    let (log, key) = (t.path().join("log"), t.path().join("release.key"));
    let vkey = vkey_of(&release(&key, &log, None));
    let ok = crate::run::ok(run(&server.url, Some((&log, &vkey))));
    assert!(ok.contains("logged release 1 of 1"), "{ok}");
    // One byte of the signing script changed on its way out: named, both ways.
    let proxy = crate::monitor::tampering_proxy(&server.url, "/static/js/letter.js");
    let said = crate::run::fails(run(&proxy, None));
    assert!(
        said.contains("THE SIGNER'S CODE WAS CHANGED: /static/js/letter.js has sha256"),
        "{said}"
    );
    let said = crate::run::fails(run(&proxy, Some((&log, &vkey))));
    assert!(said.contains("NOT a logged release"), "{said}");
}

/// A deployment file's `[client]` names the release log its signer's code is in: `client
/// verify URL` and `monitor` then hold what it serves to that log (and say when its key is not
/// the one this binary ships), report one changed byte, and report a claimed release the log
/// does not hold.
#[test]
fn a_deployment_names_its_release_log_and_its_served_code_is_held_to_it() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("static");
    let (log, key) = (root.join("log"), t.path().join("release.key"));
    let vkey = vkey_of(&release(&key, &log, None));
    // Another log, under another key, whose only release is not what the server serves.
    let other = t.path().join("other-copy");
    export(&other);
    let js = other.join("js/letter.js");
    let mut bytes = std::fs::read(&js).unwrap();
    bytes.extend_from_slice(b"\n// another build\n");
    std::fs::write(&js, &bytes).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(other.join("manifest.json")).unwrap()).unwrap();
    m["files"]["js/letter.js"] = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)).into();
    std::fs::write(other.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let other_vkey = vkey_of(&release(
        &t.path().join("other.key"),
        &root.join("other-log"),
        Some(&other),
    ));
    let (_static, url) = crate::tiles::static_server(&root);

    let serve = |name: &str, log: &str, vkey: &str| {
        let file = t.path().join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!("[client]\nlog = \"{url}/{log}\"\nkey = \"{vkey}\"\n"),
        )
        .unwrap();
        let info: serde_json::Value = {
            let s = crate::flow::start_server(
                &t.path().join(name),
                &["--config", file.to_str().unwrap()],
            );
            let info = ureq::get(&format!("{}/api/v1/deployment", s.url))
                .call()
                .unwrap()
                .into_json()
                .unwrap();
            (s, info)
        }
        .1;
        info
    };
    // What the deployment document publishes.
    let info = serve("published", "log", &vkey);
    assert_eq!(info["client_release_log"]["key"], vkey.as_str());
    assert_eq!(
        info["client_release_log"]["url"],
        format!("{url}/log").as_str()
    );

    let file = t.path().join("good.toml");
    std::fs::write(
        &file,
        format!("[client]\nlog = \"{url}/log\"\nkey = \"{vkey}\"\n"),
    )
    .unwrap();
    let server = crate::flow::start_server(
        &t.path().join("good"),
        &["--config", file.to_str().unwrap()],
    );
    let said = crate::run::ok(
        bin()
            .args(["client", "verify", &server.url])
            .output()
            .unwrap(),
    );
    assert!(said.contains("logged release 1 of 1"), "{said}");
    assert!(said.contains("NOT the one this binary ships"), "{said}");
    let state = t.path().join("monitor");
    let o = crate::monitor::monitor(&server.url, &state, &t.path().join("metrics"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    let proxy = crate::monitor::tampering_proxy(&server.url, "/static/js/letter.js");
    let said = crate::run::fails(bin().args(["client", "verify", &proxy]).output().unwrap());
    assert!(said.contains("THE SIGNER'S CODE WAS CHANGED"), "{said}");
    assert!(said.contains("/static/js/letter.js"), "{said}");
    let o = crate::monitor::monitor(
        &proxy,
        &t.path().join("monitor-proxy"),
        &t.path().join("m2"),
    );
    assert!(!o.status.success());
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("THE SIGNER'S CODE WAS CHANGED"), "{out}");

    // A deployment whose named log does not hold the release it serves.
    let file = t.path().join("bad.toml");
    std::fs::write(
        &file,
        format!("[client]\nlog = \"{url}/other-log\"\nkey = \"{other_vkey}\"\n"),
    )
    .unwrap();
    let bad =
        crate::flow::start_server(&t.path().join("bad"), &["--config", file.to_str().unwrap()]);
    let said = crate::run::fails(bin().args(["client", "verify", &bad.url]).output().unwrap());
    assert!(said.contains("NOT in the release log"), "{said}");
    // A key that is not a release key named by its origin is refused when the server starts.
    let file = t.path().join("wrong-key.toml");
    std::fs::write(
        &file,
        format!(
            "[client]\nlog = \"{url}/log\"\nkey = \"{}\"\n",
            vkey.replacen("/releases/", "/letters/", 1)
        ),
    )
    .unwrap();
    let said = crate::run::fails(bin().args(["config", "check"]).arg(&file).output().unwrap());
    assert!(said.contains("client"), "{said}");
}

/// The release log this repository publishes (`releases/log`, tlog-tiles) verifies under the
/// release key the binary ships, by the same check `client verify --release-log` applies.
#[test]
fn the_shipped_release_key_verifies_the_published_release_log() {
    use undersigned_core::log::tiles::{entry_bundles_for_size, parse_entry_bundle};
    use undersigned_core::release::{check_release_key, check_release_log, DEFAULT_RELEASE_KEY};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../releases/log");
    let note = std::fs::read_to_string(dir.join("checkpoint")).unwrap();
    let verifier = check_release_key(DEFAULT_RELEASE_KEY).unwrap();
    let cp =
        undersigned_core::log::Checkpoint::open(&note, &verifier, Some(verifier.name())).unwrap();
    let mut entries = Vec::new();
    for tile in entry_bundles_for_size(cp.size) {
        let bytes = std::fs::read(dir.join(tile.path())).unwrap();
        for e in parse_entry_bundle(&bytes, usize::from(tile.width)).unwrap() {
            entries.push(e.to_vec());
        }
    }
    let log = check_release_log(
        DEFAULT_RELEASE_KEY,
        &note,
        entries,
        &undersigned_core::pins::Pins::default(),
    )
    .unwrap();
    assert!(log.size >= 1);
}

/// A release log signed at an absurd size (a deployment may name its own log and key) is
/// refused before a single entry is fetched.
#[test]
fn fail_a_release_log_whose_signed_size_is_past_any_release_count() {
    let t = tempfile::tempdir().unwrap();
    let (dir, log, key) = (
        t.path().join("client"),
        t.path().join("log"),
        t.path().join("release.key"),
    );
    export(&dir);
    let vkey = vkey_of(&release(&key, &log, Some(&dir)));
    let seed: [u8; 32] = hex::decode(std::fs::read_to_string(&key).unwrap().trim())
        .unwrap()
        .try_into()
        .unwrap();
    let origin = vkey.split('+').next().unwrap();
    let signer =
        undersigned_core::log::LogSigner::new(origin, ed25519_dalek::SigningKey::from_bytes(&seed))
            .unwrap();
    let note = undersigned_core::log::Checkpoint::new(origin, 1 << 24, [7u8; 32])
        .sign(&signer)
        .unwrap();
    std::fs::write(log.join("checkpoint"), note).unwrap();
    let said = crate::run::fails(verify_logged(&dir, &log, &vkey));
    assert!(
        said.contains("no release log holds more than 4096"),
        "{said}"
    );
}
