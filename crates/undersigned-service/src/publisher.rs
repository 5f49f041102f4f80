//! The background publisher: due batches into the log, and letters closed at their deadline.

use rand::RngCore;
use rand_core::OsRng;
use std::time::Duration;
use undersigned_core::record::CloseReason;
use undersigned_store::LetterState;

use crate::error::Result;
use crate::letters::{close_letter, finish_close};
use crate::platform::Platform;

/// One pass: publish every due batch, close letters past their deadline, finish interrupted
/// closes. Returns how many batches it published.
pub async fn tick(s: &Platform) -> Result<usize> {
    let now = s.clock.now();
    let due_by = now + s.config.publish_grace_secs;
    let mut published = 0;
    let due = s.store.letters_with_due_entries(due_by).await?;
    // The issuer statement goes out before any batch (so every logged signature's credential
    // is counted in a published statement) and otherwise once per publish interval.
    let slot = now / s.config.default_publish_interval_secs.max(1);
    let last = s.issuer_log_gate.swap_slot(slot);
    // A deployment that names independent issuers runs no issuer of its own.
    if s.remote_issuers.is_empty() && (!due.is_empty() || last != slot) {
        crate::issuer_log::publish(s, now).await?;
    }
    for id in due {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        // For /metrics: the batch's size, and how long after its boundary (the earliest
        // promise minus the grace) it went out.
        let before = s.store.log_size(&id).await?;
        let boundary = s
            .store
            .pending(&id, due_by)
            .await?
            .iter()
            .map(|p| p.include_by.saturating_sub(s.config.publish_grace_secs))
            .min()
            .unwrap_or(now);
        let after = s.ledger.publish(&id, due_by, now, Vec::new(), seed).await?;
        s.metrics.batch(after.saturating_sub(before), boundary, now);
        published += 1;
    }
    for row in s.store.letters_in_state(LetterState::Open).await? {
        if row.deadline <= now {
            if let Some(id) = &row.letter_id {
                close_letter(s, id, CloseReason::Deadline).await?;
            }
        }
    }
    crate::delivery::tick(s).await?;
    let cosigned = crate::cosigning::tick(s).await?;
    // A failing tiles directory (full, unmounted) must not hold up the sweep below.
    if let Err(e) = crate::tiles::mirror(s, published > 0 || cosigned > 0).await {
        tracing::warn!(error = %e, "writing the tiles directory");
    }
    // Expired codes go, and whatever was deleted to protect someone (the pool rows of the
    // batches above, used and expired codes) is made physically gone before the next tick.
    s.store.sweep_codes(now).await?;
    s.store.scrub().await?;
    Ok(published)
}

/// Finishes closes that a crash interrupted (state closed, closed entry missing).
pub async fn recover(s: &Platform) -> Result<()> {
    // The clock never reads earlier than the newest checkpoint this deployment stamped: if
    // the system clock was set back across the restart, checkpoints stay in order (`clock.rs`).
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            if let Some(id) = &row.letter_id {
                if let Some(cp) = s.store.latest_checkpoint(id).await? {
                    s.clock.not_before(cp.created_at);
                }
            }
        }
    }
    crate::cosigning::recover(s).await?;
    for row in s.store.letters_in_state(LetterState::Closed).await? {
        if let Some(id) = &row.letter_id {
            let reason = if row.closed_at.is_some_and(|c| c >= row.deadline) {
                CloseReason::Deadline
            } else {
                CloseReason::Organizer
            };
            finish_close(s, id, reason, s.clock.now()).await?;
        }
    }
    Ok(())
}

/// Runs forever; errors are logged and retried at the next tick. Only while this process
/// leads (`leader`) does it publish; otherwise it follows the leader's log growth. Takes
/// anything that holds the platform (the HTTP layer's state gives it up).
pub async fn run(s: impl Into<Platform>) {
    let s: Platform = s.into();
    let mut leadership = crate::leader::Leadership::default();
    let mut interval = tokio::time::interval(Duration::from_millis(s.config.tick_millis.max(50)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match leadership.check(&s).await {
            crate::leader::Role::Following => {
                if let Err(e) = s.ledger.follow().await {
                    tracing::warn!(error = %e, "following the log");
                }
                continue;
            }
            crate::leader::Role::Elected => {
                if let Err(e) = recover(&s).await {
                    tracing::error!(error = %e, "recovering interrupted closes");
                }
            }
            crate::leader::Role::Leading => {}
        }
        match tick(&s).await {
            Ok(n) if n > 0 => tracing::info!(batches = n, "published"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "publisher tick failed"),
        }
    }
}
