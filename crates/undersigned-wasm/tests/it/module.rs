//! The committed browser module itself (static/wasm, built for wasm32 with blst's C), run in
//! Node.js: on honest, forged and tampered bundles it gives the native verifier's verdict, word
//! for word, whether one worker checks every proof or three workers share them.

use std::path::{Path, PathBuf};
use std::process::Command;

use undersigned_core::forge::{variants, with_forgery, Forgery};
use undersigned_wasm::bundle::verify_bundle_at;

use crate::forged::{bundle_with, forged};

/// Loads the module as the page's worker does and prints, per bundle file, the verdict of one
/// share of one and of three shares joined by `combine_shares`.
const SCRIPT: &str = r#"
import { readFileSync, readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [dir, wasm] = process.argv.slice(2);
const m = await import(pathToFileURL(`${wasm}/undersigned_wasm.js`).href);
await m.default({ module_or_path: readFileSync(`${wasm}/undersigned_wasm_bg.wasm`) });
const out = {};
for (const f of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const text = readFileSync(`${dir}/${f}`, "utf8");
  const verdict = (of) => {
    try {
      const outcomes = [];
      for (let i = 0; i < of; i++) outcomes.push(JSON.parse(m.verify_bundle_share(text, 0, i, of, () => {})));
      return { ok: JSON.parse(m.combine_shares(JSON.stringify(outcomes))) };
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  };
  out[f] = [verdict(1), verdict(3)];
}
console.log(JSON.stringify(out));
"#;

fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../undersigned-server/static/wasm")
}

#[test]
fn the_committed_module_gives_the_native_verdict_on_honest_forged_and_tampered_bundles() {
    let dir = std::env::temp_dir().join(format!("undersigned-module-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bundles = vec![
        ("honest".to_owned(), bundle_with(None)),
        ("forged".to_owned(), bundle_with(Some(forged()))),
    ];
    let base = forged();
    let f = Forgery {
        proof: base.parts[0].proof.clone(),
        pseudonym: base.parts[0].pseudonym.clone().try_into().unwrap(),
    };
    for (name, v) in variants(&f) {
        bundles.push((
            format!("variant-{name}"),
            bundle_with(Some(with_forgery(&base, &v))),
        ));
    }
    // The honest signature's proof with one byte flipped, under the original checkpoint.
    let mut flipped: serde_json::Value = serde_json::from_str(&bundles[0].1).unwrap();
    let proof = flipped["entries"][1]["proof"].as_str().unwrap().to_owned();
    let mut bytes = undersigned_core::encoding::from_b64url(&proof, 4096, "proof").unwrap();
    bytes[40] ^= 1;
    flipped["entries"][1]["proof"] = undersigned_core::encoding::b64url(&bytes).into();
    bundles.push(("flipped".to_owned(), flipped.to_string()));
    for (i, (name, json)) in bundles.iter().enumerate() {
        std::fs::write(dir.join(format!("{i:03}-{name}.json")), json).unwrap();
    }
    let script = dir.join("verify.mjs");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("node")
        .arg(&script)
        .arg(&dir)
        .arg(module_dir())
        .output()
        .expect("node (Node.js) runs the committed module");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut passed = 0;
    for (i, (name, json)) in bundles.iter().enumerate() {
        let native = verify_bundle_at(json, 0);
        let got = &verdicts[format!("{i:03}-{name}.json")];
        for (shares, verdict) in [(1, &got[0]), (3, &got[1])] {
            match &native {
                Ok(report) => {
                    let report: serde_json::Value = serde_json::from_str(report).unwrap();
                    assert_eq!(verdict["ok"], report, "{name}, {shares} shares: {verdict}");
                    passed += 1;
                }
                Err(e) => assert_eq!(
                    verdict["error"].as_str(),
                    Some(e.as_str()),
                    "{name}, {shares} shares"
                ),
            }
        }
    }
    // Exactly the honest bundle passes, in both splits; every forgery and tampering fails.
    assert_eq!(passed, 2);
    assert!(bundles.len() > 5, "{} bundles", bundles.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
