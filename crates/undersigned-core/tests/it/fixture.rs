//! A small deterministic world: one issuer, a few orgs, credentials and an open letter.

use ed25519_dalek::SigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::bundle::{origin, Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::credential::{receive_credential, request_credential, Credential};
use undersigned_core::entry::{
    present, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility};
use undersigned_core::log::{LogSigner, MerkleLog};
use undersigned_core::record::LogEntry;
use undersigned_core::statement::{issuer_log_origin, LoggedStatement, SignedStatement};

pub const K: u32 = 3;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct World {
    pub rng: ChaCha20Rng,
    pub issuer: Issuer,
    pub epoch: Epoch,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let keys = IssuerKeys::generate("Work-email attestor", &mut rng).unwrap();
        let mut membership = Membership::default();
        for (d, n) in [
            ("state.gov", "Department of State"),
            ("usaid.gov", "USAID"),
            ("tiny.gov", "Tiny Office"),
        ] {
            membership
                .orgs
                .insert(undersigned_core::ids::OrgId::parse(d).unwrap(), n.into());
        }
        membership.roles.insert(Role::parse("analyst").unwrap());
        membership.roles.insert(Role::parse("officer").unwrap());
        let issuer = Issuer::new(keys, membership, &mut rng);
        Self {
            rng,
            issuer,
            epoch: Epoch::parse("2026-Q4").unwrap(),
        }
    }

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
        self.issuer.published_sets(&self.epoch, K)
    }

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
                orgs: vec![],
                disclosures,
                k: K,
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
        relog(vec![self.signed_statement(1)])
    }

    pub fn signed_statement(&self, sequence: u64) -> SignedStatement {
        self.issuer
            .statement(K, sequence, 1_700_000_000 + sequence)
            .sign(&self.issuer.keys)
            .unwrap()
    }

    /// A bundle of these entries, sealed with the test log key like a published log.
    pub fn bundle(&self, letter: &Letter, entries: Vec<SignatureEntry>) -> Bundle {
        let mut log = vec![LogEntry::Opened {
            letter: letter.clone(),
            at: 1_700_000_000,
        }];
        log.extend(entries.into_iter().map(LogEntry::submission));
        let mut b = Bundle {
            format: BUNDLE_FORMAT.into(),
            letter_id: letter.id(),
            letter: letter.clone(),
            issuers: vec![IssuerRecord::new(self.logged_statement())],
            entries: log,
            checkpoint: None,
            log_public_key: None,
            responses: vec![],
        };
        seal(&mut b);
        b
    }
}

pub const HOST: &str = "undersigned.test";

/// The log's signer for a letter: one Ed25519 key, named by each letter's origin.
pub fn log_signer(letter_id: &undersigned_core::ids::LetterId) -> LogSigner {
    LogSigner::new(&origin(HOST, letter_id), SigningKey::from_bytes(&[7u8; 32])).unwrap()
}

/// The issuer log's signer: the deployment's log key, named `<host>/issuers/<issuer id>`.
pub fn issuer_log_signer(issuer: &undersigned_core::ids::IssuerId) -> LogSigner {
    LogSigner::new(
        &issuer_log_origin(HOST, issuer),
        SigningKey::from_bytes(&[7u8; 32]),
    )
    .unwrap()
}

/// An issuer log of these statements, the last one proven under a fresh signed checkpoint:
/// what an operator holding the log key could publish.
pub fn relog(statements: Vec<SignedStatement>) -> LoggedStatement {
    let mut tree = MerkleLog::new();
    for s in &statements {
        tree.append(&s.leaf_bytes());
    }
    let last = statements.last().unwrap().clone();
    let signer = issuer_log_signer(&last.statement.issuer_id);
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
