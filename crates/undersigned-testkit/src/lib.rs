//! For tests only, never a dependency of anything shipped: the deterministic "test world"
//! (one issuer, a few organizations, credentials, letters, sealed bundles and logs) that
//! core's, the wasm glue's and the CLI's integration tests and the fuzz targets start from.
//!
//! One world, built from a seed and a [`Setting`], so every suite means the same thing by
//! "the issuer" and "an analyst at state.gov". Being a test fixture it panics on anything
//! unexpected: a broken fixture must stop the test, not be handled.
//!
//! Use it from integration tests (`tests/it`) only. A crate's own `#[cfg(test)]` unit tests
//! would see two copies of core's types (the crate under test and the one this depends on).
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod attack;

use ed25519_dalek::SigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::bundle::{origin, Bundle, BundleIssuer, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::credential::{
    receive_credential, request_credential, Credential, IssuanceRequest,
};
use undersigned_core::encoding::{b64url, from_b64url};
use undersigned_core::entry::{
    present, present_with, Action, Ask, DisclosureChoice, Held, IssuerDirectory, IssuerInfo,
    SignatureEntry, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, IssuerId, LetterId, OrgId, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility};
use undersigned_core::log::{LogSigner, MerkleLog};
use undersigned_core::record::LogEntry;
use undersigned_core::statement::{issuer_log_origin, LoggedStatement, SignedStatement};

/// The tests' k (small-cell threshold).
pub const K: u32 = 3;
/// The tests' deployment host: every letter log's origin starts with it.
pub const HOST: &str = "undersigned.test";
/// The deployment's log key: fixed, so a test (or a fuzz target) can re-sign what it changed.
pub const LOG_KEY: [u8; 32] = [7u8; 32];
/// A passphrase long enough for a holder's backup.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// What a world is made of besides its seed.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub issuer_name: &'static str,
    /// (domain, organization name) accepted by the issuer.
    pub orgs: &'static [(&'static str, &'static str)],
    pub roles: &'static [&'static str],
    pub k: u32,
    pub host: &'static str,
}

impl Setting {
    /// The integration tests' world: three organizations, one of them tiny.
    pub const TESTS: Setting = Setting {
        issuer_name: "Work-email attestor",
        orgs: &[
            ("state.gov", "Department of State"),
            ("usaid.gov", "USAID"),
            ("tiny.gov", "Tiny Office"),
        ],
        roles: &["analyst", "officer"],
        k: K,
        host: HOST,
    };
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The deployment's log key; every letter's log signs with it under the letter's origin.
pub fn log_key() -> SigningKey {
    SigningKey::from_bytes(&LOG_KEY)
}

#[derive(Debug)]
pub struct World {
    pub rng: ChaCha20Rng,
    pub issuer: Issuer,
    pub epoch: Epoch,
    pub k: u32,
    pub host: &'static str,
}

impl World {
    /// The tests' world ([`Setting::TESTS`]) from this seed.
    pub fn new(seed: u64) -> Self {
        Self::with(seed, &Setting::TESTS)
    }

    pub fn with(seed: u64, setting: &Setting) -> Self {
        let mut rng = rng(seed);
        let keys = IssuerKeys::generate(setting.issuer_name, &mut rng).unwrap();
        let mut membership = Membership::default();
        for (d, n) in setting.orgs {
            membership
                .orgs
                .insert(OrgId::parse(d).unwrap(), (*n).to_owned());
        }
        for r in setting.roles {
            membership.roles.insert(Role::parse(r).unwrap());
        }
        let issuer = Issuer::new(keys, membership, &mut rng);
        Self {
            rng,
            issuer,
            epoch: Epoch::parse("2026-Q4").unwrap(),
            k: setting.k,
            host: setting.host,
        }
    }

    /// A credential of this world's epoch, issued and received in memory.
    pub fn credential(&mut self, email: &str, role: &str, age: AgeBand) -> Credential {
        let email = Email::parse(email).unwrap();
        let role = Role::parse(role).unwrap();
        let (req, pending) = request_credential(&mut self.rng).unwrap();
        let resp = self
            .issuer
            .issue(&req, &email, &self.epoch, &role, age, &mut self.rng)
            .unwrap();
        let attrs = self
            .issuer
            .membership
            .attributes(&email, self.epoch.clone(), role, age)
            .unwrap();
        receive_credential(pending, &resp, self.issuer.keys.public_key(), attrs).unwrap()
    }

    pub fn sets(&self) -> PublishedSets {
        self.issuer.published_sets(&self.epoch, self.k)
    }

    /// The sets as a holder's page hands them over: keyed by the issuer's hex id.
    pub fn sets_json(&self) -> String {
        json!({ self.issuer.keys.id().to_hex(): self.sets() }).to_string()
    }

    /// This world's issuer as the letters deployment lists it (an element of `issuers` in
    /// `GET /api/v1/deployment`).
    pub fn issuer_json(&self) -> Value {
        json!({
            "url": format!("https://{}", self.host),
            "issuer_id": self.issuer.keys.id().to_hex(),
            "name": self.issuer.keys.name,
            "public_key": b64url(&self.issuer.keys.public_key().to_bytes()),
            "orgs": [],
        })
    }

    /// An open letter accepting this world's issuer and epoch.
    pub fn letter(&self, title: &str, disclosures: AllowedDisclosures) -> Letter {
        Letter::new(
            title,
            "We, the undersigned, ask for a review.\n",
            vec![],
            Policy {
                issuers: vec![AcceptedIssuer {
                    issuer_id: self.issuer.keys.id(),
                    epochs: vec![self.epoch.clone()],
                }],
                threshold: 1,
                orgs: vec![],
                disclosures,
                k: self.k,
                deadline: 2_000_000_000,
                visibility: Visibility::Public,
                publish_interval_secs: 600,
                comments: true,
            },
        )
        .unwrap()
    }

    pub fn directory(&self) -> IssuerDirectory {
        let mut d = IssuerDirectory::new();
        d.insert(
            self.issuer.keys.id(),
            IssuerInfo {
                name: self.issuer.keys.name.clone(),
                public_key: self.issuer.keys.public_key().clone(),
                sets: vec![self.sets()],
            },
        );
        d
    }

    /// The issuer's signed statement as the only leaf of its issuer log.
    pub fn logged_statement(&self) -> LoggedStatement {
        relog_under(self.host, vec![self.signed_statement(1)])
    }

    pub fn signed_statement(&self, sequence: u64) -> SignedStatement {
        self.statement_at(sequence, 1_700_000_000 + sequence)
    }

    /// The issuer's statement with this sequence number and time, signed.
    pub fn statement_at(&self, sequence: u64, time: u64) -> SignedStatement {
        self.issuer
            .statement(self.k, sequence, time)
            .sign(&self.issuer.keys)
            .unwrap()
    }

    /// The log's signer for a letter of this world's host.
    pub fn log_signer(&self, letter_id: &LetterId) -> LogSigner {
        LogSigner::new(&origin(self.host, letter_id), log_key()).unwrap()
    }

    /// A bundle of these entries, sealed with the log key like a published log.
    pub fn bundle(&self, letter: &Letter, entries: Vec<SignatureEntry>) -> Bundle {
        self.bundle_of(letter, entries, self.logged_statement())
    }

    /// A bundle of these entries and this issuer statement, sealed.
    pub fn bundle_of(
        &self,
        letter: &Letter,
        entries: Vec<SignatureEntry>,
        statement: LoggedStatement,
    ) -> Bundle {
        let mut log = vec![LogEntry::Opened {
            letter: letter.clone(),
            at: 1_700_000_000,
        }];
        log.extend(entries.into_iter().map(LogEntry::submission));
        let mut b = Bundle {
            format: BUNDLE_FORMAT.into(),
            letter_id: letter.id(),
            letter: letter.clone(),
            issuers: vec![IssuerRecord::new(statement)],
            entries: log,
            checkpoint: None,
            log_public_key: None,
            responses: vec![],
        };
        b.seal(&self.log_signer(&b.letter_id)).unwrap();
        b
    }
}

/// The issuers' names in a [`Council`], one per independent issuer.
pub const COUNCIL_NAMES: [&str; 5] = [
    "Newsroom attestor",
    "Union attestor",
    "Law clinic attestor",
    "Fourth attestor",
    "Fifth attestor",
];

/// Several independent issuers over the same organizations (protocol v1.2, "Several
/// issuers"): each a [`World`] of its own seed and key, for letters that need t of them.
#[derive(Debug)]
pub struct Council {
    pub worlds: Vec<World>,
}

impl Council {
    /// `n` issuers (at most five), seeds `seed`, `seed + 1`, …
    pub fn new(seed: u64, n: usize) -> Self {
        let worlds = COUNCIL_NAMES
            .iter()
            .take(n)
            .zip(seed..)
            .map(|(name, s)| {
                World::with(
                    s,
                    &Setting {
                        issuer_name: name,
                        ..Setting::TESTS
                    },
                )
            })
            .collect();
        Self { worlds }
    }

    /// One person's credentials, one from each issuer, for the same address.
    pub fn credentials(&mut self, email: &str, role: &str, age: AgeBand) -> Vec<Credential> {
        self.worlds
            .iter_mut()
            .map(|w| w.credential(email, role, age))
            .collect()
    }

    /// An open letter accepting every issuer, needing `t` of them.
    pub fn letter(&self, title: &str, disclosures: AllowedDisclosures, t: u32) -> Letter {
        let first = self.worlds.first().unwrap();
        let mut letter = first.letter(title, disclosures);
        letter.policy.issuers = self
            .worlds
            .iter()
            .map(|w| AcceptedIssuer {
                issuer_id: w.issuer.keys.id(),
                epochs: vec![w.epoch.clone()],
            })
            .collect();
        letter.policy.threshold = t;
        letter.canonicalize().unwrap()
    }

    /// Every issuer, as a verifier knows them.
    pub fn directory(&self) -> IssuerDirectory {
        self.worlds.iter().flat_map(|w| w.directory()).collect()
    }

    /// Each issuer's published sets, by issuer id.
    pub fn sets(&self) -> Vec<(IssuerId, PublishedSets)> {
        self.worlds
            .iter()
            .map(|w| (w.issuer.keys.id(), w.sets()))
            .collect()
    }

    /// A signature with the credentials `held` (any of the council's), disclosing `choice`.
    pub fn sign(
        &mut self,
        held: &[&Credential],
        letter: &Letter,
        choice: DisclosureChoice,
    ) -> Result<SignatureEntry, undersigned_core::error::PresentError> {
        self.present(held, letter, Action::Sign, choice)
    }

    pub fn present(
        &mut self,
        held: &[&Credential],
        letter: &Letter,
        action: Action,
        choice: DisclosureChoice,
    ) -> Result<SignatureEntry, undersigned_core::error::PresentError> {
        let sets = self.sets();
        let held: Vec<Held<'_>> = held
            .iter()
            .map(|c| Held {
                credential: c,
                sets: &sets.iter().find(|(id, _)| *id == c.issuer_id).unwrap().1,
            })
            .collect();
        let ask = Ask {
            action,
            choice,
            comment: None,
            consent: SmallOrgConsent::Given,
        };
        let rng = &mut self.worlds.first_mut().unwrap().rng;
        present_with(&held, letter, &ask, rng)
    }

    /// A bundle of these entries with every issuer's statement, sealed with the log key.
    pub fn bundle(&self, letter: &Letter, entries: Vec<SignatureEntry>) -> Bundle {
        let first = self.worlds.first().unwrap();
        let mut b = first.bundle(letter, entries);
        b.issuers = self
            .worlds
            .iter()
            .map(|w| IssuerRecord::new(w.logged_statement()))
            .collect();
        b.seal(&first.log_signer(&b.letter_id)).unwrap();
        b
    }
}

/// The world as a server answers about it, in its JSON: what the browser glue's tests feed in.
impl World {
    /// `GET /api/v1/deployment`.
    pub fn deployment(&self) -> String {
        let issuer = BundleIssuer::new(
            &self.issuer.keys.name,
            self.issuer.keys.public_key(),
            vec![self.sets()],
        );
        json!({
            "host": self.host,
            "k": self.k,
            "epoch": self.epoch.as_str(),
            "orgs": [],
            "roles": ["analyst", "officer"],
            "age_bands": ["under-30", "30-39"],
            "issuer": issuer,
            "log_public_key": hex::encode(log_key().verifying_key().to_bytes()),
            "dev": true,
            "issuers": [self.issuer_json()],
        })
        .to_string()
    }

    /// `GET /api/v1/issuance/epochs` with only this world's epoch issuable.
    pub fn epochs(&self) -> String {
        json!({"epochs": [self.epoch.as_str()], "current": self.epoch.as_str()}).to_string()
    }

    /// The issuer's side of `POST /api/v1/issuance/credential`, answering a holder's request
    /// (`{"commitments": [{"epoch", "commitment"}], ...}`).
    pub fn issue(
        &mut self,
        requested: &str,
        email: &str,
        role: &str,
        age: AgeBand,
        rng: &mut ChaCha20Rng,
    ) -> String {
        let requested: Value = serde_json::from_str(requested).unwrap();
        let requests: Vec<(Epoch, IssuanceRequest)> = requested["commitments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let commitment =
                    from_b64url(c["commitment"].as_str().unwrap(), 1024, "commitment").unwrap();
                (
                    Epoch::parse(c["epoch"].as_str().unwrap()).unwrap(),
                    IssuanceRequest::from_slice(&commitment).unwrap(),
                )
            })
            .collect();
        let issued = self
            .issuer
            .issue_epochs(
                &requests,
                &Email::parse(email).unwrap(),
                &Role::parse(role).unwrap(),
                age,
                rng,
            )
            .unwrap();
        json!({
            "issuer_id": self.issuer.keys.id().to_hex(),
            "issuer_public_key": b64url(&self.issuer.keys.public_key().to_bytes()),
            "credentials": issued.iter().map(|(e, r)| json!({
                "epoch": e.as_str(),
                "signature": b64url(&r.signature),
                "nym_entropy": b64url(&r.nym_entropy),
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// The log's signer for a letter: one Ed25519 key, named by each letter's origin.
pub fn log_signer(letter_id: &LetterId) -> LogSigner {
    LogSigner::new(&origin(HOST, letter_id), log_key()).unwrap()
}

/// The issuer log's signer: the deployment's log key, named `<host>/issuers/<issuer id>`.
pub fn issuer_log_signer(issuer: &IssuerId) -> LogSigner {
    LogSigner::new(&issuer_log_origin(HOST, issuer), log_key()).unwrap()
}

/// An issuer log of these statements, the last one proven under a fresh signed checkpoint:
/// what an operator holding the log key could publish.
pub fn relog(statements: Vec<SignedStatement>) -> LoggedStatement {
    relog_under(HOST, statements)
}

/// [`relog`] under another deployment host.
pub fn relog_under(host: &str, statements: Vec<SignedStatement>) -> LoggedStatement {
    let mut tree = MerkleLog::new();
    for s in &statements {
        tree.append(&s.leaf_bytes());
    }
    let last = statements.last().unwrap().clone();
    let signer = LogSigner::new(
        &issuer_log_origin(host, &last.statement.issuer_id),
        log_key(),
    )
    .unwrap();
    LoggedStatement::prove(last, tree.size() - 1, &tree, &signer).unwrap()
}

/// Re-signs the checkpoint over the bundle's (possibly tampered) entries: what an operator
/// holding the log key could do. Entry-level checks must still catch the tampering.
pub fn seal(b: &mut Bundle) {
    let signer = log_signer(&b.letter_id);
    b.seal(&signer).unwrap();
}

pub fn all_disclosures() -> AllowedDisclosures {
    AllowedDisclosures {
        role: true,
        age_band: true,
        email: false,
    }
}

pub fn sign(
    c: &Credential,
    l: &Letter,
    sets: &PublishedSets,
    choice: DisclosureChoice,
    comment: Option<&str>,
) -> SignatureEntry {
    present(
        c,
        l,
        Action::Sign,
        choice,
        comment,
        sets,
        SmallOrgConsent::Given,
    )
    .unwrap()
}

pub fn withdraw(c: &Credential, l: &Letter, sets: &PublishedSets) -> SignatureEntry {
    present(
        c,
        l,
        Action::Withdraw,
        DisclosureChoice::default(),
        None,
        sets,
        SmallOrgConsent::Given,
    )
    .unwrap()
}

/// Four analysts aged 30-39 at state.gov, one officer at usaid.gov, one at tiny.gov.
pub fn populated(seed: u64) -> (World, Vec<Credential>) {
    let mut w = World::new(seed);
    let mut creds = vec![];
    for i in 0..4 {
        creds.push(w.credential(
            &format!("analyst{i}@state.gov"),
            "analyst",
            AgeBand::From30To39,
        ));
    }
    creds.push(w.credential("officer@usaid.gov", "officer", AgeBand::Over60));
    creds.push(w.credential("solo@tiny.gov", "analyst", AgeBand::Under30));
    (w, creds)
}
