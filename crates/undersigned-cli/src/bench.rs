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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let n = args.iterations.max(3);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let epoch = Epoch::parse("2026-Q4")?;
    let keys = IssuerKeys::generate("bench", &mut rng)?;
    let mut membership = Membership::default();
    membership
        .orgs
        .insert(OrgId::parse("state.gov")?, "State".into());
    let mut issuer = Issuer::new(keys, membership, &mut rng);
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

    // --- wrapper ---
    let (request, _) = request_credential(&mut rng)?;
    let issue_w = time(n, || {
        Ok(issuer.keys.blind_sign(&request, &attrs, &mut rng)?)
    })?;
    let receive_w = time(n, || {
        let (req, pending) = request_credential(&mut rng)?;
        let resp = issuer.keys.blind_sign(&req, &attrs, &mut rng)?;
        Ok(receive_credential(
            pending,
            &resp,
            issuer.keys.public_key(),
            attrs.clone(),
        )?)
    })?;
    let (req, pending) = request_credential(&mut rng)?;
    let resp = issuer.issue(
        &req,
        &email,
        &epoch,
        &Role::unspecified(),
        AgeBand::Unspecified,
        &mut rng,
    )?;
    let cred = receive_credential(pending, &resp, issuer.keys.public_key(), attrs.clone())?;
    let letter = Letter::new(
        "Bench",
        "Body\n",
        vec![],
        Policy {
            issuers: vec![AcceptedIssuer {
                issuer_id: issuer.keys.id(),
                epochs: vec![epoch.clone()],
            }],
            orgs: vec![],
            disclosures: AllowedDisclosures::default(),
            k: 2,
            deadline: u64::MAX,
            visibility: Visibility::Public,
            publish_interval_secs: 600,
        },
    )?;
    let sets = issuer.published_sets(&epoch, 2);
    let present_w = time(n, || {
        Ok(present(
            &cred,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            None,
            &sets,
            SmallOrgConsent::Given,
        )?)
    })?;
    let entry = present(
        &cred,
        &letter,
        Action::Sign,
        DisclosureChoice::default(),
        None,
        &sets,
        SmallOrgConsent::Given,
    )?;
    let mut dir = IssuerDirectory::new();
    dir.insert(
        issuer.keys.id(),
        IssuerInfo {
            name: "bench".into(),
            public_key: issuer.keys.public_key().clone(),
            sets: vec![sets.clone()],
        },
    );
    let verify_w = time(n, || {
        Ok(verify(&entry, &letter.id(), &letter.policy, &dir)?)
    })?;

    // --- raw zkryptium, same shapes ---
    let nym = PseudonymSecret::random();
    let entropy = PseudonymSecret::random();
    let (commitment, blind) = zk(Commitment::<Suite>::commit_with_nym(
        None,
        vec![nym.clone()],
    ))?;
    let commitment = commitment.to_bytes();
    let issue_r = time(n, || {
        zk(BlindSignature::<Suite>::blind_sign_with_nym(
            &sk,
            &pk,
            Some(&commitment),
            1,
            Some(&hdr),
            &entropy,
            Some(&messages),
        ))
    })?;
    let receive_r = time(n, || {
        let nym = PseudonymSecret::random();
        let (c, b) = zk(Commitment::<Suite>::commit_with_nym(
            None,
            vec![nym.clone()],
        ))?;
        let sig = zk(BlindSignature::<Suite>::blind_sign_with_nym(
            &sk,
            &pk,
            Some(&c.to_bytes()),
            1,
            Some(&hdr),
            &entropy,
            Some(&messages),
        ))?;
        zk(sig.verify_finalize_with_nym(
            &pk,
            Some(&hdr),
            Some(&messages),
            None,
            vec![nym],
            Some(&entropy),
            Some(&b),
        ))
    })?;
    let sig = zk(BlindSignature::<Suite>::blind_sign_with_nym(
        &sk,
        &pk,
        Some(&commitment),
        1,
        Some(&hdr),
        &entropy,
        Some(&messages),
    ))?;
    let nyms = zk(sig.verify_finalize_with_nym(
        &pk,
        Some(&hdr),
        Some(&messages),
        None,
        vec![nym],
        Some(&entropy),
        Some(&blind),
    ))?;
    let ph = [7u8; 32];
    let ctx = letter.id().0;
    let disclosed = [0usize, 1];
    let present_r = time(n, || {
        zk(PoKSignature::<Suite>::proof_gen_with_nym(
            &pk,
            &sig.to_bytes(),
            Some(&hdr),
            Some(&ph),
            &nyms,
            &ctx,
            Some(&messages),
            None,
            Some(&disclosed),
            None,
            Some(&blind),
        ))
    })?;
    let (proof, pseudonym) = zk(PoKSignature::<Suite>::proof_gen_with_nym(
        &pk,
        &sig.to_bytes(),
        Some(&hdr),
        Some(&ph),
        &nyms,
        &ctx,
        Some(&messages),
        None,
        Some(&disclosed),
        None,
        Some(&blind),
    ))?;
    let disclosed_values: Vec<Vec<u8>> = disclosed
        .iter()
        .filter_map(|&i| messages.get(i).cloned())
        .collect();
    let verify_r = time(n, || {
        zk(proof.proof_verify_with_nym(
            &pk,
            Some(&hdr),
            Some(&ph),
            &pseudonym,
            &ctx,
            1,
            Some(messages.len()),
            Some(&disclosed_values),
            None,
            Some(&disclosed),
            None,
        ))
    })?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("undersigned bench: median of {n} runs, BLS12-381-SHA-256, schema v1 (5 messages, 1 nym, org+epoch disclosed)\n");
    println!(
        "{:<28} {:>12} {:>12} {:>8}",
        "operation", "wrapper ms", "raw ms", "ratio"
    );
    for (name, w, r) in [
        ("issue (blind sign)", issue_w, issue_r),
        ("receive (commit+sign+final)", receive_w, receive_r),
        ("present (proof + nym)", present_w, present_r),
        ("verify (proof + nym)", verify_w, verify_r),
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
        1000.0 / ms(verify_w).max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
