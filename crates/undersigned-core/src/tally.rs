//! The tally: distinct signatures that stand (signed, not withdrawn), by org, role and age band.
//!
//! The conflict rule (protocol v1.2, "Several issuers"): two entries conflict when they share a
//! pseudonym. A signature conflicting with any earlier signature, standing or withdrawn, is a
//! double signature; a withdrawal must conflict with exactly one standing signature, which it
//! withdraws whole. We key by the pseudonym point alone, where the design says (issuer id,
//! pseudonym): every issuer's nym entropy enters the nym secret, so an honest holder's parts
//! never share a pseudonym across issuers, and a key without the issuer keeps every stored row
//! and bundle of a single issuer exactly as before; refusing a shared point across issuers
//! only ever refuses more.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::entry::{Action, Disclosed, Pseudonym, VerifiedEntry};
use crate::error::VerifyError;

#[derive(Clone, Debug)]
struct Signer {
    disclosed: Disclosed,
    withdrawn: bool,
}

/// Running state of one letter's signatures. `check` before `apply` lets a server refuse an
/// entry without touching anything.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    signers: Vec<Signer>,
    /// Each signature's pseudonyms, to its index in `signers`.
    by_pseudonym: BTreeMap<Pseudonym, usize>,
}

/// A cell of the published tally. Published tallies hold counts only; `BelowK` (`"<k"`) is
/// what earlier versions wrote for a small group, still read from stored summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Count(u64),
    BelowK(u32),
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Count(n) => s.serialize_u64(*n),
            Cell::BelowK(k) => s.serialize_str(&format!("<{k}")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Cell::Count(n)),
            Raw::S(s) => s
                .strip_prefix('<')
                .and_then(|k| k.parse().ok())
                .map(Cell::BelowK)
                .ok_or_else(|| serde::de::Error::custom("a cell is a number or \"<k\"")),
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Count(n) => write!(f, "{n}"),
            Cell::BelowK(k) => write!(f, "<{k}"),
        }
    }
}

/// The counts a letter publishes. Totals and organization counts are exact: every entry of the
/// public record discloses its signer's organization, so a "<k" there would suggest a
/// protection that does not exist (anyone counts the record). In the role and age-band
/// breakdowns, groups of at least k are exact, and every smaller group is counted together
/// with the signers who did not disclose, under [`UNDISCLOSED`]: a lone "<k" cell beside an
/// exact total could be computed by subtraction, and so could several whose sum is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub signatures: u64,
    pub organizations: u64,
    pub withdrawn: u64,
    pub by_org: BTreeMap<String, Cell>,
    pub by_role: BTreeMap<String, Cell>,
    pub by_age_band: BTreeMap<String, Cell>,
}

/// Label for signers who did not disclose a breakdown attribute, together with every group of
/// fewer than k signers: its composition is what no reader can tell.
pub const UNDISCLOSED: &str = "(not disclosed, or in a group under k)";

/// A role or age-band breakdown as published: groups under k folded into [`UNDISCLOSED`].
fn fold_small(counts: BTreeMap<String, u64>, k: u32) -> BTreeMap<String, Cell> {
    let mut out = BTreeMap::new();
    let mut folded = 0u64;
    for (key, n) in counts {
        if key == UNDISCLOSED || n < u64::from(k) {
            folded += n;
        } else {
            out.insert(key, Cell::Count(n));
        }
    }
    if folded > 0 {
        out.insert(UNDISCLOSED.to_owned(), Cell::Count(folded));
    }
    out
}

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signatures an entry's pseudonyms conflict with, each once.
    fn conflicts(&self, e: &VerifiedEntry) -> Vec<usize> {
        let mut found: Vec<usize> = e
            .pseudonyms
            .iter()
            .filter_map(|p| self.by_pseudonym.get(p).copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Would this entry be accepted? A sign conflicts with no signature; a withdrawal with
    /// exactly one, standing. Returns the signature a withdrawal withdraws.
    fn decide(&self, e: &VerifiedEntry) -> Result<Option<usize>, VerifyError> {
        let mut own = e.pseudonyms.clone();
        own.sort_unstable();
        own.dedup();
        if own.len() != e.pseudonyms.len() || own.is_empty() {
            return Err(VerifyError::Malformed(
                "an entry's parts repeat a pseudonym",
            ));
        }
        match (e.action, self.conflicts(e).as_slice()) {
            (Action::Sign, []) => Ok(None),
            (Action::Sign, _) => Err(VerifyError::DoubleSign),
            (Action::Withdraw, []) => Err(VerifyError::WithdrawWithoutSign),
            (Action::Withdraw, [one]) => match self.signers.get(*one) {
                Some(s) if s.withdrawn => Err(VerifyError::DoubleWithdraw),
                Some(_) => Ok(Some(*one)),
                None => Err(VerifyError::WithdrawWithoutSign),
            },
            (Action::Withdraw, _) => Err(VerifyError::AmbiguousWithdrawal),
        }
    }

    /// Would this entry be accepted? (`apply` without the change.)
    pub fn check(&self, e: &VerifiedEntry) -> Result<(), VerifyError> {
        self.decide(e).map(|_| ())
    }

    pub fn apply(&mut self, e: VerifiedEntry) -> Result<(), VerifyError> {
        match self.decide(&e)? {
            None => {
                let index = self.signers.len();
                for p in &e.pseudonyms {
                    self.by_pseudonym.insert(*p, index);
                }
                self.signers.push(Signer {
                    disclosed: e.disclosed,
                    withdrawn: false,
                });
            }
            Some(index) => {
                if let Some(s) = self.signers.get_mut(index) {
                    s.withdrawn = true;
                }
            }
        }
        Ok(())
    }

    pub fn summarize(&self, k: u32) -> Summary {
        let mut by_org: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_role: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_age: BTreeMap<String, u64> = BTreeMap::new();
        let mut signatures = 0;
        let mut withdrawn = 0;
        for s in &self.signers {
            if s.withdrawn {
                withdrawn += 1;
                continue;
            }
            signatures += 1;
            let d = &s.disclosed;
            *by_org.entry(d.org.to_string()).or_default() += 1;
            let role = d
                .role
                .as_ref()
                .map_or(UNDISCLOSED.to_owned(), |r| r.to_string());
            *by_role.entry(role).or_default() += 1;
            let age = d.age_band.map_or(UNDISCLOSED.to_owned(), |a| a.to_string());
            *by_age.entry(age).or_default() += 1;
        }
        Summary {
            signatures,
            organizations: by_org.len() as u64,
            withdrawn,
            by_org: by_org
                .into_iter()
                .map(|(key, n)| (key, Cell::Count(n)))
                .collect(),
            by_role: fold_small(by_role, k),
            by_age_band: fold_small(by_age, k),
        }
    }
}

impl Summary {
    /// A plain-text table, one section per breakdown, largest cells first.
    pub fn render_table(&self, org_names: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let section = |out: &mut String,
                       title: &str,
                       m: &BTreeMap<String, Cell>,
                       names: Option<&BTreeMap<String, String>>| {
            let mut rows: Vec<(&String, &Cell)> = m.iter().collect();
            rows.sort_by_key(|(key, c)| {
                (
                    std::cmp::Reverse(match c {
                        Cell::Count(n) => *n,
                        Cell::BelowK(_) => 0,
                    }),
                    (*key).clone(),
                )
            });
            let _ = writeln!(out, "{title}");
            for (key, c) in rows {
                let label = match names.and_then(|n| n.get(key)) {
                    Some(name) => format!("{name} ({key})"),
                    None => key.clone(),
                };
                let _ = writeln!(out, "  {label:<60} {c:>6}");
            }
        };
        let _ = writeln!(
            out,
            "{} signatures from {} organizations ({} withdrawn)\n",
            self.signatures, self.organizations, self.withdrawn
        );
        section(&mut out, "By organization", &self.by_org, Some(org_names));
        section(&mut out, "\nBy role", &self.by_role, None);
        section(&mut out, "\nBy age band", &self.by_age_band, None);
        out
    }
}
