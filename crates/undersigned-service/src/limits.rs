//! The limit on code mails per organization per hour, across all its addresses.
//!
//! Kept in memory, not in the database: a count of code requests per organization and hour is
//! one more record of when people asked for credentials, and nothing needs it after the hour.
//! Each server process counts on its own, so several processes behind one database allow
//! that many times the limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const HOUR: u64 = 3600;

#[derive(Debug)]
pub struct CodeMailLimit {
    per_hour: u32,
    /// Domain -> (hour number, mails counted in that hour).
    counts: Mutex<HashMap<String, (u64, u32)>>,
}

impl CodeMailLimit {
    pub fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one mail to `domain` at `now` if the hour has room; `false` when it has none.
    pub fn try_take(&self, domain: &str, now: u64) -> bool {
        let hour = now / HOUR;
        // A poisoned lock only means another request panicked mid-count; the map is still sound.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Past hours say nothing useful any more; dropping them keeps the map small.
        counts.retain(|_, (h, _)| *h == hour);
        let (h, n) = counts.entry(domain.to_owned()).or_insert((hour, 0));
        if *h != hour {
            *h = hour;
            *n = 0;
        }
        if *n >= self.per_hour {
            return false;
        }
        *n += 1;
        true
    }
}

/// How long mailing a code usually takes (a moving average), so that a code request which
/// mails nothing answers after about as long as one that does (`api::issuance::request_code`).
#[derive(Debug)]
pub struct MailTime {
    micros: AtomicU64,
    /// The last send failed: the relay is taken to be down until a send succeeds.
    failing: AtomicBool,
}

impl Default for MailTime {
    fn default() -> Self {
        // A local relay's round trip, until the first mail measures the real one.
        Self {
            micros: AtomicU64::new(20_000),
            failing: AtomicBool::new(false),
        }
    }
}

impl MailTime {
    /// A send failed: until one succeeds, requests that send nothing answer as a failed send
    /// would, so an outage of the relay does not tell them apart from sent ones.
    pub fn record_failure(&self) {
        self.failing.store(true, Ordering::Relaxed);
    }

    /// Whether the last send failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Adds one measured send to the average (weight 1/8).
    pub fn record(&self, took: Duration) {
        self.failing.store(false, Ordering::Relaxed);
        let new = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // The closure never returns None, so the update cannot fail.
        let _ = self
            .micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(old - old / 8 + new / 8)
            });
    }

    /// The current average.
    pub fn typical(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::CodeMailLimit;

    #[test]
    fn counts_per_domain_and_hour() {
        let l = CodeMailLimit::new(2);
        let t = 7_200;
        assert!(l.try_take("a.gov", t));
        assert!(l.try_take("a.gov", t + 1));
        assert!(!l.try_take("a.gov", t + 2));
        assert!(l.try_take("b.gov", t + 2));
        assert!(l.try_take("a.gov", t + 3600));
    }
}
