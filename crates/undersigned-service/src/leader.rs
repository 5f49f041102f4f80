//! Which of several server processes on one database runs the background work.
//!
//! Any process accepts submissions and answers reads; exactly one at a time publishes batches,
//! closes letters at their deadline, appends the issuer log, delivers and asks the witnesses
//! (`publisher::tick`). The choice is the store's (`Store::lead`: a PostgreSQL session
//! advisory lock, or the SQLite file's one-process lock). Every process asks before each
//! tick, so a dead leader's place is taken within a tick of PostgreSQL ending its session.
//! A process that loses the leadership mid-tick may still finish a write it started; the log
//! append re-checks the size it extends inside its transaction, so it can never append a
//! batch twice or over another's. Processes that do not lead grow their cached trees to the
//! store's every tick, so their pages follow the leader's batches.

use crate::platform::Platform;

/// What this process knows of its own role, between ticks.
#[derive(Debug, Default)]
pub struct Leadership {
    leading: bool,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Led before and still does.
    Leading,
    /// Just became the leader: interrupted work is to be recovered first.
    Elected,
    /// Another process leads (or the database could not say).
    Following,
}

impl Leadership {
    /// Asks the store, and says so in the log when the role changes.
    pub async fn check(&mut self, s: &Platform) -> Role {
        let now_leading = match s.store.lead().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "checking the publisher leadership");
                false
            }
        };
        let was = std::mem::replace(&mut self.leading, now_leading);
        match (was, now_leading) {
            (false, true) => {
                tracing::info!(
                    pid = std::process::id(),
                    "publisher leadership taken: this process publishes, closes, delivers and cosigns"
                );
                Role::Elected
            }
            (true, true) => Role::Leading,
            (true, false) => {
                tracing::warn!(
                    pid = std::process::id(),
                    "publisher leadership lost: another process publishes now"
                );
                Role::Following
            }
            (false, false) => Role::Following,
        }
    }

    pub fn leading(&self) -> bool {
        self.leading
    }
}
