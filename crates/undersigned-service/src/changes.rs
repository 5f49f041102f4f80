//! This process's writes, counted: the HTTP layer answers a kept read again only while the
//! count is the one it was built under, so every write path of the domain (ledger, cosigning,
//! deliveries, the issuer log) tells it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counts this process's writes: a kept read is answered again only while the count is the
/// one it was built under.
#[derive(Debug, Clone, Default)]
pub struct Changes(Arc<AtomicU64>);

impl Changes {
    /// Called after anything a read shows may have changed.
    pub fn changed(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
