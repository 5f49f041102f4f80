//! The signer's client as a release (issue 24): the letter page's shell, its script, the
//! stylesheet and the wasm module, built into files that work from any static host, plus one
//! self-contained HTML file that works opened from disk. Every byte comes from this binary, so
//! two builds of one source give identical files, and a manifest names each file's SHA-256 and
//! the exact content security policy the pages carry.

use std::collections::BTreeMap;

use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sha2::{Digest, Sha256};

use super::assets;

/// The policy of the exported directory's page. A static host sends no headers of ours, so it
/// travels in the page (`<meta>`); `connect-src` is any http(s) origin because the client
/// talks to whichever deployment and issuers the signer names.
pub const DIR_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src http: https:; form-action 'none'; base-uri 'none'";

/// The single file's name in the release.
pub const SINGLE_FILE: &str = "undersigned-client.html";

/// The files of the directory release, by path, taken from the embedded static files: the
/// deployment serves these same bytes under `/static/`, which is what `monitor` holds it to.
pub const FROM_STATIC: &[&str] = &[
    "app.css",
    "js/common.js",
    "js/letter.js",
    "wasm/undersigned_wasm.js",
    "wasm/undersigned_wasm_bg.wasm",
];

/// A built client release: every file by its path, and the policies its pages carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRelease {
    pub files: BTreeMap<String, Vec<u8>>,
    /// The directory page's policy (`index.html`).
    pub csp: String,
    /// The single file's policy: its inline script and style by hash.
    pub single_csp: String,
}

impl ClientRelease {
    /// The manifest: `{"format", "csp", "single_file_csp", "files": {path: sha256 hex}}`,
    /// with sorted keys and no spaces, so its bytes are as reproducible as the files.
    pub fn manifest(&self) -> String {
        let files: BTreeMap<&str, String> = self
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), hex::encode(Sha256::digest(b))))
            .collect();
        serde_json::json!({
            "format": "undersigned-client-manifest/1",
            "csp": self.csp,
            "single_file_csp": self.single_csp,
            "files": files,
        })
        .to_string()
    }
}

/// The SHA-256 (hex) of this binary's release manifest: which client release it serves.
pub fn release_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| hex::encode(Sha256::digest(build().manifest().as_bytes())))
}

/// Builds the release from the files embedded in this binary.
pub fn build() -> ClientRelease {
    let mut files = BTreeMap::new();
    for path in FROM_STATIC {
        if let Some(b) = assets::bytes(path) {
            files.insert((*path).to_owned(), b.to_vec());
        }
    }
    files.insert(
        "index.html".to_owned(),
        page(DIR_CSP, Head::Linked).into_bytes(),
    );
    let css = text("app.css");
    let script = bundle();
    let single_csp = format!(
        "default-src 'none'; script-src 'sha256-{}' 'wasm-unsafe-eval'; style-src 'sha256-{}'; img-src data:; connect-src http: https:; form-action 'none'; base-uri 'none'",
        b64_sha256(&script),
        b64_sha256(&css)
    );
    let wasm = base64::engine::general_purpose::STANDARD
        .encode(assets::bytes("wasm/undersigned_wasm_bg.wasm").unwrap_or_default());
    let single = page(
        &single_csp,
        Head::Inline {
            css: &css,
            script: &script,
            wasm: &wasm,
        },
    );
    files.insert(SINGLE_FILE.to_owned(), single.into_bytes());
    ClientRelease {
        files,
        csp: DIR_CSP.to_owned(),
        single_csp,
    }
}

fn text(path: &str) -> String {
    String::from_utf8_lossy(assets::bytes(path).unwrap_or_default()).into_owned()
}

fn b64_sha256(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
}

enum Head<'a> {
    /// The directory's page: the stylesheet and the script beside it.
    Linked,
    /// The single file: everything inline, the wasm module as a base64 data block.
    Inline {
        css: &'a str,
        script: &'a str,
        wasm: &'a str,
    },
}

/// The client's page: the letter shell the script fills from the deployment's API.
fn page(csp: &str, head: Head<'_>) -> String {
    let main: Markup = super::letter::shell(
        "",
        "client",
        "This is the undersigned signer's client. It loads the letter named in its address from the deployment named there.",
    );
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { "Sign a letter — undersigned" }
                link rel="icon" href="data:,";
                @match head {
                    Head::Linked => {
                        link rel="stylesheet" href="app.css";
                        script type="module" src="js/letter.js" {}
                    }
                    Head::Inline { css, script, wasm } => {
                        style { (PreEscaped(css)) }
                        script type="application/octet-stream" id="undersigned-wasm" { (wasm) }
                        script type="module" { (PreEscaped(script)) }
                    }
                }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.site {
                    span.brand { "undersigned" }
                }
                main #main { (main) }
                footer.site {
                    p { "The signer's client, run from a copy you chose: the deployment serves the data, not the code." }
                }
            }
        }
    }
    .into_string()
}

/// One ES module as the body of a function: its `import` lines dropped (the caller passes those
/// bindings in), `export` keywords dropped, and the exported names listed.
fn module_body(src: &str) -> (String, Vec<String>) {
    let mut body = String::new();
    let mut names = Vec::new();
    for line in src.lines() {
        if line.starts_with("import ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("export * as ") {
            // `export * as NAME from "...";`: the caller passes NAME in.
            if let Some(name) = rest.split_whitespace().next() {
                names.push(name.to_owned());
            }
            continue;
        }
        if line.starts_with("export {") {
            continue;
        }
        let line = match line.strip_prefix("export ") {
            Some(rest) => {
                let decl = rest.strip_prefix("async ").unwrap_or(rest);
                let name = ["function ", "const ", "let ", "class "]
                    .iter()
                    .find_map(|k| decl.strip_prefix(k))
                    .map(|r| {
                        r.chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                            .collect::<String>()
                    });
                if let Some(n) = name.filter(|n| !n.is_empty()) {
                    names.push(n);
                }
                rest
            }
            None => line,
        };
        body.push_str(line);
        body.push('\n');
    }
    (body, names)
}

/// The three modules (wasm glue, common helpers, the letter script) as one inline module
/// script, each in its own function scope so their top-level names cannot collide.
fn bundle() -> String {
    let (glue, glue_names) = module_body(&text("wasm/undersigned_wasm.js"));
    let (common, common_names) = module_body(&text("js/common.js"));
    let (letter, _) = module_body(&text("js/letter.js"));
    let wasm_fns: Vec<&String> = glue_names.iter().filter(|n| *n != "initSync").collect();
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let common_refs: Vec<&String> = common_names.iter().collect();
    format!(
        "// undersigned signer's client, one file: the wasm glue, common.js and letter.js.\n\
         const __wasm = (() => {{\n{glue}\nreturn {{ init: __wbg_init, ns: Object.freeze({{ {wasm} }}) }};\n}})();\n\
         const __common = ((init, wasm) => {{\n{common}\nreturn {{ {common_list} }};\n}})(__wasm.init, __wasm.ns);\n\
         (({{ {common_list} }}) => {{\n{letter}\n}})(__common);\n",
        wasm = list(&wasm_fns),
        common_list = list(&common_refs),
    )
}
