//! `undersigned bench`, composite rows (issue 23): a signature backed by t issuers, verified
//! per signature for t = 1, 2, 3 next to zkryptium's single verify, and whole bundles of t = 1
//! and t = 3 signatures.

use std::time::Duration;

use crate::benchfast::{median, ms, timed};

use rand::rngs::OsRng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use undersigned_core::anonymity::{IssuedCounts, PublishedSets};
use undersigned_core::batch::EntryVerifier;
use undersigned_core::bbs;
use undersigned_core::bundle::{origin, Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::credential::{
    self, receive_credential, request_credential, Attributes, Credential, MESSAGE_COUNT,
};
use undersigned_core::entry::{
    present_with, presentation_header, verify, verify_reference, Action, Ask, DisclosureChoice,
    Held, IssuerDirectory, IssuerInfo, SignatureEntry, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::issuer::IssuerKeys;
use undersigned_core::letter::{
    AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility, MAX_DEADLINE,
};
use undersigned_core::log::LogSigner;
use undersigned_core::record::LogEntry;
use undersigned_core::statement::{IssuerStatement, LoggedStatement};

const HOST: &str = "bench.local";

/// t issuers, a letter needing all t of them, and the published sets for `holders` people.
struct Panel {
    keys: Vec<IssuerKeys>,
    letter: Letter,
    sets: PublishedSets,
    attrs: Attributes,
}

impl Panel {
    fn new(t: usize, holders: u64) -> anyhow::Result<Self> {
        let mut rng = ChaCha20Rng::seed_from_u64(0xc0_0000 + t as u64);
        let keys = (0..t)
            .map(|i| IssuerKeys::generate(&format!("bench issuer {i}"), &mut rng))
            .collect::<Result<Vec<_>, _>>()?;
        let epoch = Epoch::parse("2026-Q4")?;
        let letter = Letter::new(
            "Bench, several issuers",
            "Body\n",
            vec![],
            Policy {
                threshold: u32::try_from(t)?,
                issuers: keys
                    .iter()
                    .map(|k| AcceptedIssuer {
                        issuer_id: k.id(),
                        epochs: vec![epoch.clone()],
                    })
                    .collect(),
                orgs: vec![],
                disclosures: AllowedDisclosures::default(),
                k: 2,
                deadline: MAX_DEADLINE,
                visibility: Visibility::Public,
                publish_interval_secs: 600,
                comments: true,
            },
        )?;
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
            holders,
        );
        let sets = counts.publish(&epoch, 2);
        Ok(Self {
            keys,
            letter,
            sets,
            attrs,
        })
    }

    fn directory(&self) -> IssuerDirectory {
        self.keys
            .iter()
            .map(|k| {
                let info = IssuerInfo {
                    name: k.name.clone(),
                    public_key: k.public_key().clone(),
                    sets: vec![self.sets.clone()],
                };
                (k.id(), info)
            })
            .collect()
    }

    /// One person's credentials, one from each issuer.
    fn credentials(&self, seed: u64) -> anyhow::Result<Vec<Credential>> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        self.keys
            .iter()
            .map(|k| {
                let (req, pending) = request_credential(&mut rng)?;
                let resp = k.blind_sign(&req, &self.attrs, &mut rng)?;
                Ok(receive_credential(
                    pending,
                    &resp,
                    k.public_key(),
                    self.attrs.clone(),
                )?)
            })
            .collect()
    }

    fn sign(&self, creds: &[Credential], comment: Option<&str>) -> anyhow::Result<SignatureEntry> {
        let held: Vec<Held<'_>> = creds
            .iter()
            .map(|credential| Held {
                credential,
                sets: &self.sets,
            })
            .collect();
        let ask = Ask {
            action: Action::Sign,
            choice: DisclosureChoice::default(),
            comment,
            consent: SmallOrgConsent::Given,
        };
        Ok(present_with(&held, &self.letter, &ask, &mut OsRng)?)
    }

    /// A sealed bundle of `n` signatures by `n` distinct people, with every issuer's statement.
    fn bundle(&self, n: usize) -> anyhow::Result<Bundle> {
        let entries: Vec<SignatureEntry> = (0..n)
            .into_par_iter()
            .map(|i| self.sign(&self.credentials(0xd0_0000 + i as u64)?, None))
            .collect::<anyhow::Result<_>>()?;
        let mut log = vec![LogEntry::Opened {
            letter: self.letter.clone(),
            at: 0,
        }];
        log.extend(entries.into_iter().map(LogEntry::submission));
        let log_key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let orgs = std::collections::BTreeMap::from([(self.attrs.org.clone(), "Bench".to_owned())]);
        let issuers = self
            .keys
            .iter()
            .map(|k| {
                let signed =
                    IssuerStatement::new(k, orgs.clone(), 1, 0, vec![self.sets.clone()]).sign(k)?;
                Ok(IssuerRecord::new(LoggedStatement::first(
                    signed, HOST, &log_key,
                )?))
            })
            .collect::<anyhow::Result<_>>()?;
        let mut bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            letter_id: self.letter.id(),
            letter: self.letter.clone(),
            issuers,
            entries: log,
            checkpoint: None,
            log_public_key: None,
            responses: vec![],
        };
        bundle.seal(&LogSigner::new(&origin(HOST, &self.letter.id()), log_key)?)?;
        Ok(bundle)
    }
}

/// zkryptium's single verify (`bbs::verify`, behind our validity checks) of a t = 1 entry: the
/// baseline every row is compared with.
pub(crate) fn zkryptium_verify(
    e: &SignatureEntry,
    key: &IssuerKeys,
    id: &undersigned_core::ids::LetterId,
) -> anyhow::Result<()> {
    let part = e.parts.first().ok_or_else(|| anyhow::anyhow!("no part"))?;
    let id = *id;
    bbs::verify(
        key.public_key(),
        &credential::header(&part.issuer_id),
        &presentation_header(&id, e.action, e.comment.as_deref()),
        &id.0,
        MESSAGE_COUNT,
        &[
            (0, e.disclosed.org.as_str().as_bytes().to_vec()),
            (1, e.disclosed.epoch.as_str().as_bytes().to_vec()),
        ],
        &part.proof,
        &part.pseudonym,
    )
    .map_err(|_| anyhow::anyhow!("zkryptium refused a valid proof"))
}

/// Per-signature medians for one t: fast single, reference (ours), batched on all cores.
fn per_signature(t: usize) -> anyhow::Result<[Duration; 4]> {
    let panel = Panel::new(t, 1_000_000)?;
    let creds = panel.credentials(0xe0_0000 + t as u64)?;
    let entries: Vec<SignatureEntry> = (0..256)
        .into_par_iter()
        .map(|i| panel.sign(&creds, Some(&format!("bench {i}"))))
        .collect::<anyhow::Result<_>>()?;
    let (dir, id, policy) = (panel.directory(), panel.letter.id(), &panel.letter.policy);
    let (mut fast, mut reference, mut zk) = (vec![], vec![], vec![]);
    for e in entries.iter().take(30) {
        let (r, d) = timed(|| verify(e, &id, policy, &dir));
        r?;
        fast.push(d);
        let (r, d) = timed(|| verify_reference(e, &id, policy, &dir));
        r?;
        reference.push(d);
        if t == 1 {
            let key = panel
                .keys
                .first()
                .ok_or_else(|| anyhow::anyhow!("no key"))?;
            let (r, d) = timed(|| zkryptium_verify(e, key, &id));
            r?;
            zk.push(d);
        }
    }
    let verifier = EntryVerifier::new(&dir);
    let batch: Vec<&SignatureEntry> = entries.iter().collect();
    let mut batched = vec![];
    for _ in 0..3 {
        let (v, d) = timed(|| verifier.verify_batch(&batch, &id, policy, &mut OsRng));
        if v.iter().any(Result::is_err) {
            anyhow::bail!("a valid composite entry failed in a batch");
        }
        batched.push(d / u32::try_from(batch.len())?);
    }
    Ok([median(fast), median(reference), median(batched), median(zk)])
}

/// The composite rows of `undersigned bench`.
pub fn run(bundle_size: usize) -> anyhow::Result<()> {
    println!("\nseveral issuers: a signature backed by t issuers (one part each, one challenge)");
    println!(
        "\n{:<10} {:>14} {:>16} {:>18} {:>18}",
        "per sig.", "fast single ms", "reference ms", "batched (all) ms", "vs zkryptium 1"
    );
    let mut zk_single = Duration::ZERO;
    for t in 1..=3 {
        let [fast, reference, batched, zk] = per_signature(t)?;
        if t == 1 {
            zk_single = zk;
        }
        println!(
            "{:<10} {:>14.3} {:>16.3} {:>18.3} {:>17.2}x",
            format!("t = {t}"),
            ms(fast),
            ms(reference),
            ms(batched),
            ms(fast) / ms(zk_single).max(1e-9)
        );
    }
    println!(
        "{:<10} {:>14.3}   (zkryptium's own single verify of a t = 1 proof, the baseline)",
        "zkryptium",
        ms(zk_single)
    );
    println!(
        "\n{:<36} {:>12} {:>12}",
        "bundle verify, all cores", "seconds", "vs t = 1"
    );
    let mut base = None;
    for t in [1usize, 3] {
        let (bundle, gen) = timed(|| Panel::new(t, bundle_size as u64)?.bundle(bundle_size));
        let bundle = bundle?;
        let (r, d) = timed(|| bundle.verify_with(&mut OsRng));
        let report = r?;
        let secs = d.as_secs_f64();
        let first = *base.get_or_insert(secs);
        println!(
            "{:<36} {:>12.3} {:>11.2}x   (generated in {:.0} s)",
            format!("{} signatures, t = {t} of {t}", report.summary.signatures),
            secs,
            secs / first.max(1e-9),
            gen.as_secs_f64()
        );
    }
    Ok(())
}
