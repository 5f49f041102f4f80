//! The deployment's long-term secrets, kept in one 0600 file beside the database.
//!
//! Three secrets: the issuer's BBS key, the log's Ed25519 key, and the HMAC key under which
//! addresses become tags. Lose the file and the deployment is a new one: new issuer, new logs.

use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use undersigned_core::bbs::{PublicKey, SecretKey};
use undersigned_core::issuer::IssuerKeys;
use zeroize::Zeroizing;

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    issuer_secret_key: String,
    issuer_public_key: String,
    log_signing_key: String,
    address_tag_secret: String,
}

const FORMAT: &str = "undersigned-keys/1";

/// Loaded secrets. Debug redacts everything.
pub struct DeploymentKeys {
    pub issuer: IssuerKeys,
    pub log_key: ed25519_dalek::SigningKey,
    pub tag_secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DeploymentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentKeys")
            .field("issuer_id", &self.issuer.id())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("key file is malformed: {0}")]
    Malformed(&'static str),
}

impl DeploymentKeys {
    pub fn generate(issuer_name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, KeyError> {
        let issuer = IssuerKeys::generate(issuer_name, rng)
            .map_err(|_| KeyError::Malformed("issuer key generation failed"))?;
        let log_key = ed25519_dalek::SigningKey::generate(rng);
        let mut tag_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut tag_secret[..]);
        Ok(Self {
            issuer,
            log_key,
            tag_secret,
        })
    }

    /// Loads the key file, creating it (0600) with fresh keys on first start.
    pub fn load_or_create(path: &Path, issuer_name: &str) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes, issuer_name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate(issuer_name, &mut OsRng)?;
                keys.write(path).map_err(|e| KeyError::Io(shown, e))?;
                Ok(keys)
            }
            Err(e) => Err(KeyError::Io(shown, e)),
        }
    }

    fn decode(bytes: &[u8], issuer_name: &str) -> Result<Self, KeyError> {
        let f: KeyFile =
            serde_json::from_slice(bytes).map_err(|_| KeyError::Malformed("not JSON"))?;
        if f.format != FORMAT {
            return Err(KeyError::Malformed("unknown format"));
        }
        let mut sk = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&f.issuer_secret_key, &mut sk[..])
            .map_err(|_| KeyError::Malformed("issuer_secret_key"))?;
        let pk = hex::decode(&f.issuer_public_key)
            .map_err(|_| KeyError::Malformed("issuer_public_key"))?;
        let sk =
            SecretKey::from_bytes(&sk).map_err(|_| KeyError::Malformed("issuer_secret_key"))?;
        let pk =
            PublicKey::from_slice(&pk).map_err(|_| KeyError::Malformed("issuer_public_key"))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&f.log_signing_key, &mut seed[..])
            .map_err(|_| KeyError::Malformed("log_signing_key"))?;
        let mut tag_secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&f.address_tag_secret, &mut tag_secret[..])
            .map_err(|_| KeyError::Malformed("address_tag_secret"))?;
        Ok(Self {
            issuer: IssuerKeys::from_parts(issuer_name, sk, pk),
            log_key: ed25519_dalek::SigningKey::from_bytes(&seed),
            tag_secret,
        })
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let f = KeyFile {
            format: FORMAT.into(),
            issuer_secret_key: hex::encode(&self.issuer.secret_key().to_bytes()[..]),
            issuer_public_key: hex::encode(self.issuer.public_key().to_bytes()),
            log_signing_key: hex::encode(self.log_key.to_bytes()),
            address_tag_secret: hex::encode(&self.tag_secret[..]),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&f).map_err(std::io::Error::other)?);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let _ = std::fs::remove_file(&tmp);
            let mut file = opts.open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}
