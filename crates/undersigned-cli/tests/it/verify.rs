//! `demo` and `verify`: honest bundles verify; each kind of tampering is named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_undersigned"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run undersigned")
}

/// A small demo bundle, made once for all tampering tests.
fn demo_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("d");
        let o = run(&[
            "demo",
            "--offline",
            "--orgs",
            "4",
            "--signers",
            "90",
            "--seed",
            "5",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (dir, out)
    })
    .1
}

fn bundle() -> Value {
    serde_json::from_slice(&std::fs::read(demo_dir().join("bundle.json")).unwrap()).unwrap()
}

/// Writes a variant of the bundle and verifies it; returns (exit code, stderr).
fn verify_variant(name: &str, bytes: &[u8]) -> (i32, String) {
    let path = demo_dir().join(format!("{name}.json"));
    std::fs::write(&path, bytes).unwrap();
    let o = run(&["verify", path.to_str().unwrap()]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn assert_rejected(name: &str, v: &Value, expect: &str) {
    let (code, err) = verify_variant(name, serde_json::to_string(v).unwrap().as_bytes());
    assert_eq!(code, 1, "{name}: {err}");
    assert!(
        err.contains("NOT VERIFIED") && err.contains(expect),
        "{name}: {err}"
    );
    assert!(!err.contains("panicked"), "{name}: {err}");
}

#[test]
fn demo_412_signers_41_orgs_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    let o = run(&[
        "demo",
        "--orgs",
        "41",
        "--signers",
        "412",
        "--publish-interval",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("double signature refused"), "{stdout}");
    assert!(stdout.contains("delivered to 3 recipients on"), "{stdout}");
    assert!(stdout.contains("answered by The President on"), "{stdout}");
    assert!(
        stdout
            .contains("no answer from The National Security Advisor within a day of delivery, acknowledged on")
            || stdout
                .contains("no answer from The Secretary of State within a day of delivery, acknowledged on"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(not disclosed, or in a group under k)") && !stdout.contains("<10"),
        "small groups are folded, never shown as a cell a total gives away: {stdout}"
    );
    // What the test knows on its own: the demo signs with every one of its 412 signers and
    // withdraws signers / 100 of them (between 1 and 5); the bundle's raw entries must say so.
    const SIGNERS: u64 = 412;
    const WITHDRAWN: u64 = 4;
    let raw: Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).unwrap()).unwrap();
    let entries = raw["entries"].as_array().unwrap();
    let of_kind = |k: &str| entries.iter().filter(|e| e["kind"] == k).count() as u64;
    assert_eq!(of_kind("signature"), SIGNERS);
    assert_eq!(of_kind("withdrawal"), WITHDRAWN);
    let orgs: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "signature")
        .filter_map(|e| e["disclosed"]["org"].as_str())
        .collect();
    assert_eq!(orgs.len(), 41);
    let o = run(&[
        "verify",
        out.join("bundle.json").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success());
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["withdrawn"], WITHDRAWN);
    assert_eq!(r["signatures"], SIGNERS - WITHDRAWN);
    assert_eq!(r["organizations"], 41);
    for key in ["letter_id", "by_org", "by_role", "by_age_band"] {
        assert!(r.get(key).is_some(), "{key} missing");
    }
    // The demo goes to the end of the letter's life: three deliveries, one answer.
    assert_eq!(r["delivered_to"], 3);
    assert_eq!(r["answered_by"], serde_json::json!(["The President"]));
    let o = run(&["verify", out.join("bundle.json").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!(
            "{} distinct verified signatures from 41 organizations",
            SIGNERS - WITHDRAWN
        )),
        "{text}"
    );
}

#[test]
fn fail_flipped_byte_in_proof_and_pseudonym() {
    for field in ["proof", "pseudonym"] {
        let mut v = bundle();
        let s = v["entries"][3][field].as_str().unwrap().to_owned();
        let mut chars: Vec<char> = s.chars().collect();
        chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
        v["entries"][3][field] = chars.into_iter().collect::<String>().into();
        assert_rejected(field, &v, "do not hash to the signed root");
    }
}

#[test]
fn fail_changed_disclosed_attribute() {
    let mut v = bundle();
    let orgs = ["state.gov", "usaid.gov"];
    let cur = v["entries"][2]["disclosed"]["org"]
        .as_str()
        .unwrap()
        .to_owned();
    v["entries"][2]["disclosed"]["org"] =
        orgs.iter().find(|o| **o != cur).unwrap().to_string().into();
    assert_rejected("attr", &v, "do not hash to the signed root");
}

#[test]
fn fail_duplicated_entry() {
    let mut v = bundle();
    let e = v["entries"][4].clone();
    v["entries"].as_array_mut().unwrap().insert(5, e);
    assert_rejected("dup", &v, "entries were dropped or inserted");
}

#[test]
fn fail_entry_moved_to_another_letter() {
    let mut v = bundle();
    v["entries"][2]["letter_id"] = "00".repeat(32).into();
    assert_rejected("moved", &v, "do not hash to the signed root");
}

#[test]
fn fail_changed_letter_text() {
    let mut v = bundle();
    v["letter"]["title"] = "A different letter".into();
    assert_rejected("text", &v, "the letter was changed");
}

#[test]
fn fail_edited_anonymity_set_or_issuer_name() {
    // The counts and the name are the issuer's signed statement: any edit breaks it.
    let mut v = bundle();
    let statement = &mut v["issuers"][0]["statement"]["signed"]["statement"];
    for cell in statement["epochs"][0]["cells"].as_array_mut().unwrap() {
        cell["count"] = 99999.into();
    }
    assert_rejected("counts", &v, "issuer statement: signature does not verify");
    let mut v = bundle();
    v["issuers"][0]["statement"]["signed"]["statement"]["name"] =
        "Office of Personnel Management (official HR attestor)".into();
    assert_rejected("name", &v, "issuer statement: signature does not verify");
}

/// The demo bundle's own keys, in the forms `/api/v1/deployment` publishes them.
fn bundle_keys() -> (String, String) {
    let v = bundle();
    let issuer = v["issuers"][0]["public_key"].as_str().unwrap().to_owned();
    let vkey = v["log_public_key"].as_str().unwrap();
    let log = undersigned_core::log::LogVerifier::from_vkey(vkey).unwrap();
    (issuer, hex::encode(log.verifying_key().to_bytes()))
}

fn deployment_file(name: &str, issuer: &str, log: &str) -> PathBuf {
    deployment_file_for(name, "demo.undersigned.local", issuer, log)
}

fn deployment_file_for(name: &str, host: &str, issuer: &str, log: &str) -> PathBuf {
    let path = demo_dir().join(format!("{name}.json"));
    let d = serde_json::json!({
        "host": host,
        "k": 10,
        "issuer": { "id": "", "name": "x", "public_key": issuer, "anonymity_sets": [] },
        "log_public_key": log,
        "dev": false,
    });
    std::fs::write(&path, d.to_string()).unwrap();
    path
}

fn verify_with(args: &[&str]) -> (i32, String, String) {
    let bundle = demo_dir().join("bundle.json");
    let mut all = vec!["verify", bundle.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = run(&all);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn deployment_pins_keys_right_passes() {
    let (issuer, log) = bundle_keys();
    let right = deployment_file("deployment-right", &issuer, &log);
    let (code, out, err) = verify_with(&["--deployment", right.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("match the pinned keys"), "{out}");
    // The same by hand, and in JSON.
    let (code, out, err) = verify_with(&["--issuer-key", &issuer, "--log-key", &log, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"]["issuer_key_pinned"], true);
    assert_eq!(v["keys"]["log_key_pinned"], true);
    assert_eq!(v["keys"]["log_public_key"], log.as_str());
    // Unpinned: says so, with the fingerprints.
    let (code, out, _) = verify_with(&["--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["keys"]["issuer_key_pinned"], false);
    let (_, out, _) = verify_with(&[]);
    assert!(
        out.contains("the keys were taken from the bundle itself"),
        "{out}"
    );
    assert!(out.contains(&log), "{out}");
}

#[test]
fn fail_deployment_or_pins_with_other_keys() {
    let (issuer, log) = bundle_keys();
    let other_log = "11".repeat(32);
    let other_issuer = "ab".repeat(32);
    let wrong = deployment_file("deployment-wrong-log", &issuer, &other_log);
    let (code, _, err) = verify_with(&["--deployment", wrong.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("NOT VERIFIED") && err.contains("log key"),
        "{err}"
    );
    let (code, _, err) = verify_with(&["--issuer-key", &other_issuer, "--log-key", &log]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("issuer key") && err.contains(&other_issuer),
        "{err}"
    );
    let (code, _, err) = verify_with(&["--log-key", &other_log]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("log key") && err.contains(&other_log), "{err}");
    // A file that is not a deployment fails plainly.
    let junk = demo_dir().join("junk-deployment.json");
    std::fs::write(&junk, "{}").unwrap();
    let (code, _, err) = verify_with(&["--deployment", junk.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("not a deployment file"), "{err}");
}

/// The host is pinned with the keys and compared exactly: a suffix, a prefix or another
/// spelling of the demo's host is another deployment (issue 21).
#[test]
fn fail_pinned_host_that_is_not_exactly_the_logs() {
    let (issuer, log) = bundle_keys();
    let (code, out, err) = verify_with(&["--host", "demo.undersigned.local", "--log-key", &log]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kept by the pinned host demo.undersigned.local"),
        "{out}"
    );
    for other in [
        "undersigned.local",
        "x.demo.undersigned.local",
        "demo.undersigned.local:443",
    ] {
        let (code, _, err) = verify_with(&["--host", other, "--log-key", &log]);
        assert_eq!(code, 1, "{other}: {err}");
        assert!(
            err.contains("NOT VERIFIED") && err.contains("pinned host"),
            "{other}: {err}"
        );
        let file = deployment_file_for(&format!("deployment-host-{other}"), other, &issuer, &log);
        let (code, _, err) = verify_with(&["--deployment", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{other}: {err}");
        assert!(err.contains("pinned host"), "{other}: {err}");
    }
    // A host that is no host is refused before anything is verified.
    let (code, _, err) = verify_with(&["--host", "Demo.undersigned.local/letters/x"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a host name"), "{err}");
}

#[test]
fn receipts_verify_against_the_bundle_and_catch_omission() {
    let dir = demo_dir();
    let o = run(&[
        "verify",
        dir.join("bundle.json").to_str().unwrap(),
        "--receipt",
        dir.join("receipt-1.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("its entry is entry"));
    // Drop the receipted entry: the checkpoint no longer matches, and the receipt names the loss.
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(dir.join("receipt-1.json")).unwrap()).unwrap();
    assert!(receipt["include_by"].as_u64().is_some());
    let mut v = bundle();
    v["entries"].as_array_mut().unwrap().remove(1);
    assert_rejected("dropped", &v, "entries were dropped or inserted");
}

#[test]
fn fail_checkpoint_signed_by_another_key() {
    let mut v = bundle();
    // Another log key in the bundle: the checkpoint's signature is not by it.
    let key = v["log_public_key"].as_str().unwrap().to_owned();
    let (name, rest) = key.split_once('+').unwrap();
    let (_id, b64) = rest.split_once('+').unwrap();
    let other = undersigned_core::log::LogVerifier::new(
        name,
        ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]).verifying_key(),
    )
    .unwrap();
    assert_ne!(other.to_vkey(), key, "{b64}");
    v["log_public_key"] = other.to_vkey().into();
    assert_rejected("otherkey", &v, "not validly signed");
}

#[test]
fn fail_truncated_empty_and_garbage_files() {
    let full = std::fs::read(demo_dir().join("bundle.json")).unwrap();
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("truncated", full[..full.len() / 2].to_vec()),
        ("garbage", b"\x89PNG\r\n\x1a\n garbage".to_vec()),
        ("json-array", b"[1,2,3]".to_vec()),
    ] {
        let (code, err) = verify_variant(name, &bytes);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(err.contains("not a bundle"), "{name}: {err}");
    }
    let o = run(&["verify", "/nonexistent/bundle.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
}

/// The demo bundle with its letter and issuer log checkpoints cosigned by `by`; returns the
/// file and every witness's vkey.
fn cosigned_file(dir: &Path, by: &[&undersigned_core::log::WitnessSigner]) -> PathBuf {
    use undersigned_core::log::add_cosignatures;
    let mut b: undersigned_core::bundle::Bundle =
        serde_json::from_slice(&std::fs::read(demo_dir().join("bundle.json")).unwrap()).unwrap();
    let cosign = |note: &str| {
        let body = &note[..note.rfind("\n\n").unwrap() + 1];
        let lines: Vec<String> = by
            .iter()
            .map(|w| w.cosign(body, 1_790_000_000).unwrap())
            .collect();
        add_cosignatures(note, &lines)
    };
    b.checkpoint = Some(cosign(b.checkpoint.as_deref().unwrap()));
    for i in &mut b.issuers {
        i.statement.checkpoint = cosign(&i.statement.checkpoint);
    }
    let path = dir.join(format!("cosigned-{}.json", by.len()));
    std::fs::write(&path, b.to_json()).unwrap();
    path
}

#[test]
fn verify_with_witnesses_needs_their_quorum() {
    use undersigned_core::log::WitnessSigner;
    let w: Vec<WitnessSigner> = (1..=3u8)
        .map(|i| {
            WitnessSigner::new(
                &format!("w{i}.example/witness"),
                ed25519_dalek::SigningKey::from_bytes(&[i; 32]),
            )
            .unwrap()
        })
        .collect();
    let stranger = WitnessSigner::new(
        "w3.example/witness",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    for x in &w {
        args.push("--witness".into());
        args.push(x.verifier().to_vkey());
    }
    args.extend(["--quorum".into(), "2".into()]);
    let verify = |file: &Path| {
        let mut a = vec!["verify".to_owned(), file.to_str().unwrap().to_owned()];
        a.extend(args.iter().cloned());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&a)
    };
    let good = verify(&cosigned_file(dir.path(), &[&w[0], &w[1]]));
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(
        good.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        text.contains("cosignatures from 2 of the pinned witnesses (quorum 2)")
            && text.contains("w1.example/witness")
            && text.contains("w2.example/witness"),
        "{text}"
    );
    for (name, file) in [
        ("too few", cosigned_file(dir.path(), &[&w[0]])),
        (
            "unnamed key",
            cosigned_file(dir.path(), &[&w[0], &stranger, &stranger]),
        ),
    ] {
        let o = verify(&file);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("witness cosignatures"), "{name}: {err}");
    }
}

/// Runs `undersigned verify` under Python's `resource` and returns its output and the peak RSS
/// of the child in kB (Linux `ru_maxrss`).
fn verify_measured(args: &[&str]) -> (Output, u64) {
    let script = "import resource,subprocess,sys\n\
        r=subprocess.run(sys.argv[1:],capture_output=True)\n\
        sys.stderr.buffer.write(r.stderr)\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
        sys.exit(r.returncode if r.returncode>=0 else 128-r.returncode)";
    let o = Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_undersigned"), "verify"])
        .args(args)
        .output()
        .unwrap();
    let rss = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    (o, rss)
}

/// A hostile tiles server (here, the directory it would serve) with its own key: a checkpoint
/// claiming 2^62 entries, then an entry bundle of 40 MB under a checkpoint of 256 entries. Each
/// is a clean `NOT VERIFIED` within bounded memory, never an abort (issue 21, finding 7); and
/// with the deployment pinned, nothing but the checkpoint is read at all.
#[test]
fn fail_hostile_tiles_get_a_clean_error_in_bounded_memory() {
    use undersigned_core::bundle::{Bundle, BundleContext, CONTEXT_FILE, CONTEXT_FORMAT};
    use undersigned_core::log::{Checkpoint, LogSigner, Tile};
    let b = Bundle::parse(&std::fs::read(demo_dir().join("bundle.json")).unwrap()).unwrap();
    let signer = LogSigner::new(
        &format!("evil.test/letters/{}", b.letter_id),
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    let context = BundleContext {
        format: CONTEXT_FORMAT.into(),
        letter_id: b.letter_id,
        letter: b.letter.clone(),
        issuers: b.issuers.clone(),
        log_public_key: Some(signer.verifier().to_vkey()),
        responses: vec![],
    };
    let dir = demo_dir().join("hostile-tiles");
    let entries = dir.join(
        Tile {
            level: None,
            index: 0,
            width: 256,
        }
        .path(),
    );
    std::fs::create_dir_all(entries.parent().unwrap()).unwrap();
    std::fs::write(dir.join(CONTEXT_FILE), context.to_json()).unwrap();
    let claim = |size: u64| {
        let note = Checkpoint::new(signer.name(), size, [0; 32])
            .sign(&signer)
            .unwrap();
        std::fs::write(dir.join("checkpoint"), note).unwrap();
    };
    let tiles = dir.to_str().unwrap();

    claim(1 << 62);
    let (o, rss) = verify_measured(&["--tiles", tiles]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("more than a reader accepts"), "{err}");
    eprintln!("checkpoint of 2^62 entries: peak RSS {rss} kB");
    assert!(rss < 100_000, "peak RSS {rss} kB");

    claim(256);
    std::fs::write(&entries, vec![b'x'; 40 << 20]).unwrap();
    let (o, rss) = verify_measured(&["--tiles", tiles]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is larger than"), "{err}");
    eprintln!("entry bundle of 40 MB: peak RSS {rss} kB");
    assert!(rss < 100_000, "peak RSS {rss} kB");

    // Pinned to the demo's host and log key: refused on the checkpoint, before any tile.
    let (_, log) = bundle_keys();
    let (o, _) = verify_measured(&[
        "--tiles",
        tiles,
        "--host",
        "demo.undersigned.local",
        "--log-key",
        &log,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the log's checkpoint") && err.contains("log key"),
        "{err}"
    );
    std::fs::remove_file(&entries).unwrap();
}
