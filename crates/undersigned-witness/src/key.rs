//! The witness's signing key, kept in a file of its own (mode 0600) beside its database.

use std::path::Path;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRngCore;
use undersigned_core::log::WitnessSigner;
use zeroize::Zeroizing;

use crate::WitnessError;

const KEY_FILE: &str = "witness.key";

/// Reads the witness key from `dir`, creating it on first use (mode 0600). `name` is required
/// only to create it, and must match if given later: a witness's name is part of its key ID.
pub fn load_or_create_key(
    dir: &Path,
    name: Option<&str>,
    rng: &mut impl CryptoRngCore,
) -> Result<WitnessSigner, WitnessError> {
    let path = dir.join(KEY_FILE);
    let err = |detail: String| WitnessError::KeyFile {
        path: path.display().to_string(),
        detail,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let (stored_name, seed_hex) = text
                .trim_end()
                .split_once('\n')
                .ok_or_else(|| err("expected a name line and a seed line".into()))?;
            let mut seed = Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(seed_hex, seed.as_mut_slice())
                .map_err(|_| err("the seed is not 64 hex digits".into()))?;
            if let Some(n) = name {
                if n != stored_name {
                    return Err(err(format!(
                        "the key is named {stored_name:?}, not {n:?}; a witness keeps its name"
                    )));
                }
            }
            Ok(WitnessSigner::new(
                stored_name,
                SigningKey::from_bytes(&seed),
            )?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name =
                name.ok_or_else(|| {
                    err("no key yet: give --name (a schema-less URL such as witness.example.org/w1)"
                    .into())
                })?;
            let signer = WitnessSigner::generate(name, rng)?;
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            let text = Zeroizing::new(format!("{name}\n{}\n", hex::encode(signer.to_seed())));
            write_private(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
            Ok(signer)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Creates a file only its owner can read, failing if it already exists.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
