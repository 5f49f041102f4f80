//! One bundle's proofs split among workers, and their verdicts joined into the one verdict.
//!
//! The browser verifies a bundle in one Web Worker per core. Each runs `Bundle::verify_share`:
//! every check of the bundle in full, and the proofs of its share only (proof j belongs to
//! share j mod n). `combine` is the rule that turns the n outcomes into the bundle's verdict;
//! it refuses any set of outcomes that does not cover every proof exactly once, so no glue
//! code can drop a share and report the rest as a pass.

use serde::{Deserialize, Serialize};

/// Share `index` of `of`: the proofs whose position among the bundle's proofs is `index`
/// modulo `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    index: usize,
    of: usize,
}

/// Why a share or a set of outcomes cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareError {
    #[error("a share must be one of 1 to {MAX_SHARES} shares")]
    BadShare,
    #[error("the workers' outcomes do not cover the bundle's proofs exactly once: {0}")]
    Incomplete(String),
    #[error("the workers disagree on the bundle's report")]
    Disagree,
}

/// More workers than this gain nothing on any device we know of, and each holds the bundle.
pub const MAX_SHARES: usize = 64;

impl Share {
    /// The whole bundle: one share of one.
    pub const WHOLE: Self = Self { index: 0, of: 1 };

    pub fn new(index: usize, of: usize) -> Result<Self, ShareError> {
        if of == 0 || of > MAX_SHARES || index >= of {
            return Err(ShareError::BadShare);
        }
        Ok(Self { index, of })
    }

    /// Whether proof `j` (its position among the bundle's proofs) is this share's.
    pub fn owns(self, j: usize) -> bool {
        j % self.of == self.index
    }

    pub fn index(self) -> usize {
        self.index
    }

    pub fn of(self) -> usize {
        self.of
    }
}

/// How many proofs a share checked, of how many the bundle has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    pub proofs: usize,
    pub checked: usize,
}

/// What one worker found: the report (as JSON, with whatever the caller added to it) and the
/// count of proofs it checked, or why the bundle failed and at which entry, if at one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareOutcome {
    pub index: usize,
    pub of: usize,
    #[serde(flatten)]
    pub result: ShareResult,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareResult {
    Passed {
        report: serde_json::Value,
        checked: Checked,
    },
    Failed {
        message: String,
        /// The log index of the entry that failed, when the failure is an entry's.
        entry: Option<usize>,
    },
}

/// The bundle's verdict from every share's outcome: `Ok(report)` only when every share of one
/// split passed, their reports agree, and the proofs they checked add up to the bundle's.
/// Otherwise the failure `undersigned verify` would report first: the lowest failing entry,
/// else a failure of the bundle as a whole (every share meets those alike).
pub fn combine(outcomes: &[ShareOutcome]) -> Result<Result<serde_json::Value, String>, ShareError> {
    let of = outcomes
        .first()
        .map(|o| o.of)
        .ok_or_else(|| ShareError::Incomplete("no outcome".into()))?;
    if outcomes.len() != of || of == 0 || of > MAX_SHARES {
        return Err(ShareError::Incomplete(format!(
            "{} outcomes of a split into {of}",
            outcomes.len()
        )));
    }
    let mut seen = vec![false; of];
    for o in outcomes {
        let slot = seen
            .get_mut(o.index)
            .filter(|_| o.of == of)
            .ok_or_else(|| ShareError::Incomplete(format!("share {} of {}", o.index, o.of)))?;
        if *slot {
            return Err(ShareError::Incomplete(format!("share {} twice", o.index)));
        }
        *slot = true;
    }
    let first_failure = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            ShareResult::Failed { message, entry } => Some((entry.unwrap_or(usize::MAX), message)),
            ShareResult::Passed { .. } => None,
        })
        .min_by_key(|(entry, _)| *entry);
    if let Some((_, message)) = first_failure {
        return Ok(Err(message.clone()));
    }
    let mut report = None;
    let mut proofs = None;
    let mut checked = 0usize;
    for o in outcomes {
        if let ShareResult::Passed {
            report: r,
            checked: c,
        } = &o.result
        {
            if *report.get_or_insert(r) != r || *proofs.get_or_insert(c.proofs) != c.proofs {
                return Err(ShareError::Disagree);
            }
            checked = checked.saturating_add(c.checked);
        }
    }
    let proofs = proofs.unwrap_or(0);
    if checked != proofs {
        return Err(ShareError::Incomplete(format!(
            "{checked} proofs checked of {proofs}"
        )));
    }
    report
        .cloned()
        .map(Ok)
        .ok_or_else(|| ShareError::Incomplete("no report".into()))
}

impl ShareOutcome {
    /// A share's outcome from `Bundle::verify_share`'s result, its report already turned into
    /// the JSON the caller shows.
    pub fn of_result(
        share: Share,
        result: Result<(serde_json::Value, Checked), crate::error::BundleError>,
    ) -> Self {
        let result = match result {
            Ok((report, checked)) => ShareResult::Passed { report, checked },
            Err(e) => ShareResult::Failed {
                entry: match &e {
                    crate::error::BundleError::Entry { index, .. } => Some(*index),
                    _ => None,
                },
                message: e.to_string(),
            },
        };
        Self {
            index: share.index,
            of: share.of,
            result,
        }
    }
}
