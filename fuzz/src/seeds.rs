//! The committed seed corpus (`fuzz/corpus/<target>/`), written from the fixed world: valid
//! entries, a sealed bundle, signed checkpoints, receipts and API bodies, so that every target
//! starts from inputs that pass parsing and signatures. `scripts/fuzz --seeds` runs the `entry`
//! target with `UNDERSIGNED_FUZZ_SEEDS=<dir>`, which calls `write_all` and exits.
use std::path::Path;

use sha2::{Digest, Sha256};
use undersigned_core::log::{issue_receipt, PublishSchedule};

use crate::world;

fn write(dir: &Path, target: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    let name = hex::encode(&Sha256::digest(bytes)[..8]);
    std::fs::write(d.join(name), bytes).expect("seed");
}

fn with(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0xFF);
        }
        out.extend_from_slice(p);
    }
    out
}

/// Writes every target's seeds under `dir`.
pub fn write_all(dir: &Path) {
    let w = world();
    let bundle = w.bundle();
    let bundle_json = bundle.to_json();
    let note = bundle.checkpoint.clone().expect("sealed");
    let vkey = w.log_verifier().to_vkey();
    let letter_json = serde_json::to_string(&w.letter).expect("letter json");
    let letter_id = w.letter.id().to_hex();
    let schedule = PublishSchedule::new(600, 5).expect("schedule");

    for (i, e) in w.entries.iter().enumerate() {
        let json = serde_json::to_vec(e).expect("entry json");
        write(dir, "entry", &with(&[0], &[&json]));
        write(dir, "entry", &[1, i as u8]);
        write(dir, "entry", &[2, i as u8, 0, 1]);
        let entry_leaf = undersigned_core::record::LogEntry::submission(e.clone()).leaf_bytes();
        let receipt = issue_receipt(
            &w.log_signer(),
            w.letter.id().0,
            &entry_leaf,
            1_700_000_000,
            &schedule,
        )
        .expect("receipt");
        write(dir, "receipt", receipt.to_json().as_bytes());
        write(
            &dir,
            "wasm",
            &with(
                &[3],
                &[
                    receipt.to_json().as_bytes(),
                    vkey.as_bytes(),
                    &json,
                    letter_id.as_bytes(),
                ],
            ),
        );
        write(dir, "http", &with(&[4, 0], &[&json]));
    }

    write(dir, "bundle", &with(&[0], &[bundle_json.as_bytes()]));
    write(dir, "bundle", &with(&[1], &[bundle_json.as_bytes()]));

    write(dir, "checkpoint", note.as_bytes());
    if let Some((body, _)) = note.split_once("\n\n") {
        write(dir, "checkpoint", format!("{body}\n").as_bytes());
    }
    write(
        dir,
        "checkpoint",
        &with(&[], &[vkey.as_bytes(), note.as_bytes()]),
    );

    write(dir, "wasm", &with(&[0], &[bundle_json.as_bytes()]));
    write(dir, "wasm", &with(&[1], &[bundle_json.as_bytes(), b"{}"]));
    write(
        dir,
        "wasm",
        &with(
            &[5],
            &[
                vkey.as_bytes(),
                note.as_bytes(),
                note.as_bytes(),
                b"{\"from\":5,\"to\":5,\"hashes\":[]}",
            ],
        ),
    );
    write(dir, "wasm", &with(&[6], &[letter_json.as_bytes()]));
    let sets = serde_json::to_string(&w.sets).expect("sets json");
    write(dir, "wasm", &with(&[8], &[sets.as_bytes(), b"{}"]));

    let letter_body = r#"{"title":"T","body":"B","recipients":[{"name":"Board","email":"board@example.org","role":"board"}],"policy":{"deadline":4000000000,"k":2,"visibility":"public","publish_interval_secs":60,"disclosures":{"role":true,"age_band":false,"email":false}},"response_days":30,"reminder_days":[7]}"#;
    for (route, flags, body) in [
        (0u8, 0u8, r#"{"email":"someone@state.gov"}"#),
        (
            1,
            0,
            r#"{"email":"someone@state.gov","code":"12345678","role":"analyst","age_band":"30-39","commitments":[{"epoch":"2026-Q4","commitment":"AAAA"}]}"#,
        ),
        (2, 0, letter_body),
        (3, 1, letter_body),
        (5, 0, "{}"),
        (6, 0, r#"{"text":"We will answer."}"#),
        (7, 1, "{}"),
        (8, 1, ""),
        (9, 0, "from=0&limit=10"),
        (10, 0, "index=0&size=1"),
        (11, 0, "from=1&to=1"),
        (12, 0, "from=0"),
        (13, 0, "index=0&size=1"),
        (14, 0, "from=1&to=1"),
        (15, 0, ""),
    ] {
        write(dir, "http", &with(&[route, flags], &[body.as_bytes()]));
    }
}
