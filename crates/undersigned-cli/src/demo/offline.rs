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
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential,
};
use undersigned_core::entry::{
    present, verify, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry,
    SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, LetterId, OrgId, Role};
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

/// Which agency each of `signers` works at: every agency has one signer, the rest spread
/// like real staff numbers, a few large and many small (Zipf).
pub fn spread(agencies: usize, signers: usize, rng: &mut impl Rng) -> Vec<usize> {
    let weights: Vec<(usize, u32)> = (0..agencies)
        .map(|i| (i, (1000.0 / (i as f64 + 1.0).powf(0.9)) as u32 + 1))
        .collect();
    let mut org_of: Vec<usize> = (0..agencies).collect();
    while org_of.len() < signers {
        org_of.push(weighted(rng, &weights, 0));
    }
    org_of.truncate(signers);
    org_of
}

/// The client's guard: disclose what the person wants (role 70%, age band 50% of the time),
/// minus what the small-cell rule forbids, like the browser does before any proof is made.
/// The flag says whether the guard trimmed anything.
pub fn guarded_choice(
    sets: &PublishedSets,
    attrs: &Attributes,
    k: u32,
    rng: &mut impl Rng,
) -> (DisclosureChoice, bool) {
    let mut choice = DisclosureChoice {
        role: rng.gen_bool(0.7),
        age_band: rng.gen_bool(0.5),
        email: false,
    };
    let allowed = sets
        .check_disclosure(
            &attrs.org,
            choice.role.then_some(&attrs.role),
            choice.age_band.then_some(attrs.age_band),
            k,
        )
        .is_ok();
    if allowed {
        return (choice, false);
    }
    choice.age_band = false;
    if sets
        .check_disclosure(&attrs.org, choice.role.then_some(&attrs.role), None, k)
        .is_err()
    {
        choice.role = false;
    }
    (choice, true)
}

type Agencies = [(&'static str, &'static str)];

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
    let mut issuer = issuer(agencies, &mut rng)?;
    let mut org_of = spread(agencies.len(), args.signers, &mut rng);
    org_of.shuffle(&mut rng);
    let people = issue_credentials(&mut issuer, agencies, &org_of, &epoch, &mut rng)?;

    let k = DEFAULT_K;
    let mut sim = Simulation::open(&issuer, agencies, &epoch, k)?;
    let guarded = sim.sign_all(&people, &mut rng)?;
    let refused = sim.sign_twice(&people)?;
    sim.withdraw_some(&people, args.signers)?;

    let summary = sim.tally.summarize(k);
    let names: BTreeMap<String, String> = agencies
        .iter()
        .map(|(d, n)| ((*d).to_owned(), (*n).to_owned()))
        .collect();
    println!("\n{}", summary.render_table(&names));
    println!("guard: {guarded} signers had a disclosure trimmed by the small-cell rule");
    for r in &refused {
        println!("{r}");
    }
    sim.write_bundle(&issuer, &args.out, &mut rng)?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's issuer: every agency accepted, every role of the table.
fn issuer(agencies: &Agencies, rng: &mut ChaCha20Rng) -> anyhow::Result<Issuer> {
    let keys = IssuerKeys::generate("undersigned work-email attestor", rng)?;
    let mut membership = Membership::default();
    for (domain, name) in agencies {
        membership
            .orgs
            .insert(OrgId::parse(domain)?, (*name).to_owned());
    }
    for (role, _) in ROLES {
        membership.roles.insert(Role::parse(role)?);
    }
    Ok(Issuer::new(keys, membership, rng))
}

/// One credential per simulated staffer, at the agency `org_of` names.
fn issue_credentials(
    issuer: &mut Issuer,
    agencies: &Agencies,
    org_of: &[usize],
    epoch: &Epoch,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<Vec<Credential>> {
    let pb = crate::serve::bar(org_of.len(), "issuing credentials");
    let mut people = Vec::with_capacity(org_of.len());
    for (n, &org) in org_of.iter().enumerate() {
        let (domain, _) = agencies.get(org).copied().unwrap_or(("state.gov", ""));
        let email = Email::parse(&format!("staffer{n}@{domain}"))?;
        let role = Role::parse(weighted(rng, ROLES, "unspecified"))?;
        let age = weighted(rng, AGE_WEIGHTS, AgeBand::Unspecified);
        let (request, pending) = request_credential(rng)?;
        let response = issuer.issue(&request, &email, epoch, &role, age, rng)?;
        let attributes = Attributes::new(email, epoch.clone(), role, age);
        people.push(receive_credential(
            pending,
            &response,
            issuer.keys.public_key(),
            attributes,
        )?);
        pb.inc(1);
    }
    pb.finish();
    Ok(people)
}

/// The letter, as the verifier sees it, with its tally and log so far.
struct Simulation {
    letter: Letter,
    letter_id: LetterId,
    sets: PublishedSets,
    k: u32,
    directory: IssuerDirectory,
    tally: Tally,
    log: Vec<LogEntry>,
}

impl Simulation {
    fn open(issuer: &Issuer, agencies: &Agencies, epoch: &Epoch, k: u32) -> anyhow::Result<Self> {
        let sets = issuer.published_sets(epoch, k);
        let letter = Letter::new(
            "Letter to the President from federal staff urging a ceasefire",
            LETTER_BODY,
            vec![Recipient {
                name: "The President".into(),
                address: "president@whitehouse.gov".into(),
                role: Some("President of the United States".into()),
            }],
            Policy {
                threshold: 1,
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
        let mut directory = IssuerDirectory::new();
        directory.insert(
            issuer.keys.id(),
            IssuerInfo {
                name: issuer.keys.name.clone(),
                public_key: issuer.keys.public_key().clone(),
                sets: vec![sets.clone()],
            },
        );
        let log = vec![LogEntry::Opened {
            letter: letter.clone(),
            at: 1_700_000_000,
        }];
        Ok(Self {
            letter_id: letter.id(),
            letter,
            sets,
            k,
            directory,
            tally: Tally::new(),
            log,
        })
    }

    /// What the server does with a submission: verify, count, log.
    fn accept(&mut self, entry: SignatureEntry) -> Result<(), undersigned_core::VerifyError> {
        let v = verify(
            &entry,
            &self.letter_id,
            &self.letter.policy,
            &self.directory,
        )?;
        self.tally.apply(v)?;
        self.log.push(LogEntry::submission(entry));
        Ok(())
    }

    fn present(
        &self,
        credential: &Credential,
        action: Action,
        choice: DisclosureChoice,
        comment: Option<&str>,
    ) -> anyhow::Result<SignatureEntry> {
        // Staff of agencies below k are told so and sign only with explicit consent; in the
        // simulation everyone consents.
        Ok(present(
            credential,
            &self.letter,
            action,
            choice,
            comment,
            &self.sets,
            SmallOrgConsent::Given,
        )?)
    }

    /// Everyone signs; returns how many had a disclosure trimmed by the guard.
    fn sign_all(&mut self, people: &[Credential], rng: &mut ChaCha20Rng) -> anyhow::Result<usize> {
        let pb = crate::serve::bar(people.len(), "signing");
        let mut guarded = 0usize;
        for c in people {
            let (choice, trimmed) = guarded_choice(&self.sets, &c.attributes, self.k, rng);
            guarded += usize::from(trimmed);
            let comment = rng
                .gen_bool(0.1)
                .then_some("I sign because I have to be able to look my children in the eye.");
            let entry = self.present(c, Action::Sign, choice, comment)?;
            self.accept(entry)
                .context("an honest signature was refused")?;
            pb.inc(1);
        }
        pb.finish();
        Ok(guarded)
    }

    /// One person tries to sign twice (with different disclosures, to look like someone else).
    fn sign_twice(&mut self, people: &[Credential]) -> anyhow::Result<Vec<String>> {
        let mut refused = Vec::new();
        if let Some(c) = people.first() {
            let again = self.present(
                c,
                Action::Sign,
                DisclosureChoice::default(),
                Some("second time"),
            )?;
            match self.accept(again) {
                Err(e) => refused.push(format!("double signature refused: {e}")),
                Ok(()) => return Err(anyhow!("a double signature was accepted")),
            }
        }
        Ok(refused)
    }

    /// A few people withdraw.
    fn withdraw_some(&mut self, people: &[Credential], signers: usize) -> anyhow::Result<()> {
        let withdrawals = (signers / 100)
            .clamp(1, 5)
            .min(people.len().saturating_sub(1));
        for c in people.iter().rev().take(withdrawals) {
            let w = self.present(c, Action::Withdraw, DisclosureChoice::default(), None)?;
            self.accept(w).context("a withdrawal was refused")?;
        }
        Ok(())
    }

    /// Seals the log into a bundle under a fresh demo log key and writes it with the first
    /// three entries' receipts.
    fn write_bundle(
        self,
        issuer: &Issuer,
        out: &std::path::Path,
        rng: &mut ChaCha20Rng,
    ) -> anyhow::Result<()> {
        // The demo's log key; a real deployment keeps it in its key file.
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(rng, &mut seed);
        let log_key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let signer = LogSigner::new(
            &undersigned_core::bundle::origin(DEMO_HOST, &self.letter_id),
            log_key.clone(),
        )?;
        // The issuer's signed statement, as the first leaf of its issuer log.
        let statement = LoggedStatement::first(
            issuer
                .statement(self.k, 1, 1_700_000_000)
                .sign(&issuer.keys)?,
            DEMO_HOST,
            &log_key,
        )?;
        let schedule = PublishSchedule::new(600, 5)?;
        let receipts: Vec<_> = self
            .log
            .iter()
            .skip(1)
            .take(3)
            .map(|e| {
                issue_receipt(
                    &signer,
                    self.letter_id.0,
                    &e.leaf_bytes(),
                    1_700_000_000,
                    &schedule,
                )
            })
            .collect::<Result<_, _>>()?;
        let mut bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            letter_id: self.letter_id,
            letter: self.letter,
            issuers: vec![IssuerRecord::new(statement)],
            entries: self.log,
            checkpoint: None,
            log_public_key: None,
            responses: vec![],
        };
        bundle.seal(&signer)?;
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let path = out.join("bundle.json");
        std::fs::write(&path, bundle.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
        for (i, r) in receipts.iter().enumerate() {
            let p = out.join(format!("receipt-{}.json", i + 1));
            std::fs::write(&p, r.to_json())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        println!(
            "wrote {} and {} receipts (letter {})",
            path.display(),
            receipts.len(),
            bundle.letter_id
        );
        Ok(())
    }
}
