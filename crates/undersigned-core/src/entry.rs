//! Signature and withdrawal entries: `present` on the holder's device, `verify` anywhere.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::anonymity::PublishedSets;
use crate::bbs::{self, PublicKey, PSEUDONYM_LEN};
use crate::credential::{self, Credential, AGE_BAND, EMAIL, EPOCH, MESSAGE_COUNT, ORG, ROLE};
use crate::encoding::{serde_b64, sha256};
use crate::error::{PresentError, VerifyError};
use crate::ids::{AgeBand, Email, Epoch, IssuerId, LetterId, OrgId, Role};
use crate::letter::{Letter, Policy};

pub(crate) const MAX_COMMENT: usize = 2000;
const PH_TAG: &[u8] = b"undersigned/ph/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Sign,
    Withdraw,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Sign => "sign",
            Action::Withdraw => "withdraw",
        }
    }
}

/// The attributes a signer revealed. Org and epoch always; the rest only by choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosed {
    pub org: OrgId,
    pub epoch: Epoch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<AgeBand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

impl Disclosed {
    /// The (index, value) pairs the proof discloses, ascending, derived only from the schema.
    pub(crate) fn messages(&self) -> Vec<(usize, Vec<u8>)> {
        let mut v = vec![
            (ORG, self.org.as_str().as_bytes().to_vec()),
            (EPOCH, self.epoch.as_str().as_bytes().to_vec()),
        ];
        if let Some(r) = &self.role {
            v.push((ROLE, r.as_str().as_bytes().to_vec()));
        }
        if let Some(a) = &self.age_band {
            v.push((AGE_BAND, a.as_str().as_bytes().to_vec()));
        }
        if let Some(e) = &self.email {
            v.push((EMAIL, e.expose().as_bytes().to_vec()));
        }
        v
    }
}

/// The per-letter pseudonym: same credential and letter, same pseudonym.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pseudonym(pub [u8; PSEUDONYM_LEN]);

impl std::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pseudonym({})", crate::encoding::b64url(&self.0))
    }
}

/// One issuer's part of an entry: the issuer, the letter's pseudonym under that issuer's
/// credential, and the proof (a part of one composite presentation, `bbs::composite`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub issuer_id: IssuerId,
    #[serde(with = "serde_b64")]
    pub pseudonym: Vec<u8>,
    #[serde(with = "serde_b64")]
    pub proof: Vec<u8>,
}

/// An entry as submitted and as kept in the log: t parts (the letter's threshold), one per
/// issuer used, in issuer-id order, all disclosing `disclosed`.
///
/// On the wire an entry of one part keeps the fields of protocol v1.1 (`issuer_id`,
/// `pseudonym`, `proof` beside `disclosed`), so letters and bundles of one issuer keep their
/// bytes and hashes; an entry of several parts carries them as `parts` instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireEntry", into = "WireEntry")]
pub struct SignatureEntry {
    pub letter_id: LetterId,
    pub action: Action,
    pub parts: Vec<Part>,
    pub disclosed: Disclosed,
    pub comment: Option<String>,
}

/// The entry's JSON, field for field in the order v1.1 wrote them.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    letter_id: LetterId,
    action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer_id: Option<IssuerId>,
    disclosed: Disclosed,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_b64_opt"
    )]
    pseudonym: Option<Vec<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_b64_opt"
    )]
    proof: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parts: Option<Vec<Part>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

/// An entry spells its one part flat and its several parts as `parts`, never both: one
/// meaning, one spelling, so nobody can re-encode an entry into another leaf.
const ONE_SPELLING: &str = "an entry has issuer_id, pseudonym and proof (one part) or parts \
     (two or more), never both";

impl TryFrom<WireEntry> for SignatureEntry {
    type Error = &'static str;
    fn try_from(w: WireEntry) -> Result<Self, Self::Error> {
        let parts = match (w.issuer_id, w.pseudonym, w.proof, w.parts) {
            (Some(issuer_id), Some(pseudonym), Some(proof), None) => vec![Part {
                issuer_id,
                pseudonym,
                proof,
            }],
            (None, None, None, Some(parts)) if parts.len() >= 2 => parts,
            _ => return Err(ONE_SPELLING),
        };
        Ok(Self {
            letter_id: w.letter_id,
            action: w.action,
            parts,
            disclosed: w.disclosed,
            comment: w.comment,
        })
    }
}

impl From<SignatureEntry> for WireEntry {
    fn from(e: SignatureEntry) -> Self {
        let mut w = WireEntry {
            letter_id: e.letter_id,
            action: e.action,
            issuer_id: None,
            disclosed: e.disclosed,
            pseudonym: None,
            proof: None,
            parts: None,
            comment: e.comment,
        };
        match <[Part; 1]>::try_from(e.parts) {
            Ok([one]) => {
                w.issuer_id = Some(one.issuer_id);
                w.pseudonym = Some(one.pseudonym);
                w.proof = Some(one.proof);
            }
            Err(parts) => w.parts = Some(parts),
        }
        w
    }
}

mod serde_b64_opt {
    use serde::{Deserializer, Serializer};
    // serde's `with` passes the field by reference.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => crate::encoding::serde_b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        crate::encoding::serde_b64::deserialize(d).map(Some)
    }
}

impl SignatureEntry {
    /// The issuers whose parts this entry carries, in its order.
    pub fn issuer_ids(&self) -> impl Iterator<Item = &IssuerId> {
        self.parts.iter().map(|p| &p.issuer_id)
    }
}

/// ph = SHA-256("undersigned/ph/v1" || letter_id || action || SHA-256(comment or "")).
pub fn presentation_header(letter: &LetterId, action: Action, comment: Option<&str>) -> [u8; 32] {
    let comment_hash = sha256(&[comment.unwrap_or("").as_bytes()]);
    sha256(&[PH_TAG, &letter.0, action.as_str().as_bytes(), &comment_hash])
}

/// What the holder chose to reveal beyond org and epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisclosureChoice {
    pub role: bool,
    pub age_band: bool,
    pub email: bool,
}

/// Signing from an organization with fewer than k credential holders reveals a lot; the holder
/// must say so explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallOrgConsent {
    NotGiven,
    Given,
}

fn check_comment(comment: Option<&str>) -> bool {
    comment.is_none_or(|c| {
        c.len() <= MAX_COMMENT && !c.chars().any(|ch| ch.is_control() && ch != '\n')
    })
}

/// A comment is read by people: no bidi control or other invisible formatting character
/// (`text::check_readable`, the rule every readable field follows).
fn readable_comment(comment: Option<&str>) -> Result<(), crate::text::TextError> {
    comment.map_or(Ok(()), |c| {
        crate::text::check_readable("comment", c, crate::text::Lines::Many)
    })
}

/// An empty comment hashes like no comment in the presentation header, so both spellings would
/// verify and anyone could add or drop `"comment": ""`. Only the absent form is canonical.
fn is_empty_comment(comment: Option<&str>) -> bool {
    comment == Some("")
}

/// One credential the holder offers, with its issuer's published anonymity sets.
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub credential: &'a Credential,
    pub sets: &'a PublishedSets,
}

/// Holder: build a sign or withdraw entry for `letter` with one credential (a letter of one
/// issuer). The proof's blinding comes from the operating system's generator.
pub fn present(
    credential: &Credential,
    letter: &Letter,
    action: Action,
    choice: DisclosureChoice,
    comment: Option<&str>,
    sets: &PublishedSets,
    consent: SmallOrgConsent,
) -> Result<SignatureEntry, PresentError> {
    let held = [Held { credential, sets }];
    let ask = Ask {
        action,
        choice,
        comment,
        consent,
    };
    present_with(&held, letter, &ask, &mut rand_core::OsRng)
}

/// What the holder asks for: the action, what to disclose, the comment, the small-org consent.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    pub action: Action,
    pub choice: DisclosureChoice,
    pub comment: Option<&'a str>,
    pub consent: SmallOrgConsent,
}

/// Holder: build a sign or withdraw entry for `letter` from exactly its threshold of held
/// credentials (distinct issuers it accepts, one address), applying the policy and the
/// small-cell rule at every issuer before anything is computed. Only the returned entry ever
/// leaves the device.
pub fn present_with(
    held: &[Held<'_>],
    letter: &Letter,
    ask: &Ask<'_>,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<SignatureEntry, PresentError> {
    let policy = &letter.policy;
    let mut held = held.to_vec();
    held.sort_by_key(|h| h.credential.issuer_id);
    let first = held
        .first()
        .ok_or(PresentError::IssuerNotAccepted)?
        .credential;
    let attrs = &first.attributes;
    let distinct = held
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.credential.issuer_id != b.credential.issuer_id));
    if held.len() != policy.threshold() || !distinct {
        return Err(PresentError::Threshold(policy.threshold()));
    }
    for h in &held {
        let c = h.credential;
        if !policy.accepts_issuer(&c.issuer_id, &c.attributes.epoch) {
            return Err(PresentError::IssuerNotAccepted);
        }
        // Every part discloses the same values and hides the same address.
        let a = &c.attributes;
        if a.org != attrs.org || a.epoch != attrs.epoch || a.email != attrs.email {
            return Err(PresentError::PartsDisagree);
        }
        if (ask.choice.role && a.role != attrs.role)
            || (ask.choice.age_band && a.age_band != attrs.age_band)
        {
            return Err(PresentError::PartsDisagree);
        }
    }
    if !policy.accepts_org(&attrs.org) {
        return Err(PresentError::OrgNotAccepted(attrs.org.to_string()));
    }
    let allowed = policy.disclosures;
    let choice = ask.choice;
    for (wanted, ok, name) in [
        (choice.role, allowed.role, "role"),
        (choice.age_band, allowed.age_band, "age band"),
        (choice.email, allowed.email, "email"),
    ] {
        if wanted && !ok {
            return Err(PresentError::DisclosureNotAllowed(name));
        }
    }
    let disclosed = Disclosed {
        org: attrs.org.clone(),
        epoch: attrs.epoch.clone(),
        role: choice.role.then(|| attrs.role.clone()),
        age_band: choice.age_band.then_some(attrs.age_band),
        email: choice.email.then(|| attrs.email.clone()),
    };
    for h in &held {
        h.sets
            .check_disclosure(
                &disclosed.org,
                disclosed.role.as_ref(),
                disclosed.age_band,
                policy.k,
            )
            .map_err(|cell| PresentError::SmallCell(cell.name(), policy.k))?;
        if ask.consent == SmallOrgConsent::NotGiven && !h.sets.org_at_least(&attrs.org, policy.k) {
            return Err(PresentError::SmallOrgNeedsConsent(policy.k));
        }
    }
    let comment = ask.comment;
    if comment.is_some() && !policy.comments {
        return Err(PresentError::CommentNotAllowed);
    }
    if is_empty_comment(comment) {
        return Err(PresentError::EmptyComment);
    }
    if !check_comment(comment) {
        return Err(PresentError::CommentTooLong(MAX_COMMENT));
    }
    readable_comment(comment)?;
    let letter_id = letter.id();
    let parts = prove_parts(&held, &letter_id, ask.action, comment, &disclosed, rng)?;
    Ok(SignatureEntry {
        letter_id,
        action: ask.action,
        parts,
        disclosed,
        comment: comment.map(str::to_owned),
    })
}

/// The composite proof over the held credentials (already in issuer-id order).
fn prove_parts(
    held: &[Held<'_>],
    letter_id: &LetterId,
    action: Action,
    comment: Option<&str>,
    disclosed: &Disclosed,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Vec<Part>, PresentError> {
    let keys = held
        .iter()
        .map(|h| h.credential.issuer_public_key())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PresentError::Proof)?;
    let headers: Vec<Vec<u8>> = held
        .iter()
        .map(|h| credential::header(&h.credential.issuer_id))
        .collect();
    let messages: Vec<_> = held
        .iter()
        .map(|h| h.credential.attributes.messages())
        .collect();
    let secrets: Vec<_> = held
        .iter()
        .zip(keys.iter().zip(&headers).zip(&messages))
        .map(
            |(h, ((public_key, header), messages))| bbs::composite::PartSecret {
                public_key,
                header,
                messages,
                secrets: h.credential.holder_secrets(),
            },
        )
        .collect();
    let indexes: Vec<usize> = disclosed.messages().into_iter().map(|(i, _)| i).collect();
    let presented = bbs::composite::prove(
        &secrets,
        &presentation_header(letter_id, action, comment),
        &letter_id.0,
        &indexes,
        &SHARED,
        rng,
    )
    .map_err(|_| PresentError::Proof)?;
    Ok(held
        .iter()
        .zip(presented)
        .map(|(h, p)| Part {
            issuer_id: h.credential.issuer_id,
            pseudonym: p.pseudonym.to_vec(),
            proof: p.proof,
        })
        .collect())
}

/// The hidden message every part must share: the address (one person behind every part).
pub const SHARED: [usize; 1] = [EMAIL];

/// What a verifier knows of one issuer: its key, name and published anonymity sets.
#[derive(Clone, Debug)]
pub struct IssuerInfo {
    pub name: String,
    pub public_key: PublicKey,
    pub sets: Vec<PublishedSets>,
}

impl IssuerInfo {
    pub fn sets_for(&self, epoch: &Epoch) -> Option<&PublishedSets> {
        self.sets.iter().find(|s| &s.epoch == epoch)
    }
}

/// The issuers a verifier trusts, by id.
pub type IssuerDirectory = BTreeMap<IssuerId, IssuerInfo>;

/// An entry that passed `verify`; only these reach the tally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub action: Action,
    /// One per part, in the entry's order: the conflict keys of the tally's rule.
    pub pseudonyms: Vec<Pseudonym>,
    pub disclosed: Disclosed,
}

impl VerifiedEntry {
    /// The first part's pseudonym: how the feed and the receipts name the signature.
    pub fn pseudonym(&self) -> Option<&Pseudonym> {
        self.pseudonyms.first()
    }
}

/// One part as the proof check takes it: the issuer, its credential header, the pseudonym.
pub(crate) type PartInput<'a> = (&'a IssuerInfo, Vec<u8>, [u8; PSEUDONYM_LEN]);

/// What the policy half of `verify` hands to the proof check: every structural parameter,
/// derived from the schema and the letter, never from the submission.
#[derive(Debug)]
pub(crate) struct ProofInput<'a> {
    /// Per part: the issuer, its credential header, the part's pseudonym.
    pub parts: Vec<PartInput<'a>>,
    pub ph: [u8; 32],
    pub messages: Vec<(usize, Vec<u8>)>,
}

impl ProofInput<'_> {
    /// The parts as the composite verifiers take them.
    pub(crate) fn statements<'b>(
        &'b self,
        entry: &'b SignatureEntry,
    ) -> Vec<bbs::composite::PartStatement<'b>> {
        self.parts
            .iter()
            .zip(&entry.parts)
            .map(
                |((issuer, header, pseudonym), part)| bbs::composite::PartStatement {
                    public_key: &issuer.public_key,
                    header,
                    proof: &part.proof,
                    pseudonym,
                },
            )
            .collect()
    }

    pub(crate) fn pseudonyms(&self) -> Vec<Pseudonym> {
        self.parts.iter().map(|(_, _, p)| Pseudonym(*p)).collect()
    }
}

/// Verifier: check an entry against one letter's policy and the issuers' published sets.
///
/// Every structural parameter comes from the schema and the letter: the message count is
/// fixed, the disclosed indexes follow from the policy-checked disclosures, the parts' number
/// from the letter's threshold, and each header from its issuer id. A submission can only
/// choose values, never shapes.
///
/// The proof is checked by our own verifier on blst (`bbs::fast`), natively and in the
/// browser's wasm alike. It gives the verdict of our reference verifier (`bbs::composite`),
/// and with one part zkryptium's too (tests/it/fast.rs, tests/it/composite.rs).
pub fn verify(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
) -> Result<VerifiedEntry, VerifyError> {
    // Straight to `bbs::fast`, not through `batch::EntryVerifier`: the batch verifier is
    // built on this module, so this module must not be built on it.
    let input = check_policy(entry, letter_id, policy, issuers)?;
    bbs::fast::verify_composite(
        &input.statements(entry),
        &input.ph,
        &letter_id.0,
        MESSAGE_COUNT,
        &input.messages,
        &SHARED,
    )
    .map_err(|_| VerifyError::BadProof)?;
    Ok(verified(entry, input.pseudonyms()))
}

/// Every check of `verify` but the proof's: what an entry claims, policy-checked. Only
/// `Bundle::verify_share` uses it, for the entries another share's proofs cover, and
/// `share::combine` refuses a set of shares that leaves any proof unchecked.
pub(crate) fn claimed(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
) -> Result<VerifiedEntry, VerifyError> {
    let input = check_policy(entry, letter_id, policy, issuers)?;
    Ok(verified(entry, input.pseudonyms()))
}

/// `verify` through our reference verifier (`bbs::composite`, on zkryptium's curve crate, with
/// our validity checks): what the fast verifier is tested against.
pub fn verify_reference(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
) -> Result<VerifiedEntry, VerifyError> {
    let input = check_policy(entry, letter_id, policy, issuers)?;
    bbs::composite::verify(
        &input.statements(entry),
        &input.ph,
        &letter_id.0,
        MESSAGE_COUNT,
        &input.messages,
        &SHARED,
    )
    .map_err(|_| VerifyError::BadProof)?;
    Ok(verified(entry, input.pseudonyms()))
}

pub(crate) fn verified(entry: &SignatureEntry, pseudonyms: Vec<Pseudonym>) -> VerifiedEntry {
    VerifiedEntry {
        action: entry.action,
        pseudonyms,
        disclosed: entry.disclosed.clone(),
    }
}

/// The parts' shape: exactly the letter's threshold of them, in strictly ascending issuer-id
/// order (so no issuer twice), each of an issuer and epoch the letter accepts and that the
/// verifier knows, each pseudonym 48 bytes.
fn check_parts<'a>(
    entry: &SignatureEntry,
    policy: &Policy,
    issuers: &'a IssuerDirectory,
) -> Result<Vec<PartInput<'a>>, VerifyError> {
    if entry.parts.len() != policy.threshold() {
        return Err(VerifyError::Threshold(policy.threshold()));
    }
    let ascending = entry
        .parts
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.issuer_id < b.issuer_id));
    if !ascending {
        return Err(VerifyError::Malformed(
            "parts must name distinct issuers in ascending issuer-id order",
        ));
    }
    entry
        .parts
        .iter()
        .map(|part| {
            if !policy.accepts_issuer(&part.issuer_id, &entry.disclosed.epoch) {
                return Err(VerifyError::IssuerNotAccepted);
            }
            let issuer = issuers
                .get(&part.issuer_id)
                .ok_or(VerifyError::IssuerNotAccepted)?;
            let pseudonym: [u8; PSEUDONYM_LEN] = part
                .pseudonym
                .as_slice()
                .try_into()
                .map_err(|_| VerifyError::BadProof)?;
            Ok((issuer, credential::header(&part.issuer_id), pseudonym))
        })
        .collect()
}

/// Everything of `verify` but the proof: letter, issuers and parts, policy, disclosures, small
/// cells at every part's issuer, comment and the pseudonyms' length.
pub(crate) fn check_policy<'a>(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &'a IssuerDirectory,
) -> Result<ProofInput<'a>, VerifyError> {
    if &entry.letter_id != letter_id {
        return Err(VerifyError::WrongLetter);
    }
    let parts = check_parts(entry, policy, issuers)?;
    let d = &entry.disclosed;
    if !policy.accepts_org(&d.org) {
        return Err(VerifyError::OrgNotAccepted(d.org.to_string()));
    }
    let allowed = policy.disclosures;
    for (present, ok, name) in [
        (d.role.is_some(), allowed.role, "role"),
        (d.age_band.is_some(), allowed.age_band, "age band"),
        (d.email.is_some(), allowed.email, "email"),
    ] {
        if present && !ok {
            return Err(VerifyError::DisclosureNotAllowed(name));
        }
    }
    if d.role.is_some() || d.age_band.is_some() {
        for (issuer, _, _) in &parts {
            let sets = issuer
                .sets_for(&d.epoch)
                .ok_or(VerifyError::SmallCell("role or age band", policy.k))?;
            sets.check_disclosure(&d.org, d.role.as_ref(), d.age_band, policy.k)
                .map_err(|cell| VerifyError::SmallCell(cell.name(), policy.k))?;
        }
    }
    check_entry_comment(entry, policy)?;
    Ok(ProofInput {
        parts,
        ph: presentation_header(letter_id, entry.action, entry.comment.as_deref()),
        messages: d.messages(),
    })
}

fn check_entry_comment(entry: &SignatureEntry, policy: &Policy) -> Result<(), VerifyError> {
    if entry.comment.is_some() && !policy.comments {
        return Err(VerifyError::CommentNotAllowed);
    }
    if is_empty_comment(entry.comment.as_deref()) {
        return Err(VerifyError::Malformed(
            "an empty comment must be left out, not sent as \"\"",
        ));
    }
    if !check_comment(entry.comment.as_deref()) {
        return Err(VerifyError::Malformed(
            "comment too long or has control characters",
        ));
    }
    if readable_comment(entry.comment.as_deref()).is_err() {
        return Err(VerifyError::Malformed(
            "comment: a bidi control or another invisible formatting character is not allowed",
        ));
    }
    Ok(())
}
