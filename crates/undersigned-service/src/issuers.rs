//! The independent issuers a letters deployment accepts (`[[issuer]]` in the deployment file,
//! `serve --issuer URL`): what is pinned of each, and the last good description and signed
//! statement fetched from it. A part of the `Platform`; `Platform::directory` and
//! `issuer_log::bundle_statements` read it where they read the server's own issuer when none
//! is named.
//!
//! Each issuer is asked for its description (`GET /api/v1/issuer`) and its latest signed
//! statement with its log checkpoint (`GET /api/v1/issuer/statement`). Both answers are
//! bounded in size and time. What the first good answer says (issuer id, hence its BBS key;
//! log key; host; witnesses and quorum) is pinned for the life of the process, unless the
//! deployment file pinned it already; a later answer that differs, or whose statement does not
//! verify under the pins, or that lowers a count (`statement::check_growth`), is refused with
//! its reason and the last good one is kept.
//!
//! `IssuerDescription` is the issuer's document: the issuer side serves it and this side reads
//! it, so the type lives here, below both.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::RwLock;
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use undersigned_core::bbs::PublicKey;
use undersigned_core::credential::issuer_id;
use undersigned_core::ids::{AddressRules, IssuerId};
use undersigned_core::issuer::Membership;
use undersigned_core::log::cosignature::{check_quorum, WitnessVerifier};
use undersigned_core::statement::{check_growth, issuer_log_origin, LoggedStatement};

/// `format` of an issuer's description.
pub const DESCRIPTION_FORMAT: &str = "undersigned-issuer/1";
/// The most a description may weigh: far above a deployment of thousands of organizations.
pub const MAX_DESCRIPTION_BYTES: u64 = 1 << 20;
/// The most a logged statement may weigh (core refuses larger statements anyway).
pub const MAX_STATEMENT_BYTES: u64 = 4 << 20;

/// An issuer as the letters deployment names it: its base URL, and what the file pins.
/// Unpinned values are pinned from the first good answer, and printed at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerSpec {
    pub url: String,
    /// SHA-256 of the issuer's BBS public key: pins the key.
    pub id: Option<IssuerId>,
    /// The issuer log's Ed25519 key.
    pub log_key: Option<[u8; 32]>,
}

impl std::str::FromStr for IssuerSpec {
    type Err = String;
    /// `serve --issuer URL`: nothing pinned beforehand.
    fn from_str(s: &str) -> Result<Self, String> {
        crate::config::check_url(s)?;
        Ok(Self {
            url: s.trim_end_matches('/').to_owned(),
            id: None,
            log_key: None,
        })
    }
}

/// An organization an issuer attests, as holders need it to normalize their address.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OrgInfo {
    pub domain: String,
    pub name: String,
    /// Mailboxes at its subdomains belong to it (`ann@eu.acme.com` is a member of `acme.com`,
    /// and keeps its own address: `address_rules` apply to the organization's own domain only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub subdomains: bool,
    /// Spellings its mail system delivers to one mailbox, which the one-credential rule folds
    /// (holders normalize with them, or the issuer's signature would not match their address).
    #[serde(default, skip_serializing_if = "is_default_rules")]
    pub address_rules: AddressRules,
}

fn is_default_rules(r: &AddressRules) -> bool {
    *r == AddressRules::default()
}

/// What an issuer publishes about itself (`GET /api/v1/issuer`): enough for a holder to ask it
/// for credentials and for a letters deployment to pin it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct IssuerDescription {
    pub format: String,
    pub issuer_id: IssuerId,
    pub name: String,
    /// BBS public key, base64url; `issuer_id` is its SHA-256.
    pub public_key: String,
    /// The host that names its statement log.
    pub host: String,
    /// `<host>/issuers/<issuer id>`: its statement log's origin and key name.
    pub log_origin: String,
    /// The statement log's Ed25519 key, hex.
    pub log_public_key: String,
    /// The witnesses' signed-note verifier keys; every published checkpoint of the statement
    /// log carries at least `witness_quorum` of their cosignatures.
    pub witnesses: Vec<String>,
    pub witness_quorum: usize,
    /// The small-cell threshold its statements round counts with.
    pub k: u32,
    pub orgs: Vec<OrgInfo>,
    pub roles: Vec<String>,
    pub age_bands: Vec<String>,
    /// The epochs it issues now: a holder asks for all of them in one request.
    pub epochs: Vec<String>,
    pub current_epoch: String,
}

impl IssuerDescription {
    /// The address normalization the issuer applies, for a holder.
    pub fn membership(&self) -> Membership {
        Membership::for_addresses(
            self.orgs
                .iter()
                .map(|o| (o.domain.as_str(), o.address_rules, o.subdomains)),
        )
    }
}

/// What stays fixed of an issuer while this process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerPins {
    pub id: IssuerId,
    pub log_key: [u8; 32],
    pub host: String,
    pub witnesses: Vec<String>,
    pub witness_quorum: usize,
}

/// An issuer's last good answers, checked against its pins.
#[derive(Clone, Debug)]
pub struct RemoteIssuer {
    pub url: String,
    pub pins: IssuerPins,
    pub public_key: PublicKey,
    pub description: IssuerDescription,
    pub statement: LoggedStatement,
}

/// How the last fetch of one issuer went, for `/api/v1/deployment` and the operator.
#[derive(Clone, Debug, Default)]
pub struct IssuerStatus {
    pub url: String,
    /// Why the last answer was refused (the last good one is kept), if it was.
    pub refused: Option<String>,
}

#[derive(Debug, Default)]
struct Slot {
    good: Option<RemoteIssuer>,
    refused: Option<String>,
}

/// The named issuers and what was last fetched from each, in the order named.
#[derive(Debug)]
pub struct RemoteIssuers {
    specs: Vec<IssuerSpec>,
    agent: ureq::Agent,
    slots: RwLock<Vec<Slot>>,
}

impl RemoteIssuers {
    /// `timeout` bounds each request (connect and whole answer).
    pub fn new(specs: Vec<IssuerSpec>, timeout: Duration) -> Self {
        let slots = specs.iter().map(|_| Slot::default()).collect();
        Self {
            specs,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(timeout)
                .timeout(timeout)
                .redirects(0)
                .build(),
            slots: RwLock::new(slots),
        }
    }

    /// No issuer named: the server runs its own issuer inside, as before.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Every named issuer's last good answers, in the order named; one not fetched yet is
    /// left out.
    pub fn list(&self) -> Vec<RemoteIssuer> {
        self.read().iter().filter_map(|s| s.good.clone()).collect()
    }

    pub fn status(&self) -> Vec<IssuerStatus> {
        self.read()
            .iter()
            .zip(&self.specs)
            .map(|(s, spec)| IssuerStatus {
                url: spec.url.clone(),
                refused: s.refused.clone(),
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches every issuer again (blocking: run it off the async workers). Each answer that
    /// checks out replaces that issuer's last good one; each refusal is kept as its status and
    /// returned as `(url, reason)`.
    pub fn refresh(&self) -> Vec<(String, String)> {
        let mut refusals = Vec::new();
        for (i, spec) in self.specs.iter().enumerate() {
            let previous = self.read().get(i).and_then(|s| s.good.clone());
            let result = fetch(&self.agent, spec, previous.as_ref());
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            let Some(slot) = slots.get_mut(i) else {
                continue;
            };
            match result {
                Ok(good) => {
                    slot.good = Some(good);
                    slot.refused = None;
                }
                Err(reason) => {
                    refusals.push((spec.url.clone(), reason.clone()));
                    slot.refused = Some(reason);
                }
            }
        }
        refusals
    }

    /// The first fetch, at start: every named issuer must answer well, or nothing is pinned
    /// and the deployment would accept whoever answers first later.
    pub fn start(&self) -> Result<Vec<RemoteIssuer>, String> {
        let refusals = self.refresh();
        if let Some((url, reason)) = refusals.first() {
            return Err(format!("issuer {url}: {reason}"));
        }
        Ok(self.list())
    }
}

/// Fetches the named issuers again every `every`, off the async workers, for as long as the
/// process runs; each refusal is logged (the last good answers stay in use).
pub async fn keep_fresh(issuers: std::sync::Arc<RemoteIssuers>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let i = issuers.clone();
        match tokio::task::spawn_blocking(move || i.refresh()).await {
            Ok(refusals) => {
                for (url, reason) in refusals {
                    tracing::warn!(issuer = %url, "issuer answer refused, the last good one is kept: {reason}");
                }
            }
            Err(e) => tracing::warn!("issuer refresh: {e}"),
        }
    }
}

/// One bounded GET of a JSON document.
fn get_json<T: DeserializeOwned>(agent: &ureq::Agent, url: &str, limit: u64) -> Result<T, String> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => format!("{url} answered {code}"),
        ureq::Error::Transport(t) => format!("{url}: {t}"),
    })?;
    let mut body = Vec::new();
    response
        .into_reader()
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("{url}: {e}"))?;
    if body.len() as u64 > limit {
        return Err(format!("{url}: the answer is larger than {limit} bytes"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not the expected document: {e}"))
}

/// Fetches one issuer's description and statement and checks them against its pins (the
/// file's, else the previous answer's, else none yet: the first good answer pins).
fn fetch(
    agent: &ureq::Agent,
    spec: &IssuerSpec,
    previous: Option<&RemoteIssuer>,
) -> Result<RemoteIssuer, String> {
    let description: IssuerDescription = get_json(
        agent,
        &format!("{}/api/v1/issuer", spec.url),
        MAX_DESCRIPTION_BYTES,
    )?;
    let pins = pins_of(spec, &description, previous.map(|p| &p.pins))?;
    let statement: LoggedStatement = get_json(
        agent,
        &format!("{}/api/v1/issuer/statement", spec.url),
        MAX_STATEMENT_BYTES,
    )?;
    let public_key = check_statement(&pins, &statement)?;
    if description.public_key != statement.signed.statement.public_key {
        return Err("the description's key differs from its statement's".into());
    }
    if let Some(p) = previous {
        let (was, is) = (&p.statement.signed, &statement.signed);
        match is.statement.sequence.cmp(&was.statement.sequence) {
            std::cmp::Ordering::Less => {
                return Err(format!(
                    "statement {} is older than statement {} seen before",
                    is.statement.sequence, was.statement.sequence
                ))
            }
            std::cmp::Ordering::Equal if is != was => {
                return Err(format!(
                    "statement {} differs from the one seen before under that number",
                    is.statement.sequence
                ))
            }
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Greater => check_growth(&was.statement, &is.statement)
                .map_err(|e| format!("the statement contradicts the one seen before: {e}"))?,
        }
    }
    Ok(RemoteIssuer {
        url: spec.url.clone(),
        pins,
        public_key,
        description,
        statement,
    })
}

/// The pins a description must match: the previous ones, else the file's with the rest read
/// from this first description.
fn pins_of(
    spec: &IssuerSpec,
    d: &IssuerDescription,
    previous: Option<&IssuerPins>,
) -> Result<IssuerPins, String> {
    if d.format != DESCRIPTION_FORMAT {
        return Err(format!("unknown description format {:?}", d.format));
    }
    let log_key = undersigned_core::pins::Pins::parse_log_key(&d.log_public_key)
        .map_err(|_| "the description's log key is malformed".to_owned())?;
    undersigned_core::log::origin::Host::parse(&d.host)
        .map_err(|_| format!("host {:?} is not a host name", d.host))?;
    let offered = IssuerPins {
        id: d.issuer_id,
        log_key,
        host: d.host.clone(),
        witnesses: d.witnesses.clone(),
        witness_quorum: d.witness_quorum,
    };
    let pins = match previous {
        Some(p) => p.clone(),
        None => IssuerPins {
            id: spec.id.unwrap_or(offered.id),
            log_key: spec.log_key.unwrap_or(offered.log_key),
            ..offered.clone()
        },
    };
    if offered.id != pins.id {
        return Err(format!(
            "issuer id {} is not the pinned {}",
            offered.id, pins.id
        ));
    }
    if offered.log_key != pins.log_key {
        return Err("its log key is not the pinned one".into());
    }
    if offered.host != pins.host
        || offered.witnesses != pins.witnesses
        || offered.witness_quorum != pins.witness_quorum
    {
        return Err("its host or witnesses changed since they were pinned".into());
    }
    if d.log_origin != issuer_log_origin(&pins.host, &pins.id) {
        return Err(format!("log origin {:?} is not its own", d.log_origin));
    }
    Ok(pins)
}

/// A logged statement under the pins: signed by the pinned issuer's key, included under a
/// checkpoint of its log (origin `<host>/issuers/<id>`, the pinned log key) that carries its
/// witnesses' quorum. Returns the issuer's BBS key.
pub fn check_statement(pins: &IssuerPins, s: &LoggedStatement) -> Result<PublicKey, String> {
    let log_key = ed25519_dalek::VerifyingKey::from_bytes(&pins.log_key)
        .map_err(|_| "the pinned log key is not a key".to_owned())?;
    let pk = s
        .verify(&pins.host, &log_key)
        .map_err(|e| format!("statement refused: {e}"))?;
    if s.signed.statement.issuer_id != pins.id || issuer_id(&pk) != pins.id {
        return Err("statement refused: it is not signed by the pinned issuer key".into());
    }
    if !pins.witnesses.is_empty() {
        let verifiers = pins
            .witnesses
            .iter()
            .map(|v| WitnessVerifier::from_vkey(v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("a witness key: {e}"))?;
        let distinct: BTreeSet<&String> = pins.witnesses.iter().collect();
        check_quorum(
            &s.checkpoint,
            &verifiers,
            pins.witness_quorum.min(distinct.len()),
        )
        .map_err(|e| format!("statement refused: its checkpoint: {e}"))?;
    }
    Ok(pk)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::IssuerSpec;

    #[test]
    fn an_issuer_flag_is_a_url() {
        let spec: IssuerSpec = "https://issuer.example.org/".parse().unwrap();
        assert_eq!(spec.url, "https://issuer.example.org");
        assert!(spec.id.is_none());
        assert!("issuer.example.org".parse::<IssuerSpec>().is_err());
        assert!("ftp://issuer.example.org".parse::<IssuerSpec>().is_err());
    }
}
