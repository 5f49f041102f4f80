//! C2SP tlog-tiles: a letter's log as static resources (hash tiles, entry bundles), so a CDN
//! or plain object storage can serve every read, and the client side that rebuilds and checks
//! a tree from them.
//!
//! Paths are relative to a log's prefix (`<host>/letters/<id>/`, the checkpoint's origin).
//! A tile at level `l` holds hashes of aligned subtrees of `256^l` leaves; its content is fixed
//! by the tree, so a tile, once it exists, never changes: full and partial tiles alike are
//! served as immutable.

use super::merkle::{Hash, MerkleLog};

/// Hashes (or entries) in a full tile.
pub(crate) const TILE_WIDTH: u64 = 256;
/// A full hash tile's size in bytes.
pub const FULL_TILE_BYTES: usize = 256 * 32;
/// The largest entry an entry bundle can hold (its length prefix is a big-endian u16).
pub const MAX_TILE_ENTRY: usize = u16::MAX as usize;
/// Levels beyond this cannot occur: 256^8 leaves exceed u64.
const MAX_LEVEL: u8 = 7;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("not a tile path: {0}")]
    BadPath(&'static str),
    #[error("tile {0} is not covered by a tree of size {1}")]
    Beyond(String, u64),
    #[error("an entry of {0} bytes does not fit an entry bundle (at most 65535)")]
    EntryTooLarge(usize),
    #[error("entry bundle is malformed: {0}")]
    MalformedBundle(&'static str),
    #[error("hash tile {0} is malformed: {1}")]
    MalformedTile(String, &'static str),
    #[error("hash tile {0} does not match the entries")]
    TileMismatch(String),
}

/// One resource of a tiled log: a hash tile (`level` is `Some`) or an entry bundle (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile {
    pub level: Option<u8>,
    pub index: u64,
    /// 1..=256; 256 is a full tile (no `.p/` suffix).
    pub width: u16,
}

impl Tile {
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The path below the log's prefix, e.g. `tile/0/x001/x234/067.p/5` or
    /// `tile/entries/000`.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(l) => l.to_string(),
            None => "entries".to_owned(),
        };
        let mut index = format!("{:03}", self.index % 1000);
        let mut rest = self.index / 1000;
        while rest > 0 {
            index = format!("x{:03}/{index}", rest % 1000);
            rest /= 1000;
        }
        if self.is_full() {
            format!("tile/{level}/{index}")
        } else {
            format!("tile/{level}/{index}.p/{}", self.width)
        }
    }

    /// Parses what follows `tile/` in a URL path. Refuses every spelling but the canonical
    /// one, so one resource has exactly one name (and one cache entry).
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let (level, rest) = path.split_once('/').ok_or(TileError::BadPath("no index"))?;
        let level = match level {
            "entries" => None,
            l => {
                let n: u8 = parse_decimal(l).ok_or(TileError::BadPath("bad level"))?;
                if n > MAX_LEVEL {
                    return Err(TileError::BadPath("level out of range"));
                }
                Some(n)
            }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w: u16 = parse_decimal(w).ok_or(TileError::BadPath("bad width"))?;
                if w == 0 || u64::from(w) >= TILE_WIDTH {
                    return Err(TileError::BadPath("width out of range"));
                }
                (i, w)
            }
            None => (rest, 256),
        };
        let elements: Vec<&str> = index_part.split('/').collect();
        let Some((last, leading)) = elements.split_last() else {
            return Err(TileError::BadPath("no index"));
        };
        if leading.len() > 6 {
            return Err(TileError::BadPath("index too long"));
        }
        let mut index: u64 = 0;
        for (i, element) in leading.iter().enumerate() {
            let digits = element.strip_prefix('x').ok_or(TileError::BadPath(
                "index elements but the last start with x",
            ))?;
            let n = three_digits(digits)?;
            // No leading zero elements: exactly one spelling per index.
            if i == 0 && n == 0 {
                return Err(TileError::BadPath("leading zero element"));
            }
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(n))
                .ok_or(TileError::BadPath("index out of range"))?;
        }
        let low = three_digits(last)?;
        index = index
            .checked_mul(1000)
            .and_then(|v| v.checked_add(low))
            .ok_or(TileError::BadPath("index out of range"))?;
        Ok(Self {
            level,
            index,
            width,
        })
    }

    /// The number of leaves one hash of this tile covers (`256^level`; 1 for entries).
    fn span(&self) -> Option<u64> {
        TILE_WIDTH.checked_pow(u32::from(self.level.unwrap_or(0)))
    }

    /// The tree size this tile's content needs: its last hash's subtree must be complete.
    pub fn needs_size(&self) -> Option<u64> {
        self.index
            .checked_mul(TILE_WIDTH)?
            .checked_add(u64::from(self.width))?
            .checked_mul(self.span()?)
    }

    /// The first leaf index an entry bundle holds.
    pub fn first_entry(&self) -> u64 {
        self.index.saturating_mul(TILE_WIDTH)
    }
}

fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    // No sign, no leading zeroes, digits only.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn three_digits(s: &str) -> Result<u64, TileError> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TileError::BadPath("index elements have three digits"));
    }
    s.parse().map_err(|_| TileError::BadPath("bad index"))
}

/// Every tile and entry bundle that a tree of `size` consists of: full tiles, then the partial
/// one of each level (C2SP tlog-tiles "Partial Tiles").
pub fn tiles_for_size(size: u64) -> Vec<Tile> {
    let mut out = entry_bundles_for_size(size);
    for level in 0..=MAX_LEVEL {
        let Some(span) = TILE_WIDTH.checked_pow(u32::from(level)) else {
            break;
        };
        out.extend(level_tiles(size / span, Some(level)));
    }
    out
}

/// The entry bundles of a tree of `size`, in order.
pub fn entry_bundles_for_size(size: u64) -> Vec<Tile> {
    level_tiles(size, None)
}

/// The level-0 hash tiles of a tree of `size`, in order.
pub fn leaf_tiles_for_size(size: u64) -> Vec<Tile> {
    level_tiles(size, Some(0))
}

fn level_tiles(count: u64, level: Option<u8>) -> Vec<Tile> {
    let full = count / TILE_WIDTH;
    let rest = count % TILE_WIDTH;
    let mut out: Vec<Tile> = (0..full)
        .map(|index| Tile {
            level,
            index,
            width: 256,
        })
        .collect();
    if rest > 0 {
        out.push(Tile {
            level,
            index: full,
            // Below 256 by construction.
            width: u16::try_from(rest).unwrap_or(255),
        });
    }
    out
}

/// A hash tile's bytes, read from a tree that covers it.
pub fn hash_tile(tree: &MerkleLog, tile: &Tile) -> Result<Vec<u8>, TileError> {
    let level = tile
        .level
        .ok_or(TileError::BadPath("an entry bundle is no hash tile"))?;
    let beyond = || TileError::Beyond(tile.path(), tree.size());
    if tile.needs_size().is_none_or(|n| n > tree.size()) {
        return Err(beyond());
    }
    let first = tile.index.checked_mul(TILE_WIDTH).ok_or_else(beyond)?;
    let mut out = Vec::with_capacity(usize::from(tile.width) * 32);
    for i in 0..u64::from(tile.width) {
        let hash = tree
            .aligned_hash(u32::from(level) * 8, first + i)
            .ok_or_else(beyond)?;
        out.extend_from_slice(&hash);
    }
    Ok(out)
}

/// Encodes leaves as an entry bundle: each one prefixed with its length as a big-endian u16.
pub fn entry_bundle<L: AsRef<[u8]>>(leaves: &[L]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::with_capacity(leaves.iter().map(|l| l.as_ref().len() + 2).sum());
    for leaf in leaves {
        let leaf = leaf.as_ref();
        let len = u16::try_from(leaf.len()).map_err(|_| TileError::EntryTooLarge(leaf.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    Ok(out)
}

/// Splits an entry bundle into exactly `count` entries; anything else (short, long, trailing
/// bytes) is refused.
pub fn parse_entry_bundle(bytes: &[u8], count: usize) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(count.min(256));
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::MalformedBundle("truncated length"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::MalformedBundle("truncated entry"));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
        if out.len() > count {
            return Err(TileError::MalformedBundle(
                "more entries than the tile holds",
            ));
        }
    }
    if out.len() != count {
        return Err(TileError::MalformedBundle(
            "fewer entries than the tile holds",
        ));
    }
    Ok(out)
}

/// Splits a level-0 hash tile of `width` hashes into leaf hashes.
pub fn parse_hash_tile(tile: &Tile, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    if bytes.len() != usize::from(tile.width) * 32 {
        return Err(TileError::MalformedTile(tile.path(), "wrong length"));
    }
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|c| <Hash>::try_from(c).ok())
        .collect())
}

/// Checks a served hash tile against the tree rebuilt from the entries: a reader of tiles
/// (a client computing a proof) would otherwise be served hashes nobody checked.
pub fn check_hash_tile(tree: &MerkleLog, tile: &Tile, bytes: &[u8]) -> Result<(), TileError> {
    if hash_tile(tree, tile)? == bytes {
        Ok(())
    } else {
        Err(TileError::TileMismatch(tile.path()))
    }
}
