//! The issuer log's gate, a part of the `Platform`: one append at a time in this process, and
//! the publish slot of the last scheduled statement. The appends themselves are in
//! `issuer_log.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// Serializes appends within this process (the store refuses a second writer elsewhere), and
/// remembers the publish slot of the last scheduled statement.
#[derive(Debug, Default)]
pub struct IssuerLogGate(Mutex<()>, AtomicU64);

impl IssuerLogGate {
    /// Held while one append runs.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }

    /// Records `slot` as the current publish slot; returns the one before.
    pub fn swap_slot(&self, slot: u64) -> u64 {
        self.1.swap(slot, Ordering::Relaxed)
    }
}
