//! Publish batching: entries wait in a pool until the next scheduled publish and
//! are then released in a random order, so leaf position reveals nothing about
//! submission order; the schedule also fixes the deadline receipts promise.

use rand_core::CryptoRngCore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("pool already holds its maximum of {0} entries")]
    Full(usize),
    #[error("publish interval must be at least one second")]
    ZeroInterval,
    #[error("timestamp too large to schedule")]
    TimeOverflow,
}

/// An entry waiting to be appended: the exact leaf bytes plus a caller-chosen id
/// (e.g. a letter id) to match it back up after shuffling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry<I> {
    pub id: I,
    pub leaf: Vec<u8>,
}

/// Entries received since the last publish.
#[derive(Debug, Clone)]
pub struct Pool<I> {
    entries: Vec<PendingEntry<I>>,
    max_entries: usize,
}

impl<I> Pool<I> {
    /// A pool refusing more than `max_entries` pending entries, which bounds the
    /// memory a flood of submissions can take between publishes.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: Vec::new(),
            max_entries,
        }
    }

    pub fn push(&mut self, id: I, leaf: Vec<u8>) -> Result<(), PoolError> {
        if self.entries.len() >= self.max_entries {
            return Err(PoolError::Full(self.max_entries));
        }
        self.entries.push(PendingEntry { id, leaf });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn pending(&self) -> &[PendingEntry<I>] {
        &self.entries
    }

    /// Empties the pool, returning its entries in a uniformly random order
    /// (Fisher–Yates driven by `rng`).
    pub fn drain_shuffled(&mut self, rng: &mut impl CryptoRngCore) -> Vec<PendingEntry<I>> {
        let mut out = core::mem::take(&mut self.entries);
        for i in (1..out.len()).rev() {
            let j = uniform_at_most(rng, i);
            out.swap(i, j);
        }
        out
    }
}

/// Uniform integer in `0..=max` by rejection sampling, avoiding the modulo bias a
/// plain `next_u64() % n` would have.
fn uniform_at_most(rng: &mut impl CryptoRngCore, max: usize) -> usize {
    let Ok(max) = u64::try_from(max) else {
        return 0;
    };
    let Some(n) = max.checked_add(1) else {
        return usize::try_from(rng.next_u64()).unwrap_or(0);
    };
    // Largest multiple of n that fits; values at or above it would be biased.
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return usize::try_from(v % n).unwrap_or(0);
        }
    }
}

/// Publishes happen at every multiple of `interval_secs` since the unix epoch; a
/// receipt promises inclusion by the first publish after receipt plus `grace_secs`
/// for the publish itself to complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishSchedule {
    interval_secs: u64,
    grace_secs: u64,
}

impl PublishSchedule {
    pub fn new(interval_secs: u64, grace_secs: u64) -> Result<Self, PoolError> {
        if interval_secs == 0 {
            return Err(PoolError::ZeroInterval);
        }
        Ok(Self {
            interval_secs,
            grace_secs,
        })
    }

    pub fn interval_secs(&self) -> u64 {
        self.interval_secs
    }

    pub fn grace_secs(&self) -> u64 {
        self.grace_secs
    }

    /// First publish time strictly after `now`. Strictly, because an entry arriving
    /// in the same second as a publish may land after that batch was drained.
    pub fn next_publish_after(&self, now: u64) -> Result<u64, PoolError> {
        let rem = now
            .checked_rem(self.interval_secs)
            .ok_or(PoolError::ZeroInterval)?;
        (now - rem)
            .checked_add(self.interval_secs)
            .ok_or(PoolError::TimeOverflow)
    }

    /// The maximum merge delay deadline for an entry received at `received_at`.
    pub fn include_by(&self, received_at: u64) -> Result<u64, PoolError> {
        self.next_publish_after(received_at)?
            .checked_add(self.grace_secs)
            .ok_or(PoolError::TimeOverflow)
    }
}
