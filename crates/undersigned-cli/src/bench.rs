//! `undersigned bench`: per-operation times of our wrapper next to raw zkryptium calls.
//!
//! The raw column calls zkryptium exactly as `core::bbs` does, with the schema's shapes (five
//! messages, a nym vector of one, org and epoch disclosed), so the ratio is the wrapper's cost:
//! length checks, attribute encoding, policy and small-cell checks.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use undersigned_core::credential::{header, receive_credential, request_credential, Attributes};
use undersigned_core::entry::{
    present, verify, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, OrgId, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility};
use zkryptium::bbsplus::keys::{BBSplusPublicKey, BBSplusSecretKey};
use zkryptium::bbsplus::pseudonym::PseudonymSecret;
use zkryptium::schemes::algorithms::BbsBls12381Sha256 as Suite;
use zkryptium::schemes::generics::{BlindSignature, Commitment, PoKSignature};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Iterations per operation; the median is reported.
    #[arg(long, default_value_t = 40)]
    iterations: usize,
    /// Bundle sizes (real, distinct signers) for the bundle verification rows.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    bundle_sizes: Vec<usize>,
    /// Signatures in the bundles of the several-issuers rows (t = 1 next to t = 3).
    #[arg(long, default_value_t = 1000)]
    composite_bundle: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn time<T>(n: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f()?);
        out.push(t.elapsed());
    }
    Ok(median(out))
}

fn zk<T>(r: Result<T, zkryptium::errors::Error>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("zkryptium: {e}"))
}

/// Median times of the four operations, one column of the table.
#[derive(Clone, Copy, Debug)]
struct Times {
    issue: Duration,
    receive: Duration,
    present: Duration,
    verify: Duration,
}

/// The issuer and the attributes every row works with, and the same in zkryptium's terms.
struct Setup {
    issuer: Issuer,
    email: Email,
    epoch: Epoch,
    attrs: Attributes,
    messages: zeroize::Zeroizing<Vec<Vec<u8>>>,
    hdr: Vec<u8>,
    pk: BBSplusPublicKey,
    sk: BBSplusSecretKey,
}

/// What the wrapper rows leave for the later benches: a credential, a letter accepting it, the
/// published sets and one signature entry.
struct Signed {
    cred: undersigned_core::credential::Credential,
    letter: Letter,
    sets: undersigned_core::anonymity::PublishedSets,
    entry: undersigned_core::entry::SignatureEntry,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let n = args.iterations.max(3);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut setup = setup(&mut rng)?;
    let (wrapper, signed) = wrapper_times(&mut setup, n, &mut rng)?;
    let raw = raw_times(&setup, &signed.letter, n)?;
    print_table(n, &wrapper, &raw);
    bench_log(&signed.entry, &signed.letter, wrapper.verify, &mut rng)?;
    crate::benchfast::run(
        &setup.issuer.keys,
        &signed.cred,
        &signed.letter,
        &signed.sets,
        &args.bundle_sizes,
    )?;
    crate::benchcomposite::run(args.composite_bundle)?;
    Ok(ExitCode::SUCCESS)
}

fn setup(rng: &mut ChaCha20Rng) -> anyhow::Result<Setup> {
    let epoch = Epoch::parse("2026-Q4")?;
    let keys = IssuerKeys::generate("bench", rng)?;
    let mut membership = Membership::default();
    membership
        .orgs
        .insert(OrgId::parse("state.gov")?, "State".into());
    let issuer = Issuer::new(keys, membership, rng);
    let email = Email::parse("bench@state.gov")?;
    let attrs = Attributes::new(
        email.clone(),
        epoch.clone(),
        Role::unspecified(),
        AgeBand::Unspecified,
    );
    let messages = attrs.messages();
    let hdr = header(&issuer.keys.id());
    let pk = BBSplusPublicKey::from_bytes(&issuer.keys.public_key().to_bytes())?;
    let sk = BBSplusSecretKey::from_bytes(&issuer.keys.secret_key().to_bytes()[..])?;
    Ok(Setup {
        issuer,
        email,
        epoch,
        attrs,
        messages,
        hdr,
        pk,
        sk,
    })
}

/// The bench's letter: this issuer and epoch, nothing to disclose, k = 2.
fn bench_letter(setup: &Setup) -> anyhow::Result<Letter> {
    Ok(Letter::new(
        "Bench",
        "Body\n",
        vec![],
        Policy {
            threshold: 1,
            issuers: vec![AcceptedIssuer {
                issuer_id: setup.issuer.keys.id(),
                epochs: vec![setup.epoch.clone()],
            }],
            orgs: vec![],
            disclosures: AllowedDisclosures::default(),
            k: 2,
            deadline: undersigned_core::letter::MAX_DEADLINE,
            visibility: Visibility::Public,
            publish_interval_secs: 600,
            comments: true,
        },
    )?)
}

/// The four operations through our wrapper (core).
fn wrapper_times(
    setup: &mut Setup,
    n: usize,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<(Times, Signed)> {
    let (request, _) = request_credential(rng)?;
    let (issuer, attrs) = (&setup.issuer, &setup.attrs);
    let issue = time(n, || Ok(issuer.keys.blind_sign(&request, attrs, rng)?))?;
    let receive = time(n, || {
        let (req, pending) = request_credential(rng)?;
        let resp = issuer.keys.blind_sign(&req, attrs, rng)?;
        Ok(receive_credential(
            pending,
            &resp,
            issuer.keys.public_key(),
            attrs.clone(),
        )?)
    })?;
    let (req, pending) = request_credential(rng)?;
    let resp = setup.issuer.issue(
        &req,
        &setup.email,
        &setup.epoch,
        &Role::unspecified(),
        AgeBand::Unspecified,
        rng,
    )?;
    let issuer = &setup.issuer;
    let cred = receive_credential(
        pending,
        &resp,
        issuer.keys.public_key(),
        setup.attrs.clone(),
    )?;
    let letter = bench_letter(setup)?;
    let sets = issuer.published_sets(&setup.epoch, 2);
    let sign = || {
        present(
            &cred,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            None,
            &sets,
            SmallOrgConsent::Given,
        )
    };
    let present_t = time(n, || Ok(sign()?))?;
    let entry = sign()?;
    let mut dir = IssuerDirectory::new();
    dir.insert(
        issuer.keys.id(),
        IssuerInfo {
            name: "bench".into(),
            public_key: issuer.keys.public_key().clone(),
            sets: vec![sets.clone()],
        },
    );
    let verify_t = time(n, || {
        Ok(verify(&entry, &letter.id(), &letter.policy, &dir)?)
    })?;
    let times = Times {
        issue,
        receive,
        present: present_t,
        verify: verify_t,
    };
    Ok((
        times,
        Signed {
            cred,
            letter,
            sets,
            entry,
        },
    ))
}

/// The four operations as raw zkryptium calls with the same shapes.
fn raw_times(s: &Setup, letter: &Letter, n: usize) -> anyhow::Result<Times> {
    let nym = PseudonymSecret::random();
    let entropy = PseudonymSecret::random();
    let (commitment, blind) = zk(Commitment::<Suite>::commit_with_nym(
        None,
        vec![nym.clone()],
    ))?;
    let commitment = commitment.to_bytes();
    let blind_sign = |commitment: &[u8]| {
        zk(BlindSignature::<Suite>::blind_sign_with_nym(
            &s.sk,
            &s.pk,
            Some(commitment),
            1,
            Some(&s.hdr),
            &entropy,
            Some(&s.messages),
        ))
    };
    let issue = time(n, || blind_sign(&commitment))?;
    let receive = time(n, || {
        let nym = PseudonymSecret::random();
        let (c, b) = zk(Commitment::<Suite>::commit_with_nym(
            None,
            vec![nym.clone()],
        ))?;
        let sig = blind_sign(&c.to_bytes())?;
        zk(sig.verify_finalize_with_nym(
            &s.pk,
            Some(&s.hdr),
            Some(&s.messages),
            None,
            vec![nym],
            Some(&entropy),
            Some(&b),
        ))
    })?;
    let sig = blind_sign(&commitment)?;
    let nyms = zk(sig.verify_finalize_with_nym(
        &s.pk,
        Some(&s.hdr),
        Some(&s.messages),
        None,
        vec![nym],
        Some(&entropy),
        Some(&blind),
    ))?;
    let ph = [7u8; 32];
    let ctx = letter.id().0;
    let disclosed = [0usize, 1];
    let prove = || {
        zk(PoKSignature::<Suite>::proof_gen_with_nym(
            &s.pk,
            &sig.to_bytes(),
            Some(&s.hdr),
            Some(&ph),
            &nyms,
            &ctx,
            Some(&s.messages),
            None,
            Some(&disclosed),
            None,
            Some(&blind),
        ))
    };
    let present_t = time(n, prove)?;
    let (proof, pseudonym) = prove()?;
    let disclosed_values: Vec<Vec<u8>> = disclosed
        .iter()
        .filter_map(|&i| s.messages.get(i).cloned())
        .collect();
    let verify_t = time(n, || {
        zk(proof.proof_verify_with_nym(
            &s.pk,
            Some(&s.hdr),
            Some(&ph),
            &pseudonym,
            &ctx,
            1,
            Some(s.messages.len()),
            Some(&disclosed_values),
            None,
            Some(&disclosed),
            None,
        ))
    })?;
    Ok(Times {
        issue,
        receive,
        present: present_t,
        verify: verify_t,
    })
}

fn print_table(n: usize, w: &Times, r: &Times) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("undersigned bench: median of {n} runs, BLS12-381-SHA-256, schema v1 (5 messages, 1 nym, org+epoch disclosed)\n");
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "operation", "wrapper ms", "raw ms", "ratio"
    );
    for (name, w, r) in [
        ("issue (blind sign)", w.issue, r.issue),
        ("receive (commit+sign+final)", w.receive, r.receive),
        ("present (proof + nym)", w.present, r.present),
        ("verify (proof + nym)", w.verify, r.verify),
    ] {
        let ratio = if r.is_zero() {
            0.0
        } else {
            w.as_secs_f64() / r.as_secs_f64()
        };
        println!("{name:<28} {:>12.3} {:>12.3} {:>7.2}x", ms(w), ms(r), ratio);
    }
    println!(
        "\nsingle-core verify ceiling: {:.0} signatures/s",
        1000.0 / ms(w.verify).max(1e-9)
    );
}

/// The record at scale: append, proofs and bundle verification for 10k and 100k entries.
///
/// Leaves are real signature entries (one proof, distinct comments), so hashing cost is
/// realistic. Proof verification in a bundle is linear in the signatures and independent of
/// the log; it is reported from the measured per-entry verify time rather than re-run 100k
/// times (that would take 15 minutes per size on this machine).
fn bench_log(
    entry: &undersigned_core::entry::SignatureEntry,
    letter: &Letter,
    verify_each: Duration,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<()> {
    use undersigned_core::bundle::origin;
    use undersigned_core::log::LogSigner;

    println!("\nthe record: per-letter log with real signature entries as leaves\n");
    println!(
        "{:>8} {:>11} {:>9} {:>14} {:>14} {:>12} {:>13} {:>16}",
        "entries",
        "append ms",
        "root us",
        "incl gen+ver",
        "cons gen+ver",
        "parse ms",
        "log check ms",
        "all proofs s*"
    );
    let signer = LogSigner::new(
        &origin("bench.local", &letter.id()),
        ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]),
    )?;
    let mut rows = Vec::new();
    for n in [10_000u64, 100_000] {
        let row = log_row(n, entry, letter, &signer, rng)?;
        let proofs = verify_each * (n as u32);
        println!(
            "{n:>8} {:>11.1} {:>9.1} {:>11.1} us {:>11.1} us {:>12.1} {:>13.1} {:>16.0}",
            row.append.as_secs_f64() * 1e3,
            row.root.as_secs_f64() * 1e6,
            row.inclusion.as_secs_f64() * 1e6,
            row.consistency.as_secs_f64() * 1e6,
            row.parse.as_secs_f64() * 1e3,
            row.check.as_secs_f64() * 1e3,
            proofs.as_secs_f64()
        );
        rows.push((
            row.append,
            row.inclusion,
            row.consistency,
            row.parse,
            row.check,
        ));
    }
    if let [(a1, i1, c1, p1, k1), (a2, i2, c2, p2, k2)] = rows.as_slice() {
        let r = |a: &Duration, b: &Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-12);
        println!(
            "\n100k / 10k: append {:.1}x, inclusion {:.2}x, consistency {:.2}x, parse {:.1}x, log check {:.1}x (linear would be 10x; logarithmic about 1.25x)",
            r(a1, a2), r(i1, i2), r(c1, c2), r(p1, p2), r(k1, k2)
        );
    }
    println!("* all proofs: bundle proof verification, extrapolated from the measured per-entry verify on one core");
    Ok(())
}

/// One row of the record's table: the times for a log of `n` entries.
struct LogRow {
    append: Duration,
    root: Duration,
    inclusion: Duration,
    consistency: Duration,
    parse: Duration,
    check: Duration,
}

fn log_row(
    n: u64,
    entry: &undersigned_core::entry::SignatureEntry,
    letter: &Letter,
    signer: &undersigned_core::log::LogSigner,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<LogRow> {
    use rand::Rng;
    use undersigned_core::bundle::{Bundle, BUNDLE_FORMAT};
    use undersigned_core::log::{verify_consistency, verify_inclusion, MerkleLog};
    use undersigned_core::record::LogEntry;

    const PROOFS: u32 = 1000;
    let mut entries = vec![LogEntry::Opened {
        letter: letter.clone(),
        at: 0,
    }];
    for i in 1..n {
        let mut e = entry.clone();
        e.comment = Some(format!("comment {i}"));
        entries.push(LogEntry::submission(e));
    }
    let leaves: Vec<Vec<u8>> = entries.iter().map(LogEntry::leaf_bytes).collect();
    let t = Instant::now();
    let mut tree = MerkleLog::new();
    for l in &leaves {
        tree.append(l);
    }
    let append = t.elapsed();
    let t = Instant::now();
    let root = std::hint::black_box(tree.root());
    let root_t = t.elapsed();
    let t = Instant::now();
    for _ in 0..PROOFS {
        let i = rng.gen_range(0..n);
        let p = tree.prove_inclusion(i, n)?;
        let leaf = tree
            .leaf_hashes()
            .get(i as usize)
            .copied()
            .unwrap_or_default();
        verify_inclusion(&leaf, i, n, &p, &root)?;
    }
    let inclusion = t.elapsed() / PROOFS;
    let t = Instant::now();
    for _ in 0..PROOFS {
        let old = rng.gen_range(1..n);
        let p = tree.prove_consistency(old, n)?;
        verify_consistency(old, n, &tree.root_at(old)?, &root, &p)?;
    }
    let consistency = t.elapsed() / PROOFS;
    let mut bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id: letter.id(),
        letter: letter.clone(),
        issuers: vec![],
        entries,
        checkpoint: None,
        log_public_key: None,
        responses: vec![],
    };
    bundle.seal(signer)?;
    let json = bundle.to_json();
    let t = Instant::now();
    let parsed = Bundle::parse(json.as_bytes())?;
    let parse = t.elapsed();
    let t = Instant::now();
    parsed.check_log(&letter.id())?;
    Ok(LogRow {
        append,
        root: root_t,
        inclusion,
        consistency,
        parse,
        check: t.elapsed(),
    })
}
