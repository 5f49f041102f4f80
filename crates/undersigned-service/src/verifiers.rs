//! What submissions keep across requests, a part of the `Platform`: opened letters with their
//! verifier contexts, the issuer keys' decoded points and issuer directories. Filled by
//! `submissions.rs`; it never reads the platform.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use undersigned_core::batch::VerifierKeys;
use undersigned_core::bbs::fast::LetterContext;
use undersigned_core::entry::IssuerDirectory;
use undersigned_core::ids::{Epoch, LetterId};
use undersigned_core::letter::Letter;

/// What an opened letter fixes for every submission to it: the parsed letter, its id, the
/// epochs it accepts and its verifier context (its hash-to-curve point).
#[derive(Debug)]
pub struct OpenedLetter {
    pub(crate) letter: Letter,
    pub(crate) id: LetterId,
    pub(crate) epochs: Vec<Epoch>,
    pub(crate) context: LetterContext,
}

/// What every submission would otherwise rebuild: each opened letter (parsed text, id and
/// kept verifier context with its table: about 10 ms of CPU, 400 kB), the issuer keys' decoded, subgroup-checked G2 points, and
/// the issuer directory of each set of epochs (a store query per epoch).
///
/// Kept in the platform (one per deployment). None of it can go stale in a way that changes a
/// verdict: an opened letter is frozen and keyed by its id (the hash of its text); the keys are
/// compared with the directory of every request by `EntryVerifier::with_keys` (a changed key is
/// rebuilt); a directory's anonymity sets only grow, and a small-cell refusal made on a kept
/// one is decided again on a fresh one (`verify`). Bounded: past `MAX_LETTERS` letters
/// (or as many epoch sets) it starts over.
#[derive(Default)]
pub struct VerifierCache {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    keys: Arc<VerifierKeys>,
    letters: HashMap<String, Arc<OpenedLetter>>,
    directories: HashMap<Vec<Epoch>, Arc<IssuerDirectory>>,
}

impl std::fmt::Debug for VerifierCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierCache").finish_non_exhaustive()
    }
}

/// Letters receiving submissions at once; beyond, the kept ones start over (at 400 kB each).
const MAX_LETTERS: usize = 128;

impl VerifierCache {
    // A panic elsewhere while holding the lock only costs the cache: every reader then misses.
    pub(crate) fn keys(&self) -> Arc<VerifierKeys> {
        self.kept
            .lock()
            .map(|c| Arc::clone(&c.keys))
            .unwrap_or_default()
    }

    pub(crate) fn keep_keys(&self, keys: Arc<VerifierKeys>) {
        if let Ok(mut c) = self.kept.lock() {
            c.keys = keys;
        }
    }

    pub(crate) fn letter(&self, letter_id: &str) -> Option<Arc<OpenedLetter>> {
        self.kept.lock().ok()?.letters.get(letter_id).cloned()
    }

    /// Keeps the letter and returns it (as kept).
    pub(crate) fn keep_letter(&self, letter_id: &str, opened: OpenedLetter) -> Arc<OpenedLetter> {
        let opened = Arc::new(opened);
        if let Ok(mut c) = self.kept.lock() {
            if c.letters.len() >= MAX_LETTERS && !c.letters.contains_key(letter_id) {
                c.letters.clear();
            }
            c.letters.insert(letter_id.to_owned(), Arc::clone(&opened));
        }
        opened
    }

    pub(crate) fn directory(&self, epochs: &[Epoch]) -> Option<Arc<IssuerDirectory>> {
        self.kept.lock().ok()?.directories.get(epochs).cloned()
    }

    pub(crate) fn keep_directory(&self, epochs: &[Epoch], directory: Arc<IssuerDirectory>) {
        if let Ok(mut c) = self.kept.lock() {
            if c.directories.len() >= MAX_LETTERS && !c.directories.contains_key(epochs) {
                c.directories.clear();
            }
            c.directories.insert(epochs.to_vec(), directory);
        }
    }
}
