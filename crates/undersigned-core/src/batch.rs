//! `verify` for many entries at once, with our blst verifier: the pairing equations of a whole
//! batch checked together. Natively over all cores (rayon); in the browser's wasm, where one
//! worker is one thread, the same code in sequence.
//!
//! A batch never changes a verdict: each entry gets exactly the answer `entry::verify` would
//! give it. A failed combined pairing check is bisected down to the entries that fail their own.

use rand_core::CryptoRngCore;

use crate::entry::{IssuerDirectory, SignatureEntry, VerifiedEntry};
use crate::error::VerifyError;
use crate::ids::LetterId;
use crate::letter::Policy;

pub use native::*;

/// Verifies `entries` of one letter, one verdict per entry in order. `rng` draws the batching
/// coefficients (callers pass `OsRng`; tests a seeded RNG).
pub fn verify_entries(
    entries: &[&SignatureEntry],
    letter_id: &LetterId,
    policy: &Policy,
    issuers: &IssuerDirectory,
    rng: &mut impl CryptoRngCore,
) -> Vec<Result<VerifiedEntry, VerifyError>> {
    EntryVerifier::new(issuers).verify_batch(entries, letter_id, policy, rng)
}

/// Rayon's parallel iterators natively; plain iterators in wasm32, which has one thread per
/// worker. Only what `native` uses, under the same names.
#[cfg(not(target_arch = "wasm32"))]
mod par {
    pub use rayon::prelude::*;

    pub fn threads() -> usize {
        rayon::current_num_threads().max(1)
    }
}
#[cfg(target_arch = "wasm32")]
mod par {
    pub fn threads() -> usize {
        1
    }

    pub trait ParSlice<T> {
        fn par_iter(&self) -> core::slice::Iter<'_, T>;
        fn par_chunks(&self, n: usize) -> core::slice::Chunks<'_, T>;
    }

    impl<T> ParSlice<T> for [T] {
        fn par_iter(&self) -> core::slice::Iter<'_, T> {
            self.iter()
        }
        fn par_chunks(&self, n: usize) -> core::slice::Chunks<'_, T> {
            self.chunks(n)
        }
    }

    pub trait FlatMapIter: Iterator + Sized {
        fn flat_map_iter<U: IntoIterator, F: FnMut(Self::Item) -> U>(
            self,
            f: F,
        ) -> core::iter::FlatMap<Self, U, F> {
            self.flat_map(f)
        }
    }

    impl<I: Iterator> FlatMapIter for I {}
}

mod native {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use rand_core::CryptoRngCore;

    use super::par::{self, *};

    use crate::bbs::fast::{self, Generators, IssuerKey, LetterContext, PairingClaim};
    use crate::bbs::{CryptoError, PUBLIC_KEY_LEN};
    use crate::credential::{self, MESSAGE_COUNT};
    use crate::entry::{
        check_policy, verified, IssuerDirectory, SignatureEntry, VerifiedEntry, SHARED,
    };
    use crate::error::VerifyError;
    use crate::ids::{IssuerId, LetterId};
    use crate::letter::Policy;

    /// Batches smaller than this gain little from sharing a pairing; larger ones lose
    /// parallelism and make bisection longer.
    const MIN_CHUNK: usize = 64;
    const MAX_CHUNK: usize = 1024;
    /// From this many entries, `verify_batch` builds the letter's kept context.
    const KEEP_CONTEXT_FROM: usize = 1024;

    /// Each issuer's key as the verifier uses it (G2 point, subgroup-checked, and domain), with
    /// the public key it was built from. Building it costs a G2 decompression and subgroup check
    /// per issuer; a server keeps one across requests (`EntryVerifier::with_keys`).
    #[derive(Debug, Default)]
    pub struct VerifierKeys(
        BTreeMap<IssuerId, ([u8; PUBLIC_KEY_LEN], Result<IssuerKey, CryptoError>)>,
    );

    impl VerifierKeys {
        pub fn new(issuers: &IssuerDirectory) -> Self {
            let gens = Generators::cached(MESSAGE_COUNT);
            Self(
                issuers
                    .iter()
                    .map(|(id, info)| {
                        let key = gens.and_then(|g| {
                            IssuerKey::new(g, &info.public_key, &credential::header(id))
                        });
                        (*id, (info.public_key.to_bytes(), key))
                    })
                    .collect(),
            )
        }

        /// How many disclosed bases these keys keep a table of (`fast::IssuerKey`).
        pub fn kept_bases(&self) -> usize {
            self.0
                .values()
                .filter_map(|(_, k)| k.as_ref().ok())
                .map(IssuerKey::kept_bases)
                .sum()
        }

        /// Whether these are exactly the directory's keys: the same issuers, each with the same
        /// public key (a directory that changed gets its keys built again).
        pub fn are_for(&self, issuers: &IssuerDirectory) -> bool {
            self.0.len() == issuers.len()
                && issuers.iter().all(|(id, info)| {
                    self.0
                        .get(id)
                        .is_some_and(|(pk, _)| *pk == info.public_key.to_bytes())
                })
        }
    }

    /// A verifier built once from an issuer directory: generators, each issuer's G2 point and
    /// domain are computed here and reused for every entry.
    #[derive(Debug)]
    pub struct EntryVerifier<'a> {
        issuers: &'a IssuerDirectory,
        gens: Result<&'static Generators, CryptoError>,
        keys: Arc<VerifierKeys>,
    }

    /// An entry that passed every check but its pairing equation; `finish` settles that.
    #[derive(Debug, Clone)]
    pub struct PreparedEntry {
        pub entry: VerifiedEntry,
        /// One per part.
        pub claims: Vec<PairingClaim>,
    }

    impl<'a> EntryVerifier<'a> {
        pub fn new(issuers: &'a IssuerDirectory) -> Self {
            Self::with_keys(issuers, Arc::new(VerifierKeys::new(issuers)))
        }

        /// A verifier that reuses `keys` if they are the directory's, and builds them otherwise.
        pub fn with_keys(issuers: &'a IssuerDirectory, keys: Arc<VerifierKeys>) -> Self {
            let keys = if keys.are_for(issuers) {
                keys
            } else {
                Arc::new(VerifierKeys::new(issuers))
            };
            Self {
                issuers,
                gens: Generators::cached(MESSAGE_COUNT),
                keys,
            }
        }

        /// The keys this verifier uses, to build the next verifier of the same directory with.
        pub fn keys(&self) -> Arc<VerifierKeys> {
            Arc::clone(&self.keys)
        }

        /// Every check of `entry::verify` except the pairing equation.
        pub fn prepare(
            &self,
            entry: &SignatureEntry,
            letter_id: &LetterId,
            policy: &Policy,
            letter: &LetterContext,
        ) -> Result<PreparedEntry, VerifyError> {
            let input = check_policy(entry, letter_id, policy, self.issuers)?;
            let gens = self.gens.map_err(|_| VerifyError::BadProof)?;
            let parts = entry
                .parts
                .iter()
                .zip(&input.parts)
                .map(
                    |(part, (_, _, pseudonym))| match self.keys.0.get(&part.issuer_id) {
                        Some((_, Ok(k))) => Ok((k, part.proof.as_slice(), &pseudonym[..])),
                        _ => Err(VerifyError::BadProof),
                    },
                )
                .collect::<Result<Vec<_>, _>>()?;
            let claims =
                fast::prepare_composite(gens, &parts, letter, &input.ph, &input.messages, &SHARED)
                    .map_err(|_| VerifyError::BadProof)?;
            Ok(PreparedEntry {
                entry: verified(entry, input.pseudonyms()),
                claims,
            })
        }

        /// One entry, with its own pairing check: `entry::verify`'s verdict, with this
        /// verifier's keys reused.
        pub fn verify(
            &self,
            entry: &SignatureEntry,
            letter_id: &LetterId,
            policy: &Policy,
        ) -> Result<VerifiedEntry, VerifyError> {
            let letter = LetterContext::new(&letter_id.0).map_err(|_| VerifyError::BadProof)?;
            let p = self.prepare(entry, letter_id, policy, &letter)?;
            if p.claims.iter().all(fast::check_claim) {
                Ok(p.entry)
            } else {
                Err(VerifyError::BadProof)
            }
        }

        /// Many entries of one letter, over all cores (rayon's pool: callers choose its size;
        /// in wasm32, in sequence).
        pub fn verify_batch(
            &self,
            entries: &[&SignatureEntry],
            letter_id: &LetterId,
            policy: &Policy,
            rng: &mut impl CryptoRngCore,
        ) -> Vec<Result<VerifiedEntry, VerifyError>> {
            // OP's table (about 9 ms, on one core) pays for itself on about a thousand proofs
            // verified on two cores.
            let letter = if entries.len() >= KEEP_CONTEXT_FROM {
                LetterContext::kept(&letter_id.0)
            } else {
                LetterContext::new(&letter_id.0)
            };
            match letter {
                Ok(letter) => self.verify_batch_in(&letter, entries, letter_id, policy, rng),
                Err(_) => entries.iter().map(|_| Err(VerifyError::BadProof)).collect(),
            }
        }

        /// `verify_batch` in runs of `run` entries, telling `progress` how many are done after
        /// each: this verifier's keys and one letter context serve every run (a run per call to
        /// `verify_batch` would build both again). The verdicts are `verify_batch`'s.
        pub fn verify_runs(
            &self,
            entries: &[&SignatureEntry],
            letter_id: &LetterId,
            policy: &Policy,
            rng: &mut impl CryptoRngCore,
            run: usize,
            progress: &mut dyn FnMut(usize),
        ) -> Vec<Result<VerifiedEntry, VerifyError>> {
            let letter = if entries.len() >= KEEP_CONTEXT_FROM {
                LetterContext::kept(&letter_id.0)
            } else {
                LetterContext::new(&letter_id.0)
            };
            let Ok(letter) = letter else {
                return entries.iter().map(|_| Err(VerifyError::BadProof)).collect();
            };
            let mut out = Vec::with_capacity(entries.len());
            for chunk in entries.chunks(run.max(1)) {
                out.extend(self.verify_batch_in(&letter, chunk, letter_id, policy, rng));
                progress(out.len());
            }
            out
        }

        /// `verify_batch` with the letter's context kept by the caller (a server keeps one per
        /// open letter); a context of another letter fails every entry.
        pub fn verify_batch_in(
            &self,
            letter: &LetterContext,
            entries: &[&SignatureEntry],
            letter_id: &LetterId,
            policy: &Policy,
            rng: &mut impl CryptoRngCore,
        ) -> Vec<Result<VerifiedEntry, VerifyError>> {
            if !letter.is_for(&letter_id.0) {
                return entries.iter().map(|_| Err(VerifyError::BadProof)).collect();
            }
            let prepared: Vec<_> = entries
                .par_iter()
                .map(|e| self.prepare(e, letter_id, policy, letter))
                .collect();
            finish(prepared, rng)
        }
    }

    /// Settles the pairing equations of prepared entries: shared checks over chunks, in
    /// parallel, bisected on failure. Entries that already failed keep their error.
    pub fn finish(
        prepared: Vec<Result<PreparedEntry, VerifyError>>,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<Result<VerifiedEntry, VerifyError>> {
        let claims: Vec<PairingClaim> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .flat_map(|p| p.claims.iter().copied())
            .collect();
        let coefs = fast::coefficients(claims.len(), rng);
        let threads = par::threads();
        let chunk = claims.len().div_ceil(threads).clamp(MIN_CHUNK, MAX_CHUNK);
        let verdicts: Vec<bool> = claims
            .par_chunks(chunk)
            .zip(coefs.par_chunks(chunk))
            .flat_map_iter(|(c, k)| fast::check_claims(c, k))
            .collect();
        let mut verdicts = verdicts.into_iter();
        prepared
            .into_iter()
            .map(|p| {
                let p = p?;
                // Every part's claim is consumed, so the next entry reads its own.
                let held: Vec<bool> = p
                    .claims
                    .iter()
                    .map(|_| verdicts.next() == Some(true))
                    .collect();
                let held = held.iter().all(|ok| *ok);
                if held && !p.claims.is_empty() {
                    Ok(p.entry)
                } else {
                    Err(VerifyError::BadProof)
                }
            })
            .collect()
    }
}
