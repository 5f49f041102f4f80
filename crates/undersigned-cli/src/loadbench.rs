//! `undersigned load-bench`: accepted signatures per second through the whole product — HTTP,
//! proof verification, the store's durable accept and the signed receipt — with per-request
//! latency, next to the core's single-core verify rate as the ceiling the crypto alone allows.
//!
//! Credentials and entries are made before the clock starts, so the timed part is only what a
//! server does under a burst of signers: it is the number to compare between backends.

use crate::serve::bar;
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use indicatif::ProgressBar;
use rand::Rng;
use rand_core::OsRng;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{
    present, verify, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry,
    SmallOrgConsent,
};
use undersigned_core::letter::{AllowedDisclosures, Letter, Visibility};
use undersigned_core::log::{leaf_hash, verify_receipt, LogVerifier, Receipt};
use undersigned_core::record::LogEntry;
use undersigned_server::api::issuance::DeploymentInfo;
use undersigned_server::api::letters::{LetterInput, LetterView, PolicyInput};

use crate::client::Client;
use crate::{holder, organizer};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Drive this server (it must run with --dev, so codes can be read from its outbox);
    /// default: a dev server started in this process.
    #[arg(long)]
    pub server: Option<String>,
    /// Run the in-process server on PostgreSQL: a fresh database is created on this server for
    /// the run and dropped afterwards (needs `psql`). Default: SQLite in a temporary directory.
    #[arg(long, conflicts_with = "server")]
    pub database: Option<String>,
    /// Number of signers (credentials and submissions).
    #[arg(long, default_value_t = 400)]
    pub signers: usize,
    /// Concurrent client threads firing submissions.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also write the letter id and every receipt received to this file (JSON), written even
    /// when some submissions failed: the cluster test checks each promise against the log.
    #[arg(long)]
    pub receipts_out: Option<std::path::PathBuf>,
}

/// What `--receipts-out` writes.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct ReceiptsOut {
    pub letter_id: String,
    pub receipts: Vec<Receipt>,
}

/// Times `entry::verify` is run for the ceiling.
const VERIFY_ROUNDS: u32 = 50;
/// The timed phase gives up after this long, so a stuck server cannot hang the command.
const RUN_LIMIT: Duration = Duration::from_secs(600);
const PUBLISH_INTERVAL: u64 = 2;

/// A PostgreSQL database made for one run and dropped (with its connections) when done.
struct FreshDatabase {
    admin_url: String,
    name: String,
    url: String,
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql")
        .args([
            "-w",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run psql (needed to create the benchmark's database)")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `url` with its database name replaced by `name`, keeping user, host and parameters.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("--database must be a postgres:// URL"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

impl FreshDatabase {
    fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("undersigned_bench_{:016x}", OsRng.gen::<u64>());
        let url = with_database(admin_url, &name)?;
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop the benchmark database {}: {e:#}", self.name);
        }
    }
}

/// Reads the newest code mailed to `email` from the dev outbox.
fn code_from_outbox(client: &Client, email: &str) -> anyhow::Result<String> {
    for _ in 0..250 {
        let mails: Vec<serde_json::Value> = client.get_json("/api/dev/outbox", None)?;
        let body = mails.iter().rev().find_map(|m| {
            let to = m.get("to")?.as_array()?;
            to.iter()
                .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(email)))
                .then(|| m.get("body").and_then(|b| b.as_str()).unwrap_or_default())
        });
        if let Some(body) = body {
            return body
                .split_whitespace()
                .find(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no code in the mail"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("no mail arrived in the dev outbox (is the server running with --dev?)")
}

/// Runs `f(i)` for every `i < n` on `threads` threads; results in index order. Stops at the
/// first error.
fn parallel<T: Send>(
    n: usize,
    threads: usize,
    pb: &ProgressBar,
    f: impl Fn(usize) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(None::<anyhow::Error>);
    let out: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n || failed.lock().map_or(true, |f| f.is_some()) {
                    break;
                }
                match f(i) {
                    Ok(v) => {
                        if let Ok(mut o) = out.lock() {
                            o.push((i, v));
                        }
                        pb.inc(1);
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    pb.finish();
    if let Some(e) = failed
        .into_inner()
        .map_err(|_| anyhow!("a worker panicked"))?
    {
        return Err(e);
    }
    let mut out = out.into_inner().map_err(|_| anyhow!("a worker panicked"))?;
    if out.len() != n {
        bail!("only {} of {n} items were made", out.len());
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// The `p`-quantile (0..=1) of sorted durations, in milliseconds.
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(idx).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The issuer directory a verifier builds from the deployment's published issuer.
fn directory(info: &DeploymentInfo) -> anyhow::Result<IssuerDirectory> {
    let pk = undersigned_core::bbs::PublicKey::from_slice(
        &URL_SAFE_NO_PAD.decode(&info.issuer.public_key)?,
    )
    .map_err(|_| anyhow!("malformed issuer key"))?;
    let mut dir = IssuerDirectory::new();
    dir.insert(
        info.issuer.id,
        IssuerInfo {
            name: info.issuer.name.clone(),
            public_key: pk,
            sets: info.issuer.anonymity_sets.clone(),
        },
    );
    Ok(dir)
}

/// What the timed phase measured.
struct Measured {
    wall: Duration,
    latencies: Vec<Duration>,
    receipts: Vec<(usize, Receipt)>,
    errors: usize,
    first_error: Option<String>,
}

/// One timed request: entry index, latency, receipt or error message.
type Sample = (usize, Duration, Result<Receipt, String>);

/// Fires every entry with `concurrency` client threads, timing each request.
fn fire(
    url: &str,
    letter_id: &str,
    entries: &[SignatureEntry],
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Sample>> = Mutex::new(Vec::with_capacity(entries.len()));
    let path = format!("/api/v1/letters/{letter_id}/entries");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                // One client (and connection pool) per thread, as separate signers would have.
                let client = Client::new(url);
                while started.elapsed() < RUN_LIMIT {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(entry) = entries.get(i) else { break };
                    let t = Instant::now();
                    let r: anyhow::Result<Receipt> = client.post_json(&path, entry, None);
                    let took = t.elapsed();
                    if let Ok(mut v) = results.lock() {
                        v.push((i, took, r.map_err(|e| format!("{e:#}"))));
                    }
                }
            });
        }
    });
    let wall = started.elapsed();
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a client thread panicked"))?;
    let mut m = Measured {
        wall,
        latencies: Vec::with_capacity(results.len()),
        receipts: Vec::with_capacity(results.len()),
        errors: entries.len().saturating_sub(results.len()),
        first_error: None,
    };
    if m.errors > 0 {
        m.first_error = Some(format!(
            "{} submissions not sent within the time limit",
            m.errors
        ));
    }
    for (i, took, r) in results {
        m.latencies.push(took);
        match r {
            Ok(receipt) => m.receipts.push((i, receipt)),
            Err(e) => {
                m.errors += 1;
                m.first_error.get_or_insert(e);
            }
        }
    }
    m.latencies.sort();
    Ok(m)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.signers == 0 {
        bail!("--signers must be at least 1");
    }
    if !(1..=256).contains(&args.concurrency) {
        bail!("--concurrency must be between 1 and 256");
    }
    let work = tempfile::tempdir()?;
    // Declared before the runtime so it is dropped after it: the server's connections go first.
    let db = match (&args.server, &args.database) {
        (None, Some(admin)) => Some(FreshDatabase::create(admin)?),
        _ => None,
    };
    let (url, runtime, backend) = match &args.server {
        Some(u) => (u.clone(), None, "remote"),
        None => {
            let (u, rt) = crate::serve::start_in_process(
                &work.path().join("server"),
                db.as_ref().map(|d| d.url.clone()),
                "bench.undersigned.local",
                PUBLISH_INTERVAL,
            )?;
            let backend = if db.is_some() { "postgres" } else { "sqlite" };
            eprintln!("started a dev server at {u} ({backend})");
            (u, Some(rt), backend)
        }
    };
    let result = bench(&args, &url, backend, work.path());
    if let Some(rt) = runtime {
        rt.shutdown_timeout(Duration::from_secs(5));
    }
    drop(db);
    result
}

fn bench(args: &Args, url: &str, backend: &str, work: &Path) -> anyhow::Result<ExitCode> {
    let client = Client::new(url);
    let info: DeploymentInfo = client.get_json("/api/v1/deployment", None)?;
    let domain = info
        .orgs
        .first()
        .ok_or_else(|| anyhow!("the deployment has no organizations"))?
        .domain
        .clone();
    let (letter, verifier) = open_letter(&client, &domain, work)?;
    let letter_id = letter.id().to_hex();
    let entries = prepare_entries(args, &client, &domain, &letter)?;
    let ceiling = verify_ceiling(&client, &entries, &letter)?;

    eprintln!(
        "firing {} submissions with {} concurrent clients",
        entries.len(),
        args.concurrency
    );
    let m = fire(url, &letter_id, &entries, args.concurrency)?;

    // After the clock: every receipt must verify and name the entry it answers.
    let (errors, first_error) = check_receipts(&m, &entries, &verifier);
    if let Some(path) = &args.receipts_out {
        let out = ReceiptsOut {
            letter_id: letter_id.clone(),
            receipts: m.receipts.iter().map(|(_, r)| r.clone()).collect(),
        };
        std::fs::write(path, serde_json::to_vec(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print_result(args, backend, &m, errors, ceiling);
    if let Some(e) = first_error {
        println!("first error: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Drafts and opens the benchmark's letter; returns it (checked against its id) and its log's
/// verifier.
fn open_letter(
    client: &Client,
    domain: &str,
    work: &Path,
) -> anyhow::Result<(Letter, LogVerifier)> {
    let input = LetterInput {
        title: "Load benchmark letter".into(),
        body: "A letter that many people sign at once.".into(),
        recipients: vec![],
        policy: PolicyInput {
            threshold: None,
            orgs: vec![domain.to_owned()],
            disclosures: AllowedDisclosures::default(),
            k: None,
            deadline: undersigned_server::now() + 86_400,
            visibility: Visibility::Public,
            publish_interval_secs: Some(PUBLISH_INTERVAL),
            epochs: vec![],
            issuers: vec![],
            comments: None,
        },
        response_days: None,
        reminder_days: vec![],
    };
    let created = organizer::create(client, &work.join("organizer"), &input)?;
    let opened = organizer::open(client, &created.handle, &created.organizer_token)?;
    let letter_id = opened.letter_id;
    let view: LetterView = client.get_json(&format!("/api/v1/letters/{letter_id}"), None)?;
    let letter: Letter = view.letter.canonicalize()?;
    if letter.id().to_hex() != letter_id {
        bail!("the server's letter id does not match its text");
    }
    let verifier = LogVerifier::from_vkey(
        view.log_key
            .as_deref()
            .ok_or_else(|| anyhow!("the letter is not open"))?,
    )
    .map_err(|e| anyhow!("log key: {e}"))?;
    Ok((letter, verifier))
}

/// Not timed: issuance and proofs, spread over a few threads to keep the setup short.
fn prepare_entries(
    args: &Args,
    client: &Client,
    domain: &str,
    letter: &Letter,
) -> anyhow::Result<Vec<SignatureEntry>> {
    let setup_threads = args.concurrency.clamp(1, 8);
    let run_tag: u32 = OsRng.gen();
    let credentials: Vec<Credential> = parallel(
        args.signers,
        setup_threads,
        &bar(args.signers, "issuing credentials"),
        |n| {
            let c = client.clone();
            let email = format!("bench{n}.{run_tag:08x}@{domain}");
            holder::obtain_current(&c, &email, "unspecified", "unspecified", &mut || {
                code_from_outbox(&c, &email)
            })
        },
    )?;
    let sets: PublishedSets = client.get_json("/api/v1/issuer/anonymity-sets", None)?;
    parallel(
        args.signers,
        setup_threads,
        &bar(args.signers, "computing entries"),
        |n| {
            let c = credentials
                .get(n)
                .ok_or_else(|| anyhow!("credential {n}"))?;
            Ok(present(
                c,
                letter,
                Action::Sign,
                DisclosureChoice::default(),
                None,
                &sets,
                SmallOrgConsent::Given,
            )?)
        },
    )
}

/// The ceiling: what one core can verify, with nothing else around it (verifications/s).
fn verify_ceiling(
    client: &Client,
    entries: &[SignatureEntry],
    letter: &Letter,
) -> anyhow::Result<f64> {
    let info: DeploymentInfo = client.get_json("/api/v1/deployment", None)?;
    let dir = directory(&info)?;
    let sample = entries.first().ok_or_else(|| anyhow!("no entries"))?;
    let letter_id_bytes = letter.id();
    // Once before the clock: the first verify in a process builds the generators' tables.
    verify(sample, &letter_id_bytes, &letter.policy, &dir)?;
    let t = Instant::now();
    for _ in 0..VERIFY_ROUNDS {
        std::hint::black_box(verify(sample, &letter_id_bytes, &letter.policy, &dir)?);
    }
    Ok(f64::from(VERIFY_ROUNDS) / t.elapsed().as_secs_f64())
}

/// Every receipt must verify and name the entry it answers: the errors counted with the
/// submission errors, and the first.
fn check_receipts(
    m: &Measured,
    entries: &[SignatureEntry],
    verifier: &LogVerifier,
) -> (usize, Option<String>) {
    let mut errors = m.errors;
    let mut first_error = m.first_error.clone();
    for (i, r) in &m.receipts {
        let ok = verify_receipt(r, verifier).is_ok()
            && entries.get(*i).is_some_and(|e| {
                r.entry_hash == leaf_hash(&LogEntry::submission(e.clone()).leaf_bytes())
            });
        if !ok {
            errors += 1;
            first_error.get_or_insert_with(|| format!("receipt {i} does not verify"));
        }
    }
    (errors, first_error)
}

fn print_result(args: &Args, backend: &str, m: &Measured, errors: usize, ceiling: f64) {
    let accepted = m.receipts.len();
    let per_sec = accepted as f64 / m.wall.as_secs_f64().max(f64::EPSILON);
    println!(
        "\n{:<9} {:>7} {:>11} {:>10} {:>8} {:>8} {:>8} {:>6} | {:>16}",
        "backend",
        "signers",
        "concurrency",
        "accepted/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "ceiling verify/s"
    );
    println!(
        "{:<9} {:>7} {:>11} {:>10.1} {:>8.1} {:>8.1} {:>8.1} {:>6} | {:>16.1}",
        backend,
        args.signers,
        args.concurrency,
        per_sec,
        quantile_ms(&m.latencies, 0.50),
        quantile_ms(&m.latencies, 0.99),
        quantile_ms(&m.latencies, 1.0),
        errors,
        ceiling
    );
    println!(
        "{accepted} accepted in {:.2} s; ceiling = entry::verify (our blst verifier, unbatched) on one core, {VERIFY_ROUNDS} rounds",
        m.wall.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "x").ok(),
            Some("postgres://postgres@127.0.0.1:5432/x".to_owned())
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x").ok(),
            Some("postgres://u:p@h/x?sslmode=disable".to_owned())
        );
        assert!(with_database("nonsense", "x").is_err());
    }
}
