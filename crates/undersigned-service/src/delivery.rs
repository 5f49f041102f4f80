//! Delivery of closed letters to their recipients, retried with backoff, and reminders.
//!
//! Each recipient gets one mail with the letter, the verified tally and a personal response
//! link. Only the link's hash is stored, so every attempt mails a fresh link; once the SMTP
//! server accepts the mail, a delivered entry (recipient, time, SMTP reply) goes into the
//! letter's log, exactly once per recipient.

use rand::RngCore;
use rand_core::OsRng;
use std::collections::BTreeMap;
use undersigned_core::letter::Letter;
use undersigned_core::record::LogEntry;
use undersigned_core::text::isolate;
use undersigned_store::DeliveryRow;

use crate::error::{Error, Result};
use crate::letters::{parse_row, token_hash};
use crate::platform::Platform;

fn fresh_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
}

/// Seconds to wait after `attempts` failures: doubling from the configured base, capped at 6 h.
pub fn backoff(base: u64, attempts: u32) -> u64 {
    base.saturating_mul(1u64 << attempts.min(16)).min(6 * 3600)
}

fn mail_body(
    s: &Platform,
    letter: &Letter,
    letter_id: &str,
    tally: &str,
    token: &str,
    reminder: bool,
) -> String {
    let url = &s.config.public_url;
    let intro = if reminder {
        format!(
            "This is a reminder: the letter below was delivered to you and awaits your answer. It asked for one within {} days.\n",
            letter.response_days
        )
    } else {
        format!(
            "The letter below was signed anonymously by verified employees and is delivered to you now that it closed. Its signers ask for an answer within {} days; the public record shows whether one came.\n",
            letter.response_days
        )
    };
    format!(
        "{intro}\n{title}\n{underline}\n\n{body}\n\nVerified tally\n--------------\n{tally}\nEvery count can be checked offline from the bundle: {url}/api/v1/letters/{letter_id}/bundle\nPublic page: {url}/letters/{letter_id}\n\nYour personal response link (acknowledge or answer; keep it private, it works for you alone):\n{url}/letters/{letter_id}/respond#{token}\n",
        // Isolated (FSI..PDI, the plain-text <bdi>), so a right-to-left title cannot reorder
        // the text around it; the title holds no bidi controls of its own (core::text).
        title = isolate(&letter.title),
        underline = "=".repeat(letter.title.chars().count().min(72)),
        // The signed words as a mail client shows them: Markdown marks rendered as text.
        body = crate::plaintext::markdown_to_text(&letter.body),
    )
}

async fn tally_text(s: &Platform, letter_id: &str, k: u32) -> Result<String> {
    let log = s.ledger.synced(letter_id).await?;
    let (summary, comments) = {
        let log = log.lock().await;
        let summary = log.tally().summarize(k);
        let comments = crate::letters::comments(s, &log, &summary);
        (summary, comments)
    };
    let names: BTreeMap<String, String> = s
        .config
        .orgs
        .iter()
        .map(|(d, n)| (d.to_string(), n.clone()))
        .collect();
    let mut out = summary.render_table(&names);
    if !comments.is_empty() {
        out.push_str("\nComments from signers\n---------------------\n");
        for c in &comments {
            for line in c.text.lines() {
                out.push_str("> ");
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("  — ");
            out.push_str(&crate::letters::comment_cell(c));
            out.push_str("\n\n");
        }
    }
    Ok(out)
}

/// One attempt for one delivery. Errors are recorded on the row and retried later.
async fn attempt(s: &Platform, d: &DeliveryRow, now: u64) -> Result<()> {
    let row = s
        .store
        .letter(&d.letter_id)
        .await?
        .ok_or(Error::NotFound("letter"))?;
    let letter = parse_row(&row)?;
    let recipient = letter.recipients.get(d.recipient as usize).ok_or_else(|| {
        Error::Internal("delivery for a recipient the letter does not have".into())
    })?;
    // A revoked link before delivery: the organizer withdrew this recipient's access; the mail
    // would carry a link that opens nothing, so it is not sent.
    if d.revoked {
        let never = now.saturating_add(100 * 365 * 86_400);
        s.store
            .delivery_failed(
                &d.letter_id,
                d.recipient,
                never,
                "not sent: the organizer revoked this recipient's link",
            )
            .await?;
        return Ok(());
    }
    // A crash after the log append but before the row was marked: finish, do not mail twice.
    if s.ledger
        .log(&d.letter_id)
        .await?
        .lock()
        .await
        .delivered_to(&recipient.name)
    {
        return match s
            .store
            .delivery_done(&d.letter_id, d.recipient, now, "recorded before a restart")
            .await
        {
            Ok(()) | Err(undersigned_store::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let token = fresh_token();
    s.store
        .set_delivery_token(&d.letter_id, d.recipient, &token_hash(&token))
        .await?;
    let body = mail_body(
        s,
        &letter,
        &d.letter_id,
        &tally_text(s, &d.letter_id, letter.policy.k).await?,
        &token,
        false,
    );
    match s
        .mailer
        .send(
            &recipient.address,
            &format!("Letter: {}", isolate(&letter.title)),
            &body,
        )
        .await
    {
        Ok(reply) => delivered(s, d, &recipient.name, &reply, now).await,
        Err(e) => failed(s, d, &e, now).await,
    }
}

/// Logs a mailed delivery and marks its row; a row marked already (another process) is done.
async fn delivered(
    s: &Platform,
    d: &DeliveryRow,
    recipient: &str,
    reply: &str,
    now: u64,
) -> Result<()> {
    s.metrics.delivery(true);
    let leaf = LogEntry::Delivered {
        recipient: recipient.to_owned(),
        at: now,
        smtp_reply: reply.to_owned(),
    }
    .leaf_bytes();
    s.ledger
        .publish(&d.letter_id, 0, now, vec![leaf], [0u8; 32])
        .await?;
    match s
        .store
        .delivery_done(&d.letter_id, d.recipient, now, reply)
        .await
    {
        Ok(()) | Err(undersigned_store::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Records a failed attempt and when to try again.
async fn failed(
    s: &Platform,
    d: &DeliveryRow,
    e: &crate::mailer::MailError,
    now: u64,
) -> Result<()> {
    s.metrics.delivery(false);
    let next = now + backoff(s.config.delivery_backoff_secs, d.attempts);
    let why = format!(
        "{}{}",
        if e.is_transient() {
            "temporary: "
        } else {
            "refused: "
        },
        e
    );
    s.store
        .delivery_failed(&d.letter_id, d.recipient, next, &why)
        .await?;
    tracing::warn!(
        attempts = d.attempts + 1,
        transient = e.is_transient(),
        "delivery attempt failed; will retry"
    );
    Ok(())
}

/// Sends due reminders for delivered, unanswered, unrevoked recipients.
async fn remind(s: &Platform, letter_id: &str, now: u64) -> Result<()> {
    let row = s
        .store
        .letter(letter_id)
        .await?
        .ok_or(Error::NotFound("letter"))?;
    let letter = parse_row(&row)?;
    for d in s.store.deliveries(letter_id).await? {
        let (Some(delivered), None, false) = (d.delivered_at, d.answered_at, d.revoked) else {
            continue;
        };
        let Some(&day) = letter.reminder_days.get(d.reminders_sent as usize) else {
            continue;
        };
        if now < delivered + u64::from(day) * 86_400 {
            continue;
        }
        let Some(recipient) = letter.recipients.get(d.recipient as usize) else {
            continue;
        };
        let token = fresh_token();
        let body = mail_body(
            s,
            &letter,
            letter_id,
            &tally_text(s, letter_id, letter.policy.k).await?,
            &token,
            true,
        );
        // The reminder carries a fresh link; it replaces the old one only once the mail is out.
        if s.mailer
            .send(
                &recipient.address,
                &format!("Reminder: {}", isolate(&letter.title)),
                &body,
            )
            .await
            .is_ok()
        {
            s.store
                .set_delivery_token(letter_id, d.recipient, &token_hash(&token))
                .await?;
            s.store
                .reminders_sent(letter_id, d.recipient, d.reminders_sent + 1)
                .await?;
        }
    }
    Ok(())
}

/// One pass of the delivery worker.
pub async fn tick(s: &Platform) -> Result<usize> {
    let result = deliver_due(s).await;
    if !matches!(result, Ok(0)) {
        s.changes.changed();
    }
    result
}

async fn deliver_due(s: &Platform) -> Result<usize> {
    let now = s.clock.now();
    let due = s.store.due_deliveries(now).await?;
    let n = due.len();
    for d in &due {
        attempt(s, d, now).await?;
    }
    for row in s
        .store
        .letters_in_state(undersigned_store::LetterState::Closed)
        .await?
    {
        if let Some(id) = &row.letter_id {
            if !parse_row(&row)?.reminder_days.is_empty() {
                remind(s, id, now).await?;
            }
        }
    }
    Ok(n)
}
