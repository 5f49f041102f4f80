//! `undersigned monitor`: follows every public letter and the issuer log of a deployment, as a
//! newsroom would, without an account.
//!
//! Each poll: the deployment's keys must be the ones first seen (kept in `--state`); every
//! letter whose checkpoint moved is downloaded as a bundle and verified in full (every entry,
//! the cosignature quorum when the deployment names witnesses), and its new checkpoint must
//! extend the last one seen (recomputed from the bundle's own entries, so no proof from the
//! server is trusted); the issuer log's statements are checked one by one (signatures, counts
//! that only grow) and its checkpoint must extend the last one seen; every letter's signers per
//! organization, in its bundle and its tally, are held against that log's newest statement
//! (`issued.rs`). Any failure is reported in plain words and ends the monitor with a nonzero
//! status; the metrics say the same.

use anyhow::{anyhow, bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use undersigned_core::bundle::Bundle;
use undersigned_core::log::{Checkpoint, LogVerifier, MerkleLog};
use undersigned_core::pins::Pins;
use undersigned_core::statement::{check_issuer_log, IssuerStatement, SignedStatement};
use undersigned_server::api::issuance::DeploymentInfo;
use undersigned_server::api::letters::LetterView;

use crate::client::{write_private, Client};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The deployment's base URL.
    pub url: String,
    /// Where the monitor keeps what it saw (deployment keys, last checkpoint of every log).
    #[arg(long, default_value = "undersigned-monitor")]
    pub state: PathBuf,
    /// Seconds between polls.
    #[arg(long, default_value_t = 60)]
    pub interval: u64,
    /// Poll once and exit (status 0 when everything is consistent).
    #[arg(long)]
    pub once: bool,
    /// Write Prometheus text metrics to this file after every poll.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Serve Prometheus text metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// What the monitor counted, for its metrics.
#[derive(Debug, Default, Clone)]
struct Metrics {
    polls: u64,
    letters: u64,
    entries_verified: u64,
    signatures: BTreeMap<String, u64>,
    problems: u64,
    last_poll: u64,
}

impl Metrics {
    fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        };
        gauge(
            "undersigned_monitor_polls_total",
            "Polls completed.",
            "counter",
            self.polls,
        );
        gauge(
            "undersigned_monitor_letters",
            "Public letters followed.",
            "gauge",
            self.letters,
        );
        gauge(
            "undersigned_monitor_entries_verified_total",
            "Log entries verified.",
            "counter",
            self.entries_verified,
        );
        gauge(
            "undersigned_monitor_inconsistencies_total",
            "Inconsistencies, failed entries and lowered counts found.",
            "counter",
            self.problems,
        );
        gauge(
            "undersigned_monitor_last_poll_timestamp_seconds",
            "When the last poll ended.",
            "gauge",
            self.last_poll,
        );
        out.push_str("# HELP undersigned_monitor_signatures Verified signatures per letter.\n# TYPE undersigned_monitor_signatures gauge\n");
        for (letter, n) in &self.signatures {
            out.push_str(&format!(
                "undersigned_monitor_signatures{{letter=\"{letter}\"}} {n}\n"
            ));
        }
        out
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(args.state.join("letters"))
        .with_context(|| format!("cannot create {}", args.state.display()))?;
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let _server = match args.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, metrics.clone())?),
        None => None,
    };
    let client = Client::new(&args.url);
    loop {
        let outcome = poll(&client, &args.state);
        let report = {
            let mut m = metrics
                .lock()
                .map_err(|_| anyhow!("metrics lock poisoned"))?;
            m.polls += 1;
            m.last_poll = now();
            match &outcome {
                Ok(p) => {
                    m.letters = p.letters.len() as u64;
                    m.entries_verified += p.new_entries;
                    for (id, n, _) in &p.letters {
                        m.signatures.insert(id.clone(), *n);
                    }
                }
                Err(_) => m.problems += 1,
            }
            m.render()
        };
        if let Some(f) = &args.metrics_file {
            std::fs::write(f, report).with_context(|| format!("cannot write {}", f.display()))?;
        }
        match outcome {
            Ok(p) => {
                println!(
                    "consistent: {} public letters, {} signatures in all, {} new entries verified; issuer log size {}{}",
                    p.letters.len(),
                    p.letters.iter().map(|(_, n, _)| n).sum::<u64>(),
                    p.new_entries,
                    p.issuer_size,
                    p.witnesses
                );
                for (id, n, size) in &p.letters {
                    println!("  letter {id}: {n} signatures, log size {size}");
                }
            }
            Err(e) => {
                println!("INCONSISTENT: {e:#}");
                return Ok(ExitCode::from(1));
            }
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}

/// What one poll found when everything held.
struct Poll {
    /// (letter id, verified signatures, log size)
    letters: Vec<(String, u64, u64)>,
    new_entries: u64,
    issuer_size: u64,
    witnesses: String,
}

/// The deployment's keys, pinned on first sight: a later answer with other keys is reported.
fn deployment(client: &Client, state: &Path) -> anyhow::Result<(DeploymentInfo, Pins)> {
    let text = client.get_text("/api/v1/deployment", None)?;
    let info: DeploymentInfo =
        serde_json::from_str(&text).context("the deployment answer is malformed")?;
    let path = state.join("deployment.json");
    let pinned_text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            write_private(&path, text.as_bytes())?;
            text.clone()
        }
    };
    let pinned: DeploymentInfo =
        serde_json::from_str(&pinned_text).context("the saved deployment is malformed")?;
    if pinned.log_public_key != info.log_public_key
        || pinned.issuer.public_key != info.issuer.public_key
        || pinned.host != info.host
    {
        bail!(
            "the deployment now shows other keys than first seen (log key {} then, {} now): a changed key can hide a second history",
            pinned.log_public_key,
            info.log_public_key
        );
    }
    if pinned.client_release_log.key != info.client_release_log.key
        || pinned.client_release_log.witnesses != info.client_release_log.witnesses
    {
        bail!(
            "the deployment now names another release log for its signer's code than first seen (key {} then, {} now)",
            pinned.client_release_log.key,
            info.client_release_log.key
        );
    }
    if pinned.witnesses != info.witnesses || pinned.witness_quorum != info.witness_quorum {
        bail!("the deployment now names other witnesses or another quorum than first seen");
    }
    let pins = Pins::from_deployment(pinned_text.as_bytes())?;
    Ok((pinned, pins))
}

fn poll(client: &Client, state: &Path) -> anyhow::Result<Poll> {
    let (info, pins) = deployment(client, state)?;
    served_client(client, &info)?;
    let (issuer_size, newest) = issuer_log(client, state, &info, &pins)?;
    let mut letters = Vec::new();
    let mut new_entries = 0;
    let list: Vec<LetterView> = client.get_json("/api/v1/letters", None)?;
    for v in list {
        let Some(id) = v.letter_id else { continue };
        let (n, size, new) = letter(client, state, &id, &info, &pins, newest.as_ref())
            .with_context(|| format!("letter {id}"))?;
        new_entries += new;
        letters.push((id, n, size));
    }
    let witnesses = if pins.witnesses.is_empty() {
        String::new()
    } else {
        format!(
            "; every checkpoint cosigned by at least {} of the {} witnesses",
            pins.quorum,
            pins.witnesses.len()
        )
    };
    Ok(Poll {
        letters,
        new_entries,
        issuer_size,
        witnesses,
    })
}

/// The signer's code the deployment serves (its script, stylesheet and wasm module under
/// `/static/`) must be byte for byte the client release it claims (`client_release`), found in
/// the release log it names, or, when it names none, the release this binary builds
/// (`release::check_served`, the same rule `client verify URL` applies). A deployment that
/// swapped one byte of what signers run is reported, naming the file and the hashes.
fn served_client(client: &Client, info: &DeploymentInfo) -> anyhow::Result<()> {
    let files = crate::release::fetch_static(client)?;
    crate::release::check_served(&files, &info.client_release, &info.client_release_log)?;
    Ok(())
}

/// The last checkpoint seen of a log, if any.
fn seen(path: &Path, verifier: &LogVerifier) -> anyhow::Result<Option<Checkpoint>> {
    match std::fs::read_to_string(path) {
        Ok(note) => Checkpoint::open(&note, verifier, None)
            .map(Some)
            .map_err(|e| anyhow!("the saved checkpoint {} does not open: {e}", path.display())),
        Err(_) => Ok(None),
    }
}

/// `new` extends `old`: the first `old.size` leaves hash to `old.root`.
fn check_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    leaf_hashes: &[[u8; 32]],
) -> anyhow::Result<()> {
    if new.size < old.size {
        bail!(
            "THE LOG SHRANK: its checkpoint of size {} follows one of size {} seen before",
            new.size,
            old.size
        );
    }
    let n = usize::try_from(old.size)?;
    let prefix = leaf_hashes
        .get(..n)
        .ok_or_else(|| anyhow!("the log holds fewer entries than the checkpoint seen before"))?;
    if MerkleLog::from_leaf_hashes(prefix.to_vec()).root() != old.root {
        bail!(
            "THE LOG WAS REWRITTEN: its first {} entries no longer hash to the root of the checkpoint seen before (size {}); the new checkpoint (size {}) does not extend it",
            old.size,
            old.size,
            new.size
        );
    }
    Ok(())
}

/// One letter: verify the whole bundle when its checkpoint moved, and that it extends the
/// last one seen. Returns (signatures, log size, entries newly verified).
fn letter(
    client: &Client,
    state: &Path,
    id: &str,
    info: &DeploymentInfo,
    pins: &Pins,
    newest: Option<&IssuerStatement>,
) -> anyhow::Result<(u64, u64, u64)> {
    let path = state.join("letters").join(format!("{id}.txt"));
    let bytes = client
        .get_text(&format!("/api/v1/letters/{id}/bundle"), None)?
        .into_bytes();
    let bundle = Bundle::parse(&bytes)?;
    // Before the bundle's own verification, which would refuse the same breach without
    // remembering it.
    crate::issued::check_letter(client, state, id, &bundle, newest)?;
    let report = bundle
        .verify_pinned_with(pins, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow!("the bundle does not verify: {e}"))?;
    let verifier = bundle.verifier()?;
    let note = bundle
        .checkpoint
        .clone()
        .ok_or_else(|| anyhow!("no checkpoint"))?;
    let cp = Checkpoint::open(&note, &verifier, None)
        .map_err(|e| anyhow!("the checkpoint does not verify: {e}"))?;
    let hashes: Vec<[u8; 32]> = bundle
        .entries
        .iter()
        .map(|e| undersigned_core::log::leaf_hash(&e.leaf_bytes()))
        .collect();
    compare_with_witnesses(info, &verifier, &cp, &hashes)?;
    let old = seen(&path, &verifier)?;
    if let Some(old) = &old {
        check_extends(old, &cp, &hashes)?;
    }
    write_private(&path, note.as_bytes())?;
    let new = cp.size - old.map_or(0, |o| o.size);
    Ok((report.summary.signatures, cp.size, new))
}

/// The issuer log: every statement valid and never lowering a count, the checkpoint signed
/// (and cosigned), its root over the statements, and extending the last one seen. Returns its
/// size and its newest statement.
fn issuer_log(
    client: &Client,
    state: &Path,
    info: &DeploymentInfo,
    pins: &Pins,
) -> anyhow::Result<(u64, Option<IssuerStatement>)> {
    let key = Pins::parse_log_key(&info.log_public_key)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)?;
    let verifier = LogVerifier::new(&info.issuer_log_origin, key)?;
    let note = client.get_text("/api/v1/issuer/log/checkpoint", None)?;
    let cp = Checkpoint::open(&note, &verifier, Some(&info.issuer_log_origin))
        .map_err(|e| anyhow!("the issuer log's checkpoint does not verify: {e}"))?;
    pins.check_cosignatures(&note)
        .map_err(|e| anyhow!("the issuer log's checkpoint: {e}"))?;
    let mut leaves = Vec::new();
    while (leaves.len() as u64) < cp.size {
        let from = leaves.len() as u64;
        let page: Vec<SignedStatement> = client.get_json(
            &format!("/api/v1/issuer/log/statements?from={from}&to={}", cp.size),
            None,
        )?;
        if page.is_empty() {
            bail!("the issuer log serves fewer statements than its checkpoint covers");
        }
        leaves.extend(page.iter().map(SignedStatement::leaf_bytes));
    }
    leaves.truncate(usize::try_from(cp.size)?);
    check_issuer_log(&leaves).map_err(|e| {
        anyhow!(
            "the issuer log fails: {e} (a statement that lowers a count or is not validly signed)"
        )
    })?;
    let hashes: Vec<[u8; 32]> = leaves
        .iter()
        .map(|l| undersigned_core::log::leaf_hash(l))
        .collect();
    if MerkleLog::from_leaf_hashes(hashes.clone()).root() != cp.root {
        bail!("the issuer log's statements do not hash to its signed root");
    }
    compare_with_witnesses(info, &verifier, &cp, &hashes)?;
    let path = state.join("issuer-log.txt");
    if let Some(old) = seen(&path, &verifier)? {
        check_extends(&old, &cp, &hashes)?;
    }
    write_private(&path, note.as_bytes())?;
    let newest = match leaves.last() {
        Some(leaf) => Some(SignedStatement::from_leaf(leaf)?.statement),
        None => None,
    };
    Ok((cp.size, newest))
}

/// What each witness last cosigned for this log (tlog-witness monitor retrieval), held against
/// the entries the server showed: a witness's checkpoint up to our size must be a prefix of
/// our log, or the server shows the witnesses another history than the public (a split view).
/// A witness that cannot be reached proves nothing either way and is skipped.
fn compare_with_witnesses(
    info: &DeploymentInfo,
    log: &LogVerifier,
    cp: &Checkpoint,
    leaf_hashes: &[[u8; 32]],
) -> anyhow::Result<()> {
    let origin_hash = hex::encode(undersigned_core::encoding::sha256(&[cp.origin.as_bytes()]));
    for (vkey, url) in info.witnesses.iter().zip(&info.witness_urls) {
        let witness = undersigned_core::log::WitnessVerifier::from_vkey(vkey)
            .map_err(|e| anyhow!("witness key {vkey}: {e}"))?;
        let Ok(resp) = ureq::get(&format!(
            "{}/{origin_hash}/checkpoint",
            url.trim_end_matches('/')
        ))
        .timeout(Duration::from_secs(10))
        .call() else {
            continue;
        };
        let note = resp.into_string()?;
        let theirs = Checkpoint::open(&note, log, Some(&cp.origin)).map_err(|e| {
            anyhow!(
                "witness {} serves a checkpoint the log did not sign: {e}",
                witness.name()
            )
        })?;
        witness.verify(&note).map_err(|e| {
            anyhow!(
                "witness {} serves a checkpoint without its own valid cosignature: {e}",
                witness.name()
            )
        })?;
        if theirs.size > cp.size {
            continue;
        }
        let n = usize::try_from(theirs.size)?;
        let prefix = leaf_hashes
            .get(..n)
            .ok_or_else(|| anyhow!("the log holds fewer entries than its checkpoint"))?;
        if MerkleLog::from_leaf_hashes(prefix.to_vec()).root() != theirs.root {
            bail!(
                "SPLIT VIEW: witness {} cosigned a checkpoint of size {} of {} whose root is not the root of the first {} entries the server shows",
                witness.name(),
                theirs.size,
                cp.origin,
                theirs.size
            );
        }
    }
    Ok(())
}

/// Serves the metrics on a thread of its own.
fn serve_metrics(
    addr: std::net::SocketAddr,
    metrics: Arc<Mutex<Metrics>>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let m = metrics.clone();
                    async move { m.lock().map(|m| m.render()).unwrap_or_default() }
                }),
            );
            let _ = axum::serve(listener, app).await;
        });
    }))
}
