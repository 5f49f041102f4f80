//! The shared test world (`undersigned-testkit`), with credentials obtained through the glue
//! and one letter title, as the browser would see them.

use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde_json::Value;
use undersigned_core::ids::AgeBand;
use undersigned_core::letter::{AllowedDisclosures, Letter};
use undersigned_wasm::issuance;

pub use undersigned_testkit::{log_key, log_signer, rng, HOST, K, PASSPHRASE};

/// The testkit's world; only its letters and its issuance path are the glue's own.
pub struct World(undersigned_testkit::World);

impl Deref for World {
    type Target = undersigned_testkit::World;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for World {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self(undersigned_testkit::World::new(seed))
    }

    pub fn letter(&self, disclosures: AllowedDisclosures) -> Letter {
        self.0.letter("Review the policy", disclosures)
    }

    /// The whole issuance flow through the glue; returns the credential JSON.
    pub fn obtain(&mut self, email: &str, role: &str, age: AgeBand, seed: u64) -> String {
        let mut rng = rng(seed);
        let requested = issuance::request_credentials(&mut rng, &self.epochs()).unwrap();
        let issued = self.issue(&requested, email, role, age, &mut rng);
        let pending = pending_of(&requested);
        let all: Vec<Value> = serde_json::from_str(
            &issuance::receive_credentials(
                &pending,
                &issued,
                &self.issuer_json().to_string(),
                email,
                role,
                age.as_str(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(all.len(), 1);
        all[0].to_string()
    }
}

pub fn pending_of(requested: &str) -> String {
    let v: Value = serde_json::from_str(requested).unwrap();
    v["pending"].as_str().unwrap().to_owned()
}

pub fn role_and_age() -> AllowedDisclosures {
    undersigned_testkit::all_disclosures()
}

/// Four analysts aged 30-39 at state.gov (a safe cell at k=3) and one at tiny.gov (alone).
pub struct Populated {
    pub world: World,
    pub state: Vec<String>,
    pub solo: String,
}

pub fn populated() -> &'static Populated {
    static P: OnceLock<Populated> = OnceLock::new();
    P.get_or_init(|| {
        let mut world = World::new(1);
        let state = (0..4)
            .map(|i| {
                world.obtain(
                    &format!("analyst{i}@state.gov"),
                    "analyst",
                    AgeBand::From30To39,
                    100 + i,
                )
            })
            .collect();
        let solo = world.obtain("solo@tiny.gov", "analyst", AgeBand::Under30, 200);
        Populated { world, state, solo }
    })
}

/// One credential as the list the signing functions take (what `pick_credentials` returns for
/// a letter of one issuer).
pub fn one(credential: &str) -> String {
    format!("[{credential}]")
}
