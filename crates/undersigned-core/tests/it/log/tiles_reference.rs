//! Our tlog-tiles against a reference: `tlog_tiles` (Cloudflare's port of Go's
//! `golang.org/x/mod/sumdb/tlog`, the code the C2SP spec grew out of). For many tree sizes the
//! two agree on which tiles make up the tree, on every tile's path, on every hash tile's bytes
//! and on the root computed from them.

use tlog_tiles::{record_hash, stored_hashes, tree_hash, HashReader};
use undersigned_core::log::tiles::{hash_tile, tiles_for_size};
use undersigned_core::log::MerkleLog;

/// Every stored hash of the reference's tree, by stored index.
struct Stored(Vec<tlog_tiles::Hash>);

impl HashReader for Stored {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

/// The reference's path names the tile height (`tile/8/L/N`); C2SP's does not (`tile/L/N`).
fn c2sp_path(reference: &tlog_tiles::Tile) -> String {
    reference.path().replacen("tile/8/", "tile/", 1)
}

#[test]
fn tiles_agree_with_the_go_tlog_port() {
    let mut ours = MerkleLog::new();
    let mut stored = Stored(Vec::new());
    let mut sizes: Vec<u64> = (1..=600).collect();
    sizes.extend([65_535, 65_536, 65_537, 66_000, 70_000]);
    let mut n = 0u64;
    for &size in &sizes {
        while n < size {
            let leaf = n.to_be_bytes();
            ours.append(&leaf);
            let new = stored_hashes(n, &leaf, &stored).unwrap();
            stored.0.extend(new);
            n += 1;
        }
        assert_eq!(
            ours.leaf_hashes().last().unwrap(),
            &record_hash(&(size - 1).to_be_bytes()).0
        );
        assert_eq!(
            tree_hash(size, &stored).unwrap().0,
            ours.root(),
            "root at {size}"
        );
        // The same set of hash tiles, by path.
        let reference = tlog_tiles::Tile::new_tiles(8, 0, size);
        let mut theirs: Vec<String> = reference.iter().map(c2sp_path).collect();
        let mut mine: Vec<String> = tiles_for_size(size)
            .into_iter()
            .filter(|t| t.level.is_some())
            .map(|t| t.path())
            .collect();
        theirs.sort();
        mine.sort();
        assert_eq!(mine, theirs, "tiles of a tree of {size}");
        // The same bytes in each (for the larger sizes, the rightmost tiles only: the rest
        // were compared at the sizes where they were rightmost).
        for tile in &reference {
            let ours_tile =
                undersigned_core::log::Tile::parse(c2sp_path(tile).strip_prefix("tile/").unwrap())
                    .unwrap();
            if size > 600 && ours_tile.needs_size().unwrap() + 256 * 256 < size {
                continue;
            }
            assert_eq!(
                hash_tile(&ours, &ours_tile).unwrap(),
                tile.read_data(&stored).unwrap(),
                "{} at {size}",
                c2sp_path(tile)
            );
        }
    }
}

#[test]
fn paths_agree_with_the_go_tlog_port() {
    for n in [0u64, 1, 999, 1000, 1_234_067, 999_999_999, u64::MAX / 256] {
        for w in [1u32, 7, 255, 256] {
            for l in [0u8, 1, 5] {
                let reference = tlog_tiles::Tile::new(8, l, n, w, false);
                let ours = undersigned_core::log::Tile {
                    level: Some(l),
                    index: n,
                    width: w as u16,
                };
                assert_eq!(ours.path(), c2sp_path(&reference));
                let parsed = tlog_tiles::Tile::from_path(&reference.path()).unwrap();
                assert_eq!(parsed, reference);
                assert_eq!(
                    undersigned_core::log::Tile::parse(ours.path().strip_prefix("tile/").unwrap()),
                    Ok(ours)
                );
            }
        }
    }
}
