//! `undersigned bench`, verification rows: our blst verifier next to zkryptium, alone, batched
//! and over whole bundles of real entries, on one thread and on all cores.

use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use undersigned_core::anonymity::IssuedCounts;
use undersigned_core::batch::EntryVerifier;
use undersigned_core::bbs::fast::LetterContext;
use undersigned_core::bundle::{origin, Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential,
};
use undersigned_core::entry::{
    present, verify, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry,
    SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Role};
use undersigned_core::issuer::IssuerKeys;
use undersigned_core::letter::Letter;
use undersigned_core::log::LogSigner;
use undersigned_core::record::LogEntry;
use undersigned_core::statement::{IssuerStatement, LoggedStatement};

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// `n` distinct entries from one credential (comments differ): enough for batch timing, where
/// no tally runs.
fn entries_of(
    cred: &Credential,
    letter: &Letter,
    sets: &undersigned_core::anonymity::PublishedSets,
    n: usize,
) -> anyhow::Result<Vec<SignatureEntry>> {
    (0..n)
        .into_par_iter()
        .map(|i| {
            let comment = format!("bench {i}");
            Ok(present(
                cred,
                letter,
                Action::Sign,
                DisclosureChoice::default(),
                Some(&comment),
                sets,
                SmallOrgConsent::Given,
            )?)
        })
        .collect()
}

/// A sealed bundle of `n` signatures by `n` distinct credential holders.
fn real_bundle(keys: &IssuerKeys, letter: &Letter, n: usize) -> anyhow::Result<Bundle> {
    let epoch = letter
        .policy
        .issuers
        .first()
        .and_then(|i| i.epochs.first())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the bench letter names no epoch"))?;
    let attrs = Attributes::new(
        Email::parse("bench@state.gov")?,
        epoch.clone(),
        Role::unspecified(),
        AgeBand::Unspecified,
    );
    let mut counts = IssuedCounts::default();
    counts.record_n(
        &attrs.org,
        &Role::unspecified(),
        AgeBand::Unspecified,
        n as u64,
    );
    let sets = counts.publish(&epoch, letter.policy.k);
    let entries: Vec<SignatureEntry> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha20Rng::seed_from_u64(0xb0_0000 + i as u64);
            let (req, pending) = request_credential(&mut rng)?;
            let resp = keys.blind_sign(&req, &attrs, &mut rng)?;
            let cred = receive_credential(pending, &resp, keys.public_key(), attrs.clone())?;
            Ok(present(
                &cred,
                letter,
                Action::Sign,
                DisclosureChoice::default(),
                None,
                &sets,
                SmallOrgConsent::Given,
            )?)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut log = vec![LogEntry::Opened {
        letter: letter.clone(),
        at: 0,
    }];
    log.extend(entries.into_iter().map(LogEntry::submission));
    let log_key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let orgs = std::collections::BTreeMap::from([(attrs.org.clone(), "Bench".to_owned())]);
    let statement = LoggedStatement::first(
        IssuerStatement::new(keys, orgs, 1, 0, vec![sets]).sign(keys)?,
        "bench.local",
        &log_key,
    )?;
    let mut bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: letter.id(),
        letter: letter.clone(),
        issuers: vec![IssuerRecord::new(statement)],
        entries: log,
        checkpoint: None,
        log_public_key: None,
        responses: vec![],
    };
    let signer = LogSigner::new(&origin("bench.local", &letter.id()), log_key)?;
    bundle.seal(&signer)?;
    Ok(bundle)
}

fn print_row(name: &str, ours: f64, theirs: f64) {
    println!(
        "{name:<44} {ours:>11.3} {theirs:>13.3} {:>8.1}x",
        theirs / ours.max(1e-9)
    );
}

pub fn run(
    keys: &IssuerKeys,
    cred: &Credential,
    letter: &Letter,
    sets: &undersigned_core::anonymity::PublishedSets,
    bundle_sizes: &[usize],
) -> anyhow::Result<()> {
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut dir = IssuerDirectory::new();
    dir.insert(
        keys.id(),
        IssuerInfo {
            name: keys.name.clone(),
            public_key: keys.public_key().clone(),
            sets: vec![sets.clone()],
        },
    );
    println!(
        "\nverification: our verifier on blst (bbs::fast) next to zkryptium + validity checks"
    );
    println!("(generating entries...)");
    let entries = entries_of(cred, letter, sets, 1024)?;
    let single_ref = single_rows(&entries, letter, &dir, keys)?;
    batch_rows(&one, &entries, letter, &dir, single_ref)?;
    bundle_rows(&one, keys, letter, bundle_sizes, single_ref)
}

/// One proof at a time: our verifier, reused or not, next to zkryptium's. Returns
/// zkryptium's median, the reference of the later rows.
fn single_rows(
    entries: &[SignatureEntry],
    letter: &Letter,
    dir: &IssuerDirectory,
    keys: &IssuerKeys,
) -> anyhow::Result<Duration> {
    let id = letter.id();
    let policy = &letter.policy;
    let sample: Vec<&SignatureEntry> = entries.iter().take(40).collect();
    let mut fast_t = Vec::new();
    let mut ref_t = Vec::new();
    for e in &sample {
        let (r, t) = timed(|| verify(e, &id, policy, dir));
        r?;
        fast_t.push(t);
        // zkryptium's own verify (behind our validity checks): the baseline since issue 9.
        let (r, t) = timed(|| crate::benchcomposite::zkryptium_verify(e, keys, &id));
        r?;
        ref_t.push(t);
    }
    let (single_fast, single_ref) = (median(fast_t), median(ref_t));
    let verifier = EntryVerifier::new(dir);
    let mut cached_t = Vec::new();
    for e in &sample {
        let (r, t) = timed(|| verifier.verify(e, &id, policy));
        r?;
        cached_t.push(t);
    }
    let single_cached = median(cached_t);
    println!(
        "\n{:<44} {:>11} {:>13} {:>9}",
        "per proof", "blst ms", "zkryptium ms", "speed-up"
    );
    print_row(
        "single verify (entry::verify)",
        ms(single_fast),
        ms(single_ref),
    );
    print_row(
        "single verify, verifier reused",
        ms(single_cached),
        ms(single_ref),
    );
    Ok(single_ref)
}

/// Batches of 64 and 1024 proofs, on one thread and on all cores.
fn batch_rows(
    one: &rayon::ThreadPool,
    entries: &[SignatureEntry],
    letter: &Letter,
    dir: &IssuerDirectory,
    single_ref: Duration,
) -> anyhow::Result<()> {
    let cores = rayon::current_num_threads();
    let id = letter.id();
    let policy = &letter.policy;
    let verifier = EntryVerifier::new(dir);
    // Batches are verified as the server verifies them: with the letter's context kept.
    let context = LetterContext::kept(&id.0).map_err(|_| anyhow::anyhow!("letter context"))?;
    for size in [64usize, 1024] {
        let batch: Vec<&SignatureEntry> = entries.iter().take(size).collect();
        for (label, threads) in [("1 thread", 1usize), ("all cores", cores)] {
            let run = || {
                let mut times = Vec::new();
                let reps = if size <= 64 { 9 } else { 3 };
                for _ in 0..reps {
                    let (v, t) = timed(|| {
                        verifier.verify_batch_in(&context, &batch, &id, policy, &mut OsRng)
                    });
                    if v.iter().any(|r| r.is_err()) {
                        return Err(anyhow::anyhow!("a valid entry failed in a batch"));
                    }
                    times.push(t);
                }
                Ok(median(times))
            };
            let t = if threads == 1 {
                one.install(run)?
            } else {
                run()?
            };
            let per = ms(t) / size as f64;
            // Per proof per core: the wall time of the batch times the cores it used.
            let per_core = per * threads as f64;
            print_row(
                &format!("batched verify, batch {size}, {label} ({threads})"),
                per,
                ms(single_ref) / threads as f64,
            );
            if threads > 1 {
                println!("{:<44} {per_core:>11.3}", "  = per proof per core");
            }
        }
    }
    println!(
        "(zkryptium has no batch verification: its column is the single verify, divided by the cores;\n batches use the letter's kept context, as the server does)"
    );
    Ok(())
}

/// Whole bundles of real entries, verified on one thread and on all cores.
fn bundle_rows(
    one: &rayon::ThreadPool,
    keys: &IssuerKeys,
    letter: &Letter,
    bundle_sizes: &[usize],
    single_ref: Duration,
) -> anyhow::Result<()> {
    let cores = rayon::current_num_threads();
    println!(
        "\n{:<34} {:>12} {:>12} {:>15} {:>9}",
        "bundle verify (real entries)", "1 thread s", "all cores s", "zkryptium s*", "speed-up"
    );
    for &n in bundle_sizes {
        let (bundle, gen) = timed(|| real_bundle(keys, letter, n));
        let bundle = bundle?;
        let (r1, t1) = timed(|| one.install(|| bundle.verify_with(&mut OsRng)));
        r1?;
        let (ra, ta) = timed(|| bundle.verify_with(&mut OsRng));
        ra?;
        let zk = single_ref.as_secs_f64() * n as f64;
        println!(
            "{:<34} {:>12.3} {:>12.3} {:>15.1} {:>8.1}x   (generated in {:.0} s)",
            format!("{n} signatures ({cores} cores)"),
            t1.as_secs_f64(),
            ta.as_secs_f64(),
            zk,
            zk / ta.as_secs_f64().max(1e-9),
            gen.as_secs_f64()
        );
    }
    println!("* zkryptium bundle time: its measured single verify times the signatures, one core");
    Ok(())
}
