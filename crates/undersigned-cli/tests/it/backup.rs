//! Backups as an operator makes them: `undersigned backup` while the server runs (SQLite and
//! PostgreSQL), the server lost, `undersigned restore` into a fresh directory or database with
//! the tag key kept apart, a new server on it, and every letter's bundle verified with the old
//! deployment pinned, stating exactly what it stated before. A backup restored with another
//! deployment's key file, or without the tag key, is refused before anything is served.

use crate::flow::{bin, start_server};
use crate::run::{fails, ok};
use serde_json::Value;
use std::path::Path;

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
    if restored_db.is_none() {
        // The check reads a database, so the refusal is shown where no database is left behind;
        // on PostgreSQL the same check runs after pg_restore (covered below by the good restore).
        let err = fails(restore(&dir.path().join("wrong"), &tag_key, &forged));
        assert!(err.contains("different deployments"), "{err}");
    }

    // The restore, with the tag key put back from where it was kept.
    let data2 = dir.path().join("data2");
    std::fs::copy(&tag_key, data2.with_extension("tag.key")).unwrap();
    let said = ok(restore(&data2, &data2.with_extension("tag.key"), &backup));
    assert!(said.contains("letter logs checked"), "{said}");
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
