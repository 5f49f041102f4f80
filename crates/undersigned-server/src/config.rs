//! Deployment settings: which organizations and roles, k, the epoch, limits and timings.

use std::collections::{BTreeMap, BTreeSet};
use undersigned_core::ids::{AddressRules, Epoch, OrgId, Role};

/// Federal agencies and their mail domains: the default deployment, matching the demo.
pub const DEFAULT_ORGS: &[(&str, &str)] = &[
    ("state.gov", "Department of State"),
    ("usaid.gov", "U.S. Agency for International Development"),
    ("justice.gov", "Department of Justice"),
    ("hhs.gov", "Department of Health and Human Services"),
    ("treasury.gov", "Department of the Treasury"),
    ("defense.gov", "Department of Defense"),
    ("dhs.gov", "Department of Homeland Security"),
    ("ed.gov", "Department of Education"),
    ("dol.gov", "Department of Labor"),
    ("usda.gov", "Department of Agriculture"),
    ("commerce.gov", "Department of Commerce"),
    ("energy.gov", "Department of Energy"),
    ("doi.gov", "Department of the Interior"),
    ("dot.gov", "Department of Transportation"),
    ("hud.gov", "Department of Housing and Urban Development"),
    ("va.gov", "Department of Veterans Affairs"),
    ("epa.gov", "Environmental Protection Agency"),
    ("nasa.gov", "National Aeronautics and Space Administration"),
    ("nih.gov", "National Institutes of Health"),
    ("cdc.gov", "Centers for Disease Control and Prevention"),
    ("fda.gov", "Food and Drug Administration"),
    ("ssa.gov", "Social Security Administration"),
    ("sba.gov", "Small Business Administration"),
    ("opm.gov", "Office of Personnel Management"),
    ("gsa.gov", "General Services Administration"),
    ("nsf.gov", "National Science Foundation"),
    (
        "noaa.gov",
        "National Oceanic and Atmospheric Administration",
    ),
    ("census.gov", "Census Bureau"),
    ("fema.gov", "Federal Emergency Management Agency"),
    ("sec.gov", "Securities and Exchange Commission"),
    ("ftc.gov", "Federal Trade Commission"),
    ("fcc.gov", "Federal Communications Commission"),
    ("nlrb.gov", "National Labor Relations Board"),
    ("eeoc.gov", "Equal Employment Opportunity Commission"),
    ("peacecorps.gov", "Peace Corps"),
    (
        "archives.gov",
        "National Archives and Records Administration",
    ),
    ("loc.gov", "Library of Congress"),
    ("uspto.gov", "U.S. Patent and Trademark Office"),
    ("nrc.gov", "Nuclear Regulatory Commission"),
    ("fdic.gov", "Federal Deposit Insurance Corporation"),
    (
        "consumerfinance.gov",
        "Consumer Financial Protection Bureau",
    ),
    ("cftc.gov", "Commodity Futures Trading Commission"),
    ("fec.gov", "Federal Election Commission"),
    ("usitc.gov", "U.S. International Trade Commission"),
    ("mspb.gov", "Merit Systems Protection Board"),
];

pub const DEFAULT_ROLES: &[&str] = &[
    "career staff",
    "political appointee",
    "foreign service officer",
    "attorney",
    "analyst",
];

/// Everything a deployment decides. Construct with `Config::default()` and adjust.
#[derive(Clone, Debug)]
pub struct Config {
    /// Host name that names the logs: checkpoints' origin is `<host>/letters/<letter id>`.
    pub host: String,
    /// Base URL used in links (organizer link, bundle link).
    pub public_url: String,
    pub orgs: BTreeMap<OrgId, String>,
    /// Extra address normalization of the organizations whose mail systems need it.
    pub address_rules: BTreeMap<OrgId, AddressRules>,
    /// Organizations whose subdomains' addresses count as theirs.
    pub subdomains: BTreeSet<OrgId>,
    pub roles: Vec<Role>,
    /// Small-cell threshold; letters may ask for more, never less.
    pub k: u32,
    /// Fixed epoch; `None` means the calendar quarter of the current date.
    pub epoch: Option<Epoch>,
    pub issuer_name: String,
    pub code_ttl_secs: u64,
    /// Guesses allowed per code (per code request, not per address).
    pub code_max_attempts: u32,
    /// Unexpired codes one address may have at once: bounds the mail one address gets and the
    /// guesses against it (`code_max_live * code_max_attempts` per code lifetime).
    pub code_max_live: u32,
    /// Code mails per organization (mail domain) per hour, across all its addresses.
    pub code_mails_per_domain_hour: u32,
    pub default_publish_interval_secs: u64,
    /// Slack between a batch boundary and the promise in a receipt.
    pub publish_grace_secs: u64,
    /// How often the background publisher looks for due batches and deadlines.
    pub tick_millis: u64,
    pub max_body_bytes: usize,
    /// Dev mode: mail goes to the local outbox (page and console) and is shown to the user.
    pub dev: bool,
    /// Sender address of outgoing mail.
    pub mail_from: String,
    /// First retry delay of a failed delivery; doubles with each failure.
    pub delivery_backoff_secs: u64,
    /// Witnesses that cosign every checkpoint; none means the operator's signature alone.
    pub witnesses: Vec<crate::cosigning::WitnessSpec>,
    /// Cosignatures a checkpoint needs to be published; `None` means every named witness.
    pub witness_quorum: Option<usize>,
    /// How long one witness request may take.
    pub witness_timeout_millis: u64,
    /// How much later receipts promise inclusion while the witness quorum is missing.
    pub witness_grace_secs: u64,
    /// Where the leader also writes every public letter's log as C2SP tlog-tiles (static
    /// files for a CDN or object storage); `None`: served by the server only.
    pub tiles_dir: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            public_url: "http://127.0.0.1:8080".into(),
            orgs: DEFAULT_ORGS
                .iter()
                .filter_map(|(d, n)| OrgId::parse(d).ok().map(|o| (o, (*n).to_owned())))
                .collect(),
            address_rules: BTreeMap::new(),
            subdomains: BTreeSet::new(),
            roles: DEFAULT_ROLES
                .iter()
                .filter_map(|r| Role::parse(r).ok())
                .collect(),
            k: undersigned_core::letter::DEFAULT_K,
            epoch: None,
            issuer_name: "undersigned work-email attestor".into(),
            code_ttl_secs: 15 * 60,
            code_max_attempts: 5,
            code_max_live: 5,
            code_mails_per_domain_hour: 1000,
            default_publish_interval_secs: 600,
            publish_grace_secs: 5,
            tick_millis: 500,
            max_body_bytes: 64 * 1024,
            dev: false,
            mail_from: "undersigned <no-reply@localhost>".into(),
            delivery_backoff_secs: 60,
            witnesses: Vec::new(),
            witness_quorum: None,
            witness_timeout_millis: 3000,
            witness_grace_secs: 3600,
            tiles_dir: None,
        }
    }
}

/// The epoch for a unix time: `YYYY-Qn` in UTC.
pub fn epoch_at(unix: u64) -> Epoch {
    let (y, m, _) = undersigned_core::encoding::civil(unix);
    Epoch::quarter(y, ((m - 1) / 3 + 1) as u8)
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_at_matches_calendar() {
        assert_eq!(super::epoch_at(1_795_000_000).as_str(), "2026-Q4"); // 2026-11-18
        assert_eq!(super::epoch_at(1_767_225_600).as_str(), "2026-Q1"); // 2026-01-01
        assert_eq!(super::epoch_at(1_767_225_599).as_str(), "2025-Q4");
    }
}
