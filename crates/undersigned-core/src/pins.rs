//! Key pinning: the issuer and log keys a verifier expects, given by hand or read from a saved
//! `/api/v1/deployment` answer, and what a report says about where its keys came from.
//!
//! Without pins a bundle proves only that it is consistent under the keys it carries itself;
//! pinning is what ties it to one deployment.

use serde::{Deserialize, Serialize};

use crate::bbs::PublicKey;
use crate::credential::issuer_id;
use crate::encoding::from_b64url;
use crate::error::BundleError;
use crate::ids::IssuerId;
use crate::log::cosignature::{check_quorum, WitnessVerifier};
use crate::log::origin::{Host, LogKind, Origin};

/// Keys a verifier insists on. `None` means "taken from the bundle".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    pub issuers: Option<Vec<IssuerId>>,
    /// The deployment's Ed25519 log key.
    pub log_key: Option<[u8; 32]>,
    /// The witnesses (signed-note verifier keys) whose cosignatures every checkpoint must
    /// carry, at least `quorum` of them. Empty: cosignatures are not checked.
    pub witnesses: Vec<String>,
    pub quorum: usize,
    /// The deployment's host: every log origin must be exactly `<host>/letters/<id>` or
    /// `<host>/issuers/<id>` under it. Pinning keys without the host let an operator's log
    /// key sign a second history under another name (issue 21).
    pub host: Option<Host>,
    /// Issuers' statement logs as their deployment published them (host, key, witnesses):
    /// an issuer named here must keep its statements exactly there, whether its own log
    /// (an independent issuer) or the deployment's.
    pub issuer_logs: Vec<IssuerLogPin>,
}

/// Where one issuer's statement log is kept, and who must cosign its checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerLogPin {
    pub id: IssuerId,
    pub host: Host,
    pub key: [u8; 32],
    pub witnesses: Vec<String>,
    pub quorum: usize,
}

fn bad(what: &str) -> BundleError {
    BundleError::Pin(format!("cannot read the {what}"))
}

impl Pins {
    /// An issuer key as published: the BBS public key in base64url (as in the deployment's
    /// `issuer.public_key`), or its issuer id (64 hex digits, SHA-256 of the key).
    pub fn parse_issuer_key(s: &str) -> Result<IssuerId, BundleError> {
        let s = s.trim();
        if s.len() == 64 {
            if let Ok(id) = IssuerId::from_hex(s) {
                return Ok(id);
            }
        }
        let bytes = from_b64url(s, 96, "issuer key").map_err(|_| bad("issuer key"))?;
        let pk = PublicKey::from_slice(&bytes).map_err(|_| bad("issuer key"))?;
        Ok(issuer_id(&pk))
    }

    /// A log key as published: 64 hex digits (the deployment's `log_public_key`), or a
    /// signed-note verifier key `name+keyid+base64(0x01||key)`.
    pub fn parse_log_key(s: &str) -> Result<[u8; 32], BundleError> {
        let s = s.trim();
        let mut key = [0u8; 32];
        if hex::decode_to_slice(s, &mut key).is_ok() {
            return Ok(key);
        }
        crate::log::LogVerifier::from_vkey(s)
            .map(|v| v.verifying_key().to_bytes())
            .map_err(|_| bad("log key"))
    }

    /// A deployment's host, as `/api/v1/deployment` publishes it (`example.org`,
    /// `127.0.0.1:8080`): the one spelling that its origins use, nothing else.
    pub fn parse_host(s: &str) -> Result<Host, BundleError> {
        Host::parse(s).map_err(|e| BundleError::Pin(e.to_string()))
    }

    /// Refuses a log host other than the pinned one. Exact: the same bytes, not a suffix.
    pub fn check_host(&self, host: &Host) -> Result<(), BundleError> {
        match &self.host {
            Some(pinned) if pinned != host => Err(BundleError::Pin(format!(
                "the bundle's log is kept by host {host:?}, not the pinned host {pinned:?}",
                host = host.as_str(),
                pinned = pinned.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// Both keys and the host from a saved `/api/v1/deployment` answer.
    pub fn from_deployment(json: &[u8]) -> Result<Self, BundleError> {
        #[derive(Deserialize)]
        struct Issuer {
            public_key: String,
        }
        #[derive(Deserialize)]
        struct Listed {
            public_key: String,
            host: String,
            log_origin: Option<String>,
            log_public_key: String,
            #[serde(default)]
            witnesses: Vec<String>,
            #[serde(default)]
            witness_quorum: usize,
        }
        #[derive(Deserialize)]
        struct Deployment {
            host: String,
            issuer: Issuer,
            #[serde(default)]
            issuers: Vec<Listed>,
            issuer_log_origin: Option<String>,
            log_public_key: String,
            #[serde(default)]
            witnesses: Vec<String>,
            witness_quorum: Option<usize>,
        }
        let d: Deployment = serde_json::from_slice(json).map_err(|e| {
            BundleError::Pin(format!(
                "not a deployment file (as served at /api/v1/deployment): {e}"
            ))
        })?;
        let host = Self::parse_host(&d.host)?;
        let issuer = Self::parse_issuer_key(&d.issuer.public_key)?;
        let mut issuer_logs = Vec::new();
        for l in &d.issuers {
            for w in &l.witnesses {
                WitnessVerifier::from_vkey(w).map_err(|_| bad("issuer's witness key"))?;
            }
            if l.witness_quorum > l.witnesses.len() {
                return Err(bad("issuer's witness quorum"));
            }
            let id = Self::parse_issuer_key(&l.public_key)?;
            let listed_host = Self::parse_host(&l.host)?;
            if let Some(named) = &l.log_origin {
                let expected = Origin::new(listed_host.clone(), LogKind::Issuer, id.0);
                Origin::expect(named, &expected).map_err(|e| {
                    BundleError::Pin(format!("an issuer's log_origin in the deployment: {e}"))
                })?;
            }
            issuer_logs.push(IssuerLogPin {
                id,
                host: listed_host,
                key: Self::parse_log_key(&l.log_public_key)?,
                witnesses: l.witnesses.clone(),
                quorum: l.witness_quorum,
            });
        }
        // The issuer log's origin the deployment names must be the one spelling under the
        // host that keeps it: the deployment's for its own issuer, the listed issuer's own
        // for an independent one. A monitor follows it by this name.
        if let Some(named) = &d.issuer_log_origin {
            let keeper = issuer_logs
                .iter()
                .find(|l| l.id == issuer)
                .map_or(&host, |l| &l.host);
            let expected = Origin::new(keeper.clone(), LogKind::Issuer, issuer.0);
            Origin::expect(named, &expected).map_err(|e| {
                BundleError::Pin(format!("the deployment's issuer_log_origin: {e}"))
            })?;
        }
        let issuers = if issuer_logs.is_empty() {
            vec![issuer]
        } else {
            issuer_logs.iter().map(|l| l.id).collect()
        };
        Self {
            issuers: Some(issuers),
            log_key: Some(Self::parse_log_key(&d.log_public_key)?),
            witnesses: Vec::new(),
            quorum: 0,
            host: Some(host),
            issuer_logs,
        }
        .with_witnesses(d.witnesses, d.witness_quorum)
    }

    /// Refuses an issuer statement log other than the one pinned for that issuer: exactly its
    /// host and key.
    pub fn check_issuer_log(
        &self,
        id: &IssuerId,
        host: &Host,
        key: &[u8; 32],
    ) -> Result<(), BundleError> {
        match self.issuer_logs.iter().find(|l| &l.id == id) {
            Some(l) if &l.host != host || &l.key != key => Err(BundleError::Pin(format!(
                "issuer {id}'s statements are logged by host {} under key {}, not the pinned host {} and key {}",
                host.as_str(),
                hex::encode(key),
                l.host.as_str(),
                hex::encode(l.key)
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses an issuer log checkpoint without its pinned witnesses' quorum: the issuer's own
    /// witnesses when its log is pinned, else the deployment's.
    pub fn check_issuer_cosignatures(
        &self,
        id: &IssuerId,
        note: &str,
    ) -> Result<Vec<WitnessReport>, BundleError> {
        match self.issuer_logs.iter().find(|l| &l.id == id) {
            Some(l) => Pins {
                witnesses: l.witnesses.clone(),
                quorum: l.quorum,
                ..Pins::default()
            }
            .check_cosignatures(note),
            None => self.check_cosignatures(note),
        }
    }

    /// Requires cosignatures from `quorum` of `witnesses` (every one of them when `None`);
    /// refuses keys that do not parse and a quorum larger than the witnesses named.
    pub fn with_witnesses(
        mut self,
        witnesses: Vec<String>,
        quorum: Option<usize>,
    ) -> Result<Self, BundleError> {
        for w in &witnesses {
            WitnessVerifier::from_vkey(w).map_err(|_| bad("witness key"))?;
        }
        let quorum = quorum.unwrap_or(witnesses.len());
        if quorum > witnesses.len() || (quorum == 0 && !witnesses.is_empty()) {
            return Err(BundleError::Pin(format!(
                "a quorum of {quorum} with {} witnesses named",
                witnesses.len()
            )));
        }
        self.witnesses = witnesses;
        self.quorum = quorum;
        Ok(self)
    }

    /// Refuses a checkpoint note without `quorum` valid cosignatures from the pinned
    /// witnesses; returns who cosigned it and when. Nothing to check without witnesses.
    pub fn check_cosignatures(&self, note: &str) -> Result<Vec<WitnessReport>, BundleError> {
        if self.witnesses.is_empty() {
            return Ok(Vec::new());
        }
        let verifiers = self
            .witnesses
            .iter()
            .map(|w| WitnessVerifier::from_vkey(w).map_err(|_| bad("witness key")))
            .collect::<Result<Vec<_>, _>>()?;
        check_quorum(note, &verifiers, self.quorum)
            .map(|c| {
                c.into_iter()
                    .map(|c| WitnessReport {
                        name: c.name,
                        timestamp: c.timestamp,
                    })
                    .collect()
            })
            .map_err(|e| BundleError::Cosignature(e.to_string()))
    }

    /// Refuses a bundle whose keys are not the pinned ones, naming which key differs.
    pub fn check(&self, issuers: &[IssuerId], log_key: &[u8; 32]) -> Result<(), BundleError> {
        if let Some(pinned) = &self.log_key {
            if pinned != log_key {
                return Err(BundleError::Pin(format!(
                    "the bundle's log key {} is not the pinned log key {}",
                    hex::encode(log_key),
                    hex::encode(pinned)
                )));
            }
        }
        if let Some(pinned) = &self.issuers {
            if let Some(other) = issuers.iter().find(|i| !pinned.contains(i)) {
                return Err(BundleError::Pin(format!(
                    "the bundle's issuer key {other} is not a pinned issuer key ({})",
                    pinned
                        .iter()
                        .map(IssuerId::to_hex)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    /// What a report says about the keys it verified under.
    pub fn report(&self, issuers: &[IssuerId], log_key: &[u8; 32], host: &Host) -> KeyReport {
        KeyReport {
            issuer_keys: issuers.iter().map(IssuerId::to_hex).collect(),
            issuer_key_pinned: self.issuers.is_some(),
            log_public_key: hex::encode(log_key),
            log_key_pinned: self.log_key.is_some(),
            host: host.as_str().to_owned(),
            host_pinned: self.host.is_some(),
        }
    }
}

/// A witness that cosigned a verified checkpoint, and when (its clock, unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessReport {
    pub name: String,
    pub timestamp: u64,
}

/// The keys a bundle verified under, and whether each was pinned or taken from the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// Issuer key fingerprints: SHA-256 of each BBS public key (the issuer id), hex.
    pub issuer_keys: Vec<String>,
    pub issuer_key_pinned: bool,
    /// The log's Ed25519 public key, hex (as `/api/v1/deployment` publishes it).
    pub log_public_key: String,
    pub log_key_pinned: bool,
    /// The host of the log origins, and whether it was pinned (compared exactly) or read from
    /// the bundle's own checkpoint.
    pub host: String,
    pub host_pinned: bool,
}

impl KeyReport {
    /// The sentence `verify` adds to its statement.
    pub fn statement(&self) -> String {
        let host = if self.host_pinned {
            format!("the log is kept by the pinned host {}", self.host)
        } else {
            format!(
                "the log names host {}, not pinned (pin it with --deployment FILE or --host)",
                self.host
            )
        };
        format!("{}; {host}", self.keys_statement())
    }

    fn keys_statement(&self) -> String {
        let issuers = self.issuer_keys.join(", ");
        match (self.issuer_key_pinned, self.log_key_pinned) {
            (true, true) => format!(
                "issuer key {issuers} and log key {} match the pinned keys",
                self.log_public_key
            ),
            (false, false) => format!(
                "the keys were taken from the bundle itself, not pinned: issuer key {issuers} (SHA-256), log key {}; pin them with --deployment FILE or --issuer-key/--log-key",
                self.log_public_key
            ),
            (true, false) => format!(
                "issuer key {issuers} matches the pinned key; the log key {} was taken from the bundle itself, not pinned",
                self.log_public_key
            ),
            (false, true) => format!(
                "log key {} matches the pinned key; the issuer key {issuers} (SHA-256) was taken from the bundle itself, not pinned",
                self.log_public_key
            ),
        }
    }
}
