//! A letter's log as C2SP tlog-tiles: `serve --tiles-dir` writes the static files, a plain
//! static file server (Python's `http.server`) serves them, and `verify --tiles` of that copy
//! states exactly what `verify` of the bundle states. Tiles served by the server itself say
//! the same; a copy with one hash, entry or tile changed or missing is refused, naming it.

use crate::flow::{bin, free_port, start_server};
use crate::run::{fails, ok};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Static(Child);

impl Drop for Static {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's stdlib file server: no knowledge of undersigned, like object storage.
pub(crate) fn static_server(root: &Path) -> (Static, String) {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--directory")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while ureq::get(&url).call().is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "static server");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Static(child), url)
}

fn verify_tiles(prefix: &str, dep: &Path) -> Output {
    bin()
        .args(["verify", "--tiles", prefix, "--deployment"])
        .arg(dep)
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn verify_tiles_of_a_static_copy_states_what_the_bundle_states() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    let server = start_server(
        &dir.path().join("data"),
        &["--tiles-dir", tiles.to_str().unwrap()],
    );
    let url = server.url.clone();
    // More than one full tile: 300 signatures, the opened entry, full and partial tiles at
    // level 0, a partial one at level 1.
    let receipts = dir.path().join("receipts.json");
    ok(bin()
        .args(["load-bench", "--server", &url, "--signers", "300"])
        .args(["--concurrency", "4", "--receipts-out"])
        .arg(&receipts)
        .output()
        .unwrap());
    let out: Value = serde_json::from_slice(&std::fs::read(&receipts).unwrap()).unwrap();
    let id = out["letter_id"].as_str().unwrap().to_owned();
    let dep = dir.path().join("deployment.json");
    let answer = ureq::get(&format!("{url}/api/v1/deployment"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    std::fs::write(&dep, answer).unwrap();

    // Every receipted signature published, and the static copy caught up with the server.
    let prefix = tiles.join("letters").join(&id);
    let start = Instant::now();
    let note = loop {
        let served = ureq::get(&format!("{url}/letters/{id}/checkpoint"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default();
        let copied = std::fs::read_to_string(prefix.join("checkpoint")).unwrap_or_default();
        let size = served
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0);
        if size > 300 && served == copied {
            break served;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the tiles directory did not catch up: {served:?} vs {copied:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let res = ureq::get(&format!("{url}/letters/{id}/tile/0/000"))
        .call()
        .unwrap();
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut body).unwrap();
    assert_eq!(body.len(), 8192);

    let bundle = dir.path().join("bundle.json");
    ok(bin()
        .args(["bundle", &id, "--server", &url, "--out"])
        .arg(&bundle)
        .output()
        .unwrap());
    let from_bundle = ok(bin()
        .arg("verify")
        .arg(&bundle)
        .arg("--deployment")
        .arg(&dep)
        .output()
        .unwrap());
    assert!(
        from_bundle.contains("VERIFIED: 300 distinct"),
        "{from_bundle}"
    );
    let bundle_json: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(bundle_json["checkpoint"].as_str(), Some(note.as_str()));

    let (_static, static_url) = static_server(&tiles);
    let from_static = ok(verify_tiles(&format!("{static_url}/letters/{id}"), &dep));
    assert_eq!(from_static, from_bundle);
    let from_server = ok(verify_tiles(&format!("{url}/letters/{id}"), &dep));
    assert_eq!(from_server, from_bundle);
    let from_dir = ok(verify_tiles(prefix.to_str().unwrap(), &dep));
    assert_eq!(from_dir, from_bundle);

    // Hostile copies: each is refused, naming what is wrong.
    let forged = |name: &str, change: &dyn Fn(&Path)| -> String {
        let root = dir.path().join(name);
        copy_dir(&tiles, &root);
        change(&root.join("letters").join(&id));
        fails(verify_tiles(
            root.join("letters").join(&id).to_str().unwrap(),
            &dep,
        ))
    };
    let flip = |path: &Path, at: usize| {
        let mut b = std::fs::read(path).unwrap();
        b[at] ^= 1;
        std::fs::write(path, b).unwrap();
    };
    let err = forged("hash", &|p| flip(&p.join("tile/0/000"), 100));
    assert!(
        err.contains("tile/0/000 does not match the entries"),
        "{err}"
    );
    let err = forged("level1", &|p| flip(&p.join("tile/1/000.p/1"), 3));
    assert!(err.contains("tile/1/000.p/1 does not match"), "{err}");
    // A changed byte inside an entry: the entries no longer hash to the checkpoint's root
    // (or no longer parse as an entry).
    let err = forged("entry", &|p| flip(&p.join("tile/entries/000"), 3000));
    assert!(err.contains("NOT VERIFIED"), "{err}");
    // A dropped entry: the bundle is short of what the checkpoint commits to.
    let err = forged("dropped", &|p| {
        let path = p.join("tile/entries/000");
        let b = std::fs::read(&path).unwrap();
        let len = u16::from_be_bytes([b[0], b[1]]) as usize;
        std::fs::write(&path, &b[2 + len..]).unwrap();
    });
    assert!(err.contains("fewer entries than the tile holds"), "{err}");
    let err = forged("missing", &|p| {
        std::fs::remove_dir_all(p.join("tile/entries/001.p")).unwrap();
    });
    assert!(
        err.contains("tile/entries/001.p/") && err.contains("is not there"),
        "{err}"
    );
    // A context naming another log key than the one that signed the checkpoint.
    let err = forged("other-key", &|p| {
        let ctx = p.join("bundle-context.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&ctx).unwrap()).unwrap();
        let other = undersigned_core::log::LogSigner::generate(
            &format!("localhost/letters/{id}"),
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        v["log_public_key"] = Value::from(other.verifier().to_vkey());
        std::fs::write(&ctx, v.to_string()).unwrap();
    });
    assert!(
        err.contains("the log's checkpoint")
            && err.contains("not validly signed by the bundle's log key"),
        "{err}"
    );
}
