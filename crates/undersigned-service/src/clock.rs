//! The server's one wall clock: seconds since the unix epoch that never go backwards.
//!
//! Every time the server reads (receipts' promised times, batch due times, checkpoint and
//! statement timestamps, code expiry, deadlines, delivery backoff, the hourly mail limit) comes
//! from `Platform::clock`. Core takes time as a value and reads no clock.
//!
//! Why monotone: a receipt promises "in the log by `include_by`", and checkpoints and issuer
//! statements carry timestamps that verifiers compare. If the system clock is set back (an NTP
//! step, an operator's mistake, a VM restored from a snapshot), reading it directly would stall
//! every due batch by the size of the jump (an hour back means pooled entries wait an extra
//! hour, breaking their receipts) and stamp new checkpoints earlier than old ones. So the clock
//! never goes back: between reads it advances by the monotonic time elapsed (`Instant`, which
//! no one can set), and it follows the system clock only when that is ahead. After a jump back
//! of an hour, the server keeps counting from where it was; promises made before the jump are
//! kept by elapsed time, and times it stamps stay ordered. It runs ahead of the system clock
//! by the jump until the process restarts (an NTP slew cannot bring them together, since both
//! run at the same rate); nothing depends on them agreeing.
//!
//! Tests use `Clock::manual()`: the same clock over a system time they can shift either way.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A cheap handle (clones share the same clock).
#[derive(Clone, Debug)]
pub struct Clock(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Seconds added to the system clock: zero in production; a test moves it to simulate the
    /// system clock being set (forwards or backwards).
    shift: Option<AtomicI64>,
    /// The latest reading and the instant it was made.
    anchor: Mutex<(Duration, Instant)>,
}

impl Clock {
    /// The system clock, made monotone.
    pub fn system() -> Self {
        Self::with_shift(None)
    }

    /// A clock for tests: the system clock plus a shift they set with `shift_by`, made
    /// monotone exactly as `system()` is.
    pub fn manual() -> Self {
        Self::with_shift(Some(AtomicI64::new(0)))
    }

    /// A `manual()` clock whose system time is already `secs` off when it starts (a process
    /// started after the system clock was set).
    pub fn manual_shifted(secs: i64) -> Self {
        Self::with_shift(Some(AtomicI64::new(secs)))
    }

    fn with_shift(shift: Option<AtomicI64>) -> Self {
        let inner = Inner {
            shift,
            anchor: Mutex::new((Duration::ZERO, Instant::now())),
        };
        let start = inner.raw();
        if let Ok(mut a) = inner.anchor.lock() {
            *a = (start, Instant::now());
        }
        Self(Arc::new(inner))
    }

    /// Seconds since the unix epoch; never less than any earlier reading of this clock.
    pub fn now(&self) -> u64 {
        self.now_precise().as_secs()
    }

    /// The same reading with sub-second precision.
    pub fn now_precise(&self) -> Duration {
        let raw = self.0.raw();
        // A poisoned lock only means a reader panicked between two plain assignments.
        let mut anchor = self.0.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, when) = *anchor;
        let counted = at.saturating_add(when.elapsed());
        if raw > counted {
            // The system clock is ahead (it was set forward, or the machine slept, which
            // `Instant` does not count): follow it.
            *anchor = (raw, Instant::now());
            raw
        } else {
            counted
        }
    }

    /// Makes the clock read at least `secs` from now on. At start the server floors it at the
    /// newest time it stamped before (`publisher::recover`), so that a clock set back across
    /// a restart does not date new checkpoints before old ones.
    pub fn not_before(&self, secs: u64) {
        let floor = Duration::from_secs(secs);
        let mut anchor = self.0.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, when) = *anchor;
        if at.saturating_add(when.elapsed()) < floor {
            *anchor = (floor, Instant::now());
        }
    }

    /// Moves the underlying system time of a `manual()` clock by `secs` (negative: back).
    /// The clock itself then follows as `system()` follows a set system clock: forwards at
    /// once, backwards not at all. No effect on `system()`.
    pub fn shift_by(&self, secs: i64) {
        if let Some(s) = &self.0.shift {
            s.fetch_add(secs, Ordering::SeqCst);
        }
    }

    /// What the underlying system time reads now (shifted, for a `manual()` clock), in
    /// seconds: what a server reading the system clock directly would see.
    pub fn system_now(&self) -> u64 {
        self.0.raw().as_secs()
    }
}

impl Inner {
    fn raw(&self) -> Duration {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        match &self.shift {
            None => sys,
            Some(s) => {
                let shift = s.load(Ordering::SeqCst);
                let by = Duration::from_secs(shift.unsigned_abs());
                if shift >= 0 {
                    sys.saturating_add(by)
                } else {
                    sys.saturating_sub(by)
                }
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn follows_forward_jumps_and_ignores_backward_ones() {
        let c = Clock::manual();
        let t0 = c.now();
        c.shift_by(600);
        let t1 = c.now();
        assert!(t1 >= t0 + 600, "{t0} {t1}");
        c.shift_by(-3600);
        let t2 = c.now();
        assert!(t2 >= t1, "went back: {t1} -> {t2}");
        assert!(c.system_now() + 2900 < t2);
        c.not_before(t2 + 100);
        assert!(c.now() >= t2 + 100);
        c.not_before(5);
        assert!(c.now() >= t2 + 100);
        // Still counting by elapsed time after the jump back.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(c.now_precise() > std::time::Duration::from_secs(t2));
    }

    #[test]
    fn system_clock_is_not_shifted() {
        let c = Clock::system();
        c.shift_by(-10_000);
        assert!(c.system_now() + 5 >= crate::now());
    }
}
