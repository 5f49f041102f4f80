//! `client export`, `client release` and `client verify`: the signer's client as files anyone
//! can host; a release log (C2SP tlog-tiles in a directory any static host can serve) of
//! client manifests, signed with a release key that is no deployment's; and a check of a copy,
//! byte for byte, against the release this binary builds or against that log
//! (`undersigned_server::pages::client`, `undersigned_core::release`).

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use undersigned_core::log::origin::Host;
use undersigned_core::log::tiles::{entry_bundle, hash_tile, tiles_for_size};
use undersigned_core::log::{add_cosignatures, Checkpoint, LogSigner, LogVerifier, MerkleLog};
use undersigned_core::pins::Pins;
use undersigned_core::release::{
    check_release_log, release_origin, ReleaseLog, ReleaseLogClaim, ReleaseManifest,
};
use undersigned_server::pages::client::{self, ClientRelease, SINGLE_FILE};
use undersigned_server::witnesses::{request_cosignature, WitnessSpec};

use crate::tiles::TileReader;

/// The manifest's name in an exported directory.
pub const MANIFEST: &str = "manifest.json";

/// The largest file a copy may hold: the wasm module is under 2 MB, the single file under 3.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// The most files, and bytes in all, a copy may hold (the release has 8 files, about 5 MB).
const MAX_FILES: usize = 64;
const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// The most releases a release log may hold: what a reader fetches of it stays bounded.
const MAX_RELEASES: u64 = 4096;

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
            if out.len() >= MAX_FILES {
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

/// Every file of an exported directory against its own `manifest.json`: each listed file
/// present with that SHA-256, nothing else there. Returns the manifest's bytes.
fn check_against_manifest(dir: &Path) -> anyhow::Result<Vec<u8>> {
    check_files(&dir.display().to_string(), walk(dir)?)
}

/// `found` (a copy's files by path, its `manifest.json` among them) against that manifest.
fn check_files(name: &str, mut found: BTreeMap<String, Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    let manifest = found
        .remove(MANIFEST)
        .ok_or_else(|| anyhow!("{name}: no {MANIFEST}"))?;
    let m = ReleaseManifest::parse(&manifest)?;
    let mut problems = Vec::new();
    for (path, want) in &m.files {
        match found.get(path) {
            None => problems.push(format!("{path} is missing")),
            Some(b) if hex::encode(Sha256::digest(b)) != *want => {
                problems.push(format!("{path} differs from its manifest"));
            }
            Some(_) => {}
        }
    }
    for path in found.keys().filter(|p| !m.files.contains_key(*p)) {
        problems.push(format!("{path} is not in its manifest"));
    }
    if !problems.is_empty() {
        bail!("{name}: NOT a release's client: {}", problems.join("; "));
    }
    Ok(manifest)
}

/// What a URL serves as the signer's client: an exported copy (its `manifest.json` and every
/// file it lists), or else a deployment (the files under `/static/` its pages load).
enum Served {
    Export(BTreeMap<String, Vec<u8>>),
    Deployment(BTreeMap<String, Vec<u8>>),
}

fn fetch_served(url: &str) -> anyhow::Result<Served> {
    let c = crate::client::Client::new(url);
    if let Ok(bytes) = c.get_bytes(&format!("/{MANIFEST}"), 1 << 16) {
        let m = ReleaseManifest::parse(&bytes)?;
        // A stranger's manifest decides what is fetched: a bounded number of plain relative
        // paths, within a bounded total, and nothing outside the copy's own prefix.
        if m.files.len() > MAX_FILES {
            bail!("{url}: its manifest lists far more files than the client");
        }
        let plain = |p: &str| {
            !p.is_empty()
                && p.split('/').all(|seg| {
                    !seg.is_empty()
                        && seg != "."
                        && seg != ".."
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                })
        };
        if let Some(bad) = m.files.keys().find(|p| !plain(p)) {
            bail!("{url}: its manifest names {bad:?}, not a plain relative path");
        }
        let mut files = BTreeMap::from([(MANIFEST.to_owned(), bytes)]);
        let mut total = 0u64;
        for path in m.files.keys() {
            let body = c.get_bytes(&format!("/{path}"), MAX_FILE_BYTES)?;
            total += body.len() as u64;
            if total > MAX_TOTAL_BYTES {
                bail!("{url}: the copy is larger than any client release");
            }
            files.insert(path.clone(), body);
        }
        return Ok(Served::Export(files));
    }
    Ok(Served::Deployment(fetch_static(&c)?))
}

/// The signer's code a deployment serves: each file its pages load from `/static/`, bounded.
pub fn fetch_static(c: &crate::client::Client) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for path in client::FROM_STATIC {
        files.insert(
            (*path).to_owned(),
            c.get_bytes(&format!("/static/{path}"), MAX_FILE_BYTES)
                .with_context(|| format!("fetching the signer's code /static/{path}"))?,
        );
    }
    Ok(files)
}

/// The signer's code a deployment serves (`files`, from `/static/`), held to the release it
/// claims (`claimed`, its manifest's SHA-256). With a published release log (`claim.url`), the
/// claimed manifest must be in that log, under its key and its witnesses' quorum, and every
/// served file must hash as that manifest says; without one, byte for byte the release this
/// binary builds. Says which, and whether the log's key is the one this binary ships.
pub fn check_served(
    files: &BTreeMap<String, Vec<u8>>,
    claimed: &str,
    claim: &ReleaseLogClaim,
) -> anyhow::Result<String> {
    let Some(source) = &claim.url else {
        let release = client::build();
        let mine = client::release_id();
        if claimed != mine {
            bail!(
                "the deployment claims client release {claimed:?} and publishes no release log; this binary builds release {mine} (check with the deployment's version, or ask it to publish its release log)"
            );
        }
        let differ: Vec<String> = files
            .iter()
            .filter(|(p, b)| release.files.get(*p) != Some(*b))
            .map(|(p, b)| {
                let want = release
                    .files
                    .get(p)
                    .map_or_else(|| "nothing".to_owned(), |w| hex::encode(Sha256::digest(w)));
                format!(
                    "/static/{p} has sha256 {} where the release has {want}",
                    hex::encode(Sha256::digest(b))
                )
            })
            .collect();
        if !differ.is_empty() {
            bail!("THE SIGNER'S CODE WAS CHANGED: {}", differ.join("; "));
        }
        return Ok(format!(
            "serves this binary's client release {mine} ({} files); it publishes no release log",
            files.len()
        ));
    };
    let pins = claim.pins()?;
    let (_, log) = read_log(source, &claim.key, &pins)?;
    let hashes: BTreeMap<&String, String> = files
        .iter()
        .map(|(p, b)| (p, hex::encode(Sha256::digest(b))))
        .collect();
    let whose = if claim.is_default_key() {
        "the release key this binary ships".to_owned()
    } else {
        format!(
            "the deployment's own release key {} (NOT the one this binary ships)",
            claim.key
        )
    };
    let (n, manifest) = log
        .entries
        .iter()
        .enumerate()
        .rev()
        .find(|(_, e)| hex::encode(Sha256::digest(e)) == claimed)
        .ok_or_else(|| {
            anyhow!(
                "the deployment claims client release {claimed}, which is NOT in the release log it names ({source}, {} releases, signed by {whose})",
                log.size
            )
        })?;
    let m = ReleaseManifest::parse(manifest)?;
    let differ: Vec<String> = hashes
        .iter()
        .filter(|(p, h)| m.files.get(**p) != Some(*h))
        .map(|(p, h)| {
            format!(
                "/static/{p} has sha256 {h} where release {} has {}",
                n + 1,
                m.files.get(*p).map_or("nothing", String::as_str)
            )
        })
        .collect();
    if !differ.is_empty() {
        bail!("THE SIGNER'S CODE WAS CHANGED: {}", differ.join("; "));
    }
    Ok(format!(
        "serves the signer's code of logged release {} of {} ({source}), signed by {whose}{}",
        n + 1,
        log.size,
        if pins.witnesses.is_empty() {
            ", with no witnesses named".to_owned()
        } else {
            format!(
                ", cosigned by at least {} of {} witnesses",
                pins.quorum,
                pins.witnesses.len()
            )
        }
    ))
}

/// `client verify URL`: what the URL serves to signers, against this binary's release, or
/// (with `log`) against every release in the log. Names the release, or each file that is not
/// in it.
pub fn verify_url(url: &str, log: Option<(&str, &str, &Pins)>) -> anyhow::Result<String> {
    let logged = match log {
        Some((source, vkey, pins)) => Some(read_log(source, vkey, pins)?.1),
        None => None,
    };
    match fetch_served(url)? {
        Served::Export(files) => {
            let manifest = check_files(url, files)?;
            let sha = hex::encode(Sha256::digest(&manifest));
            match &logged {
                Some(log) => match log.find_manifest(&manifest) {
                    Some(n) => Ok(format!("{url}: serves logged release {n} of {} (manifest sha256 {sha})", log.size)),
                    None => bail!("{url}: NOT a logged release: its manifest (sha256 {sha}) is not in the release log"),
                },
                None if manifest == client::build().manifest().into_bytes() => {
                    Ok(format!("{url}: serves this release's exported client (manifest sha256 {sha})"))
                }
                None => bail!("{url}: NOT this release's client: its manifest (sha256 {sha}) differs"),
            }
        }
        Served::Deployment(files) => {
            let hashes: BTreeMap<&String, String> = files
                .iter()
                .map(|(p, b)| (p, hex::encode(Sha256::digest(b))))
                .collect();
            let matches =
                |m: &ReleaseManifest| hashes.iter().all(|(p, h)| m.files.get(*p) == Some(h));
            match &logged {
                Some(log) => {
                    let n = log
                        .entries
                        .iter()
                        .rposition(|e| ReleaseManifest::parse(e).is_ok_and(|m| matches(&m)));
                    match n {
                        Some(i) => Ok(format!("{url}: serves the signer's code of logged release {} of {}", i + 1, log.size)),
                        None => bail!("{url}: NOT a logged release: no release in the log holds the signer's code it serves ({})", describe(&hashes)),
                    }
                }
                None => {
                    let c = crate::client::Client::new(url);
                    let info: undersigned_server::api::issuance::DeploymentInfo =
                        c.get_json("/api/v1/deployment", None)?;
                    let said = check_served(&files, &info.client_release, &info.client_release_log)
                        .map_err(|e| anyhow!("{url}: {e}"))?;
                    Ok(format!("{url}: {said}"))
                }
            }
        }
    }
}

fn describe(hashes: &BTreeMap<&String, String>) -> String {
    hashes
        .iter()
        .map(|(p, h)| format!("{p} {}", h.get(..16).unwrap_or(h)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The release key in `key_file` (64 hex digits), created (0600) when the file is missing.
fn release_key(key_file: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    if key_file.exists() {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(key_file)?);
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut seed[..])
            .map_err(|_| anyhow!("{}: not a release key (64 hex digits)", key_file.display()))?;
        return Ok(ed25519_dalek::SigningKey::from_bytes(&seed));
    }
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    crate::client::write_private(key_file, hex::encode(key.to_bytes()).as_bytes())?;
    Ok(key)
}

/// A release log's checkpoint and every entry, read from `source` (a directory or an http(s)
/// prefix) and checked under `vkey` and `pins`.
fn read_log(source: &str, vkey: &str, pins: &Pins) -> anyhow::Result<(String, ReleaseLog)> {
    let reader = TileReader::new(source);
    let note = reader.checkpoint()?;
    let verifier = LogVerifier::from_vkey(vkey).map_err(|e| anyhow!("release key: {e}"))?;
    let cp = Checkpoint::open(&note, &verifier, Some(verifier.name()))
        .map_err(|e| anyhow!("the release log's checkpoint: {e}"))?;
    // A deployment may name its own release log and key: its signed size decides how much is
    // fetched, so it is bounded before any entry is asked for.
    if cp.size > MAX_RELEASES {
        bail!(
            "the release log claims {} releases; no release log holds more than {MAX_RELEASES}",
            cp.size
        );
    }
    let entries = reader.leaves(cp.size)?;
    let log = check_release_log(vkey, &note, entries, pins)?;
    Ok((note, log))
}

/// Where `client release` writes and who cosigns.
pub struct ReleaseArgs<'a> {
    pub key_file: &'a Path,
    pub log_dir: &'a Path,
    /// The host that keeps the log: its origin's first part.
    pub host: &'a str,
    /// The exported directory whose manifest to log; `None`: this binary's release.
    pub from: Option<&'a Path>,
    /// Witnesses (`VKEY@URL`) asked to cosign the new checkpoint, and how many must.
    pub witnesses: &'a [String],
    pub quorum: Option<usize>,
}

/// `client release`: appends a client manifest (of the exported directory `from`, checked
/// against its files, or else of this binary's release) to the release log in `log_dir`, kept
/// by `host` and signed with the key in `key_file` under `<host>/releases/<key id>`; writes
/// every tile, asks the witnesses to cosign (tlog-witness `add-checkpoint`, as the letters'
/// logs are cosigned), and writes the checkpoint only with their quorum. Logging the newest
/// release again changes nothing.
pub fn release(a: &ReleaseArgs<'_>) -> anyhow::Result<String> {
    let (key_file, log_dir, host, from) = (a.key_file, a.log_dir, a.host, a.from);
    let witnesses = a
        .witnesses
        .iter()
        .map(|w| w.parse::<WitnessSpec>().map_err(|e| anyhow!(e)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let quorum = a.quorum.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        bail!("a quorum of {quorum} needs at least that many witnesses");
    }
    let key = release_key(key_file)?;
    let origin = release_origin(Host::parse(host)?, &key.verifying_key()).to_string();
    let signer = LogSigner::new(&origin, key)?;
    let vkey = signer.verifier().to_vkey();
    let mut entries = if log_dir.join("checkpoint").exists() {
        read_log(&log_dir.to_string_lossy(), &vkey, &Pins::default())?
            .1
            .entries
    } else {
        Vec::new()
    };
    let manifest = match from {
        Some(dir) => check_against_manifest(dir)?,
        None => client::build().manifest().into_bytes(),
    };
    let sha = hex::encode(Sha256::digest(&manifest));
    if entries.last() == Some(&manifest) {
        return Ok(format!(
            "manifest {sha} is already the newest release ({} of {}) in {}\nrelease key: {vkey}\n",
            entries.len(),
            entries.len(),
            log_dir.display()
        ));
    }
    let old_size = entries.len() as u64;
    entries.push(manifest);
    let mut tree = MerkleLog::new();
    for e in &entries {
        tree.append(e);
    }
    for tile in tiles_for_size(tree.size()) {
        let bytes = if tile.level.is_none() {
            let first = usize::try_from(tile.first_entry())?;
            let rows = entries
                .get(first..first + usize::from(tile.width))
                .ok_or_else(|| anyhow!("tile {} past the log's end", tile.path()))?;
            entry_bundle(rows)?
        } else {
            hash_tile(&tree, &tile)?
        };
        let to = log_dir.join(tile.path());
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, bytes).with_context(|| format!("writing {}", to.display()))?;
    }
    let note = Checkpoint::new(&origin, tree.size(), tree.root()).sign(&signer)?;
    let mut lines = String::new();
    let mut refusals = Vec::new();
    let mut cosigned = 0;
    for w in &witnesses {
        match request_cosignature(w, &tree, &note, old_size) {
            Ok(l) => {
                lines.push_str(&l);
                cosigned += 1;
            }
            Err(e) => refusals.push(format!("{}: {e}", w.url)),
        }
    }
    if cosigned < quorum {
        bail!(
            "only {cosigned} of the {quorum} witnesses needed cosigned release {}; the checkpoint is not published: {}",
            tree.size(),
            refusals.join("; ")
        );
    }
    let note = add_cosignatures(&note, lines.lines());
    std::fs::write(log_dir.join("checkpoint"), note)?;
    // What a witness follows this log with (`witness serve --logs-under`).
    let under = LogVerifier::new(
        &format!("{host}/releases/"),
        *signer.verifier().verifying_key(),
    )?
    .to_vkey();
    Ok(format!(
        "logged manifest {sha} as release {} of {} in {} under {origin}, cosigned by {cosigned} witnesses\nrelease key: {vkey}\nwitnesses follow it with: --logs-under {under}\n",
        tree.size(),
        tree.size(),
        log_dir.display()
    ))
}

/// `client verify --release-log`: whether `path` (the single file, or an exported directory
/// with its manifest) is a release logged under `vkey`, with the witnesses' quorum when `pins`
/// names witnesses; which release, or why not.
pub fn verify_logged(path: &Path, source: &str, vkey: &str, pins: &Pins) -> anyhow::Result<String> {
    let (_, log) = read_log(source, vkey, pins)?;
    if path.is_file() {
        let sha = hex::encode(Sha256::digest(read_bounded(path)?));
        return match log.find_file(SINGLE_FILE, &sha) {
            Some(n) => Ok(format!(
                "{}: the single-file client of logged release {n} of {}",
                path.display(),
                log.size
            )),
            None => bail!(
                "{}: NOT a logged release: no release in the log names a single file with sha256 {sha}",
                path.display()
            ),
        };
    }
    let manifest = check_against_manifest(path)?;
    let sha = hex::encode(Sha256::digest(&manifest));
    match log.find_manifest(&manifest) {
        Some(n) => Ok(format!(
            "{}: the exported client of logged release {n} of {} (manifest sha256 {sha})",
            path.display(),
            log.size
        )),
        None => bail!(
            "{}: NOT a logged release: its manifest (sha256 {sha}) is not in the release log",
            path.display()
        ),
    }
}
