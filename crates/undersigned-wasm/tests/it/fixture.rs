//! A small world: one issuer, three orgs, credentials obtained through the glue, one letter.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use undersigned_core::bundle::{origin, BundleIssuer};
use undersigned_core::credential::IssuanceRequest;
use undersigned_core::encoding::{b64url, from_b64url};
use undersigned_core::ids::{AgeBand, Email, Epoch, LetterId, OrgId, Role};
use undersigned_core::issuer::{Issuer, IssuerKeys, Membership};
use undersigned_core::letter::{AcceptedIssuer, AllowedDisclosures, Letter, Policy, Visibility};
use undersigned_core::log::LogSigner;
use undersigned_wasm::issuance;

pub const K: u32 = 3;
pub const HOST: &str = "undersigned.test";
pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct World {
    pub issuer: Issuer,
    pub epoch: Epoch,
}

/// The deployment's log key; every letter's log signs with it under the letter's origin.
pub fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn log_signer(letter_id: &LetterId) -> LogSigner {
    LogSigner::new(&origin(HOST, letter_id), log_key()).unwrap()
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
            membership.orgs.insert(OrgId::parse(d).unwrap(), n.into());
        }
        membership.roles.insert(Role::parse("analyst").unwrap());
        membership.roles.insert(Role::parse("officer").unwrap());
        Self {
            issuer: Issuer::new(keys, membership, &mut rng),
            epoch: Epoch::parse("2026-Q4").unwrap(),
        }
    }

    /// `GET /api/v1/deployment` as the server answers it.
    pub fn deployment(&self) -> String {
        let issuer = BundleIssuer::new(
            &self.issuer.keys.name,
            self.issuer.keys.public_key(),
            vec![self.sets()],
        );
        json!({
            "host": HOST,
            "k": K,
            "epoch": self.epoch.as_str(),
            "orgs": [],
            "roles": ["analyst", "officer"],
            "age_bands": ["under-30", "30-39"],
            "issuer": issuer,
            "log_public_key": hex::encode(log_key().verifying_key().to_bytes()),
            "dev": true,
        })
        .to_string()
    }

    /// The issuer's side of `POST /api/v1/issuance/credential`, answering a glue request.
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

    /// `GET /api/v1/issuance/epochs` with only this world's epoch issuable.
    pub fn epochs(&self) -> String {
        json!({"epochs": [self.epoch.as_str()], "current": self.epoch.as_str()}).to_string()
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
                &self.deployment(),
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

    pub fn sets(&self) -> undersigned_core::anonymity::PublishedSets {
        self.issuer.published_sets(&self.epoch, K)
    }

    pub fn sets_json(&self) -> String {
        serde_json::to_string(&self.sets()).unwrap()
    }

    pub fn letter(&self, disclosures: AllowedDisclosures) -> Letter {
        Letter::new(
            "Review the policy",
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
}

pub fn pending_of(requested: &str) -> String {
    let v: Value = serde_json::from_str(requested).unwrap();
    v["pending"].as_str().unwrap().to_owned()
}

pub fn role_and_age() -> AllowedDisclosures {
    AllowedDisclosures {
        role: true,
        age_band: true,
        email: false,
    }
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
