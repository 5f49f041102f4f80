//! `undersigned demo --offline`: the same letter simulated with the core alone, no server.

use anyhow::{anyhow, Context};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::process::ExitCode;
use undersigned_core::bundle::{Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::statement::LoggedStatement;

const DEMO_HOST: &str = "demo.undersigned.local";
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential,
};
use undersigned_core::entry::{
    present, verify, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry,
    SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, OrgId, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{
    AcceptedIssuer, AllowedDisclosures, Letter, Policy, Recipient, Visibility, DEFAULT_K,
};
use undersigned_core::log::{issue_receipt, LogSigner, PublishSchedule};
use undersigned_core::record::LogEntry;
use undersigned_core::tally::Tally;

use super::Args;

use undersigned_server::config::DEFAULT_ORGS as AGENCIES;

/// The deployment's roles with how often the simulated staff declare them.
pub const ROLES: &[(&str, u32)] = &[
    ("career staff", 45),
    ("political appointee", 20),
    ("foreign service officer", 12),
    ("attorney", 8),
    ("analyst", 10),
    ("unspecified", 5),
];

pub const AGE_WEIGHTS: &[(AgeBand, u32)] = &[
    (AgeBand::Under30, 22),
    (AgeBand::From30To39, 33),
    (AgeBand::From40To49, 22),
    (AgeBand::From50To59, 13),
    (AgeBand::Over60, 5),
    (AgeBand::Unspecified, 5),
];

pub const LETTER_BODY: &str = "Mr. President,\n\nWe, the undersigned staff of the federal government, write to urge an immediate ceasefire and the protection of civilian life.\n\nWe sign anonymously because we fear retaliation. Each signature below was made with a credential issued to a verified work address; nobody, including the operators of this letter, can tell who signed.\n";

/// Picks from a weighted table; the tables are non-empty constants, `fallback` is never used.
pub fn weighted<T: Copy>(rng: &mut impl Rng, table: &[(T, u32)], fallback: T) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.gen_range(0..total.max(1));
    for (v, w) in table {
        if pick < *w {
            return *v;
        }
        pick -= w;
    }
    fallback
}

/// One simulated person and the choices they make on the letter page.
struct Person {
    credential: Credential,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let agencies = AGENCIES
        .get(..args.orgs)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow!("--orgs must be between 1 and {}", AGENCIES.len()))?;
    if args.signers == 0 {
        return Err(anyhow!("--signers must be at least 1"));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let epoch = Epoch::parse("2026-Q4")?;

    let keys = IssuerKeys::generate("undersigned work-email attestor", &mut rng)?;
    let mut membership = Membership::default();
    for (domain, name) in agencies {
        membership
            .orgs
            .insert(OrgId::parse(domain)?, (*name).to_owned());
    }
    for (role, _) in ROLES {
        membership.roles.insert(Role::parse(role)?);
    }
    let mut issuer = Issuer::new(keys, membership, &mut rng);

    // Signers spread over agencies like real staff numbers: a few large, many small (Zipf).
    let weights: Vec<(usize, u32)> = (0..agencies.len())
        .map(|i| (i, (1000.0 / (i as f64 + 1.0).powf(0.9)) as u32 + 1))
        .collect();
    let mut org_of: Vec<usize> = (0..agencies.len()).collect(); // every agency has one signer
    while org_of.len() < args.signers {
        org_of.push(weighted(&mut rng, &weights, 0));
    }
    org_of.truncate(args.signers);
    org_of.shuffle(&mut rng);

    let bar = crate::serve::bar;

    let pb = bar(args.signers, "issuing credentials");
    let mut people = Vec::with_capacity(args.signers);
    for (n, &org) in org_of.iter().enumerate() {
        let (domain, _) = agencies.get(org).copied().unwrap_or(("state.gov", ""));
        let email = Email::parse(&format!("staffer{n}@{domain}"))?;
        let role = Role::parse(weighted(&mut rng, ROLES, "unspecified"))?;
        let age = weighted(&mut rng, AGE_WEIGHTS, AgeBand::Unspecified);
        let (request, pending) = request_credential(&mut rng)?;
        let response = issuer.issue(&request, &email, &epoch, &role, age, &mut rng)?;
        let attributes = Attributes::new(email, epoch.clone(), role, age);
        let credential =
            receive_credential(pending, &response, issuer.keys.public_key(), attributes)?;
        people.push(Person { credential });
        pb.inc(1);
    }
    pb.finish();

    let k = DEFAULT_K;
    let sets = issuer.published_sets(&epoch, k);
    let letter = Letter::new(
        "Letter to the President from federal staff urging a ceasefire",
        LETTER_BODY,
        vec![Recipient {
            name: "The President".into(),
            address: "president@whitehouse.gov".into(),
            role: Some("President of the United States".into()),
        }],
        Policy {
            issuers: vec![AcceptedIssuer {
                issuer_id: issuer.keys.id(),
                epochs: vec![epoch.clone()],
            }],
            orgs: agencies
                .iter()
                .map(|(d, _)| OrgId::parse(d))
                .collect::<Result<_, _>>()?,
            disclosures: AllowedDisclosures {
                role: true,
                age_band: true,
                email: false,
            },
            k,
            deadline: 1_800_000_000,
            visibility: Visibility::Public,
            publish_interval_secs: 600,
            comments: true,
        },
    )?;
    let letter_id = letter.id();
    let mut directory = IssuerDirectory::new();
    directory.insert(
        issuer.keys.id(),
        IssuerInfo {
            name: issuer.keys.name.clone(),
            public_key: issuer.keys.public_key().clone(),
            sets: vec![sets.clone()],
        },
    );

    let mut tally = Tally::new();
    let mut log = vec![LogEntry::Opened {
        letter: letter.clone(),
        at: 1_700_000_000,
    }];
    let accept = |entry: SignatureEntry, tally: &mut Tally, log: &mut Vec<LogEntry>| {
        let v = verify(&entry, &letter_id, &letter.policy, &directory)?;
        tally.apply(v)?;
        log.push(LogEntry::submission(entry));
        Ok::<(), undersigned_core::VerifyError>(())
    };

    let pb = bar(args.signers, "signing");
    let mut guarded = 0usize;
    for p in &people {
        // The client's guard: disclose what the person wants, minus what the small-cell rule
        // forbids, like the browser does before any proof is made.
        let want = DisclosureChoice {
            role: rng.gen_bool(0.7),
            age_band: rng.gen_bool(0.5),
            email: false,
        };
        let attrs = &p.credential.attributes;
        let mut choice = want;
        if sets
            .check_disclosure(
                &attrs.org,
                choice.role.then_some(&attrs.role),
                choice.age_band.then_some(attrs.age_band),
                k,
            )
            .is_err()
        {
            choice.age_band = false;
            if sets
                .check_disclosure(&attrs.org, choice.role.then_some(&attrs.role), None, k)
                .is_err()
            {
                choice.role = false;
            }
            guarded += 1;
        }
        let comment = rng
            .gen_bool(0.1)
            .then_some("I sign because I have to be able to look my children in the eye.");
        // Staff of agencies below k are told so and sign only with explicit consent; in the
        // simulation everyone consents.
        let entry = present(
            &p.credential,
            &letter,
            Action::Sign,
            choice,
            comment,
            &sets,
            SmallOrgConsent::Given,
        )?;
        accept(entry, &mut tally, &mut log).context("an honest signature was refused")?;
        pb.inc(1);
    }
    pb.finish();

    // One person tries to sign twice (with different disclosures, to look like someone else).
    let mut refused = Vec::new();
    if let Some(p) = people.first() {
        let again = present(
            &p.credential,
            &letter,
            Action::Sign,
            DisclosureChoice::default(),
            Some("second time"),
            &sets,
            SmallOrgConsent::Given,
        )?;
        match accept(again, &mut tally, &mut log) {
            Err(e) => refused.push(format!("double signature refused: {e}")),
            Ok(()) => return Err(anyhow!("a double signature was accepted")),
        }
    }
    // A few people withdraw.
    let withdrawals = (args.signers / 100)
        .clamp(1, 5)
        .min(people.len().saturating_sub(1));
    for p in people.iter().rev().take(withdrawals) {
        let w = present(
            &p.credential,
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
            &sets,
            SmallOrgConsent::Given,
        )?;
        accept(w, &mut tally, &mut log).context("a withdrawal was refused")?;
    }

    let summary = tally.summarize(k);
    let names: BTreeMap<String, String> = agencies
        .iter()
        .map(|(d, n)| ((*d).to_owned(), (*n).to_owned()))
        .collect();
    println!("\n{}", summary.render_table(&names));
    println!("guard: {guarded} signers had a disclosure trimmed by the small-cell rule");
    for r in &refused {
        println!("{r}");
    }

    // The demo's log key; a real deployment keeps it in its key file.
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rng, &mut seed);
    let log_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let signer = LogSigner::new(
        &undersigned_core::bundle::origin(DEMO_HOST, &letter_id),
        log_key.clone(),
    )?;
    // The issuer's signed statement, as the first leaf of its issuer log.
    let statement = LoggedStatement::first(
        issuer.statement(k, 1, 1_700_000_000).sign(&issuer.keys)?,
        DEMO_HOST,
        &log_key,
    )?;
    let schedule = PublishSchedule::new(600, 5)?;
    let receipts: Vec<_> = log
        .iter()
        .skip(1)
        .take(3)
        .map(|e| {
            issue_receipt(
                &signer,
                letter_id.0,
                &e.leaf_bytes(),
                1_700_000_000,
                &schedule,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        letter_id,
        letter: letter.clone(),
        issuers: vec![IssuerRecord::new(statement)],
        entries: log,
        checkpoint: None,
        log_public_key: None,
        responses: vec![],
    };
    bundle.seal(&signer)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join("bundle.json");
    std::fs::write(&path, bundle.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    for (i, r) in receipts.iter().enumerate() {
        let p = args.out.join(format!("receipt-{}.json", i + 1));
        std::fs::write(&p, r.to_json()).with_context(|| format!("cannot write {}", p.display()))?;
    }
    println!(
        "wrote {} and {} receipts (letter {})",
        path.display(),
        receipts.len(),
        letter_id
    );
    Ok(ExitCode::SUCCESS)
}
