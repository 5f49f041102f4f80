//! The transparency log: reference vectors, signed-note interop, properties, must-fail cases.

mod checkpoint;
mod cosignature;
mod fuzz;
mod merkle_props;
mod pool;
mod receipt;
mod scale;
mod tiles;
mod tiles_reference;
mod vectors;

use ed25519_dalek::SigningKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use undersigned_core::log::{LogSigner, LogVerifier};

pub const ORIGIN: &str = "undersigned.example/log";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn signer(seed: u64) -> LogSigner {
    LogSigner::generate(ORIGIN, &mut rng(seed)).unwrap()
}

pub fn signer_named(name: &str, seed: u64) -> LogSigner {
    LogSigner::new(name, SigningKey::generate(&mut rng(seed))).unwrap()
}

pub fn verifier(seed: u64) -> LogVerifier {
    signer(seed).verifier()
}

pub fn data(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}
