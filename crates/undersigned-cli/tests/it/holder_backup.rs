//! A backup saved in the browser opens in the CLI: the glue writes it (format v2, and v1),
//! `undersigned credential import` keeps its credentials and checkpoints, 0600.

use std::io::Write;
use std::process::Stdio;

use undersigned_core::credential::Credential;
use undersigned_core::ids::{AgeBand, Epoch};
use undersigned_testkit::{rng, World, PASSPHRASE};

use crate::flow::bin;
use crate::run::{fails, ok};

/// Runs `credential import` with the passphrase typed on standard input.
fn import(
    home: &std::path::Path,
    file: &std::path::Path,
    passphrase: &str,
) -> std::process::Output {
    let mut child = bin()
        .args(["credential", "import"])
        .arg(file)
        .arg("--home")
        .arg(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{passphrase}").unwrap();
    child.wait_with_output().unwrap()
}

fn kept(home: &std::path::Path) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = std::fs::read_dir(home.join("credentials"))
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap()
        })
        .collect();
    out.sort_by_key(|v| v["attributes"]["epoch"].as_str().unwrap().to_owned());
    out
}

#[test]
fn browser_backup_opens_in_the_cli() {
    // One person's credentials of two epochs: the CLI keeps one file per issuer and epoch.
    let mut w = World::new(40);
    let mut creds: Vec<Credential> =
        vec![w.credential("ann@state.gov", "analyst", AgeBand::From30To39)];
    w.epoch = Epoch::parse("2027-Q1").unwrap();
    creds.push(w.credential("ann@state.gov", "analyst", AgeBand::From30To39));
    let letter = "ab".repeat(32);
    let state = serde_json::json!({
        "credentials": creds,
        "receipts": {},
        "checkpoints": { letter.to_uppercase(): "undersigned.test/letters/x\n3\nAAAA\n\n— sig\n" },
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("undersigned-backup.txt");
    let backup =
        undersigned_wasm::backup::encrypt_backup(&state.to_string(), PASSPHRASE, &mut rng(1))
            .unwrap();
    std::fs::write(&file, &backup).unwrap();

    let home = dir.path().join("holder");
    let err = fails(import(&home, &file, "not the passphrase"));
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!home.join("credentials").exists());

    let out = ok(import(&home, &file, PASSPHRASE));
    assert!(out.contains("Imported 2 credential(s)"), "{out}");
    let expected: Vec<serde_json::Value> = creds
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(kept(&home), expected);
    let seen = home.join("checkpoints").join(format!("{letter}.txt"));
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        state["checkpoints"][letter.to_uppercase()]
    );
    #[cfg(unix)]
    for e in std::fs::read_dir(home.join("credentials")).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let mode = e.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Again, and from a v1 backup of one of them: what is kept stays, nothing doubles.
    let out = ok(import(&home, &file, PASSPHRASE));
    assert!(
        out.contains("Imported 0 credential(s)") && out.contains("2 already held"),
        "{out}"
    );
    let v1 = dir.path().join("v1.txt");
    let one = serde_json::to_string(&creds[0]).unwrap();
    std::fs::write(
        &v1,
        undersigned_wasm::backup::encrypt_export(&one, PASSPHRASE, &mut rng(2)).unwrap(),
    )
    .unwrap();
    let out = ok(import(&home, &v1, PASSPHRASE));
    assert!(out.contains("1 already held"), "{out}");
    assert_eq!(kept(&home), expected);
}

#[test]
fn fail_backup_import_of_what_is_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("letter.txt");
    std::fs::write(&file, "Dear board,").unwrap();
    let err = fails(import(&dir.path().join("holder"), &file, PASSPHRASE));
    assert!(
        err.contains("not an undersigned credential backup"),
        "{err}"
    );
}
