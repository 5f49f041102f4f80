//! The recipients' side: read the delivered letter, acknowledge, answer; the organizer sees
//! delivery status and can revoke a response link.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use undersigned_core::letter::{Letter, Recipient};
use undersigned_core::record::LogEntry;
use undersigned_core::tally::Summary;
use undersigned_service::Error;
use undersigned_store::{DeliveryRow, LetterState, StoreError};

use super::access::{bearer, bearer_matches, find_letter, opened_id, token_hash, ApiJson};
use super::letters::parse_row;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest answer accepted: a serious reply, not a data dump.
pub const MAX_ANSWER: usize = 50_000;

/// The delivery a recipient's link opens, for this letter only.
async fn recipient(
    s: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> AppResult<(String, Letter, DeliveryRow)> {
    let row = find_letter(s, key).await?;
    let id = opened_id(&row)?;
    let token = bearer(headers).ok_or(Error::Unauthorized)?;
    let d = s
        .store
        .delivery_by_token(&token_hash(token))
        .await?
        .filter(|d| d.letter_id == id)
        .ok_or(Error::Unauthorized)?;
    Ok((id, parse_row(&row)?, d))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct RespondView {
    pub letter_id: String,
    pub recipient: Recipient,
    pub letter: Letter,
    pub tally: Summary,
    pub delivered_at: Option<u64>,
    pub due_at: Option<u64>,
    pub acknowledged_at: Option<u64>,
    pub answered_at: Option<u64>,
    pub answer: Option<String>,
    /// The letter's text and the answer as sanitized HTML, rendered as on the public page.
    pub body_html: String,
    pub answer_html: Option<String>,
    /// Published comments of signatures not withdrawn.
    pub comments: Vec<super::letters::CommentView>,
}

pub async fn show(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<RespondView>> {
    let (id, letter, d) = recipient(&s, &key, &headers).await?;
    let r = letter
        .recipients
        .get(d.recipient as usize)
        .cloned()
        .ok_or(Error::NotFound("recipient"))?;
    let (tally, comments) = {
        let log = s.ledger.log(&id).await?;
        let log = log.lock().await;
        let tally = log.tally().summarize(letter.policy.k);
        let comments = super::letters::comments(&s, &log, &tally);
        (tally, comments)
    };
    Ok(Json(RespondView {
        letter_id: id,
        recipient: r,
        due_at: d
            .delivered_at
            .map(|t| t + u64::from(letter.response_days) * 86_400),
        tally,
        delivered_at: d.delivered_at,
        acknowledged_at: d.acknowledged_at,
        answered_at: d.answered_at,
        body_html: crate::markdown::render_markdown(&letter.body),
        answer_html: d
            .response_text
            .as_deref()
            .map(crate::markdown::render_markdown),
        answer: d.response_text,
        comments,
        letter,
    }))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Recorded {
    pub letter_id: String,
    pub recipient: String,
    pub at: u64,
    pub log_size: u64,
}

fn already(e: StoreError, what: &str) -> AppError {
    match e {
        StoreError::Conflict(_) => AppError(Error::Conflict(format!(
            "already {what}; the record keeps the first"
        ))),
        other => other.into(),
    }
}

pub async fn acknowledge(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<Recorded>> {
    let (id, letter, d) = recipient(&s, &key, &headers).await?;
    let name = letter
        .recipients
        .get(d.recipient as usize)
        .map(|r| r.name.clone())
        .ok_or(Error::NotFound("recipient"))?;
    if d.delivered_at.is_none() {
        return Err(Error::Conflict("the letter has not been delivered yet".into()).into());
    }
    let now = s.clock.now();
    s.store
        .acknowledge(&id, d.recipient, now)
        .await
        .map_err(|e| already(e, "acknowledged"))?;
    let leaf = LogEntry::Acknowledged {
        recipient: name.clone(),
        at: now,
    }
    .leaf_bytes();
    let log_size = s.ledger.publish(&id, 0, now, vec![leaf], [0u8; 32]).await?;
    Ok(Json(Recorded {
        letter_id: id,
        recipient: name,
        at: now,
        log_size,
    }))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// Markdown; rendered sanitized wherever it is shown.
    pub text: String,
}

pub async fn answer(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<AnswerInput>,
) -> AppResult<Json<Recorded>> {
    let (id, letter, d) = recipient(&s, &key, &headers).await?;
    let name = letter
        .recipients
        .get(d.recipient as usize)
        .map(|r| r.name.clone())
        .ok_or(Error::NotFound("recipient"))?;
    let text = input.text.replace("\r\n", "\n");
    if text.trim().is_empty()
        || text.len() > MAX_ANSWER
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::Refused(format!(
            "the answer must be 1 to {MAX_ANSWER} bytes of text"
        ))
        .into());
    }
    undersigned_core::text::check_readable("text", &text, undersigned_core::text::Lines::Many)
        .map_err(|e| Error::Refused(e.to_string()))?;
    if d.delivered_at.is_none() {
        return Err(Error::Conflict("the letter has not been delivered yet".into()).into());
    }
    let now = s.clock.now();
    s.store
        .answer(&id, d.recipient, now, &text)
        .await
        .map_err(|e| already(e, "answered"))?;
    let digest = hex::encode(undersigned_core::encoding::sha256(&[text.as_bytes()]));
    let leaf = LogEntry::Response {
        recipient: name.clone(),
        at: now,
        text_sha256: digest,
    }
    .leaf_bytes();
    let log_size = s.ledger.publish(&id, 0, now, vec![leaf], [0u8; 32]).await?;
    Ok(Json(Recorded {
        letter_id: id,
        recipient: name,
        at: now,
        log_size,
    }))
}

/// Delivery status for the organizer, failures included.
#[derive(Serialize, Deserialize, Debug)]
pub struct DeliveryStatus {
    pub recipient: String,
    pub attempts: u32,
    pub next_attempt_at: Option<u64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<u64>,
    pub smtp_reply: Option<String>,
    pub acknowledged_at: Option<u64>,
    pub answered_at: Option<u64>,
    pub revoked: bool,
    pub reminders_sent: u32,
}

async fn organizer(s: &AppState, key: &str, headers: &HeaderMap) -> AppResult<(String, Letter)> {
    let row = find_letter(s, key).await?;
    if !bearer_matches(headers, &row.organizer_token_hash) {
        return Err(Error::Unauthorized.into());
    }
    if row.state != LetterState::Closed {
        return Err(Error::Conflict("deliveries start when the letter closes".into()).into());
    }
    Ok((opened_id(&row)?, parse_row(&row)?))
}

pub async fn deliveries(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<DeliveryStatus>>> {
    let (id, letter) = organizer(&s, &key, &headers).await?;
    Ok(Json(
        s.store
            .deliveries(&id)
            .await?
            .into_iter()
            .map(|d| DeliveryStatus {
                recipient: letter
                    .recipients
                    .get(d.recipient as usize)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                attempts: d.attempts,
                next_attempt_at: d.delivered_at.is_none().then_some(d.next_attempt_at),
                last_error: d.last_error,
                delivered_at: d.delivered_at,
                smtp_reply: d.smtp_reply,
                acknowledged_at: d.acknowledged_at,
                answered_at: d.answered_at,
                revoked: d.revoked,
                reminders_sent: d.reminders_sent,
            })
            .collect(),
    ))
}

pub async fn revoke(
    State(s): State<AppState>,
    Path((key, index)): Path<(String, u32)>,
    headers: HeaderMap,
) -> AppResult<Json<serde_json::Value>> {
    let (id, letter) = organizer(&s, &key, &headers).await?;
    if index as usize >= letter.recipients.len() {
        return Err(Error::NotFound("recipient").into());
    }
    s.store
        .revoke_delivery(&id, index)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => Error::NotFound("delivery"),
            other => other.into(),
        })?;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RenderInput {
    pub text: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Rendered {
    pub html: String,
}

/// Markdown rendered and sanitized exactly as the pages show it, so a recipient previews an
/// answer (and an organizer a letter) before the irreversible step. Stores nothing.
pub async fn render(ApiJson(input): ApiJson<RenderInput>) -> AppResult<Json<Rendered>> {
    // The longest text a page renders: a letter's body (an answer is shorter).
    if input.text.len() > undersigned_core::letter::MAX_BODY {
        return Err(Error::Refused(format!(
            "the text must be at most {} bytes",
            undersigned_core::letter::MAX_BODY
        ))
        .into());
    }
    Ok(Json(Rendered {
        html: crate::markdown::render_markdown_under(&input.text, 3),
    }))
}
