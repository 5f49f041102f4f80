//! Fuzz target: what a tiled log's reader parses from a server or CDN (tile paths, entry
//! bundles, hash tiles) and what the server parses from a URL. Nothing panics; a path that
//! parses is spelled exactly as it was given (one name per tile); an entry bundle that parses
//! encodes back to the same bytes; a hash tile parses only at its exact length.
#![no_main]
use libfuzzer_sys::fuzz_target;
use undersigned_core::log::tiles::{entry_bundle, parse_entry_bundle, parse_hash_tile};
use undersigned_core::log::Tile;
use undersigned_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let parts = split(data, 2);
    if let Ok(path) = std::str::from_utf8(parts[0]) {
        if let Ok(tile) = Tile::parse(path) {
            assert_eq!(format!("tile/{path}"), tile.path(), "one spelling per tile");
            let _ = tile.needs_size();
            if tile.level.is_some() {
                let parsed = parse_hash_tile(&tile, parts[1]);
                assert_eq!(
                    parsed.is_ok(),
                    parts[1].len() == usize::from(tile.width) * 32
                );
            }
        }
    }
    let count = usize::from(data.first().copied().unwrap_or(0));
    if let Ok(entries) = parse_entry_bundle(parts[1], count) {
        assert_eq!(entries.len(), count);
        assert_eq!(entry_bundle(&entries).expect("parsed entries fit"), parts[1]);
    }
});
