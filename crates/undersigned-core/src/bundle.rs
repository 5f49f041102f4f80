//! Bundle v1: everything the press needs to verify a letter offline, and the verifier.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::{CryptoRngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::anonymity::{check_signers, PublishedSets};
use crate::bbs::PublicKey;
use crate::credential::issuer_id;
use crate::encoding::b64url;
use crate::entry::{IssuerDirectory, IssuerInfo, SignatureEntry, VerifiedEntry};
use crate::error::{BundleError, VerifyError};
use crate::ids::{Epoch, IssuerId, LetterId, OrgId};
use crate::letter::Letter;
pub use crate::lifecycle::RecipientRecord;
use crate::lifecycle::{Event, Lifecycle, LifecycleError};
use crate::log::origin::{Host, LogKind, Origin};
use crate::log::{leaf_hash, verify_receipt, Checkpoint, LogVerifier, MerkleLog, Receipt};
use crate::pins::{KeyReport, Pins, WitnessReport};
use crate::record::LogEntry;
use crate::share::{Checked, Share};
use crate::statement::LoggedStatement;
use crate::tally::Summary;

pub const BUNDLE_FORMAT: &str = "undersigned-bundle/1";
/// Larger inputs are refused before parsing: 100k signatures fit in well under this.
pub(crate) const MAX_BUNDLE_BYTES: usize = 1 << 30;

/// An issuer as a deployment describes it (`/api/v1/deployment`): unsigned, for clients that
/// sign. A bundle carries `IssuerRecord`s instead, whose name and counts are signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleIssuer {
    pub id: IssuerId,
    pub name: String,
    /// BBS public key, base64url.
    pub public_key: String,
    pub anonymity_sets: Vec<PublishedSets>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub letter_id: LetterId,
    pub letter: Letter,
    pub issuers: Vec<IssuerRecord>,
    /// Every entry of the letter's log, in log order.
    pub entries: Vec<LogEntry>,
    /// The latest signed checkpoint (C2SP signed note) covering exactly `entries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_public_key: Option<String>,
    /// The texts of the recipients' answers; the log holds their SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<ResponseText>,
}

/// The format tag of a bundle's context file.
pub const CONTEXT_FORMAT: &str = "undersigned-bundle-context/1";
/// The name of the context file below a tiled log's prefix, next to `checkpoint` and `tile/`.
pub const CONTEXT_FILE: &str = "bundle-context.json";
/// A context holds one letter, its issuers' statements and the answers: far below this.
pub const MAX_CONTEXT_BYTES: usize = 64 << 20;

/// A bundle without its log: what a tiled log (C2SP tlog-tiles) publishes beside its
/// checkpoint and tiles, so that checkpoint, entry bundles and this file rebuild the bundle
/// (`Bundle::from_tiles`) and verify to the same statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleContext {
    pub format: String,
    pub letter_id: LetterId,
    pub letter: Letter,
    pub issuers: Vec<IssuerRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<ResponseText>,
}

impl BundleContext {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_CONTEXT_BYTES {
            return Err(BundleError::Format("context file too large".into()));
        }
        let ctx: Self = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Format(format!("bundle context: {e}")))?;
        if ctx.format != CONTEXT_FORMAT {
            return Err(BundleError::UnsupportedFormat(ctx.format));
        }
        Ok(ctx)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// One issuer of a bundle: its id and key, and its signed statement proven in its issuer log.
/// Name and anonymity sets are read from the statement only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRecord {
    pub id: IssuerId,
    /// BBS public key, base64url.
    pub public_key: String,
    pub statement: LoggedStatement,
    /// An independent issuer's own statement log: its signed-note verifier key, named by the
    /// log's exact origin `<issuer host>/issuers/<id>`. Absent for the deployment's own issuer,
    /// whose log is kept under the letter log's host and key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl IssuerRecord {
    /// The deployment's own issuer: its statement log is under the letter log's host and key.
    pub fn new(statement: LoggedStatement) -> Self {
        Self {
            id: statement.signed.statement.issuer_id,
            public_key: statement.signed.statement.public_key.clone(),
            statement,
            log: None,
        }
    }

    /// An independent issuer, whose statement log `log` (a signed-note verifier key) keeps.
    pub fn independent(statement: LoggedStatement, log: &LogVerifier) -> Self {
        Self {
            log: Some(log.to_vkey()),
            ..Self::new(statement)
        }
    }

    /// The host and key of this issuer's statement log: its own (the origin must be exactly
    /// `<host>/issuers/<its id>`), or the letter log's.
    pub fn log_of(
        &self,
        letter_host: &Host,
        letter_log: &LogVerifier,
    ) -> Result<(Host, ed25519_dalek::VerifyingKey), BundleError> {
        let Some(vkey) = &self.log else {
            return Ok((letter_host.clone(), *letter_log.verifying_key()));
        };
        let bad = |why: String| {
            BundleError::IssuerStatement(format!("issuer {}'s log key: {why}", self.id))
        };
        let verifier = LogVerifier::from_vkey(vkey).map_err(|e| bad(e.to_string()))?;
        let origin = Origin::parse(verifier.name()).map_err(|e| bad(e.to_string()))?;
        if origin.kind != LogKind::Issuer || origin.id != self.id.0 {
            return Err(bad(format!(
                "{} is not the origin of this issuer's log",
                verifier.name()
            )));
        }
        Ok((origin.host, *verifier.verifying_key()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseText {
    pub recipient: String,
    pub text: String,
}

impl BundleIssuer {
    pub fn new(name: &str, pk: &PublicKey, anonymity_sets: Vec<PublishedSets>) -> Self {
        Self {
            id: issuer_id(pk),
            name: name.to_owned(),
            public_key: b64url(&pk.to_bytes()),
            anonymity_sets,
        }
    }
}

/// What verifying a bundle proved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub letter_id: LetterId,
    pub title: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub k: u32,
    pub log_size: u64,
    /// The signed-note key that signed the checkpoint (`name+keyid`).
    pub log_key: String,
    /// The log's root hash at `log_size`, hex.
    pub log_root: String,
    pub closed: bool,
    /// The issuers' names, from their signed statements only.
    pub issuers: Vec<String>,
    /// t: how many of the letter's issuers back every signature.
    pub threshold: u32,
    /// Which issuers attested each signer, and what it would take to cheat, in words.
    pub trust: String,
    /// The keys verified under, and whether they were pinned or taken from the bundle.
    pub keys: KeyReport,
    /// The pinned witnesses that cosigned the letter's checkpoint, and when; empty when no
    /// witnesses were pinned (then cosignatures were not checked).
    pub cosigned_by: Vec<WitnessReport>,
    /// How many of the pinned witnesses had to cosign (0: none pinned).
    pub witness_quorum: usize,
    /// How many recipients have a delivered entry.
    pub delivered_to: u64,
    /// Names of the recipients who answered.
    pub answered_by: Vec<String>,
    pub response_days: u32,
    pub recipients: Vec<RecipientRecord>,
}

impl Report {
    /// What the record says about delivery and answers, with `now` for the running clock.
    pub fn delivery_statement(&self, now: u64) -> Option<String> {
        let first = self
            .recipients
            .iter()
            .filter_map(|r| r.delivered_at)
            .min()?;
        let mut out = format!(
            "delivered to {} recipient{} on {}",
            self.delivered_to,
            if self.delivered_to == 1 { "" } else { "s" },
            crate::encoding::date(first)
        );
        for r in &self.recipients {
            match (r.answered_at, r.acknowledged_at, r.delivered_at) {
                (Some(a), _, _) => out.push_str(&format!(
                    "; answered by {} on {}",
                    r.name,
                    crate::encoding::date(a)
                )),
                (None, ack, Some(d)) => {
                    let days = now.saturating_sub(d) / 86_400;
                    let ack = ack
                        .map(|a| format!(", acknowledged on {}", crate::encoding::date(a)))
                        .unwrap_or_default();
                    let overdue = if days > u64::from(self.response_days) {
                        format!(" (overdue: {} days were given)", self.response_days)
                    } else {
                        String::new()
                    };
                    // "after 0 days" reads as a mistake: the first day is "within a day".
                    let elapsed = match days {
                        0 => "within a day of delivery".to_owned(),
                        1 => "after 1 day".to_owned(),
                        n => format!("after {n} days"),
                    };
                    out.push_str(&format!(
                        "; no answer from {} {elapsed}{ack}{overdue}",
                        r.name
                    ));
                }
                _ => out.push_str(&format!("; not delivered to {}", r.name)),
            }
        }
        Some(out)
    }

    /// The plain statement `undersigned verify` prints.
    pub fn statement(&self) -> String {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        format!(
            "{} distinct verified signature{} from {} organization{} on \"{}\" (letter {}); {} withdrawn; log size {}, complete under the checkpoint signed by key {}; role and age-band groups under k={} counted with the undisclosed (organization counts exact, as every entry shows its organization)",
            self.summary.signatures,
            s(self.summary.signatures),
            self.summary.organizations,
            s(self.summary.organizations),
            self.title,
            self.letter_id,
            self.summary.withdrawn,
            self.log_size,
            self.log_key,
            self.k,
        ) + "; " + &self.trust + "; " + &self.keys.statement() + "; " + &self.witness_statement()
    }

    /// What the statement says about the issuers (`trust`).
    pub fn issuer_statement(&self) -> &str {
        &self.trust
    }

    /// What the statement says about witnesses.
    pub(crate) fn witness_statement(&self) -> String {
        if self.witness_quorum == 0 {
            return "no witnesses were pinned, so cosignatures were not checked (pin them with --witness KEY or --deployment FILE)".into();
        }
        let who: Vec<String> = self
            .cosigned_by
            .iter()
            .map(|c| {
                format!(
                    "{} on {} (unix {})",
                    c.name,
                    crate::encoding::date(c.timestamp),
                    c.timestamp
                )
            })
            .collect();
        format!(
            "the checkpoints carry cosignatures from {} of the pinned witnesses (quorum {}): {}",
            self.cosigned_by.len(),
            self.witness_quorum,
            who.join(", ")
        )
    }
}

impl Bundle {
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.is_empty() {
            return Err(BundleError::Format("empty file".into()));
        }
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::Format("file too large".into()));
        }
        // Check the format tag before the full parse, so an old or foreign file says so.
        #[derive(Deserialize)]
        struct Probe {
            format: Option<String>,
            #[serde(default)]
            issuers: Vec<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Format(format!("not valid JSON ({e})")))?;
        match probe.format.as_deref() {
            Some(BUNDLE_FORMAT) => {}
            Some(other) => return Err(BundleError::UnsupportedFormat(other.to_owned())),
            None => return Err(BundleError::Format("missing \"format\"".into())),
        }
        // Bundles made before protocol v1.1 listed unsigned issuer names and counts.
        if probe.issuers.iter().any(|i| i.get("statement").is_none()) {
            return Err(BundleError::IssuerStatement(
                "the bundle carries no signed issuer statement (it was made before protocol v1.1, when issuer names and counts were unsigned); fetch a new bundle".into(),
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| BundleError::Format(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Everything but the entries and the checkpoint, as a tiled log publishes it.
    pub fn context(&self) -> BundleContext {
        BundleContext {
            format: CONTEXT_FORMAT.into(),
            letter_id: self.letter_id,
            letter: self.letter.clone(),
            issuers: self.issuers.clone(),
            log_public_key: self.log_public_key.clone(),
            responses: self.responses.clone(),
        }
    }

    /// The bundle a tiled log serves: its context, the leaves of its entry bundles in log
    /// order and its checkpoint. Each leaf must be an entry in its canonical encoding, so the
    /// entries hash to exactly the leaves that were served. Verify the result as any bundle.
    pub fn from_tiles<L: AsRef<[u8]>>(
        context: BundleContext,
        leaves: &[L],
        checkpoint: String,
    ) -> Result<Self, BundleError> {
        let entries = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                let leaf = leaf.as_ref();
                LogEntry::from_leaf_bytes(leaf)
                    .filter(|e| e.leaf_bytes() == leaf)
                    .ok_or_else(|| {
                        BundleError::Log(format!(
                            "entry {i} of the entry bundles is not a log entry in its canonical encoding"
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            format: BUNDLE_FORMAT.into(),
            letter_id: context.letter_id,
            letter: context.letter,
            issuers: context.issuers,
            entries,
            checkpoint: Some(checkpoint),
            log_public_key: context.log_public_key,
            responses: context.responses,
        })
    }

    /// Verifies everything a bundle claims and counts, under the keys it carries itself.
    pub fn verify(&self) -> Result<Report, BundleError> {
        self.verify_pinned(&Pins::default())
    }

    /// Verifies everything a bundle claims and counts, refusing keys other than `pins`.
    /// Stops at the first failure, naming it.
    ///
    /// The proofs' pairing checks are batched with coefficients derived from a hash of every
    /// proof and key in the bundle (fixed once the bundle is, so no proof can be chosen after
    /// its coefficient); `verify_with` takes them from the caller's RNG instead.
    pub fn verify_pinned(&self, pins: &Pins) -> Result<Report, BundleError> {
        self.verify_pinned_with(pins, &mut self.batch_rng())
    }

    /// The batching coefficients' RNG `verify_pinned` uses: seeded by a hash of every proof and key.
    pub fn batch_rng(&self) -> rand_chacha::ChaCha20Rng {
        let mut parts: Vec<&[u8]> = vec![b"undersigned/batch/v1"];
        for i in &self.issuers {
            parts.push(i.public_key.as_bytes());
        }
        for e in &self.entries {
            if let LogEntry::Signature(s) | LogEntry::Withdrawal(s) = e {
                for p in &s.parts {
                    parts.push(&p.proof);
                    parts.push(&p.pseudonym);
                }
            }
        }
        rand_chacha::ChaCha20Rng::from_seed(crate::encoding::sha256(&parts))
    }

    /// Every signature and withdrawal entry verified (batched, over all cores natively), in
    /// runs of [`PROGRESS_RUN`] entries after each of which `progress(done, total)` is told:
    /// one verdict per log index, `None` for the other kinds of entry. A run changes no verdict
    /// (`batch::verify_entries` gives each entry the answer it would give it alone).
    ///
    /// Only the proofs `share` owns are checked; every other entry gets every check but its
    /// proof's (`entry::claimed`), so that a share reads the log exactly as the whole does and
    /// `share::combine` can join the shares' verdicts. Also returns how many proofs there are.
    fn verify_entries(
        &self,
        letter_id: &LetterId,
        letter: &Letter,
        issuers: &IssuerDirectory,
        rng: &mut impl CryptoRngCore,
        progress: &mut dyn FnMut(usize, usize),
        share: Share,
    ) -> (Vec<Option<Result<VerifiedEntry, VerifyError>>>, usize) {
        let proofs: Vec<(usize, &SignatureEntry)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                LogEntry::Signature(s) | LogEntry::Withdrawal(s) => Some((i, s)),
                _ => None,
            })
            .collect();
        let mut out: Vec<Option<Result<VerifiedEntry, VerifyError>>> =
            (0..self.entries.len()).map(|_| None).collect();
        let mut indexes = Vec::new();
        let mut entries = Vec::new();
        for (j, (i, e)) in proofs.iter().enumerate() {
            if share.owns(j) {
                indexes.push(*i);
                entries.push(*e);
            } else if let Some(slot) = out.get_mut(*i) {
                *slot = Some(crate::entry::claimed(e, letter_id, &letter.policy, issuers));
            }
        }
        let total = entries.len();
        progress(0, total);
        let results = crate::batch::EntryVerifier::new(issuers).verify_runs(
            &entries,
            letter_id,
            &letter.policy,
            rng,
            PROGRESS_RUN,
            &mut |done| progress(done, total),
        );
        for (i, r) in indexes.into_iter().zip(results) {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(r);
            }
        }
        (out, proofs.len())
    }

    /// `verify`, with the batching coefficients drawn from `rng` (callers pass `OsRng`).
    pub fn verify_with(&self, rng: &mut impl CryptoRngCore) -> Result<Report, BundleError> {
        self.verify_pinned_with(&Pins::default(), rng)
    }

    /// `verify_pinned`, with the batching coefficients drawn from `rng`.
    pub fn verify_pinned_with(
        &self,
        pins: &Pins,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Report, BundleError> {
        self.verify_observed(pins, rng, &mut |_, _| {})
    }

    /// `verify_pinned_with`, telling `progress(done, total)` how many of the bundle's proofs
    /// are checked (the browser's verify page shows it): the same checks, in the same order.
    pub fn verify_observed(
        &self,
        pins: &Pins,
        rng: &mut impl CryptoRngCore,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Report, BundleError> {
        self.verify_share(pins, rng, progress, Share::WHOLE)
            .map(|(report, _)| report)
    }

    /// `verify_observed` checking only the proofs `share` owns, and every other check in full:
    /// one of several workers' part of one verification (the browser's verify page runs one per
    /// core). Its verdict alone proves nothing about the other shares' proofs; only
    /// `share::combine` over every share gives the bundle's verdict. Also says how many proofs
    /// it checked, and how many the bundle has.
    pub fn verify_share(
        &self,
        pins: &Pins,
        rng: &mut impl CryptoRngCore,
        progress: &mut dyn FnMut(usize, usize),
        share: Share,
    ) -> Result<(Report, Checked), BundleError> {
        let letter = self.canonical_letter()?;
        let letter_id = self.letter_id;
        let (verifier, checkpoint) = self.check_log(&letter_id)?;
        let note = self.checkpoint.as_deref().unwrap_or_default();
        let pinned = check_pinned(
            pins,
            &verifier,
            &checkpoint,
            note,
            &letter_id,
            &self.issuers,
        )?;
        let issuers = self.directory(&letter_id, &checkpoint, &verifier)?;
        self.check_issuers_attest(&letter)?;
        let (verdicts, proofs) =
            self.verify_entries(&letter_id, &letter, &issuers, rng, progress, share);
        let checked = Checked {
            proofs,
            checked: (0..proofs).filter(|j| share.owns(*j)).count(),
        };
        let life = self.read_log(&letter, verdicts)?;
        if self.entries.is_empty() {
            return Err(BundleError::Format("the bundle has no entries".into()));
        }
        self.check_issued(&letter_id)?;
        let log_key = format!("{}+{}", verifier.name(), hex::encode(verifier.key_id()));
        let witness_quorum = if pins.witnesses.is_empty() {
            0
        } else {
            pins.quorum
        };
        let logged = Logged {
            letter: &letter,
            life,
            log_key,
            log_root: hex::encode(checkpoint.root),
            witness_quorum,
        };
        Ok((self.report(logged, &issuers, pinned), checked))
    }

    /// The bundle's letter, which must be in its canonical form and have the bundle's id.
    fn canonical_letter(&self) -> Result<Letter, BundleError> {
        let letter = self
            .letter
            .clone()
            .canonicalize()
            .map_err(|_| BundleError::LetterIdMismatch)?;
        if letter.id() != self.letter_id || letter != self.letter {
            return Err(BundleError::LetterIdMismatch);
        }
        Ok(letter)
    }

    /// Every entry through the letter's lifecycle, in log order, each signature and withdrawal
    /// with its verdict; and each answer's text, which travels beside the log, against the
    /// hash the log holds.
    fn read_log(
        &self,
        letter: &Letter,
        mut verdicts: Vec<Option<Result<VerifiedEntry, VerifyError>>>,
    ) -> Result<Lifecycle, BundleError> {
        let mut life = Lifecycle::of(letter.clone());
        for (index, entry) in self.entries.iter().enumerate() {
            let verdict = verdicts.get_mut(index).and_then(Option::take);
            let event = life
                .next(entry, |_| verdict.unwrap_or(Err(VerifyError::BadProof)))
                .map_err(bundle_error)?;
            if let Event::Answered {
                recipient,
                text_sha256,
                ..
            } = event
            {
                self.check_answer(recipient, text_sha256)
                    .map_err(|error| BundleError::Entry { index, error })?;
            }
        }
        Ok(life)
    }

    /// The text of a recipient's answer is in the bundle and hashes to what the log holds.
    fn check_answer(&self, recipient: &str, text_sha256: &str) -> Result<(), VerifyError> {
        let text = self
            .responses
            .iter()
            .find(|t| t.recipient == recipient)
            .ok_or(VerifyError::Malformed(
                "the answer's text is missing from the bundle",
            ))?;
        if hex::encode(crate::encoding::sha256(&[text.text.as_bytes()])) != text_sha256 {
            return Err(VerifyError::Malformed(
                "the answer's text does not match the logged hash",
            ));
        }
        Ok(())
    }

    /// What the verified log says, as the report states it.
    fn report(
        &self,
        logged: Logged<'_>,
        issuers: &IssuerDirectory,
        (keys, cosigned_by): (KeyReport, Vec<WitnessReport>),
    ) -> Report {
        let Logged {
            letter,
            life,
            log_key,
            log_root,
            witness_quorum,
        } = logged;
        let recipients = life.recipients().to_vec();
        Report {
            letter_id: self.letter_id,
            title: letter.title.clone(),
            summary: life.tally().summarize(letter.policy.k),
            k: letter.policy.k,
            log_size: self.entries.len() as u64,
            log_key,
            log_root,
            closed: life.is_closed(),
            issuers: issuers.values().map(|i| i.name.clone()).collect(),
            threshold: letter.policy.threshold,
            trust: trust_statement(
                letter.policy.threshold,
                &letter
                    .policy
                    .issuers
                    .iter()
                    .filter_map(|a| issuers.get(&a.issuer_id).map(|i| i.name.as_str()))
                    .collect::<Vec<_>>(),
            ),
            keys,
            cosigned_by,
            witness_quorum,
            delivered_to: recipients
                .iter()
                .filter(|r| r.delivered_at.is_some())
                .count() as u64,
            answered_by: recipients
                .iter()
                .filter(|r| r.answered_at.is_some())
                .map(|r| r.name.clone())
                .collect(),
            response_days: letter.response_days,
            recipients,
        }
    }
}

/// Which issuers back each signature and what cheating would take (protocol v1.2, "Why the
/// count holds"): minting a signer needs t corrupt issuers, one person signing twice 2t - n.
pub fn trust_statement(threshold: u32, names: &[&str]) -> String {
    let n = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let t = threshold;
    let list = names.join(", ");
    if n <= 1 {
        return format!(
            "each signature is backed by one issuer ({list}): it alone could add a signer or let someone sign twice, so the count is only as good as that issuer"
        );
    }
    let need = |k: u32| {
        if k == n {
            format!("all {k}")
        } else if k == 1 {
            "any one of them".to_owned()
        } else {
            format!("{k} of them")
        }
    };
    let twice = (2 * t).saturating_sub(n);
    let cheat = if twice == t {
        format!(
            "adding a signer or signing twice needs {} to collude",
            need(t)
        )
    } else {
        format!(
            "adding a signer needs {} to collude; letting one person sign twice needs {}",
            need(t),
            need(twice)
        )
    };
    format!("each signature is backed by {t} of these {n} issuers ({list}): {cheat}")
}

/// What the verifier read from the log, for the report.
struct Logged<'a> {
    letter: &'a Letter,
    life: Lifecycle,
    log_key: String,
    log_root: String,
    witness_quorum: usize,
}

/// A refusal of the lifecycle as the bundle verifier states it.
fn bundle_error(e: LifecycleError) -> BundleError {
    match e {
        LifecycleError::OtherLetter => BundleError::LetterIdMismatch,
        LifecycleError::Entry { index, error } => BundleError::Entry {
            index: usize::try_from(index).unwrap_or(usize::MAX),
            error,
        },
    }
}

/// The log key a bundle or a bundle context carries.
fn log_verifier(key: Option<&str>) -> Result<LogVerifier, BundleError> {
    let key = key.ok_or_else(|| BundleError::Log("the bundle has no log public key".into()))?;
    LogVerifier::from_vkey(key)
        .map_err(|e| BundleError::Log(format!("malformed log public key: {e}")))
}

/// The checkpoint note opened under the carried log key, its origin exactly this letter's.
fn open_checkpoint(
    key: Option<&str>,
    note: Option<&str>,
    letter_id: &LetterId,
) -> Result<(LogVerifier, Checkpoint), BundleError> {
    let verifier = log_verifier(key)?;
    let note = note.ok_or_else(|| {
        BundleError::Log(
            "the bundle has no signed checkpoint, so its completeness cannot be proven".into(),
        )
    })?;
    // The key is named by the origin it signs under, so the checkpoint's origin must be the
    // key's name exactly (and below, exactly this letter's).
    let cp = Checkpoint::open(note, &verifier, Some(verifier.name())).map_err(|e| {
        BundleError::Log(format!(
            "the checkpoint is not validly signed by the bundle's log key: {e}"
        ))
    })?;
    Bundle::letter_origin(&cp, letter_id)?;
    Ok((verifier, cp))
}

/// The pins applied to a letter's checkpoint and the issuers' log checkpoints: keys, host
/// and, with witnesses pinned, each checkpoint's quorum of cosignatures.
fn check_pinned(
    pins: &Pins,
    verifier: &LogVerifier,
    checkpoint: &Checkpoint,
    note: &str,
    letter_id: &LetterId,
    issuers: &[IssuerRecord],
) -> Result<(KeyReport, Vec<WitnessReport>), BundleError> {
    let ids: Vec<IssuerId> = issuers.iter().map(|i| i.id).collect();
    let log_key = verifier.verifying_key().to_bytes();
    let origin = Bundle::letter_origin(checkpoint, letter_id)?;
    pins.check(&ids, &log_key)?;
    pins.check_host(&origin.host)?;
    for i in issuers {
        let (host, key) = i.log_of(&origin.host, verifier)?;
        pins.check_issuer_log(&i.id, &host, &key.to_bytes())?;
    }
    let cosigners = check_cosigned(pins, note, issuers)?;
    Ok((pins.report(&ids, &log_key, &origin.host), cosigners))
}

fn check_cosigned(
    pins: &Pins,
    note: &str,
    issuers: &[IssuerRecord],
) -> Result<Vec<WitnessReport>, BundleError> {
    let cosigners = pins
        .check_cosignatures(note)
        .map_err(|e| BundleError::Cosignature(format!("the letter's checkpoint: {e}")))?;
    for i in issuers {
        pins.check_issuer_cosignatures(&i.id, &i.statement.checkpoint)
            .map_err(|e| {
                BundleError::Cosignature(format!("issuer {}'s log checkpoint: {e}", i.id))
            })?;
    }
    Ok(cosigners)
}

impl BundleContext {
    /// Everything about a tiled log's checkpoint that needs no entry: signed by the context's
    /// log key, its origin exactly this letter's, and the pins (keys, host, witnesses). A
    /// reader checks this before fetching any tile, so a server that is not the pinned
    /// deployment cannot make it fetch anything, and the size it then reads is one the pinned
    /// key (and witnesses) signed.
    pub fn check_checkpoint(&self, note: &str, pins: &Pins) -> Result<Checkpoint, BundleError> {
        let (verifier, cp) =
            open_checkpoint(self.log_public_key.as_deref(), Some(note), &self.letter_id)?;
        check_pinned(pins, &verifier, &cp, note, &self.letter_id, &self.issuers)?;
        Ok(cp)
    }
}

/// A letter log's origin: `<host>/letters/<letter id>`; the log key signs under this name.
pub fn origin(host: &str, letter_id: &LetterId) -> String {
    format!("{host}/letters/{letter_id}")
}

impl Bundle {
    /// Signs a checkpoint over exactly the bundle's entries and records the log key, as the
    /// log does when it publishes. `signer` must be named by the letter's origin.
    pub fn seal(&mut self, signer: &crate::log::LogSigner) -> Result<(), BundleError> {
        let mut tree = MerkleLog::new();
        for e in &self.entries {
            tree.append(&e.leaf_bytes());
        }
        let note = Checkpoint::new(signer.name(), tree.size(), tree.root())
            .sign(signer)
            .map_err(|e| BundleError::Log(e.to_string()))?;
        self.checkpoint = Some(note);
        self.log_public_key = Some(signer.verifier().to_vkey());
        Ok(())
    }

    /// The letter log's origin, exactly parsed from the checkpoint signed by the bundle's log
    /// key: its host is the deployment the bundle claims to come from.
    pub fn origin(&self) -> Result<Origin, BundleError> {
        let (_, cp) = open_checkpoint(
            self.log_public_key.as_deref(),
            self.checkpoint.as_deref(),
            &self.letter_id,
        )?;
        Self::letter_origin(&cp, &self.letter_id)
    }

    /// The log key of the bundle.
    pub fn verifier(&self) -> Result<LogVerifier, BundleError> {
        log_verifier(self.log_public_key.as_deref())
    }

    /// Checks the signed checkpoint and that the entries are exactly the log it commits to:
    /// any entry dropped, inserted, reordered or altered changes the root or the size.
    pub fn check_log(
        &self,
        letter_id: &LetterId,
    ) -> Result<(LogVerifier, Checkpoint), BundleError> {
        let (verifier, cp) = open_checkpoint(
            self.log_public_key.as_deref(),
            self.checkpoint.as_deref(),
            letter_id,
        )?;
        let n = self.entries.len() as u64;
        if cp.size != n {
            return Err(BundleError::Log(format!(
                "the signed checkpoint covers {} entries but the bundle holds {n}: entries were dropped or inserted",
                cp.size
            )));
        }
        let mut tree = MerkleLog::new();
        for e in &self.entries {
            tree.append(&e.leaf_bytes());
        }
        if tree.root() != cp.root {
            return Err(BundleError::Log(
                "the entries do not hash to the signed root: an entry was altered, reordered, dropped or inserted".into(),
            ));
        }
        Ok((verifier, cp))
    }

    /// Proves that the entry behind each receipt is in this bundle, so a promise the log
    /// signed was kept.
    /// The log index of the withdrawal that withdrew the signature at `index`, if any: the
    /// first later withdrawal sharing one of its pseudonyms (the rule a verified log keeps:
    /// a withdrawal hits exactly one standing signature).
    pub fn withdrawal_of(&self, index: usize) -> Option<usize> {
        let Some(LogEntry::Signature(signed)) = self.entries.get(index) else {
            return None;
        };
        self.entries
            .iter()
            .enumerate()
            .skip(index + 1)
            .find(|(_, e)| match e {
                LogEntry::Withdrawal(w) => w
                    .parts
                    .iter()
                    .any(|p| signed.parts.iter().any(|q| q.pseudonym == p.pseudonym)),
                _ => false,
            })
            .map(|(i, _)| i)
    }

    pub fn check_receipt(&self, receipt: &Receipt) -> Result<usize, BundleError> {
        let verifier = self.verifier()?;
        verify_receipt(receipt, &verifier)
            .map_err(|e| BundleError::Receipt(format!("the receipt does not verify: {e}")))?;
        if receipt.letter_id != self.letter_id.0 {
            return Err(BundleError::Receipt(
                "the receipt is for another letter".into(),
            ));
        }
        self.entries
            .iter()
            .position(|e| leaf_hash(&e.leaf_bytes()) == receipt.entry_hash)
            .ok_or_else(|| {
                BundleError::Receipt(format!(
                    "the entry {} behind the receipt is MISSING from the log (it was promised by {})",
                    hex::encode(receipt.entry_hash),
                    receipt.include_by
                ))
            })
    }
}

/// How many proofs are checked between two progress reports: in the browser a batch of this
/// many takes well under a second, so the page reports at least once a second while each run
/// still shares its pairings; natively a run is one batch.
#[cfg(target_arch = "wasm32")]
pub const PROGRESS_RUN: usize = 32;
#[cfg(not(target_arch = "wasm32"))]
pub const PROGRESS_RUN: usize = 4096;

/// Parses and verifies a bundle file's bytes.
pub fn verify_bundle(bytes: &[u8]) -> Result<Report, BundleError> {
    Bundle::parse(bytes)?.verify()
}

/// The issuer statement's checks and key pinning, kept apart from the per-entry loop.
impl Bundle {
    /// The letter checkpoint's origin, parsed exactly: `<host>/letters/<letter id>` in its one
    /// spelling, for this letter. The host of a valid origin is the deployment's host; a
    /// verifier with a pinned host compares it in [`Bundle::check_pins`].
    fn letter_origin(checkpoint: &Checkpoint, letter_id: &LetterId) -> Result<Origin, BundleError> {
        let origin = Origin::parse(&checkpoint.origin)
            .map_err(|e| BundleError::Log(format!("the checkpoint's origin: {e}")))?;
        if origin.kind != LogKind::Letter || origin.id != letter_id.0 {
            return Err(BundleError::Log(format!(
                "the checkpoint is for another log ({origin}), not letter {letter_id}"
            )));
        }
        Ok(origin)
    }

    /// With witnesses pinned, the letter's checkpoint and every issuer log checkpoint must
    /// carry a quorum of their valid cosignatures: a split view needs the witnesses' help.
    /// Returns the letter checkpoint's cosigners. Part of [`Bundle::verify_pinned`]; public so
    /// that the browser can hold a bundle already verified to a site's witnesses cheaply.
    pub fn check_cosignatures(&self, pins: &Pins) -> Result<Vec<WitnessReport>, BundleError> {
        check_cosigned(
            pins,
            self.checkpoint.as_deref().unwrap_or_default(),
            &self.issuers,
        )
    }

    /// The issuers as the verifier uses them: each statement's signature, key and inclusion in
    /// its issuer log (signed by the deployment's log key) checked, and the name and the
    /// anonymity sets taken from the statement alone.
    fn directory(
        &self,
        letter_id: &LetterId,
        checkpoint: &Checkpoint,
        log: &LogVerifier,
    ) -> Result<IssuerDirectory, BundleError> {
        let origin = Self::letter_origin(checkpoint, letter_id)?;
        let mut dir = IssuerDirectory::new();
        for i in &self.issuers {
            let (host, key) = i.log_of(&origin.host, log)?;
            let pk = i.statement.verify(host.as_str(), &key)?;
            let stated = &i.statement.signed.statement;
            if issuer_id(&pk) != i.id
                || stated.issuer_id != i.id
                || stated.public_key != i.public_key
            {
                return Err(BundleError::IssuerStatement(format!(
                    "its key is not the bundle's key for issuer {}",
                    i.id
                )));
            }
            if dir
                .insert(
                    i.id,
                    IssuerInfo {
                        name: stated.name.clone(),
                        public_key: pk,
                        sets: stated.epochs.clone(),
                    },
                )
                .is_some()
            {
                return Err(BundleError::IssuerStatement(format!(
                    "issuer {} appears twice",
                    i.id
                )));
            }
        }
        Ok(dir)
    }

    /// The letter's issuers as their statements describe them: every organization it accepts
    /// is attested by at least t of them (`Policy::check_issuers`).
    fn check_issuers_attest(&self, letter: &Letter) -> Result<(), BundleError> {
        let attests: BTreeMap<IssuerId, BTreeMap<OrgId, ()>> = self
            .issuers
            .iter()
            .map(|i| {
                let orgs = i.statement.signed.statement.orgs.keys();
                (i.id, orgs.map(|o| (o.clone(), ())).collect())
            })
            .collect();
        letter
            .policy
            .check_issuers(|id| attests.get(id))
            .map_err(|e| BundleError::IssuerStatement(e.to_string()))
    }

    /// The distinct signatures of this letter per (epoch, org), withdrawn ones too (each used
    /// a credential of every issuer it has a part of), listed under each issuer the letter
    /// accepts: an organization's signers may not exceed what any of the letter's issuers
    /// issued to it (`anonymity::check_signers`).
    pub fn signers(&self, letter_id: &LetterId) -> BTreeMap<(IssuerId, Epoch, OrgId), u64> {
        let mut signers: BTreeMap<(&Epoch, &OrgId), BTreeSet<&[u8]>> = BTreeMap::new();
        for e in &self.entries {
            if let LogEntry::Signature(s) = e {
                if &s.letter_id == letter_id {
                    let names = s.parts.iter().map(|p| p.pseudonym.as_slice());
                    let set = signers
                        .entry((&s.disclosed.epoch, &s.disclosed.org))
                        .or_default();
                    // One signature, however many parts: named by its first pseudonym.
                    if let Some(first) = names.min() {
                        set.insert(first);
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        for accepted in &self.letter.policy.issuers {
            for ((e, o), n) in &signers {
                out.insert(
                    (accepted.issuer_id, (*e).clone(), (*o).clone()),
                    n.len() as u64,
                );
            }
        }
        out
    }

    fn check_issued(&self, letter_id: &LetterId) -> Result<(), BundleError> {
        for ((issuer, epoch, org), signed) in self.signers(letter_id) {
            let statement = self
                .issuers
                .iter()
                .find(|i| i.id == issuer)
                .map(|i| &i.statement.signed.statement)
                .ok_or_else(|| {
                    BundleError::IssuerStatement(format!("no statement of issuer {issuer}"))
                })?;
            check_signers(&org, &epoch, signed, statement.issued_at_most(&org, &epoch))
                .map_err(|e| BundleError::IssuerStatement(e.to_string()))?;
        }
        Ok(())
    }
}
