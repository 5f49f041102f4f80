//! A fixed world for the fuzz targets: one issuer, credentials, an open letter, valid entries
//! and a sealed bundle, all from fixed seeds so that a committed seed corpus stays valid.
//!
//! Targets start from these valid values and let the fuzzer change them, so that its inputs
//! get past parsing and the checkpoint signature and reach the proof verifier and the entry
//! checks (issue 14, finding 7).

use std::sync::OnceLock;

pub mod seeds;

use ed25519_dalek::SigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use undersigned_core::anonymity::PublishedSets;
use undersigned_core::bundle::{origin, Bundle, IssuerRecord, BUNDLE_FORMAT};
use undersigned_core::credential::{
    receive_credential, request_credential, Attributes, Credential,
};
use undersigned_core::entry::{
    present, Action, DisclosureChoice, IssuerDirectory, IssuerInfo, SignatureEntry, SmallOrgConsent,
};
use undersigned_core::ids::{AgeBand, Email, Epoch, OrgId, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility};
use undersigned_core::log::{LogSigner, LogVerifier, MerkleLog};
use undersigned_core::record::LogEntry;
use undersigned_core::statement::{issuer_log_origin, LoggedStatement};

pub const HOST: &str = "undersigned.fuzz";
pub const K: u32 = 2;
/// The deployment's log key: fixed, so targets can re-sign what the fuzzer changed.
pub const LOG_KEY: [u8; 32] = [7u8; 32];

pub struct World {
    pub issuer: Issuer,
    pub epoch: Epoch,
    pub letter: Letter,
    pub sets: PublishedSets,
    pub directory: IssuerDirectory,
    pub credentials: Vec<Credential>,
    /// Valid sign entries (one per credential) and one valid withdrawal of the first.
    pub entries: Vec<SignatureEntry>,
    pub statement: LoggedStatement,
}

/// The world, built once per fuzzing process.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build)
}

fn build() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let keys = IssuerKeys::generate("Fuzz attestor", &mut rng).expect("issuer keys");
    let mut membership = Membership::default();
    for (d, n) in [("state.gov", "Department of State"), ("usaid.gov", "USAID")] {
        membership
            .orgs
            .insert(OrgId::parse(d).expect("org"), n.into());
    }
    membership
        .roles
        .insert(Role::parse("analyst").expect("role"));
    let mut issuer = Issuer::new(keys, membership, &mut rng);
    let epoch = Epoch::parse("2026-Q4").expect("epoch");
    let mut credentials = vec![];
    for (email, age) in [
        ("a@state.gov", AgeBand::From30To39),
        ("b@state.gov", AgeBand::From30To39),
        ("c@usaid.gov", AgeBand::Over60),
    ] {
        let email = Email::parse(email).expect("email");
        let role = Role::parse("analyst").expect("role");
        let (req, pending) = request_credential(&mut rng).expect("request");
        let resp = issuer
            .issue(&req, &email, &epoch, &role, age, &mut rng)
            .expect("issue");
        let attrs = Attributes::new(email, epoch.clone(), role, age);
        credentials.push(
            receive_credential(pending, &resp, issuer.keys.public_key(), attrs).expect("receive"),
        );
    }
    let sets = issuer.published_sets(&epoch, K);
    let letter = Letter::new(
        "Fuzzed letter",
        "We, the undersigned, ask for a review.\n",
        vec![],
        Policy {
            issuers: vec![AcceptedIssuer {
                issuer_id: issuer.keys.id(),
                epochs: vec![epoch.clone()],
            }],
            orgs: vec![],
            disclosures: AllowedDisclosures {
                role: true,
                age_band: true,
                email: false,
            },
            k: K,
            deadline: 2_000_000_000,
            visibility: Visibility::Public,
            publish_interval_secs: 600,
        },
    )
    .expect("letter");
    let mut directory = IssuerDirectory::new();
    directory.insert(
        issuer.keys.id(),
        IssuerInfo {
            name: issuer.keys.name.clone(),
            public_key: issuer.keys.public_key().clone(),
            sets: vec![sets.clone()],
        },
    );
    let mut entries: Vec<SignatureEntry> = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let choice = DisclosureChoice {
                role: i == 0,
                ..DisclosureChoice::default()
            };
            present(
                c,
                &letter,
                Action::Sign,
                choice,
                (i == 1).then_some("a comment"),
                &sets,
                SmallOrgConsent::Given,
            )
            .expect("present")
        })
        .collect();
    entries.push(
        present(
            &credentials[0],
            &letter,
            Action::Withdraw,
            DisclosureChoice::default(),
            None,
            &sets,
            SmallOrgConsent::Given,
        )
        .expect("withdraw"),
    );
    let signed = issuer
        .statement(K, 1, 1_700_000_000)
        .sign(&issuer.keys)
        .expect("statement");
    let mut tree = MerkleLog::new();
    tree.append(&signed.leaf_bytes());
    let issuer_log = LogSigner::new(
        &issuer_log_origin(HOST, &issuer.keys.id()),
        SigningKey::from_bytes(&LOG_KEY),
    )
    .expect("issuer log signer");
    let statement = LoggedStatement::prove(signed, 0, &tree, &issuer_log).expect("logged");
    World {
        issuer,
        epoch,
        letter,
        sets,
        directory,
        credentials,
        entries,
        statement,
    }
}

impl World {
    /// The letter log's signer (the deployment's log key under the letter's origin).
    pub fn log_signer(&self) -> LogSigner {
        LogSigner::new(
            &origin(HOST, &self.letter.id()),
            SigningKey::from_bytes(&LOG_KEY),
        )
        .expect("log signer")
    }

    /// Whether a verified entry could be one of ours: its pseudonym is one of our credentials'
    /// on this letter (pseudonyms are deterministic, proofs are not) and what it discloses is
    /// that credential's. Anything else that verifies is a forgery.
    pub fn is_ours(&self, e: &SignatureEntry) -> bool {
        self.credentials.iter().zip(&self.entries).any(|(c, ours)| {
            let a = &c.attributes;
            let d = &e.disclosed;
            ours.pseudonym == e.pseudonym
                && d.org == a.org
                && d.epoch == a.epoch
                && d.role.as_ref().is_none_or(|r| *r == a.role)
                && d.age_band.is_none_or(|b| b == a.age_band)
                && d.email.is_none()
        })
    }

    pub fn log_verifier(&self) -> LogVerifier {
        self.log_signer().verifier()
    }

    /// A bundle of every valid entry, sealed: it verifies.
    pub fn bundle(&self) -> Bundle {
        let mut log = vec![LogEntry::Opened {
            letter: self.letter.clone(),
            at: 1_700_000_000,
        }];
        log.extend(self.entries.iter().cloned().map(LogEntry::submission));
        let mut b = Bundle {
            format: BUNDLE_FORMAT.into(),
            letter_id: self.letter.id(),
            letter: self.letter.clone(),
            issuers: vec![IssuerRecord::new(self.statement.clone())],
            entries: log,
            checkpoint: None,
            log_public_key: None,
            responses: vec![],
        };
        b.seal(&self.log_signer()).expect("seal");
        b
    }
}

/// Splits fuzz input into `n` parts at 0xFF bytes (missing parts are empty): how targets with
/// several string arguments get them from one input.
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    parts.resize(n, &[]);
    parts
}
