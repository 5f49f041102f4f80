//! tlog-tiles paths, tile sets, hash tiles and entry bundles (`log::tiles`): the spec's own
//! examples, round trips, and every malformed shape refused.

use undersigned_core::log::tiles::*;
use undersigned_core::log::MerkleLog;

fn tile(level: Option<u8>, index: u64, width: u16) -> Tile {
    Tile {
        level,
        index,
        width,
    }
}

#[test]
fn paths_follow_the_spec_examples() {
    assert_eq!(tile(Some(0), 1_234_067, 256).path(), "tile/0/x001/x234/067");
    assert_eq!(tile(Some(1), 0, 17).path(), "tile/1/000.p/17");
    assert_eq!(tile(None, 5, 256).path(), "tile/entries/005");
    assert_eq!(tile(None, 1000, 3).path(), "tile/entries/x001/000.p/3");
}

#[test]
fn paths_round_trip_and_only_the_canonical_spelling_parses() {
    for t in [
        tile(Some(0), 0, 256),
        tile(Some(2), 1_234_067, 9),
        tile(None, 999, 255),
        tile(None, 1000, 1),
        tile(Some(7), u64::MAX / 1_000_000, 256),
    ] {
        let p = t.path();
        assert_eq!(Tile::parse(p.strip_prefix("tile/").unwrap()), Ok(t), "{p}");
    }
    for bad in [
        "",
        "0",
        "0/",
        "00/000",
        "8/000",
        "0/0",
        "0/0000",
        "0/x000/001",
        "0/001/002",
        "0/x1/002",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/05",
        "0/000.p/",
        "-1/000",
        "0/x018/x446/x744/x073/x709/x551/616",
        "entries/000.p/1/2",
        "0/+00",
    ] {
        assert!(Tile::parse(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn a_tree_of_70000_has_the_tiles_the_spec_lists() {
    let tiles = tiles_for_size(70_000);
    let level = |l| {
        tiles
            .iter()
            .filter(|t| t.level == Some(l))
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(level(0).len(), 274);
    assert_eq!(level(0).last(), Some(&tile(Some(0), 273, 112)));
    assert_eq!(level(1), vec![tile(Some(1), 0, 256), tile(Some(1), 1, 17)]);
    assert_eq!(level(2), vec![tile(Some(2), 0, 1)]);
    assert_eq!(level(3), vec![]);
    assert_eq!(tiles.iter().filter(|t| t.level.is_none()).count(), 274);
    assert_eq!(
        tiles_for_size(256)
            .into_iter()
            .filter(|t| t.level.is_some())
            .collect::<Vec<_>>(),
        vec![tile(Some(0), 0, 256), tile(Some(1), 0, 1)]
    );
    assert!(tiles_for_size(0).is_empty());
}

#[test]
fn hash_tiles_hold_the_aligned_subtree_roots() {
    let mut tree = MerkleLog::new();
    for i in 0u32..(256 * 3 + 7) {
        tree.append(&i.to_be_bytes());
    }
    let t0 = tile(Some(0), 2, 256);
    let bytes = hash_tile(&tree, &t0).unwrap();
    assert_eq!(bytes.len(), FULL_TILE_BYTES);
    assert_eq!(&bytes[..32], &tree.leaf_hashes()[512]);
    // A level-1 hash is the root of a full level-0 tile's 256 leaves.
    let t1 = tile(Some(1), 0, 3);
    let bytes = hash_tile(&tree, &t1).unwrap();
    let sub = MerkleLog::from_leaf_hashes(tree.leaf_hashes()[256..512].to_vec());
    assert_eq!(&bytes[32..64], &sub.root());
    // Nothing beyond the tree.
    assert!(hash_tile(&tree, &tile(Some(1), 0, 4)).is_err());
    assert!(hash_tile(&tree, &tile(Some(0), 3, 8)).is_err());
    assert!(hash_tile(&tree, &tile(Some(0), 3, 7)).is_ok());
    assert!(check_hash_tile(&tree, &t1, &hash_tile(&tree, &t1).unwrap()).is_ok());
    let mut forged = hash_tile(&tree, &t1).unwrap();
    forged[5] ^= 1;
    assert_eq!(
        check_hash_tile(&tree, &t1, &forged),
        Err(TileError::TileMismatch(t1.path()))
    );
}

#[test]
fn entry_bundles_round_trip_and_refuse_every_other_shape() {
    let leaves: Vec<Vec<u8>> = vec![b"a".to_vec(), vec![], vec![7; 300]];
    let b = entry_bundle(&leaves).unwrap();
    assert_eq!(parse_entry_bundle(&b, 3).unwrap(), leaves);
    assert!(parse_entry_bundle(&b, 2).is_err());
    assert!(parse_entry_bundle(&b, 4).is_err());
    assert!(parse_entry_bundle(&b[..b.len() - 1], 3).is_err());
    let mut long = b.clone();
    long.push(0);
    assert!(parse_entry_bundle(&long, 3).is_err());
    assert_eq!(
        entry_bundle(&[vec![0u8; 65_536]]),
        Err(TileError::EntryTooLarge(65_536))
    );
    assert!(entry_bundle(&[vec![0u8; 65_535]]).is_ok());
}
