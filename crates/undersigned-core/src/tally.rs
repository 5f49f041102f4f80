//! The tally: distinct pseudonyms that signed and did not withdraw, by org, role and age band.

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
    signers: BTreeMap<Pseudonym, Signer>,
}

/// A cell of the published tally: exact when at least k, otherwise `<k`.
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

fn cell(n: u64, k: u32) -> Cell {
    if n < u64::from(k) {
        Cell::BelowK(k)
    } else {
        Cell::Count(n)
    }
}

/// The counts a letter publishes. Totals are exact; breakdown cells below k are `<k`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub signatures: u64,
    pub organizations: u64,
    pub withdrawn: u64,
    pub by_org: BTreeMap<String, Cell>,
    pub by_role: BTreeMap<String, Cell>,
    pub by_age_band: BTreeMap<String, Cell>,
}

/// Label for signers who did not disclose a breakdown attribute.
pub const UNDISCLOSED: &str = "(not disclosed)";

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Would this entry be accepted? Sign needs a new pseudonym; withdraw a standing signature.
    pub fn check(&self, e: &VerifiedEntry) -> Result<(), VerifyError> {
        match (e.action, self.signers.get(&e.pseudonym)) {
            (Action::Sign, None) => Ok(()),
            (Action::Sign, Some(_)) => Err(VerifyError::DoubleSign),
            (Action::Withdraw, None) => Err(VerifyError::WithdrawWithoutSign),
            (Action::Withdraw, Some(s)) if s.withdrawn => Err(VerifyError::DoubleWithdraw),
            (Action::Withdraw, Some(_)) => Ok(()),
        }
    }

    pub fn apply(&mut self, e: VerifiedEntry) -> Result<(), VerifyError> {
        self.check(&e)?;
        match e.action {
            Action::Sign => {
                self.signers.insert(
                    e.pseudonym,
                    Signer {
                        disclosed: e.disclosed,
                        withdrawn: false,
                    },
                );
            }
            Action::Withdraw => {
                if let Some(s) = self.signers.get_mut(&e.pseudonym) {
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
        for s in self.signers.values() {
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
        let cells =
            |m: BTreeMap<String, u64>| m.into_iter().map(|(key, n)| (key, cell(n, k))).collect();
        Summary {
            signatures,
            organizations: by_org.len() as u64,
            withdrawn,
            by_org: cells(by_org),
            by_role: cells(by_role),
            by_age_band: cells(by_age),
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
