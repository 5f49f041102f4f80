//! The deployment's long-term secrets: a 0600 key file beside the database, and the address-tag
//! key in a file of its own, kept apart from the database by default.
//!
//! Three secrets: the issuer's BBS key and the log's Ed25519 key (the key file), and the HMAC
//! key under which addresses become tags (the tag key file). Whoever holds the database and the
//! tag key can hash a staff directory and learn who got a credential, so the two are stored
//! apart (`serve --tag-key-file`, default `$XDG_CONFIG_HOME/undersigned/tag.key`). Lose the key
//! file and the deployment is a new one: new issuer, new logs; lose the tag key and every
//! address may get a second credential this epoch, so the server refuses to start without it.

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
    /// Only in key files written before the tag key moved to its own file; moved out on load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address_tag_secret: Option<String>,
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
    #[error(
        "the address-tag key file {0} is missing, but this deployment has keys already: restore it from where you keep it (a new one would let every address get a second credential)"
    )]
    TagKeyMissing(String),
    #[error("the key file and the tag key file {0} hold different address-tag keys")]
    TagKeyMismatch(String),
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

    /// Loads the key file and the tag key file, creating them (0600) with fresh keys on first
    /// start. A key file that still holds the tag key (as written by earlier versions) gives it
    /// up: the tag key is written to `tag_path` and the key file rewritten without it.
    pub fn load_or_create(
        path: &Path,
        tag_path: &Path,
        issuer_name: &str,
    ) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let tag_shown = tag_path.display().to_string();
        let tag_file = read_tag_key(tag_path)?;
        match std::fs::read(path) {
            Ok(bytes) => {
                let (issuer, log_key, legacy) = Self::decode(&bytes, issuer_name)?;
                let had_tag_key = legacy.is_some();
                let tag_secret = match (legacy, tag_file) {
                    (Some(old), None) => {
                        write_secret_file(tag_path, hex::encode(&old[..]).as_bytes())
                            .map_err(|e| KeyError::Io(tag_shown, e))?;
                        old
                    }
                    (Some(old), Some(t)) if old[..] != t[..] => {
                        return Err(KeyError::TagKeyMismatch(tag_shown))
                    }
                    (_, Some(t)) => t,
                    (None, None) => return Err(KeyError::TagKeyMissing(tag_shown)),
                };
                let keys = Self {
                    issuer,
                    log_key,
                    tag_secret,
                };
                if had_tag_key {
                    // Only now that the tag key is safe in its own file.
                    keys.write(path).map_err(|e| KeyError::Io(shown, e))?;
                }
                Ok(keys)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut keys = Self::generate(issuer_name, &mut OsRng)?;
                match tag_file {
                    // A tag key kept from before (e.g. a database restored elsewhere) stays.
                    Some(t) => keys.tag_secret = t,
                    None => {
                        write_secret_file(tag_path, hex::encode(&keys.tag_secret[..]).as_bytes())
                            .map_err(|e| KeyError::Io(tag_shown, e))?
                    }
                }
                keys.write(path).map_err(|e| KeyError::Io(shown, e))?;
                Ok(keys)
            }
            Err(e) => Err(KeyError::Io(shown, e)),
        }
    }

    #[allow(clippy::type_complexity)]
    fn decode(
        bytes: &[u8],
        issuer_name: &str,
    ) -> Result<
        (
            IssuerKeys,
            ed25519_dalek::SigningKey,
            Option<Zeroizing<[u8; 32]>>,
        ),
        KeyError,
    > {
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
        let legacy = match &f.address_tag_secret {
            Some(hexed) => Some(decode_tag_key(hexed.as_bytes())?),
            None => None,
        };
        Ok((
            IssuerKeys::from_parts(issuer_name, sk, pk),
            ed25519_dalek::SigningKey::from_bytes(&seed),
            legacy,
        ))
    }

    /// The log key of a key file, read without the tag key: what `backup` signs its manifest
    /// with, and what `restore` checks that signature against before it copies anything.
    pub fn read_log_key(path: &Path) -> Result<ed25519_dalek::SigningKey, KeyError> {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|e| KeyError::Io(path.display().to_string(), e))?,
        );
        Ok(Self::decode(&bytes, "log key")?.1)
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let f = KeyFile {
            format: FORMAT.into(),
            issuer_secret_key: hex::encode(&self.issuer.secret_key().to_bytes()[..]),
            issuer_public_key: hex::encode(self.issuer.public_key().to_bytes()),
            log_signing_key: hex::encode(self.log_key.to_bytes()),
            address_tag_secret: None,
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&f).map_err(std::io::Error::other)?);
        write_secret_file(path, text.as_bytes())
    }
}

fn decode_tag_key(hexed: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hexed.trim_ascii(), &mut key[..])
        .map_err(|_| KeyError::Malformed("address-tag key (expected 64 hex digits)"))?;
    Ok(key)
}

/// The tag key file's key, or `None` when there is no such file.
fn read_tag_key(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => decode_tag_key(&Zeroizing::new(bytes)).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Io(path.display().to_string(), e)),
    }
}

/// Writes a secret atomically: a 0600 temporary file, synced, renamed over `path`. Creates the
/// directory (0700) if needed.
fn write_secret_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)?;
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
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Where the tag key lives unless told otherwise: outside the data directory, in the user's
/// configuration directory (`$XDG_CONFIG_HOME/undersigned/tag.key`, else
/// `$HOME/.config/undersigned/tag.key`). `None` when neither variable is set.
pub fn default_tag_key_path() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("undersigned").join("tag.key"))
}
