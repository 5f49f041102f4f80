//! `client export` and `client verify`: the signer's client as files anyone can host, and a
//! byte-for-byte check of a copy against the release this binary builds
//! (`undersigned_server::pages::client`).

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use undersigned_server::pages::client::{self, ClientRelease, SINGLE_FILE};

/// The manifest's name in an exported directory.
pub const MANIFEST: &str = "manifest.json";

/// The largest file a copy may hold: the wasm module is under 2 MB, the single file under 3.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Writes the release into `dir` (created if missing; files of the same name replaced).
/// Returns what it wrote, one line per file with its SHA-256.
pub fn export(dir: &Path) -> anyhow::Result<String> {
    let release = client::build();
    let mut out = String::new();
    for (path, bytes) in &release.files {
        let to = dir.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&to, bytes).with_context(|| format!("writing {}", to.display()))?;
        out.push_str(&format!("{}  {path}\n", hex::encode(Sha256::digest(bytes))));
    }
    std::fs::write(dir.join(MANIFEST), release.manifest())?;
    out.push_str(&format!(
        "{}  {MANIFEST}\nServe {} from any static host and open index.html#deployment=URL&letter=ID, or open {SINGLE_FILE} from disk the same way.\n",
        hex::encode(Sha256::digest(release.manifest().as_bytes())),
        dir.display()
    ));
    Ok(out)
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_FILE_BYTES {
        bail!("{} is larger than any file of the client", path.display());
    }
    Ok(std::fs::read(path)?)
}

/// Compares `path` (the single file, or an exported directory) with this binary's release.
/// Ok names what matched; an error names each file that differs, is missing or is extra.
pub fn verify(path: &Path) -> anyhow::Result<String> {
    let release = client::build();
    if path.is_file() {
        let mine = read_bounded(path)?;
        let want = release.files.get(SINGLE_FILE).map(Vec::as_slice);
        if want == Some(mine.as_slice()) {
            return Ok(format!(
                "{}: the single-file client of this release (sha256 {})",
                path.display(),
                hex::encode(Sha256::digest(&mine))
            ));
        }
        bail!(
            "{}: NOT this release's client (sha256 {}, the release's is {})",
            path.display(),
            hex::encode(Sha256::digest(&mine)),
            want.map(|w| hex::encode(Sha256::digest(w)))
                .unwrap_or_default()
        );
    }
    let found = walk(path)?;
    let problems = compare(&release, &found);
    if problems.is_empty() {
        return Ok(format!(
            "{}: the exported client of this release ({} files, manifest sha256 {})",
            path.display(),
            found.len(),
            hex::encode(Sha256::digest(release.manifest().as_bytes()))
        ));
    }
    bail!(
        "{}: NOT this release's client: {}",
        path.display(),
        problems.join("; ")
    )
}

/// What differs between the release (with its manifest) and `found`, one phrase each.
fn compare(release: &ClientRelease, found: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut want = release.files.clone();
    want.insert(MANIFEST.to_owned(), release.manifest().into_bytes());
    let mut problems = Vec::new();
    for (path, bytes) in &want {
        match found.get(path) {
            None => problems.push(format!("{path} is missing")),
            Some(b) if b != bytes => problems.push(format!("{path} differs")),
            Some(_) => {}
        }
    }
    for path in found.keys().filter(|p| !want.contains_key(*p)) {
        problems.push(format!("{path} is not part of the release"));
    }
    problems
}

/// Every file under `dir`, by its path relative to it (with `/`), bounded in count and size.
fn walk(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            if out.len() >= 64 {
                bail!("{} holds far more files than the client", dir.display());
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, read_bounded(&p)?);
        }
    }
    Ok(out)
}
