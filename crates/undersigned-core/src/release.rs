//! The signer's client release log: a C2SP transparency log whose entries are client manifests
//! (every file's SHA-256 and the pages' content security policies), signed with a release key
//! that is no deployment's, under the exact origin `<host>/releases/<SHA-256 of the key>`.
//!
//! A copy of the client is a logged release when its manifest (or, for the single file, its
//! hash as a manifest names it) is a leaf of a checkpoint signed by the pinned release key,
//! carrying the pinned witnesses' quorum: the same exact-origin, signed-note and cosignature
//! rules as a letter's log, through the same [`Origin`], [`Checkpoint`] and [`Pins`] code.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::log::origin::{Host, LogKind, Origin};
use crate::log::{Checkpoint, LogVerifier, MerkleLog};
use crate::pins::Pins;

/// The release key this binary trusts for the signer's client when nobody names another: the
/// project's release log, kept under the exact origin its name spells. Its signing key is held
/// offline by the maintainers, never by a deployment; a deployment file may name another
/// release log (`[client]`), and every check then says that it is not this one.
pub const DEFAULT_RELEASE_KEY: &str = "releases.undersigned.org/releases/e2d155f51bcb242cb75b202950b4d5e1e327e9b819378b328ce8ce00332267fd+01b8211b+AS2IIAXRzjSWN6qFStCbX3ZIeB3vnBfg/iUMB/YfJAzT";

/// Which release log a deployment says its signer's client is in (`[client]` in its file,
/// published in `/api/v1/deployment`): where the log is served (any static host; `None`: not
/// published), the key it is signed with, and the witnesses whose quorum its checkpoints
/// carry. Only the key and witnesses are trusted, and only as far as a reader pins them: the
/// location is where to fetch, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseLogClaim {
    #[serde(default)]
    pub url: Option<String>,
    pub key: String,
    #[serde(default)]
    pub witnesses: Vec<String>,
    #[serde(default)]
    pub quorum: Option<usize>,
}

impl Default for ReleaseLogClaim {
    fn default() -> Self {
        Self {
            url: None,
            key: DEFAULT_RELEASE_KEY.to_owned(),
            witnesses: Vec::new(),
            quorum: None,
        }
    }
}

impl ReleaseLogClaim {
    /// The key must be a release key named by its exact origin, and the witnesses must form
    /// valid pins; the pins a reader checks the log's cosignatures with.
    pub fn pins(&self) -> Result<Pins, ReleaseError> {
        check_release_key(&self.key)?;
        if self.witnesses.is_empty() {
            if self.quorum.is_some_and(|q| q > 0) {
                return Err(ReleaseError::Witnesses("a quorum needs witnesses".into()));
            }
            return Ok(Pins::default());
        }
        Pins::default()
            .with_witnesses(self.witnesses.clone(), self.quorum)
            .map_err(|e| ReleaseError::Witnesses(e.to_string()))
    }

    /// Whether this is the release key this binary ships.
    pub fn is_default_key(&self) -> bool {
        self.key == DEFAULT_RELEASE_KEY
    }
}

/// A release key's verifier, refused unless it is named exactly
/// `<host>/releases/<SHA-256 of its key>`.
pub fn check_release_key(vkey: &str) -> Result<LogVerifier, ReleaseError> {
    let verifier =
        LogVerifier::from_vkey(vkey).map_err(|e| ReleaseError::KeyName(e.to_string()))?;
    let name = verifier.name().to_owned();
    let origin = Origin::parse(&name).map_err(|_| ReleaseError::KeyName(name.clone()))?;
    if origin != release_origin(origin.host.clone(), verifier.verifying_key()) {
        return Err(ReleaseError::KeyName(name));
    }
    Ok(verifier)
}

/// The manifest format a release log's entries are in.
pub const MANIFEST_FORMAT: &str = "undersigned-client-manifest/1";

/// One release: what a copy of the client must hold, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    pub format: String,
    /// The directory page's content security policy.
    pub csp: String,
    /// The single file's content security policy.
    pub single_file_csp: String,
    /// Every file but the manifest itself, by path, to its SHA-256 in lowercase hex.
    pub files: BTreeMap<String, String>,
}

impl ReleaseManifest {
    /// Parses a manifest, refusing another format.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReleaseError> {
        let m: Self =
            serde_json::from_slice(bytes).map_err(|e| ReleaseError::Manifest(e.to_string()))?;
        if m.format != MANIFEST_FORMAT {
            return Err(ReleaseError::Manifest(format!("format {:?}", m.format)));
        }
        Ok(m)
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    #[error("a release manifest is malformed: {0}")]
    Manifest(String),
    #[error("the release key is named {0:?}, not <host>/releases/<its SHA-256>")]
    KeyName(String),
    #[error("the release log's checkpoint does not verify under the release key and its exact origin: {0}")]
    Checkpoint(String),
    #[error("the release log's checkpoint lacks its witnesses' cosignatures: {0}")]
    Cosignatures(String),
    #[error("the release log's witnesses are not valid pins: {0}")]
    Witnesses(String),
    #[error("the release log's entries do not hash to its signed checkpoint of size {0}")]
    Root(u64),
}

/// The release log's origin for a release key kept at `host`.
pub fn release_origin(host: Host, key: &VerifyingKey) -> Origin {
    Origin::new(
        host,
        LogKind::Release,
        Sha256::digest(key.to_bytes()).into(),
    )
}

/// A release log read and checked: its signed size, and every manifest in log order.
#[derive(Debug, Clone)]
pub struct ReleaseLog {
    pub size: u64,
    pub entries: Vec<Vec<u8>>,
}

impl ReleaseLog {
    /// The 1-based number of the release whose manifest is exactly `manifest`.
    pub fn find_manifest(&self, manifest: &[u8]) -> Option<u64> {
        self.entries
            .iter()
            .position(|e| e == manifest)
            .map(|i| i as u64 + 1)
    }

    /// The 1-based number of the newest release naming `sha256_hex` for `file`.
    pub fn find_file(&self, file: &str, sha256_hex: &str) -> Option<u64> {
        self.entries
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| {
                ReleaseManifest::parse(e)
                    .is_ok_and(|m| m.files.get(file).is_some_and(|h| h == sha256_hex))
            })
            .map(|(i, _)| i as u64 + 1)
    }
}

/// Checks a release log: `vkey` must be named exactly `<host>/releases/<SHA-256 of its key>`;
/// the checkpoint `note` must verify under it with that origin and carry the quorum `pins`
/// names (`Pins::check_cosignatures`, as for letters); `entries` must be every leaf of the
/// signed size and hash to its root, each a well-formed manifest.
pub fn check_release_log(
    vkey: &str,
    note: &str,
    entries: Vec<Vec<u8>>,
    pins: &Pins,
) -> Result<ReleaseLog, ReleaseError> {
    let verifier = check_release_key(vkey)?;
    let name = verifier.name().to_owned();
    let cp = Checkpoint::open(note, &verifier, Some(&name))
        .map_err(|e| ReleaseError::Checkpoint(e.to_string()))?;
    pins.check_cosignatures(note)
        .map_err(|e| ReleaseError::Cosignatures(e.to_string()))?;
    let mut tree = MerkleLog::new();
    for e in &entries {
        tree.append(e);
    }
    if tree.size() != cp.size || tree.root() != cp.root {
        return Err(ReleaseError::Root(cp.size));
    }
    for e in &entries {
        ReleaseManifest::parse(e)?;
    }
    Ok(ReleaseLog {
        size: cp.size,
        entries,
    })
}
