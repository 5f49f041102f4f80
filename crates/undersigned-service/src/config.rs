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
    /// Every code request is answered this long after it arrived (or when its mail was
    /// handed to the relay, if that is later), plus a random tenth of it: a request for an
    /// address that already has its live codes mails nothing, and must not answer sooner or
    /// with another spread than one that mails (`api::issuance::request_code`).
    pub code_answer_millis: u64,
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
    pub witnesses: Vec<crate::witnesses::WitnessSpec>,
    /// Cosignatures a checkpoint needs to be published; `None` means every named witness.
    pub witness_quorum: Option<usize>,
    /// How long one witness request may take.
    pub witness_timeout_millis: u64,
    /// How much later receipts promise inclusion while the witness quorum is missing.
    pub witness_grace_secs: u64,
    /// Where the leader also writes every public letter's log as C2SP tlog-tiles (static
    /// files for a CDN or object storage); `None`: served by the server only.
    pub tiles_dir: Option<std::path::PathBuf>,
    /// The independent issuers this letters deployment accepts (`[[issuer]]`, `serve
    /// --issuer`); none means the issuer inside this server, as before.
    pub issuers: Vec<crate::issuers::IssuerSpec>,
    /// How often the named issuers' descriptions and statements are fetched again.
    pub issuer_refresh_secs: u64,
    /// How long one request to a named issuer may take (connect and whole answer).
    pub issuer_timeout_millis: u64,
    /// Which epochs this server's own issuer issues (`issuer serve` runs without letters).
    pub issuer_epochs: IssuerEpochs,
    /// The release log the signer's client it serves is in (`[client]`; default: the release
    /// key this binary ships, no published location).
    pub client_release: undersigned_core::release::ReleaseLogClaim,
}

/// The epochs an issuer issues credentials for. Every epoch an open letter accepts must be
/// among them, or late signers could not sign; and a holder asks for all of them at once, so
/// the request says nothing about the letter it is meant for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IssuerEpochs {
    /// Inside a letters server: the current epoch and every epoch an open letter accepts from
    /// it (`Platform::issuable_epochs`).
    #[default]
    Letters,
    /// An independent issuer knows no letters: the current epoch and the next, so a letter
    /// opened near the end of a quarter for the next one finds credentials already issued.
    CurrentAndNext,
    /// Exactly these (`issuer serve --epochs`), for deployments that agree on them.
    Fixed(Vec<Epoch>),
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
            // A healthy submission relay accepts a message in well under a second (a local
            // one in milliseconds; a remote one with TLS and spam checks typically 100 to
            // 400 ms): 1.5 s leaves room for its slow tail, so nearly every real send finishes
            // before the deadline and its answer is indistinguishable from a silent one.
            code_answer_millis: 1500,
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
            issuers: Vec::new(),
            issuer_refresh_secs: 60,
            issuer_timeout_millis: 5000,
            issuer_epochs: IssuerEpochs::Letters,
            client_release: undersigned_core::release::ReleaseLogClaim::default(),
        }
    }
}

/// A setting that no deployment may run with, whichever way it was set (the file, a flag or
/// the environment): the file's key that names it and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting as the deployment file spells it: `k`, `limits.code_ttl_secs`,
    /// `witnesses.quorum`, `org.<domain>`.
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl Config {
    /// The one check of a whole configuration, run on what the defaults, the deployment file,
    /// the environment and the flags add up to: a flag can never set what the file would
    /// refuse, and both are refused with the same words. The first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_host(&self.host) {
            return Err(ConfigError::new(
                "host",
                format!("host {:?} is not a host name", self.host),
            ));
        }
        check_url(&self.public_url)
            .map_err(|r| ConfigError::new("public_url", format!("public_url: {r}")))?;
        self.client_release
            .pins()
            .map_err(|e| ConfigError::new("client", format!("client: {e}")))?;
        if let Some(url) = &self.client_release.url {
            check_url(url).map_err(|r| ConfigError::new("client", format!("client.log: {r}")))?;
        }
        readable(&self.issuer_name)
            .map_err(|r| ConfigError::new("issuer_name", format!("issuer_name: {r}")))?;
        if self.k < 2 {
            return Err(ConfigError::new(
                "k",
                format!(
                    "k = {} hides no one: the small-cell threshold must be at least 2",
                    self.k
                ),
            ));
        }
        // An interval of 0 gives every letter a policy that `Letter::new` refuses.
        at_least_1("publish_interval_secs", self.default_publish_interval_secs)?;
        readable(&self.mail_from)
            .map_err(|r| ConfigError::new("mail_from", format!("mail_from: {r}")))?;
        if !self.mail_from.contains('@') {
            return Err(ConfigError::new(
                "mail_from",
                format!("mail_from {:?} has no address", self.mail_from),
            ));
        }
        let mut roles = BTreeSet::new();
        for r in &self.roles {
            if !roles.insert(r) {
                return Err(ConfigError::new(
                    format!("roles.{r}"),
                    format!("role {:?} is listed twice", r.as_str()),
                ));
            }
        }
        self.validate_orgs()?;
        at_least_1("limits.code_ttl_secs", self.code_ttl_secs)?;
        at_least_1("limits.code_max_attempts", self.code_max_attempts.into())?;
        at_least_1("limits.code_max_live", self.code_max_live.into())?;
        at_least_1(
            "limits.code_mails_per_domain_hour",
            self.code_mails_per_domain_hour.into(),
        )?;
        at_least_1("limits.delivery_backoff_secs", self.delivery_backoff_secs)?;
        // Below this a letter with its policy no longer fits in one request.
        if self.max_body_bytes < 4096 {
            return Err(ConfigError::new(
                "limits.max_body_bytes",
                "max_body_bytes must be at least 4096",
            ));
        }
        at_least_1("tick_millis", self.tick_millis)?;
        let mut seen = BTreeSet::new();
        for w in &self.witnesses {
            if !seen.insert(&w.vkey) {
                return Err(ConfigError::new(
                    format!("witnesses.witness.{}", w.vkey),
                    "this witness is listed twice",
                ));
            }
        }
        if let Some(q) = self.witness_quorum {
            if q == 0 || q > self.witnesses.len() {
                return Err(ConfigError::new(
                    "witnesses.quorum",
                    format!(
                        "quorum = {q} but {} witness(es) are listed: it must be between 1 and their number",
                        self.witnesses.len()
                    ),
                ));
            }
        }
        if self.witness_timeout_millis == 0 {
            return Err(ConfigError::new(
                "witnesses.timeout_ms",
                "timeout_ms must be at least 1",
            ));
        }
        self.validate_issuers()?;
        Ok(())
    }

    fn validate_issuers(&self) -> Result<(), ConfigError> {
        let mut urls = BTreeSet::new();
        for i in &self.issuers {
            check_url(&i.url).map_err(|r| ConfigError::new(format!("issuer.{}", i.url), r))?;
            if !urls.insert(&i.url) {
                return Err(ConfigError::new(
                    format!("issuer.{}", i.url),
                    "this issuer is listed twice",
                ));
            }
        }
        at_least_1("issuer_refresh_secs", self.issuer_refresh_secs)?;
        at_least_1("issuer_timeout_ms", self.issuer_timeout_millis)?;
        if let IssuerEpochs::Fixed(list) = &self.issuer_epochs {
            if list.is_empty() {
                return Err(ConfigError::new("epochs", "--epochs names no epoch"));
            }
        }
        Ok(())
    }

    fn validate_orgs(&self) -> Result<(), ConfigError> {
        if self.orgs.is_empty() {
            return Err(ConfigError::new("org", "no organization is listed"));
        }
        for (org, name) in &self.orgs {
            let key = || format!("org.{org}");
            if undersigned_core::issuer::FREE_MAIL.contains(&org.as_str()) {
                return Err(ConfigError::new(
                    key(),
                    format!(
                        "domain {:?} is a free-mail provider: its addresses say nothing about an employer",
                        org.as_str()
                    ),
                ));
            }
            readable(name).map_err(|r| ConfigError::new(key(), format!("name: {r}")))?;
            if name.trim().is_empty() {
                return Err(ConfigError::new(key(), "name is empty"));
            }
        }
        for org in self.address_rules.keys().chain(&self.subdomains) {
            if !self.orgs.contains_key(org) {
                return Err(ConfigError::new(
                    format!("org.{org}"),
                    format!("{org} has address rules or accepts subdomains but is no organization of this deployment"),
                ));
            }
        }
        Ok(())
    }
}

fn at_least_1(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        let name = key.rsplit('.').next().unwrap_or(key);
        return Err(ConfigError::new(key, format!("{name} must be at least 1")));
    }
    Ok(())
}

fn readable(s: &str) -> Result<(), String> {
    undersigned_core::text::check_readable("name", s, undersigned_core::text::Lines::One)
        .map_err(|e| e.to_string())
}

/// A host as checkpoint origins spell it: core's one rule (lowercase DNS labels, an optional
/// port without leading zeros), so no configuration names a host its own logs could not carry.
pub(crate) fn is_host(s: &str) -> bool {
    undersigned_core::log::origin::Host::parse(s).is_ok()
}

pub(crate) fn check_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?} must start with http:// or https://"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} names no host"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    Ok(())
}

/// The calendar quarter after a `YYYY-Qn` epoch; `None` for an epoch of another shape.
pub fn next_quarter(e: &Epoch) -> Option<Epoch> {
    let (y, q) = e.as_str().split_once("-Q")?;
    let (y, q): (i64, u8) = (y.parse().ok()?, q.parse().ok()?);
    match q {
        1..=3 => Some(Epoch::quarter(y, q + 1)),
        4 => Some(Epoch::quarter(y.checked_add(1)?, 1)),
        _ => None,
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

    #[test]
    #[allow(clippy::unwrap_used)]
    fn next_quarter_rolls_over_the_year() {
        let next = |s| super::next_quarter(&undersigned_core::ids::Epoch::parse(s).unwrap());
        assert_eq!(next("2026-Q4").unwrap().as_str(), "2027-Q1");
        assert_eq!(next("2026-Q2").unwrap().as_str(), "2026-Q3");
        assert!(next("spring-drive").is_none());
    }
}
