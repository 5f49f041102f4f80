//! The deployment file (`serve --config undersigned.toml`): what a deployment decides, read
//! into a `Config`, refused with the file's line and the reason when it is wrong.
//!
//! Secrets never live here: the SMTP password, the database URL and the address-tag key come
//! from `UNDERSIGNED_*` environment variables or files of their own (never flags, which the
//! process list shows), so the file can be reviewed and versioned like any other piece of
//! configuration. Whether its settings are acceptable is `Config::validate`'s decision, the
//! same one `serve` applies to the file and its flags merged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use undersigned_core::ids::{AddressRules, Epoch, IssuerId, OrgId, Role};

use crate::config::Config;
use crate::issuers::IssuerSpec;
use crate::mailer::TlsMode;
use crate::witnesses::WitnessSpec;

/// A deployment file that cannot be used: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentError {
    pub file: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for DeploymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
        }
    }
}

impl std::error::Error for DeploymentError {}

/// What a deployment file decides beyond `Config`: where the server listens and keeps its
/// data, and the mail relay.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub config: Config,
    pub listen: Option<std::net::SocketAddr>,
    pub data: Option<PathBuf>,
    pub smtp: Option<SmtpRelay>,
}

/// The outgoing mail relay. Its password is `UNDERSIGNED_SMTP_PASSWORD`, never in the file.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
}

// The file's shape. Every table refuses keys it does not know, so a typo is an error at start
// rather than a setting silently left at its default.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    host: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    data: Option<PathBuf>,
    /// A directory the leader writes the letters' logs to as tlog-tiles (static files).
    tiles_dir: Option<PathBuf>,
    issuer_name: Option<Spanned<String>>,
    k: Option<Spanned<u32>>,
    epoch: Option<Spanned<String>>,
    publish_interval_secs: Option<Spanned<u64>>,
    mail_from: Option<Spanned<String>>,
    roles: Option<Vec<Spanned<String>>>,
    #[serde(default, rename = "org")]
    orgs: Vec<Spanned<OrgEntry>>,
    limits: Option<Limits>,
    smtp: Option<Smtp>,
    witnesses: Option<Witnesses>,
    /// The independent issuers whose credentials this deployment's letters accept; none: the
    /// server's own issuer.
    #[serde(default, rename = "issuer")]
    issuers: Vec<Spanned<IssuerEntry>>,
    issuer_refresh_secs: Option<Spanned<u64>>,
    issuer_timeout_ms: Option<Spanned<u64>>,
    client: Option<Spanned<ClientEntry>>,
}

/// The release log the signer's client this deployment serves is in: where it is served, its
/// key (default: the one this binary ships) and the witnesses whose quorum it carries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    log: Option<String>,
    key: Option<String>,
    #[serde(default)]
    witnesses: Vec<String>,
    quorum: Option<usize>,
}

impl From<ClientEntry> for undersigned_core::release::ReleaseLogClaim {
    fn from(c: ClientEntry) -> Self {
        Self {
            url: c.log,
            key: c
                .key
                .unwrap_or_else(|| undersigned_core::release::DEFAULT_RELEASE_KEY.to_owned()),
            witnesses: c.witnesses,
            quorum: c.quorum,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    /// Its base URL (`GET <url>/api/v1/issuer`).
    url: String,
    /// Its issuer id (hex SHA-256 of its BBS key), pinned.
    id: Option<String>,
    /// Its statement log's Ed25519 key (hex or signed-note vkey), pinned.
    log_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgEntry {
    domain: Spanned<String>,
    name: Spanned<String>,
    /// Addresses at any subdomain of `domain` belong to this organization.
    #[serde(default)]
    subdomains: bool,
    #[serde(default)]
    address_rules: Option<AddressRules>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    code_ttl_secs: Option<Spanned<u64>>,
    code_max_attempts: Option<Spanned<u32>>,
    code_max_live: Option<Spanned<u32>>,
    code_mails_per_domain_hour: Option<Spanned<u32>>,
    max_body_bytes: Option<Spanned<usize>>,
    publish_grace_secs: Option<u64>,
    delivery_backoff_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Smtp {
    relay: Spanned<String>,
    #[serde(default)]
    tls: TlsName,
    user: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum TlsName {
    None,
    #[default]
    Starttls,
    Tls,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Witnesses {
    quorum: Option<Spanned<usize>>,
    timeout_ms: Option<Spanned<u64>>,
    grace_secs: Option<u64>,
    #[serde(default, rename = "witness")]
    list: Vec<Spanned<WitnessEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessEntry {
    vkey: String,
    url: String,
}

/// A setting's value, its place in the file kept for `Config::validate`'s refusals.
fn spanned<T>(
    spans: &mut BTreeMap<String, Range<usize>>,
    key: &str,
    value: Option<Spanned<T>>,
) -> Option<T> {
    value.map(|v| {
        spans.insert(key.to_owned(), v.span());
        v.into_inner()
    })
}

/// Reads and checks a deployment file.
pub fn load(path: &Path) -> Result<Deployment, DeploymentError> {
    let text = std::fs::read_to_string(path).map_err(|e| DeploymentError {
        file: path.to_owned(),
        line: 0,
        reason: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Checks a deployment file's text; `path` only names it in errors.
///
/// Parsing turns each value into its type here; whether the settings are acceptable is
/// `Config::validate`'s decision alone (the same one `serve` applies after its flags), and its
/// refusal is reported at the line of the key it names.
pub fn parse(path: &Path, text: &str) -> Result<Deployment, DeploymentError> {
    let at = |span: Range<usize>, reason: String| DeploymentError {
        file: path.to_owned(),
        line: line_of(text, span.start),
        reason,
    };
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        DeploymentError {
            file: path.to_owned(),
            line,
            reason: e.message().trim().to_owned(),
        }
    })?;
    // Where each setting is written, for `Config::validate`'s refusals.
    let mut spans: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut config = Config::default();
    let mut listen = None;
    if let Some(h) = file.host {
        spans.insert("host".into(), h.span());
        config.host = h.into_inner();
    }
    if let Some(u) = file.public_url {
        spans.insert("public_url".into(), u.span());
        config.public_url = u.into_inner().trim_end_matches('/').to_owned();
    }
    if let Some(l) = file.listen {
        listen = Some(l.get_ref().parse().map_err(|_| {
            at(
                l.span(),
                format!("listen {:?} is not an IP:PORT", l.get_ref()),
            )
        })?);
    }
    if let Some(n) = spanned(&mut spans, "issuer_name", file.issuer_name) {
        config.issuer_name = n;
    }
    if let Some(k) = spanned(&mut spans, "k", file.k) {
        config.k = k;
    }
    if let Some(e) = file.epoch {
        config.epoch = Some(
            Epoch::parse(e.get_ref())
                .map_err(|err| at(e.span(), format!("epoch {:?}: {err}", e.get_ref())))?,
        );
    }
    if let Some(t) = file.tiles_dir {
        config.tiles_dir = Some(t);
    }
    if let Some(p) = spanned(
        &mut spans,
        "publish_interval_secs",
        file.publish_interval_secs,
    ) {
        config.default_publish_interval_secs = p;
    }
    if let Some(m) = spanned(&mut spans, "mail_from", file.mail_from) {
        config.mail_from = m;
    }
    if let Some(list) = file.roles {
        config.roles = roles(list, &mut spans, &at)?;
    }
    if !file.orgs.is_empty() {
        let (orgs, rules, subdomains) = organizations(file.orgs, &mut spans, &at)?;
        config.orgs = orgs;
        config.address_rules = rules;
        config.subdomains = subdomains;
    }
    if let Some(l) = file.limits {
        limits(l, &mut config, &mut spans);
    }
    if let Some(w) = file.witnesses {
        witnesses(w, &mut config, &mut spans, &at)?;
    }
    if !file.issuers.is_empty() {
        config.issuers = issuers(file.issuers, &mut spans, &at)?;
    }
    if let Some(c) = spanned(&mut spans, "client", file.client) {
        config.client_release = c.into();
    }
    if let Some(r) = spanned(&mut spans, "issuer_refresh_secs", file.issuer_refresh_secs) {
        config.issuer_refresh_secs = r;
    }
    if let Some(t) = spanned(&mut spans, "issuer_timeout_ms", file.issuer_timeout_ms) {
        config.issuer_timeout_millis = t;
    }
    let smtp = match file.smtp {
        Some(s) => Some(smtp(s, &at)?),
        None => None,
    };
    config.validate().map_err(|e| DeploymentError {
        file: path.to_owned(),
        // Every default is valid, so a refused setting is one the file wrote.
        line: spans.get(&e.key).map_or(1, |s| line_of(text, s.start)),
        reason: e.reason,
    })?;
    Ok(Deployment {
        config,
        listen,
        data: file.data,
        smtp,
    })
}

type At<'a> = dyn Fn(Range<usize>, String) -> DeploymentError + 'a;

/// The roles the file lists, each parsed, with where each is written.
fn roles(
    list: Vec<Spanned<String>>,
    spans: &mut BTreeMap<String, Range<usize>>,
    at: &At<'_>,
) -> Result<Vec<Role>, DeploymentError> {
    let mut out = Vec::new();
    for r in list {
        let role = Role::parse(r.get_ref())
            .map_err(|e| at(r.span(), format!("role {:?}: {e}", r.get_ref())))?;
        spans.entry(format!("roles.{role}")).or_insert(r.span());
        // A second mention is the one a refusal points at.
        if out.contains(&role) {
            spans.insert(format!("roles.{role}"), r.span());
        }
        out.push(role);
    }
    Ok(out)
}

type Orgs = (
    BTreeMap<OrgId, String>,
    BTreeMap<OrgId, AddressRules>,
    BTreeSet<OrgId>,
);

fn organizations(
    entries: Vec<Spanned<OrgEntry>>,
    spans: &mut BTreeMap<String, Range<usize>>,
    at: &At<'_>,
) -> Result<Orgs, DeploymentError> {
    let mut orgs = BTreeMap::new();
    let mut rules = BTreeMap::new();
    let mut subdomains = BTreeSet::new();
    for entry in entries {
        let entry = entry.into_inner();
        let d = &entry.domain;
        let org = OrgId::parse(d.get_ref())
            .map_err(|e| at(d.span(), format!("domain {:?}: {e}", d.get_ref())))?;
        if orgs.contains_key(&org) {
            return Err(at(
                d.span(),
                format!("domain {:?} is listed twice", d.get_ref()),
            ));
        }
        spans.insert(format!("org.{org}"), d.span());
        if let Some(r) = entry.address_rules {
            rules.insert(org.clone(), r);
        }
        if entry.subdomains {
            subdomains.insert(org.clone());
        }
        orgs.insert(org, entry.name.into_inner());
    }
    Ok((orgs, rules, subdomains))
}

fn limits(l: Limits, config: &mut Config, spans: &mut BTreeMap<String, Range<usize>>) {
    let mut span = |key: &str, s: Range<usize>| {
        spans.insert(format!("limits.{key}"), s);
    };
    if let Some(v) = l.code_ttl_secs {
        span("code_ttl_secs", v.span());
        config.code_ttl_secs = v.into_inner();
    }
    if let Some(v) = l.code_max_attempts {
        span("code_max_attempts", v.span());
        config.code_max_attempts = v.into_inner();
    }
    if let Some(v) = l.code_max_live {
        span("code_max_live", v.span());
        config.code_max_live = v.into_inner();
    }
    if let Some(v) = l.code_mails_per_domain_hour {
        span("code_mails_per_domain_hour", v.span());
        config.code_mails_per_domain_hour = v.into_inner();
    }
    if let Some(v) = l.delivery_backoff_secs {
        span("delivery_backoff_secs", v.span());
        config.delivery_backoff_secs = v.into_inner();
    }
    if let Some(v) = l.max_body_bytes {
        span("max_body_bytes", v.span());
        config.max_body_bytes = v.into_inner();
    }
    if let Some(v) = l.publish_grace_secs {
        config.publish_grace_secs = v;
    }
}

fn witnesses(
    w: Witnesses,
    config: &mut Config,
    spans: &mut BTreeMap<String, Range<usize>>,
    at: &At<'_>,
) -> Result<(), DeploymentError> {
    let mut list = Vec::new();
    for entry in &w.list {
        let e = entry.get_ref();
        let spec: WitnessSpec = format!("{}@{}", e.vkey, e.url)
            .parse()
            .map_err(|r: String| at(entry.span(), r))?;
        // The later of two entries with one key is the one a refusal points at.
        spans.insert(format!("witnesses.witness.{}", spec.vkey), entry.span());
        list.push(spec);
    }
    if let Some(q) = w.quorum {
        spans.insert("witnesses.quorum".into(), q.span());
        config.witness_quorum = Some(q.into_inner());
    }
    if let Some(t) = w.timeout_ms {
        spans.insert("witnesses.timeout_ms".into(), t.span());
        config.witness_timeout_millis = t.into_inner();
    }
    if let Some(g) = w.grace_secs {
        config.witness_grace_secs = g;
    }
    config.witnesses = list;
    Ok(())
}

/// The `[[issuer]]` entries, each with its pins parsed.
fn issuers(
    entries: Vec<Spanned<IssuerEntry>>,
    spans: &mut BTreeMap<String, Range<usize>>,
    at: &At<'_>,
) -> Result<Vec<IssuerSpec>, DeploymentError> {
    let mut out = Vec::new();
    for entry in entries {
        let span = entry.span();
        let e = entry.into_inner();
        let mut spec: IssuerSpec = e.url.parse().map_err(|r: String| at(span.clone(), r))?;
        if let Some(id) = &e.id {
            spec.id = Some(IssuerId::from_hex(id).map_err(|_| {
                at(
                    span.clone(),
                    format!("issuer id {id:?} is not 64 hex digits"),
                )
            })?);
        }
        if let Some(k) = &e.log_key {
            spec.log_key = Some(
                undersigned_core::pins::Pins::parse_log_key(k)
                    .map_err(|_| at(span.clone(), format!("log_key {k:?} is not a log key")))?,
            );
        }
        // The later of two entries with one URL is the one a refusal points at.
        spans.insert(format!("issuer.{}", spec.url), span);
        out.push(spec);
    }
    Ok(out)
}

/// A mail relay's `HOST:PORT`, as the file's `[smtp] relay` and `serve --smtp` write it.
pub fn parse_relay(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("relay {s:?} must be HOST:PORT");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

fn smtp(s: Smtp, at: &At<'_>) -> Result<SmtpRelay, DeploymentError> {
    let (host, port) = parse_relay(s.relay.get_ref()).map_err(|r| at(s.relay.span(), r))?;
    Ok(SmtpRelay {
        host,
        port,
        tls: match s.tls {
            TlsName::None => TlsMode::None,
            TlsName::Starttls => TlsMode::StartTls,
            TlsName::Tls => TlsMode::Wrapper,
        },
        user: s.user,
    })
}

/// A summary for `undersigned config check`: what the file decides, one fact a line.
pub fn summary(d: &Deployment) -> String {
    let c = &d.config;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("host:              {}", c.host));
    line(format!("public URL:        {}", c.public_url));
    line(format!(
        "issuer:            {}",
        if c.issuers.is_empty() {
            c.issuer_name.as_str()
        } else {
            "none of its own (the issuers below)"
        }
    ));
    line(format!("k:                 {}", c.k));
    line(format!(
        "epoch:             {}",
        c.epoch
            .as_ref()
            .map_or("the current calendar quarter".to_owned(), |e| e.to_string())
    ));
    line(format!(
        "publish interval:  {} s",
        c.default_publish_interval_secs
    ));
    line(format!(
        "organizations:     {} ({} accepting subdomains, {} with address rules)",
        c.orgs.len(),
        c.subdomains.len(),
        c.address_rules.len()
    ));
    for (org, name) in &c.orgs {
        let sub = if c.subdomains.contains(org) {
            " [+subdomains]"
        } else {
            ""
        };
        line(format!("  {org:<24} {name}{sub}"));
    }
    line(format!(
        "roles:             {}",
        c.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    line(format!(
        "code mails:        {} per organization and hour",
        c.code_mails_per_domain_hour
    ));
    line(format!(
        "mail relay:        {}",
        d.smtp
            .as_ref()
            .map_or("none (--dev or --smtp)".to_owned(), |s| {
                format!("{}:{} ({:?})", s.host, s.port, s.tls)
            })
    ));
    line(format!(
        "issuers:           {}",
        if c.issuers.is_empty() {
            "this server's own".to_owned()
        } else {
            c.issuers
                .iter()
                .map(|i| i.url.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    line(format!(
        "witnesses:         {} (quorum {})",
        c.witnesses.len(),
        c.witness_quorum.unwrap_or(c.witnesses.len())
    ));
    out
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
