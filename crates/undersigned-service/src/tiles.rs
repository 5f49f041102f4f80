//! Letters' logs as C2SP tlog-tiles: the tiles a published checkpoint covers, read from the
//! ledger and the store, and, when the deployment names a directory, written there by the
//! leader as static files for a CDN or object storage (the HTTP layer serves the same bytes).
//!
//! Only what a published checkpoint covers is read: a tile beyond it is not found, so a reader
//! can't see entries before the witnesses did.

use std::path::{Path, PathBuf};

use undersigned_core::bundle::CONTEXT_FILE;
use undersigned_core::log::tiles::{entry_bundle, hash_tile, tiles_for_size};
use undersigned_core::log::Tile;
use undersigned_store::{CheckpointRow, LetterState};

use crate::bundle::build_context;
use crate::error::{Error, Result};
use crate::platform::Platform;
pub use crate::tile_mirror::Mirror;

/// The letter's published checkpoint, or not found before there is one.
pub async fn published(s: &Platform, id: &str) -> Result<CheckpointRow> {
    crate::cosigning::published(s, id)
        .await?
        .ok_or(Error::NotFound("checkpoint"))
}

/// A tile's bytes, if a tree of `size` (a published size) covers it.
pub async fn read_tile(s: &Platform, id: &str, tile: &Tile, size: u64) -> Result<Vec<u8>> {
    if tile.needs_size().is_none_or(|n| n > size) {
        return Err(Error::NotFound("tile"));
    }
    match tile.level {
        Some(_) => {
            let log = s.ledger.at_least(id, size).await?;
            let log = log.lock().await;
            hash_tile(&log.tree, tile).map_err(|_| Error::NotFound("tile"))
        }
        None => {
            let first = tile.first_entry();
            let leaves = s
                .store
                .leaves(id, first, first + u64::from(tile.width))
                .await?;
            entry_bundle(&leaves).map_err(|e| Error::Internal(e.to_string()))
        }
    }
}

/// Without news from the publisher, the directory is compared with the database this often
/// (a close or a witness quorum publishes a checkpoint outside a batch).
const MIRROR_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Brings the tiles directory up to every public letter's published checkpoint: at once when
/// `news` (a batch or a cosignature was published), else every `MIRROR_EVERY`. Tiles first,
/// then the context, then the checkpoint, each written whole and renamed into place: a
/// reader who sees a checkpoint finds every tile it needs.
pub async fn mirror(s: &Platform, news: bool) -> Result<()> {
    let Some(dir) = &s.config.tiles_dir else {
        return Ok(());
    };
    let mut guard = s.tiles.written.lock().await;
    let (written, last) = &mut *guard;
    if !news && last.is_some_and(|t| t.elapsed() < MIRROR_EVERY) {
        return Ok(());
    }
    *last = Some(std::time::Instant::now());
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            let Some(id) = row.letter_id.clone() else {
                continue;
            };
            if !row.public {
                continue;
            }
            let Some(cp) = crate::cosigning::published(s, &id).await? else {
                continue;
            };
            let before = written.get(&id);
            if before.is_some_and(|(_, note)| *note == cp.note) {
                continue;
            }
            // What this process wrote before is there (synced): only the tiles a larger tree
            // adds are new. After a restart, every tile is looked for once.
            let done = before.map_or(0, |(size, _)| *size);
            let prefix = dir.join("letters").join(&id);
            for tile in tiles_for_size(cp.size) {
                if tile.needs_size().is_some_and(|n| n <= done) {
                    continue;
                }
                let path = prefix.join(tile.path());
                // Tiles never change: one already written is the same bytes.
                if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                    continue;
                }
                let body = read_tile(s, &id, &tile, cp.size).await?;
                write_atomic(&path, &body).await?;
                if tile.is_full() {
                    // The partial versions of a full tile are no longer needed (the spec
                    // allows their removal); they would otherwise grow with every batch.
                    let mut partials = path.clone().into_os_string();
                    partials.push(".p");
                    let _ = tokio::fs::remove_dir_all(PathBuf::from(partials)).await;
                }
            }
            let context = build_context(s, &row, &id).await?;
            write_atomic(&prefix.join(CONTEXT_FILE), context.to_json().as_bytes()).await?;
            write_atomic(&prefix.join("checkpoint"), cp.note.as_bytes()).await?;
            written.insert(id, (cp.size, cp.note));
        }
    }
    Ok(())
}

async fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Internal(format!("tiles directory: {e}"));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // Synced before the rename: after a crash a file is there whole or not at all, and a
    // tile that exists is never written again.
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    tokio::io::AsyncWriteExt::write_all(&mut file, body)
        .await
        .map_err(io)?;
    file.sync_all().await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}
