//! `check`'s fetches: a fixed cover set of letters' logs, so whoever serves the tiles cannot
//! tell from the requests which letters this holder signed.
//!
//! Reading every tile of one log hides which entry is the holder's, but fetching only the
//! logs of the letters signed would still name those letters. So `check` reads the log of
//! every public letter of the deployment (and of every letter it holds a receipt for); when
//! there are more than `MAX_COVER`, it reads every receipted letter plus others drawn at
//! random up to `MAX_COVER`. The order is shuffled, and each log is read the same way
//! (checkpoint, then every level-0 tile of the size it names), once, whatever its receipts.

use anyhow::anyhow;
use ed25519_dalek::VerifyingKey;
use rand::seq::SliceRandom;
use rand_core::CryptoRngCore;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use undersigned_core::log::origin::{Host, LogKind, Origin};
use undersigned_core::log::LogVerifier;
use undersigned_server::api::letters::LetterView;

use crate::client::Client;
use crate::holder::{CheckOutcome, SavedReceipt};
use crate::tiles::{fetch, FetchedLog, TileReader};

/// Logs read per check at most, receipted letters aside: enough to cover a deployment's
/// public letters in most cases, few enough to keep a check to a few hundred requests.
pub const MAX_COVER: usize = 64;

/// The deployment's log key and host, from a receipt's pinned log key (named by its letter's
/// exact origin): every letter of the cover set is read under that key and host.
fn deployment_key(receipts: &[(PathBuf, SavedReceipt)]) -> Option<(Host, VerifyingKey)> {
    receipts.iter().find_map(|(_, s)| {
        let v = LogVerifier::from_vkey(&s.log_key).ok()?;
        let origin = Origin::parse(v.name()).ok()?;
        Some((origin.host, *v.verifying_key()))
    })
}

/// The letters whose logs a check reads: every one of `receipted`, and of `public` all when
/// they fit in `max` together, else as many drawn at random as fill `max`; shuffled.
pub fn cover_set(
    receipted: &BTreeSet<String>,
    public: &BTreeSet<String>,
    max: usize,
    rng: &mut impl CryptoRngCore,
) -> Vec<String> {
    let mut others: Vec<&String> = public.difference(receipted).collect();
    others.shuffle(rng);
    let room = max.saturating_sub(receipted.len());
    let mut out: Vec<String> = receipted
        .iter()
        .chain(others.into_iter().take(room))
        .cloned()
        .collect();
    out.shuffle(rng);
    out
}

/// The ids of the deployment's public letters: from the receipts' server, or, for a local
/// copy of the tiles, the letters it holds.
fn public_letters(
    tiles: Option<&str>,
    servers: &BTreeSet<String>,
) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    match tiles {
        Some(dir) if !dir.starts_with("http://") && !dir.starts_with("https://") => {
            for e in std::fs::read_dir(Path::new(dir).join("letters"))?.flatten() {
                out.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
        _ => {
            for server in servers {
                let list: Vec<LetterView> =
                    Client::new(server).get_json("/api/v1/letters", None)?;
                out.extend(list.into_iter().filter_map(|v| v.letter_id));
            }
        }
    }
    // Only what can be a path segment: a listing is outside input.
    out.retain(|id| undersigned_core::log::origin::parse_id(id).is_some());
    Ok(out)
}

/// Checks every receipt (as `holder::check`), reading the cover set's logs from `tiles` or
/// each receipt's server. Each receipt gets its own outcome.
pub fn check_receipts(
    list: Vec<(PathBuf, SavedReceipt)>,
    tiles: Option<&str>,
    home: &Path,
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> Vec<(PathBuf, SavedReceipt, anyhow::Result<CheckOutcome>)> {
    // Receipts by the base their tiles are read from.
    let mut by_base: BTreeMap<String, Vec<(PathBuf, SavedReceipt)>> = BTreeMap::new();
    for (path, saved) in list {
        let base = tiles
            .unwrap_or(&saved.server)
            .trim_end_matches('/')
            .to_owned();
        by_base.entry(base).or_default().push((path, saved));
    }
    let mut out = Vec::new();
    for (base, receipts) in by_base {
        let receipted: BTreeSet<String> = receipts
            .iter()
            .map(|(_, s)| s.letter_id.clone())
            .filter(|id| crate::client::check_letter_key(id).is_ok())
            .collect();
        let servers: BTreeSet<String> = receipts.iter().map(|(_, s)| s.server.clone()).collect();
        let public = public_letters(tiles, &servers).unwrap_or_else(|e| {
            eprintln!(
                "warning: could not list the deployment's letters ({e:#}); reading only the logs of the letters you hold receipts for, which tells whoever serves the tiles which letters those are"
            );
            BTreeSet::new()
        });
        let key = deployment_key(&receipts);
        let mut fetched: BTreeMap<String, anyhow::Result<FetchedLog>> = BTreeMap::new();
        for id in cover_set(&receipted, &public, MAX_COVER, rng) {
            let log = key
                .as_ref()
                .ok_or_else(|| anyhow!("no receipt names a valid log key"))
                .and_then(|(host, key)| {
                    let letter = undersigned_core::log::origin::parse_id(&id)
                        .ok_or_else(|| anyhow!("{id:?} is not a letter id"))?;
                    let origin = Origin::new(host.clone(), LogKind::Letter, letter);
                    let verifier = LogVerifier::new(&origin.to_string(), *key)
                        .map_err(|e| anyhow!("log key: {e}"))?;
                    fetch(&TileReader::new(&format!("{base}/letters/{id}")), &verifier)
                });
            fetched.insert(id, log);
        }
        for (path, saved) in receipts {
            let result = match fetched.get(&saved.letter_id) {
                Some(Ok(log)) => crate::holder::check(log, home, &saved, now),
                Some(Err(e)) => Err(anyhow!("{e:#}")),
                None => crate::client::check_letter_key(&saved.letter_id)
                    .and_then(|()| Err(anyhow!("the log was not read"))),
            };
            out.push((path, saved, result));
        }
    }
    out
}
