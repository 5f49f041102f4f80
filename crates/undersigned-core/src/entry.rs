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

/// An entry as submitted and as kept in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    pub letter_id: LetterId,
    pub action: Action,
    pub issuer_id: IssuerId,
    pub disclosed: Disclosed,
    #[serde(with = "serde_b64")]
    pub pseudonym: Vec<u8>,
    #[serde(with = "serde_b64")]
    pub proof: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
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

/// Holder: build a sign or withdraw entry for `letter`, applying the policy and the small-cell
/// rule before anything is computed. Only the returned entry ever leaves the device.
pub fn present(
    credential: &Credential,
    letter: &Letter,
    action: Action,
    choice: DisclosureChoice,
    comment: Option<&str>,
    sets: &PublishedSets,
    consent: SmallOrgConsent,
) -> Result<SignatureEntry, PresentError> {
    let attrs = &credential.attributes;
    let policy = &letter.policy;
    if !policy.accepts_issuer(&credential.issuer_id, &attrs.epoch) {
        return Err(PresentError::IssuerNotAccepted);
    }
    if !policy.accepts_org(&attrs.org) {
        return Err(PresentError::OrgNotAccepted(attrs.org.to_string()));
    }
    let allowed = policy.disclosures;
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
    sets.check_disclosure(
        &disclosed.org,
        disclosed.role.as_ref(),
        disclosed.age_band,
        policy.k,
    )
    .map_err(|cell| PresentError::SmallCell(cell.name(), policy.k))?;
    if consent == SmallOrgConsent::NotGiven && !sets.org_at_least(&attrs.org, policy.k) {
        return Err(PresentError::SmallOrgNeedsConsent(policy.k));
    }
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
    let pk = credential
        .issuer_public_key()
        .map_err(|_| PresentError::Proof)?;
    let indexes: Vec<usize> = disclosed.messages().into_iter().map(|(i, _)| i).collect();
    let p = bbs::present(
        &pk,
        &credential.holder_secrets(),
        &credential::header(&credential.issuer_id),
        &presentation_header(&letter_id, action, comment),
        &letter_id.0,
        &attrs.messages(),
        &indexes,
    )
    .map_err(|_| PresentError::Proof)?;
    Ok(SignatureEntry {
        letter_id,
        action,
        issuer_id: credential.issuer_id,
        disclosed,
        pseudonym: p.pseudonym.to_vec(),
        proof: p.proof,
        comment: comment.map(str::to_owned),
    })
}

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
    pub pseudonym: Pseudonym,
    pub disclosed: Disclosed,
}

/// What the policy half of `verify` hands to the proof check: every structural parameter,
/// derived from the schema and the letter, never from the submission.
#[derive(Debug)]
pub(crate) struct ProofInput<'a> {
    pub issuer: &'a IssuerInfo,
    pub header: Vec<u8>,
    pub ph: [u8; 32],
    pub messages: Vec<(usize, Vec<u8>)>,
    pub pseudonym: [u8; PSEUDONYM_LEN],
}

/// Verifier: check an entry against one letter's policy and the issuers' published sets.
///
/// Every structural parameter comes from the schema and the letter: the message count is
/// fixed, the disclosed indexes follow from the policy-checked disclosures, and the header from
/// the issuer id. A submission can only choose values, never shapes.
///
/// Natively the proof is checked by our own verifier on blst (`bbs::fast`); in the browser by
/// zkryptium after the drafts' validity checks (`bbs::verify`). Both give the same verdict
/// (tests/it/fast.rs).
pub fn verify(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
) -> Result<VerifiedEntry, VerifyError> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        // Straight to `bbs::fast`, not through `batch::EntryVerifier`: the batch verifier is
        // built on this module, so this module must not be built on it.
        let input = check_policy(entry, letter_id, policy, issuers)?;
        bbs::fast::verify(
            &input.issuer.public_key,
            &input.header,
            &input.ph,
            &letter_id.0,
            MESSAGE_COUNT,
            &input.messages,
            &entry.proof,
            &input.pseudonym,
        )
        .map_err(|_| VerifyError::BadProof)?;
        Ok(verified(entry, input.pseudonym))
    }
    #[cfg(target_arch = "wasm32")]
    {
        verify_reference(entry, letter_id, policy, issuers)
    }
}

/// `verify` through zkryptium and our validity checks: the reference the fast verifier is
/// tested against, and the browser's path.
pub fn verify_reference(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
) -> Result<VerifiedEntry, VerifyError> {
    let input = check_policy(entry, letter_id, policy, issuers)?;
    bbs::verify(
        &input.issuer.public_key,
        &input.header,
        &input.ph,
        &letter_id.0,
        MESSAGE_COUNT,
        &input.messages,
        &entry.proof,
        &input.pseudonym,
    )
    .map_err(|_| VerifyError::BadProof)?;
    Ok(verified(entry, input.pseudonym))
}

pub(crate) fn verified(entry: &SignatureEntry, pseudonym: [u8; PSEUDONYM_LEN]) -> VerifiedEntry {
    VerifiedEntry {
        action: entry.action,
        pseudonym: Pseudonym(pseudonym),
        disclosed: entry.disclosed.clone(),
    }
}

/// Everything of `verify` but the proof: letter, issuer, policy, disclosures, small cells,
/// comment and the pseudonym's length.
pub(crate) fn check_policy<'a>(
    entry: &SignatureEntry,
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &'a IssuerDirectory,
) -> Result<ProofInput<'a>, VerifyError> {
    if &entry.letter_id != letter_id {
        return Err(VerifyError::WrongLetter);
    }
    let d = &entry.disclosed;
    if !policy.accepts_issuer(&entry.issuer_id, &d.epoch) {
        return Err(VerifyError::IssuerNotAccepted);
    }
    let issuer = issuers
        .get(&entry.issuer_id)
        .ok_or(VerifyError::IssuerNotAccepted)?;
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
        let sets = issuer
            .sets_for(&d.epoch)
            .ok_or(VerifyError::SmallCell("role or age band", policy.k))?;
        sets.check_disclosure(&d.org, d.role.as_ref(), d.age_band, policy.k)
            .map_err(|cell| VerifyError::SmallCell(cell.name(), policy.k))?;
    }
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
    let pseudonym: [u8; PSEUDONYM_LEN] = entry
        .pseudonym
        .as_slice()
        .try_into()
        .map_err(|_| VerifyError::BadProof)?;
    Ok(ProofInput {
        issuer,
        header: credential::header(&entry.issuer_id),
        ph: presentation_header(letter_id, entry.action, entry.comment.as_deref()),
        messages: d.messages(),
        pseudonym,
    })
}
