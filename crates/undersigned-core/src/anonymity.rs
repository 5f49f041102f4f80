//! Anonymity sets: how many credentials an issuer gave out per cell, and the small-cell rule.
//!
//! A cell is (org), (org, role), (org, age band) or (org, role, age band) within one epoch.
//! Disclosing role or age band is only safe when the matching cell holds at least k people, so
//! the client, the server and the bundle verifier all apply `check_disclosure` to the same
//! published numbers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::ids::{AgeBand, Epoch, OrgId, Role};

/// A published count: exact when at least k, otherwise only "below k".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Exact(u64),
    BelowK,
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Count::Exact(n) => s.serialize_u64(*n),
            Count::BelowK => s.serialize_str("<k"),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Count::Exact(n)),
            Raw::S(s) if s == "<k" => Ok(Count::BelowK),
            Raw::S(_) => Err(serde::de::Error::custom("count must be a number or \"<k\"")),
        }
    }
}

/// One published cell. `role` and `age_band` absent mean "any".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellKey {
    pub org: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_band: Option<AgeBand>,
}

/// Exact issued counts for one issuer and epoch; the issuer's private bookkeeping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuedCounts {
    cells: BTreeMap<CellKey, u64>,
}

impl IssuedCounts {
    /// Records one issued credential in all four cells it belongs to.
    pub fn record(&mut self, org: &OrgId, role: &Role, age: AgeBand) {
        for key in cells_of(org, Some(role), Some(age)) {
            *self.cells.entry(key).or_insert(0) += 1;
        }
    }

    /// Records `n` credentials at once; how a store-backed issuer rebuilds its counts.
    pub fn record_n(&mut self, org: &OrgId, role: &Role, age: AgeBand, n: u64) {
        for key in cells_of(org, Some(role), Some(age)) {
            *self.cells.entry(key).or_insert(0) += n;
        }
    }

    pub fn get(&self, key: &CellKey) -> u64 {
        self.cells.get(key).copied().unwrap_or(0)
    }

    /// What the issuer publishes: every count below `k` becomes `<k`.
    pub fn publish(&self, epoch: &Epoch, k: u32) -> PublishedSets {
        PublishedSets {
            epoch: epoch.clone(),
            k,
            cells: self
                .cells
                .iter()
                .map(|(key, &n)| PublishedCell {
                    key: key.clone(),
                    count: if n < u64::from(k) {
                        Count::BelowK
                    } else {
                        Count::Exact(n)
                    },
                })
                .collect(),
        }
    }
}

fn cells_of(org: &OrgId, role: Option<&Role>, age: Option<AgeBand>) -> Vec<CellKey> {
    let key = |role: Option<&Role>, age: Option<AgeBand>| CellKey {
        org: org.clone(),
        role: role.cloned(),
        age_band: age,
    };
    let mut v = vec![key(None, None)];
    if let Some(r) = role {
        v.push(key(Some(r), None));
    }
    if let Some(a) = age {
        v.push(key(None, Some(a)));
    }
    if let (Some(r), Some(a)) = (role, age) {
        v.push(key(Some(r), Some(a)));
    }
    v
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedCell {
    #[serde(flatten)]
    pub key: CellKey,
    pub count: Count,
}

/// An issuer's published anonymity sets for one epoch, with the k it suppressed below.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedSets {
    pub epoch: Epoch,
    pub k: u32,
    pub cells: Vec<PublishedCell>,
}

/// Which disclosure broke the small-cell rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallCell {
    Role,
    AgeBand,
    RoleAndAgeBand,
}

impl SmallCell {
    pub fn name(self) -> &'static str {
        match self {
            SmallCell::Role => "role",
            SmallCell::AgeBand => "age band",
            SmallCell::RoleAndAgeBand => "role and age band together",
        }
    }
}

impl PublishedSets {
    /// True when the cell is published with at least `k` members. A `<k` entry, a missing
    /// cell, or sets suppressed at a lower k than asked all count as too small.
    pub fn at_least(&self, key: &CellKey, k: u32) -> bool {
        self.cells
            .iter()
            .any(|c| &c.key == key && matches!(c.count, Count::Exact(n) if n >= u64::from(k)))
    }

    /// The small-cell rule: may a holder of `org` disclose this role and/or age band?
    pub fn check_disclosure(
        &self,
        org: &OrgId,
        role: Option<&Role>,
        age: Option<AgeBand>,
        k: u32,
    ) -> Result<(), SmallCell> {
        let cell = |r: Option<&Role>, a: Option<AgeBand>| CellKey {
            org: org.clone(),
            role: r.cloned(),
            age_band: a,
        };
        if role.is_some() && !self.at_least(&cell(role, None), k) {
            return Err(SmallCell::Role);
        }
        if age.is_some() && !self.at_least(&cell(None, age), k) {
            return Err(SmallCell::AgeBand);
        }
        if role.is_some() && age.is_some() && !self.at_least(&cell(role, age), k) {
            return Err(SmallCell::RoleAndAgeBand);
        }
        Ok(())
    }

    /// The most credentials these sets allow for `org` as a whole: the exact count, k-1 for
    /// `<k`, and 0 when the org has no cell.
    pub fn issued_at_most(&self, org: &OrgId) -> u64 {
        let key = CellKey {
            org: org.clone(),
            role: None,
            age_band: None,
        };
        self.cells
            .iter()
            .find(|c| c.key == key)
            .map_or(0, |c| match c.count {
                Count::Exact(n) => n,
                Count::BelowK => u64::from(self.k.saturating_sub(1)),
            })
    }

    /// Whether the org as a whole has at least k credential holders.
    pub fn org_at_least(&self, org: &OrgId, k: u32) -> bool {
        self.at_least(
            &CellKey {
                org: org.clone(),
                role: None,
                age_band: None,
            },
            k,
        )
    }
}

/// More distinct signers of one organization in one epoch than the issuer's sets allow
/// credentials for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{org} has {signers} distinct signers in epoch {epoch}, but the issuer's statement allows at most {allowed} credentials issued to it")]
#[non_exhaustive]
pub struct TooManySigners {
    pub org: OrgId,
    pub epoch: Epoch,
    pub signers: u64,
    pub allowed: u64,
}

/// The issued-count rule, the one the bundle verifier, the server (before it accepts a
/// signature) and the monitor all apply: within one letter, the distinct pseudonyms that signed
/// for `org` in `epoch` under one issuer (withdrawn ones too, since a withdrawal does not give
/// the credential back) are at most the credentials that issuer says it issued to `org` in
/// `epoch` (`PublishedSets::issued_at_most`: a `<k` count allows k-1). Without it a single
/// issuer's signatures could outnumber its own signed counts.
pub fn check_signers(
    org: &OrgId,
    epoch: &Epoch,
    signers: u64,
    allowed: u64,
) -> Result<(), TooManySigners> {
    if signers > allowed {
        return Err(TooManySigners {
            org: org.clone(),
            epoch: epoch.clone(),
            signers,
            allowed,
        });
    }
    Ok(())
}
