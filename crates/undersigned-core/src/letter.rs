//! Letters: text, recipients and policy, with a deterministic canonical encoding and id.
//!
//! The letter id is SHA-256 of the canonical encoding, and every signature's proof binds it, so
//! changing one byte of text or policy after opening orphans every signature: a new text is a
//! new letter.

use serde::{Deserialize, Serialize};

use crate::encoding::sha256;
use crate::error::Error;
use crate::text::{check_readable, Lines};
use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Epoch, IssuerId, LetterId, OrgId};

pub(crate) const LETTER_FORMAT: &str = "undersigned-letter/1";
pub(crate) const MAX_TITLE: usize = 300;
pub const MAX_BODY: usize = 60_000;
/// The most a letter's canonical encoding may take: its `opened` entry (the letter, the tag
/// line, `{"kind":"opened","letter":`, `,"at":` and 20 digits, `}`) must fit one entry of a
/// tlog-tiles entry bundle, whose length prefix is 16 bits.
pub const MAX_LETTER_BYTES: usize = u16::MAX as usize - 74;
pub(crate) const MAX_RECIPIENTS: usize = 100;
pub(crate) const MAX_ORGS: usize = 10_000;
/// The latest deadline a letter may set: the last second of the year 9999. Anything later is a
/// typo or an attack on the storage's integer range, not a plan.
pub const MAX_DEADLINE: u64 = 253_402_300_799;
/// The longest publish interval a letter may set: one day, so a batch is never far off.
pub(crate) const MAX_PUBLISH_INTERVAL: u64 = 86_400;
/// The default k of the small-cell rule.
pub const DEFAULT_K: u32 = 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    pub name: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    Public,
    RecipientsOnly,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedIssuer {
    pub issuer_id: IssuerId,
    pub epochs: Vec<Epoch>,
}

/// Which optional attributes a signer may disclose on this letter. Org and epoch always are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedDisclosures {
    pub role: bool,
    pub age_band: bool,
    /// A named signature: the signer shows their address. Off unless the organizer allows it.
    pub email: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub issuers: Vec<AcceptedIssuer>,
    /// t: how many of the accepted issuers (n) every signature needs, one part each, with
    /// n/2 < t <= n (`RULE_THRESHOLD`). Absent from the encoding when 1, so letters of one
    /// issuer keep their bytes and their id.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub threshold: u32,
    /// Accepted organizations; empty means every organization the accepted issuers attest.
    pub orgs: Vec<OrgId>,
    pub disclosures: AllowedDisclosures,
    pub k: u32,
    /// Unix seconds after which no signature is accepted.
    pub deadline: u64,
    pub visibility: Visibility,
    pub publish_interval_secs: u64,
    /// Whether signers may add a comment. Absent from the encoding when true (the default), so
    /// letters made before this field existed keep their bytes and their id.
    #[serde(default = "comments_allowed", skip_serializing_if = "is_allowed")]
    pub comments: bool,
}

fn one() -> u32 {
    1
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_one(t: &u32) -> bool {
    *t == 1
}

fn comments_allowed() -> bool {
    true
}

// serde's skip_serializing_if passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_allowed(b: &bool) -> bool {
    *b
}

/// A letter accepts exactly one epoch per issuer: a second epoch is a second credential and an
/// unlinkable second pseudonym for the same person.
pub const RULE_ONE_EPOCH: &str = "a letter accepts exactly one epoch per issuer";
/// A letter names each issuer once.
pub const RULE_ONE_ENTRY: &str = "a letter names each accepted issuer once";
/// A signature needs more than half of the letter's issuers: with t <= n/2 one honest person
/// could sign twice with two disjoint sets of issuers.
pub const RULE_THRESHOLD: &str =
    "a letter's threshold t must satisfy n/2 < t <= n for its n issuers (t <= n/2 would let one person sign twice with two disjoint sets of issuers)";
/// Every organization the letter accepts needs t issuers that attest it, with one address rule.
pub const RULE_ATTESTED: &str = "every organization the letter accepts must be attested by at least t of its issuers, under the same address rules";
/// A policy may only name issuers the deployment knows (and so knows what they attest).
pub const RULE_KNOWN_ISSUER: &str = "the policy names an issuer this deployment does not know";

impl Policy {
    /// t, as a count of parts.
    pub fn threshold(&self) -> usize {
        usize::try_from(self.threshold).unwrap_or(usize::MAX)
    }

    /// Checks the policy's issuers against what each attests, which only a party that knows
    /// the issuers can apply (`Letter::new` applies the rest): every issuer is known, and every
    /// organization the letter accepts (all attested ones when it lists none) is attested by
    /// at least t of its issuers under one address rule, or its people could not sign, or an
    /// honest person's parts would not match. `attests` answers, for an issuer id, the
    /// organizations it issues for with a fingerprint of each one's address rule (None:
    /// unknown issuer).
    pub fn check_issuers<'a, R: PartialEq + 'a>(
        &self,
        attests: impl Fn(&IssuerId) -> Option<&'a BTreeMap<OrgId, R>>,
    ) -> Result<(), Error> {
        let mut by_org: BTreeMap<&OrgId, Vec<&R>> = BTreeMap::new();
        for accepted in &self.issuers {
            let orgs = attests(&accepted.issuer_id).ok_or(Error::Letter(RULE_KNOWN_ISSUER))?;
            for (org, rule) in orgs.iter().filter(|(o, _)| self.accepts_org(o)) {
                by_org.entry(org).or_default().push(rule);
            }
        }
        for org in &self.orgs {
            by_org.entry(org).or_default();
        }
        for rules in by_org.values() {
            let agree = rules.windows(2).all(|w| matches!(w, [a, b] if a == b));
            if rules.len() < self.threshold() || !agree {
                return Err(Error::Letter(RULE_ATTESTED));
            }
        }
        Ok(())
    }

    /// The one epoch this letter accepts from `issuer`, if it accepts that issuer.
    pub fn epoch_of(&self, issuer: &IssuerId) -> Option<&Epoch> {
        self.issuers
            .iter()
            .find(|a| &a.issuer_id == issuer)
            .and_then(|a| a.epochs.first())
    }

    pub fn accepts_issuer(&self, issuer: &IssuerId, epoch: &Epoch) -> bool {
        self.issuers
            .iter()
            .any(|a| &a.issuer_id == issuer && a.epochs.contains(epoch))
    }
    pub fn accepts_org(&self, org: &OrgId) -> bool {
        self.orgs.is_empty() || self.orgs.binary_search(org).is_ok()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Letter {
    pub format: String,
    pub title: String,
    pub body: String,
    pub recipients: Vec<Recipient>,
    pub policy: Policy,
    /// Days the recipients have to answer after delivery; the public clock counts them.
    pub response_days: u32,
    /// Days after delivery on which unanswered recipients are reminded.
    pub reminder_days: Vec<u32>,
}

/// The default response period, as for a formal dissent channel.
pub const DEFAULT_RESPONSE_DAYS: u32 = 30;

/// Non-empty, at most `max` bytes, and readable as shown (`text::check_readable`, which names
/// `field` and the character it refuses).
fn clean_text(
    s: &str,
    max: usize,
    lines: Lines,
    field: &'static str,
    what: &'static str,
) -> Result<(), Error> {
    if s.trim().is_empty() || s.len() > max {
        return Err(Error::Letter(what));
    }
    check_readable(field, s, lines)?;
    Ok(())
}

impl Letter {
    /// Validates and normalizes (sets sorted and deduplicated, CRLF to LF) so that two
    /// equal letters always encode to the same bytes.
    pub fn new(
        title: &str,
        body: &str,
        recipients: Vec<Recipient>,
        mut policy: Policy,
    ) -> Result<Self, Error> {
        let body = body.replace("\r\n", "\n");
        clean_text(
            title,
            MAX_TITLE,
            Lines::One,
            "title",
            "title must be 1 to 300 characters on one line",
        )?;
        clean_text(
            &body,
            MAX_BODY,
            Lines::Many,
            "body",
            "body must be 1 to 60000 bytes of text",
        )?;
        if recipients.len() > MAX_RECIPIENTS {
            return Err(Error::Letter("too many recipients"));
        }
        let mut names: Vec<&str> = recipients.iter().map(|r| r.name.trim()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
            return Err(Error::Letter("recipient names must be distinct"));
        }
        for r in &recipients {
            clean_text(&r.name, 200, Lines::One, "recipient name", "recipient name")?;
            clean_text(
                &r.address,
                254,
                Lines::One,
                "recipient address",
                "recipient address",
            )?;
            if let Some(role) = &r.role {
                clean_text(role, 200, Lines::One, "recipient role", "recipient role")?;
            }
        }
        if policy.issuers.is_empty() {
            return Err(Error::Letter("policy must accept at least one issuer"));
        }
        if policy.issuers.iter().any(|i| i.epochs.len() != 1) {
            return Err(Error::Letter(RULE_ONE_EPOCH));
        }
        let ids: BTreeSet<&IssuerId> = policy.issuers.iter().map(|i| &i.issuer_id).collect();
        if ids.len() != policy.issuers.len() {
            return Err(Error::Letter(RULE_ONE_ENTRY));
        }
        let n = policy.issuers.len();
        if policy.threshold() > n || policy.threshold().saturating_mul(2) <= n {
            return Err(Error::Letter(RULE_THRESHOLD));
        }
        if policy.deadline > MAX_DEADLINE {
            return Err(Error::Letter(
                "deadline must be a Unix time before the year 10000",
            ));
        }
        if policy.k < 2 {
            return Err(Error::Letter("k must be at least 2"));
        }
        if !(1..=MAX_PUBLISH_INTERVAL).contains(&policy.publish_interval_secs) {
            return Err(Error::Letter(
                "publish_interval_secs must be 1 to 86400 seconds",
            ));
        }
        if policy.orgs.len() > MAX_ORGS {
            return Err(Error::Letter("too many organizations"));
        }
        policy.issuers.sort();
        policy.orgs.sort();
        policy.orgs.dedup();
        let letter = Self {
            format: LETTER_FORMAT.to_owned(),
            title: title.trim().to_owned(),
            body,
            recipients,
            policy,
            response_days: DEFAULT_RESPONSE_DAYS,
            reminder_days: Vec::new(),
        };
        letter.check_size()?;
        Ok(letter)
    }

    /// Sets the response period and reminder days (validated, reminders sorted).
    pub fn with_response(mut self, days: u32, mut reminders: Vec<u32>) -> Result<Self, Error> {
        if !(1..=3650).contains(&days) {
            return Err(Error::Letter("the response period must be 1 to 3650 days"));
        }
        reminders.sort_unstable();
        reminders.dedup();
        if reminders.len() > 10 || reminders.iter().any(|&d| d == 0 || d > days * 2) {
            return Err(Error::Letter(
                "at most 10 reminder days, each within twice the response period",
            ));
        }
        self.response_days = days;
        self.reminder_days = reminders;
        self.check_size()?;
        Ok(self)
    }

    /// A long body that escapes to more JSON, or many organizations and recipients, can make
    /// a letter too large for one log entry even though each field is within its own limit.
    fn check_size(&self) -> Result<(), Error> {
        if self.canonical_bytes().len() > MAX_LETTER_BYTES {
            return Err(Error::Letter(
                "the letter is too large: its text, recipients and organizations together must encode to at most 65461 bytes",
            ));
        }
        Ok(())
    }

    /// Re-validates a letter read from outside (a bundle, a request) through `new`, so a
    /// non-canonical letter never gets an id.
    pub fn canonicalize(self) -> Result<Self, Error> {
        if self.format != LETTER_FORMAT {
            return Err(Error::Letter("unknown letter format"));
        }
        let (days, reminders) = (self.response_days, self.reminder_days);
        Self::new(&self.title, &self.body, self.recipients, self.policy)?
            .with_response(days, reminders)
    }

    /// The canonical encoding: compact JSON, fields in declaration order, sets sorted.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serializing plain structs of strings, ints and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn id(&self) -> LetterId {
        LetterId(sha256(&[&self.canonical_bytes()]))
    }
}
