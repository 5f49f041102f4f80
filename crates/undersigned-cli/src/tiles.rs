//! Reading a letter's log from C2SP tlog-tiles (a CDN, object storage, a plain static file
//! server or a local directory): the checkpoint, every entry bundle, the hash tiles and the
//! bundle context, rebuilt into the bundle that `verify` checks.
//!
//! A reader fetches every tile of the log, never only the ones on one entry's path: so a
//! server or CDN that sees the requests learns nothing about which entry the reader cares
//! about (a holder checking their own signature reads exactly what everyone reads).

use anyhow::{anyhow, bail, Context};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;
use undersigned_core::bundle::{Bundle, BundleContext, CONTEXT_FILE, MAX_CONTEXT_BYTES};
use undersigned_core::log::tiles::{
    check_hash_tile, entry_bundles_for_size, leaf_tiles_for_size, parse_entry_bundle,
    parse_hash_tile, tiles_for_size, FULL_TILE_BYTES, MAX_TILE_ENTRY,
};
use undersigned_core::log::{Checkpoint, Hash, LogVerifier, MerkleLog, Tile};
use undersigned_core::pins::Pins;

/// A checkpoint note is a few lines and signatures.
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;
/// The largest tree a reader accepts: far above any letter's signatures (a whole national
/// civil service is a few million people), far below what would make a list of its tiles
/// abort the process. A signed size above it is refused before any tile is fetched.
pub const MAX_TREE_SIZE: u64 = 1 << 26;
/// Every entry but the opened letter is a signature, withdrawal or lifecycle record: a proof,
/// a pseudonym, disclosures and a comment of at most 2,000 characters fit well within this.
const MAX_RECORD_BYTES: u64 = 16 * 1024;

/// Where a tiled log lives: an HTTP(S) URL prefix or a local directory.
#[derive(Debug, Clone)]
pub struct TileReader {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Http { prefix: String, agent: ureq::Agent },
    Dir(PathBuf),
}

/// A fetch that found nothing (404, or no such file), as opposed to one that failed.
struct Missing;

impl TileReader {
    /// `prefix` is a letter's log prefix: `https://host/letters/<id>` or a directory holding
    /// `checkpoint` and `tile/`.
    pub fn new(prefix: &str) -> Self {
        let source = if prefix.starts_with("http://") || prefix.starts_with("https://") {
            Source::Http {
                prefix: prefix.trim_end_matches('/').to_owned(),
                agent: ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .build(),
            }
        } else {
            Source::Dir(PathBuf::from(prefix))
        };
        Self { source }
    }

    fn describe(&self, rel: &str) -> String {
        match &self.source {
            Source::Http { prefix, .. } => format!("{prefix}/{rel}"),
            Source::Dir(d) => d.join(rel).display().to_string(),
        }
    }

    fn fetch(&self, rel: &str, limit: u64) -> anyhow::Result<Result<Vec<u8>, Missing>> {
        let mut body = Vec::new();
        match &self.source {
            Source::Http { prefix, agent } => {
                let resp = match agent.get(&format!("{prefix}/{rel}")).call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(404, _)) => return Ok(Err(Missing)),
                    Err(ureq::Error::Status(code, _)) => {
                        bail!("{} answered {code}", self.describe(rel))
                    }
                    Err(e) => bail!("cannot fetch {}: {e}", self.describe(rel)),
                };
                resp.into_reader()
                    .take(limit + 1)
                    .read_to_end(&mut body)
                    .with_context(|| format!("reading {}", self.describe(rel)))?;
            }
            Source::Dir(dir) => {
                let file = match std::fs::File::open(dir.join(rel)) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Missing)),
                    Err(e) => bail!("cannot read {}: {e}", self.describe(rel)),
                };
                file.take(limit + 1)
                    .read_to_end(&mut body)
                    .with_context(|| format!("reading {}", self.describe(rel)))?;
            }
        }
        if body.len() as u64 > limit {
            bail!("{} is larger than {limit} bytes", self.describe(rel));
        }
        Ok(Ok(body))
    }

    fn fetch_required(&self, rel: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        self.fetch(rel, limit)?
            .map_err(|Missing| anyhow!("{} is not there", self.describe(rel)))
    }

    /// The log's checkpoint note, as served (with its cosignatures).
    pub fn checkpoint(&self) -> anyhow::Result<String> {
        String::from_utf8(self.fetch_required("checkpoint", MAX_CHECKPOINT_BYTES)?)
            .map_err(|_| anyhow!("the checkpoint is not UTF-8"))
    }

    /// A tile's bytes; a missing partial tile is cut from its full tile, which the spec lets a
    /// log serve instead once it is complete.
    fn tile_bytes(&self, tile: &Tile, limit: u64) -> anyhow::Result<(Vec<u8>, bool)> {
        if let Ok(body) = self.fetch(&tile.path(), limit)? {
            return Ok((body, false));
        }
        if !tile.is_full() {
            let full = Tile {
                width: 256,
                ..*tile
            };
            if let Ok(body) = self.fetch(&full.path(), limit)? {
                return Ok((body, true));
            }
        }
        bail!("{} is not there", self.describe(&tile.path()))
    }

    fn hashes(&self, tile: &Tile) -> anyhow::Result<Vec<u8>> {
        let (mut body, from_full) = self.tile_bytes(tile, FULL_TILE_BYTES as u64)?;
        if from_full {
            if body.len() != FULL_TILE_BYTES {
                bail!("{}: wrong length", self.describe(&tile.path()));
            }
            body.truncate(usize::from(tile.width) * 32);
        }
        Ok(body)
    }

    /// The leaves of a tree of `size`, from its entry bundles. Each bundle may be only as
    /// large as its entries can be (the opened letter in the first, records after it), so
    /// what the reader holds is bounded by the signed size, whatever the server sends.
    pub fn leaves(&self, size: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        check_size(size)?;
        let mut out = Vec::new();
        for tile in entry_bundles_for_size(size) {
            let width = if tile.is_full() {
                256
            } else {
                u64::from(tile.width)
            };
            let limit = |width: u64| {
                let letter = if tile.index == 0 {
                    MAX_TILE_ENTRY as u64
                } else {
                    0
                };
                letter + width * (MAX_RECORD_BYTES + 2)
            };
            let (body, from_full) = match self.fetch(&tile.path(), limit(width))? {
                Ok(body) => (body, false),
                Err(Missing) if !tile.is_full() => {
                    let full = Tile { width: 256, ..tile };
                    let body = self.fetch(&full.path(), limit(256))?.map_err(|Missing| {
                        anyhow!("{} is not there", self.describe(&tile.path()))
                    })?;
                    (body, true)
                }
                Err(Missing) => bail!("{} is not there", self.describe(&tile.path())),
            };
            let count = if from_full {
                256
            } else {
                usize::from(tile.width)
            };
            let entries =
                parse_entry_bundle(&body, count).with_context(|| self.describe(&tile.path()))?;
            out.extend(
                entries
                    .into_iter()
                    .take(usize::from(tile.width))
                    .map(<[u8]>::to_vec),
            );
        }
        Ok(out)
    }

    /// The leaf hashes of a tree of `size`, from its level-0 tiles.
    pub fn leaf_hashes(&self, size: u64) -> anyhow::Result<Vec<Hash>> {
        check_size(size)?;
        let mut out = Vec::new();
        for tile in leaf_tiles_for_size(size) {
            let body = self.hashes(&tile)?;
            out.extend(parse_hash_tile(&tile, &body).with_context(|| self.describe(&tile.path()))?);
        }
        Ok(out)
    }

    /// Every hash tile of the tree must be the tree's own: the tiles are what other readers
    /// compute their proofs from.
    pub fn check_hash_tiles(&self, tree: &MerkleLog) -> anyhow::Result<()> {
        check_size(tree.size())?;
        for tile in tiles_for_size(tree.size()) {
            if tile.level.is_none() {
                continue;
            }
            let body = self.hashes(&tile)?;
            check_hash_tile(tree, &tile, &body)?;
        }
        Ok(())
    }

    pub fn context(&self) -> anyhow::Result<BundleContext> {
        let body = self.fetch_required(CONTEXT_FILE, MAX_CONTEXT_BYTES as u64)?;
        Ok(BundleContext::parse(&body)?)
    }

    /// The bundle the tiles hold: the context, the entries of every entry bundle and the
    /// checkpoint. The checkpoint is checked first, against the pins as a bundle's is (log
    /// key, exact origin and host, witnesses), before any tile is fetched; the tiles then
    /// fetched are bounded by the size it signs, and every hash tile must match the entries.
    /// The caller verifies the bundle as any other.
    pub fn bundle(&self, pins: &Pins) -> anyhow::Result<Bundle> {
        let context = self.context()?;
        let note = self.checkpoint()?;
        let cp = context
            .check_checkpoint(&note, pins)
            .map_err(|e| anyhow!("the log's checkpoint: {e}"))?;
        let leaves = self.leaves(cp.size)?;
        let mut tree = MerkleLog::new();
        for leaf in &leaves {
            tree.append(leaf);
        }
        self.check_hash_tiles(&tree)?;
        Ok(Bundle::from_tiles(context, &leaves, note)?)
    }
}

/// A size a reader will fetch the tiles of, or an error naming it.
fn check_size(size: u64) -> anyhow::Result<()> {
    if size > MAX_TREE_SIZE {
        bail!("the checkpoint claims {size} entries, more than a reader accepts ({MAX_TREE_SIZE})");
    }
    Ok(())
}

/// A letter's log as read from its tiles: the checkpoint note as served and the leaf hashes
/// of the tree of the size it names. Only the checkpoint's signature is checked here (before
/// any tile is fetched); `holder::check` checks the rest with the receipt's pinned key.
#[derive(Debug)]
pub struct FetchedLog {
    pub note: String,
    leaf_hashes: Vec<Hash>,
}

impl FetchedLog {
    /// The leaf hashes of a tree of `size`: the size the note names, or an error.
    pub fn leaf_hashes(&self, size: u64) -> anyhow::Result<Vec<Hash>> {
        if self.leaf_hashes.len() as u64 != size {
            bail!(
                "the log's tiles hold {} leaves, the checkpoint {size}",
                self.leaf_hashes.len()
            );
        }
        Ok(self.leaf_hashes.clone())
    }
}

/// The checkpoint and every level-0 tile of its size. The checkpoint is opened first with the
/// deployment's log key under the letter's exact origin, so the size the tiles are fetched for
/// is one that key signed, not one a tiles server made up.
pub fn fetch(reader: &TileReader, verifier: &LogVerifier) -> anyhow::Result<FetchedLog> {
    let note = reader.checkpoint()?;
    let size = Checkpoint::open(&note, verifier, Some(verifier.name()))
        .map_err(|e| anyhow!("the checkpoint does not verify: {e}"))?
        .size;
    let leaf_hashes = reader.leaf_hashes(size)?;
    Ok(FetchedLog { note, leaf_hashes })
}
