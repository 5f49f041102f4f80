//! A fixed world for the fuzz targets: one issuer, credentials, an open letter, valid entries
//! and a sealed bundle, all from fixed seeds so that a committed seed corpus stays valid.
//!
//! Targets start from these valid values and let the fuzzer change them, so that its inputs
//! get past parsing and the checkpoint signature and reach the proof verifier and the entry
//! checks (issue 14, finding 7).

use std::sync::OnceLock;

pub mod seeds;

use undersigned_core::anonymity::PublishedSets;
use undersigned_core::bundle::Bundle;
use undersigned_core::credential::Credential;
use undersigned_core::entry::{DisclosureChoice, IssuerDirectory, SignatureEntry};
use undersigned_core::ids::AgeBand;
use undersigned_core::letter::Letter;
use undersigned_core::log::{LogSigner, LogVerifier};
use undersigned_core::statement::LoggedStatement;
use undersigned_testkit::Setting;

pub const HOST: &str = "undersigned.fuzz";
pub const K: u32 = 2;
/// The deployment's log key: fixed, so targets can re-sign what the fuzzer changed.
pub const LOG_KEY: [u8; 32] = undersigned_testkit::LOG_KEY;

/// The shared test world's setting, made smaller and named for fuzzing. Changing it (or the
/// seed) changes every key, and the committed seed corpus would stop reaching the verifier.
const FUZZ: Setting = Setting {
    issuer_name: "Fuzz attestor",
    orgs: &[("state.gov", "Department of State"), ("usaid.gov", "USAID")],
    roles: &["analyst"],
    k: K,
    host: HOST,
};
const SEED: u64 = 14;

pub struct World {
    /// The shared test world this one is made from (its issuer, epoch and log key).
    pub kit: undersigned_testkit::World,
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
    let mut w = undersigned_testkit::World::with(SEED, &FUZZ);
    let credentials: Vec<Credential> = [
        ("a@state.gov", AgeBand::From30To39),
        ("b@state.gov", AgeBand::From30To39),
        ("c@usaid.gov", AgeBand::Over60),
    ]
    .into_iter()
    .map(|(email, age)| w.credential(email, "analyst", age))
    .collect();
    let sets = w.sets();
    let letter = w.letter("Fuzzed letter", undersigned_testkit::all_disclosures());
    let mut entries: Vec<SignatureEntry> = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let choice = DisclosureChoice {
                role: i == 0,
                ..DisclosureChoice::default()
            };
            undersigned_testkit::sign(c, &letter, &sets, choice, (i == 1).then_some("a comment"))
        })
        .collect();
    entries.push(undersigned_testkit::withdraw(
        &credentials[0],
        &letter,
        &sets,
    ));
    let statement = undersigned_testkit::relog_under(HOST, vec![w.statement_at(1, 1_700_000_000)]);
    World {
        directory: w.directory(),
        kit: w,
        letter,
        sets,
        credentials,
        entries,
        statement,
    }
}

impl World {
    /// The letter log's signer (the deployment's log key under the letter's origin).
    pub fn log_signer(&self) -> LogSigner {
        self.kit.log_signer(&self.letter.id())
    }

    /// Whether a verified entry could be one of ours: its pseudonym is one of our credentials'
    /// on this letter (pseudonyms are deterministic, proofs are not) and what it discloses is
    /// that credential's. Anything else that verifies is a forgery.
    pub fn is_ours(&self, e: &SignatureEntry) -> bool {
        self.credentials.iter().zip(&self.entries).any(|(c, ours)| {
            let a = &c.attributes;
            let d = &e.disclosed;
            ours.parts.first().map(|p| &p.pseudonym) == e.parts.first().map(|p| &p.pseudonym)
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
        self.kit
            .bundle_of(&self.letter, self.entries.clone(), self.statement.clone())
    }
}

/// Splits fuzz input into `n` parts at 0xFF bytes (missing parts are empty): how targets with
/// several string arguments get them from one input.
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    parts.resize(n, &[]);
    parts
}
