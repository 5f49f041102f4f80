//! The record: each letter's Merkle log, kept in memory as a cache of the store, and the
//! batch publisher that moves accepted entries from the pool into the log.
//!
//! The store is the truth. The in-memory tree of a letter is rebuilt from its leaf hashes on
//! first use and after any conflict, and a batch is written to the store (leaves, pool removal
//! and the signed checkpoint, in one transaction) before the in-memory tree moves.

use rand::seq::SliceRandom;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, RwLock};
use undersigned_core::lifecycle::{Event, Lifecycle, LifecycleError};
use undersigned_core::log::{leaf_hash, Checkpoint, LogSigner, LogVerifier, MerkleLog};
use undersigned_core::tally::Tally;
use undersigned_store::{CheckpointRow, Hash, PendingEntry, Store, StoreError};

use crate::error::{Error, Result};

/// One letter's log state: the tree, what its entries say (read through the one lifecycle the
/// bundle verifier reads them with), and the comments standing.
#[derive(Debug, Default, Clone)]
pub struct LetterLog {
    pub tree: MerkleLog,
    /// Phase, tally and recipients, as the verifier would read this log.
    pub life: Lifecycle,
    /// Published comments of signatures not withdrawn, keyed by pseudonym (so their order says
    /// nothing about arrival), with what each signer disclosed.
    pub comments:
        std::collections::BTreeMap<[u8; 48], (undersigned_core::entry::Disclosed, String)>,
}

impl LetterLog {
    /// Reads the next log leaf. Proofs were verified when each entry was accepted, and the
    /// bundle lets anyone re-check them; everything else the verifier refuses (an entry out of
    /// order, a second signature by a pseudonym, a leaf that is no entry) is refused here too,
    /// and a refused leaf changes nothing.
    fn absorb(&mut self, leaf: &[u8]) -> std::result::Result<(), LifecycleError> {
        let entry = self.life.read_leaf(leaf)?;
        match self.life.next_accepted(&entry)? {
            Event::Signed {
                pseudonym,
                disclosed,
                comment: Some(c),
            } => {
                self.comments
                    .insert(pseudonym.0, (disclosed.clone(), c.to_owned()));
            }
            Event::Withdrew { pseudonym } => {
                self.comments.remove(&pseudonym.0);
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads stored leaves; a store whose log the verifier would refuse is not served.
    fn absorb_stored(&mut self, letter_id: &str, leaf: &[u8]) -> Result<()> {
        self.absorb(leaf).map_err(|e| {
            Error::Internal(format!(
                "letter {letter_id}: the stored log breaks the letter's lifecycle: {e}"
            ))
        })
    }

    /// Distinct signatures and withdrawals in the log.
    pub fn tally(&self) -> &Tally {
        self.life.tally()
    }

    /// Whether the closed entry is in the log.
    pub fn is_closed(&self) -> bool {
        self.life.is_closed()
    }

    /// Whether the log holds a delivery to the recipient of that name.
    pub fn delivered_to(&self, name: &str) -> bool {
        self.life.delivered_to(name)
    }
}

#[derive(Debug)]
pub struct Ledger {
    store: Arc<dyn Store>,
    /// One Ed25519 key for the deployment; each letter's log signs under its own origin as
    /// the key name (tlog-checkpoint), so a letter's checkpoints and receipts name that letter.
    key: ed25519_dalek::SigningKey,
    host: String,
    logs: Mutex<HashMap<String, Arc<Mutex<LetterLog>>>>,
    /// Submissions hold a letter's read lock while they are accepted; closing takes the write
    /// lock, so no entry can slip into the pool after the closing batch.
    gates: Mutex<HashMap<String, Arc<RwLock<()>>>>,
    /// Told of every checkpoint signed here, so it goes to the witnesses.
    cosigning: Arc<crate::witnesses::Cosigning>,
    /// Told of every log that grew, so kept reads are built again (`caching.rs`).
    changes: crate::changes::Changes,
}

impl Ledger {
    pub fn new(
        store: Arc<dyn Store>,
        key: ed25519_dalek::SigningKey,
        host: String,
        cosigning: Arc<crate::witnesses::Cosigning>,
        changes: crate::changes::Changes,
    ) -> Self {
        Self {
            store,
            key,
            host,
            cosigning,
            changes,
            logs: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The letter log's signer, named by its origin `<host>/letters/<letter id>`.
    pub fn signer(&self, letter_id: &str) -> Result<LogSigner> {
        LogSigner::new(&self.origin(letter_id), self.key.clone())
            .map_err(|e| Error::Internal(format!("log signer: {e}")))
    }

    /// The issuer log's signer: the same key, named `<host>/issuers/<issuer id>`.
    pub fn issuer_log_signer(&self, issuer: &undersigned_core::ids::IssuerId) -> Result<LogSigner> {
        LogSigner::new(
            &undersigned_core::statement::issuer_log_origin(&self.host, issuer),
            self.key.clone(),
        )
        .map_err(|e| Error::Internal(format!("issuer log signer: {e}")))
    }

    /// The deployment's log public key, hex; every letter's vkey carries this key.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The letter log's verifier key in signed-note vkey form.
    pub fn vkey(&self, letter_id: &str) -> Result<String> {
        Ok(self.signer(letter_id)?.verifier().to_vkey())
    }

    /// What a witness follows this deployment with (`undersigned witness serve --logs-under`):
    /// verifier keys named by the origin prefixes of the letter logs and of the issuer log,
    /// `<host>/letters/` and `<host>/issuers/`, so letters opened later need no witness restart.
    pub fn witness_prefixes(&self) -> Result<Vec<String>> {
        ["letters", "issuers"]
            .iter()
            .map(|kind| {
                LogVerifier::new(&format!("{}/{kind}/", self.host), self.key.verifying_key())
                    .map(|v| v.to_vkey())
                    .map_err(|e| Error::Internal(format!("log prefix key: {e}")))
            })
            .collect()
    }

    pub fn origin(&self, letter_id: &str) -> String {
        format!("{}/letters/{}", self.host, letter_id)
    }

    pub async fn gate(&self, letter_id: &str) -> Arc<RwLock<()>> {
        self.gates
            .lock()
            .await
            .entry(letter_id.to_owned())
            .or_default()
            .clone()
    }

    /// The letter's log, loaded from the store on first use.
    pub async fn log(&self, letter_id: &str) -> Result<Arc<Mutex<LetterLog>>> {
        if let Some(l) = self.logs.lock().await.get(letter_id) {
            return Ok(l.clone());
        }
        let fresh = Arc::new(Mutex::new(self.load(letter_id).await?));
        Ok(self
            .logs
            .lock()
            .await
            .entry(letter_id.to_owned())
            .or_insert(fresh)
            .clone())
    }

    /// The letter's log, grown to at least `size` leaves from the store when it is behind:
    /// another process (or this one's API) may have published since it was cached. Leaves are
    /// never rewritten, so growing the cached tree by the stored leaves that follow it gives
    /// the tree the store has, never one it does not.
    pub async fn at_least(&self, letter_id: &str, size: u64) -> Result<Arc<Mutex<LetterLog>>> {
        let log = self.log(letter_id).await?;
        {
            let mut l = log.lock().await;
            self.grow(letter_id, &mut l, size).await?;
        }
        Ok(log)
    }

    /// The letter's log, grown to everything the store has now (one size query).
    pub async fn synced(&self, letter_id: &str) -> Result<Arc<Mutex<LetterLog>>> {
        let size = self.store.log_size(letter_id).await?;
        self.at_least(letter_id, size).await
    }

    /// Grows every cached log to the store's size: run by processes that do not publish, so
    /// their pages and tallies follow the one that does.
    pub async fn follow(&self) -> Result<()> {
        let cached: Vec<String> = self.logs.lock().await.keys().cloned().collect();
        for id in cached {
            self.synced(&id).await?;
        }
        Ok(())
    }

    async fn grow(&self, letter_id: &str, log: &mut LetterLog, size: u64) -> Result<()> {
        const PAGE: u64 = 5000;
        while log.tree.size() < size {
            let from = log.tree.size();
            let leaves = self
                .store
                .leaves(letter_id, from, size.min(from.saturating_add(PAGE)))
                .await?;
            if leaves.is_empty() {
                return Err(Error::Internal(format!(
                    "the store has no leaf {from} of a log it says has {size}"
                )));
            }
            for leaf in &leaves {
                log.absorb_stored(letter_id, leaf)?;
                log.tree.append_hash(leaf_hash(leaf));
            }
            self.changes.changed();
        }
        Ok(())
    }

    async fn load(&self, letter_id: &str) -> Result<LetterLog> {
        let hashes = self.store.leaf_hashes(letter_id).await?;
        let size = hashes.len() as u64;
        let mut log = LetterLog {
            tree: MerkleLog::from_leaf_hashes(hashes),
            ..LetterLog::default()
        };
        const PAGE: u64 = 5000;
        let mut from = 0;
        while from < size {
            for leaf in self.store.leaves(letter_id, from, from + PAGE).await? {
                log.absorb_stored(letter_id, &leaf)?;
            }
            from += PAGE;
        }
        Ok(log)
    }

    /// Signs a checkpoint for the tree as it would be after a batch.
    pub fn checkpoint(&self, letter_id: &str, tree: &MerkleLog, now: u64) -> Result<CheckpointRow> {
        let root = tree.root();
        let note = Checkpoint::new(self.origin(letter_id), tree.size(), root)
            .sign(&self.signer(letter_id)?)
            .map_err(|e| Error::Internal(format!("checkpoint signing: {e}")))?;
        // Marked before it is stored: a checkpoint that never gets stored costs one look.
        self.cosigning.mark(
            &self.origin(letter_id),
            crate::witnesses::LogName::Letter(letter_id.to_owned()),
            now,
        );
        Ok(CheckpointRow {
            size: tree.size(),
            root,
            note,
            created_at: now,
        })
    }

    /// Publishes the entries due by `due_by` as one shuffled batch, then `extra` leaves (such
    /// as the closed entry) after them. Returns the new log size.
    pub async fn publish(
        &self,
        letter_id: &str,
        due_by: u64,
        now: u64,
        extra: Vec<Vec<u8>>,
        seed: [u8; 32],
    ) -> Result<u64> {
        let log = self.log(letter_id).await?;
        let mut log = log.lock().await;
        // Another process may have published since: extend the log the store has. The append
        // below still re-checks that size inside its transaction (the fence against a
        // publisher that lost its leadership, or an API close racing the publisher).
        let stored = self.store.log_size(letter_id).await?;
        self.grow(letter_id, &mut log, stored).await?;
        let pending = self.store.pending(letter_id, due_by).await?;
        if pending.is_empty() && extra.is_empty() {
            return Ok(log.tree.size());
        }
        let batch = order_batch(pending, seed);
        let leaves: Vec<(Hash, Vec<u8>)> = batch
            .into_iter()
            .map(|p| (p.entry_hash, p.leaf))
            .chain(extra.into_iter().map(|l| (leaf_hash(&l), l)))
            .collect();
        // The batch is read through the lifecycle before anything is stored: a log the
        // verifier would refuse is never written, let alone signed.
        let mut next = log.clone();
        for (h, leaf) in &leaves {
            next.absorb(leaf).map_err(|e| {
                Error::Internal(format!(
                    "letter {letter_id}: a batch entry breaks the letter's lifecycle, nothing appended: {e}"
                ))
            })?;
            next.tree.append_hash(*h);
        }
        let checkpoint = self.checkpoint(letter_id, &next.tree, now)?;
        match self
            .store
            .append_batch(letter_id, log.tree.size(), &leaves, &checkpoint)
            .await
        {
            Ok(()) => {
                *log = next;
                self.changes.changed();
                Ok(log.tree.size())
            }
            Err(StoreError::Conflict(what)) => {
                // Another writer moved the log: forget our copy; the next call reloads it.
                drop(log);
                self.logs.lock().await.remove(letter_id);
                Err(Error::Conflict(what.into()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Shuffles a batch with an RNG seeded from the OS, signatures first and withdrawals after, so a
/// withdrawal accepted in the same interval as its signature never precedes it in the log.
pub fn order_batch(pending: Vec<PendingEntry>, seed: [u8; 32]) -> Vec<PendingEntry> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let (mut signs, mut withdrawals): (Vec<_>, Vec<_>) =
        pending.into_iter().partition(|p| !p.withdraw);
    signs.shuffle(&mut rng);
    withdrawals.shuffle(&mut rng);
    signs.extend(withdrawals);
    signs
}
