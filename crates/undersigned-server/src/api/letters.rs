//! Letters over HTTP: create and edit drafts, open (freeze), close, list and show.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use undersigned_core::letter::Letter;
use undersigned_core::record::CloseReason;
use undersigned_core::tally::Summary;
use undersigned_service::Error;
use undersigned_store::{LetterRow, LetterState};

use super::access::{bearer_matches, find_letter, may_read, ApiJson};
use undersigned_service::letters::{self, close_letter};
pub use undersigned_service::letters::{
    comments, parse_row, CommentView, LetterInput, PolicyInput,
};

use crate::error::AppResult;
use crate::state::AppState;

#[derive(Serialize, Deserialize, Debug)]
pub struct Created {
    pub handle: String,
    /// Shown once. Whoever holds it can edit, open and close the letter.
    pub organizer_token: String,
    pub organizer_url: String,
    /// For a recipients-only letter: the link signers need to read and sign it. Shown once.
    pub signer_token: Option<String>,
    pub signer_url: Option<String>,
    pub letter: Letter,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct LetterView {
    pub handle: String,
    pub letter_id: Option<String>,
    pub state: String,
    pub letter: Letter,
    pub opened_at: Option<u64>,
    pub closed_at: Option<u64>,
    pub log_size: u64,
    /// The letter log's verifier key (signed-note vkey), once open.
    pub log_key: Option<String>,
    pub tally: Option<Summary>,
    /// The public clock: delivery, acknowledgement and answer per recipient.
    pub recipients: Vec<RecipientStatus>,
    /// With witnesses named: the published checkpoint's cosigners and how far it lags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witnesses: Option<WitnessStatus>,
    /// The letter's text as sanitized HTML (the same renderer as the public page), for pages
    /// that fill themselves from this view.
    pub body_html: String,
    /// Published comments of signatures not withdrawn.
    pub comments: Vec<CommentView>,
}

/// How the letter's published checkpoint stands with the witnesses.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct WitnessStatus {
    pub quorum: usize,
    /// Size of the newest checkpoint carrying the quorum (the published one).
    pub published_size: u64,
    /// Seconds the log has had entries beyond the published checkpoint (0: up to date).
    pub lag_secs: u64,
    pub cosigned_by: Vec<undersigned_service::cosigning::Cosigner>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RecipientStatus {
    pub name: String,
    pub role: Option<String>,
    pub delivered_at: Option<u64>,
    pub acknowledged_at: Option<u64>,
    pub answered_at: Option<u64>,
    /// When the answer is due (delivery + response period).
    pub due_at: Option<u64>,
    /// Whole days left until `due_at` (negative when overdue); absent once answered.
    pub days_left: Option<i64>,
    pub answer: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<LetterInput>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let draft = letters::create(&s, input).await?;
    let url = &s.config.public_url;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            // The page with the organizer's controls (preview, edit, open, close).
            organizer_url: format!(
                "{url}/letters/{}/manage#organizer={}",
                draft.handle, draft.organizer_token
            ),
            signer_url: draft
                .signer_token
                .as_ref()
                .map(|t| format!("{url}/letters/{}#key={t}", draft.handle)),
            handle: draft.handle,
            organizer_token: draft.organizer_token,
            signer_token: draft.signer_token,
            letter: draft.letter,
        }),
    ))
}

fn authorize(row: &LetterRow, headers: &HeaderMap) -> AppResult<()> {
    if bearer_matches(headers, &row.organizer_token_hash) {
        Ok(())
    } else {
        Err(Error::Unauthorized.into())
    }
}

pub async fn update(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<LetterInput>,
) -> AppResult<Json<Letter>> {
    let row = find_letter(&s, &key).await?;
    authorize(&row, &headers)?;
    Ok(Json(letters::update_draft(&s, &row, input).await?))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Opened {
    pub letter_id: String,
    pub checkpoint: String,
}

pub async fn open(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<Opened>> {
    let row = find_letter(&s, &key).await?;
    authorize(&row, &headers)?;
    let (letter_id, checkpoint) = letters::open(&s, &row).await?;
    Ok(Json(Opened {
        letter_id,
        checkpoint,
    }))
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Closed {
    pub letter_id: String,
    pub log_size: u64,
}

pub async fn close(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<Closed>> {
    let row = find_letter(&s, &key).await?;
    authorize(&row, &headers)?;
    if row.state != LetterState::Open {
        return Err(Error::Conflict("only an open letter can be closed".into()).into());
    }
    let id = super::access::opened_id(&row)?;
    let size = close_letter(&s, &id, CloseReason::Organizer).await?;
    Ok(Json(Closed {
        letter_id: id,
        log_size: size,
    }))
}

pub async fn list(State(s): State<AppState>) -> AppResult<Json<Vec<LetterView>>> {
    let mut out = Vec::new();
    for state in [LetterState::Open, LetterState::Closed] {
        for row in s.store.letters_in_state(state).await? {
            if row.public {
                out.push(view(&s, &row, false).await?);
            }
        }
    }
    Ok(Json(out))
}

pub async fn view(s: &AppState, row: &LetterRow, with_tally: bool) -> AppResult<LetterView> {
    let letter = parse_row(row)?;
    let (log_size, tally, comments) = match &row.letter_id {
        Some(id) => {
            let log = s.ledger.log(id).await?;
            let log = log.lock().await;
            let summary = log.tally().summarize(letter.policy.k);
            let list = comments(s, &log, &summary);
            (log.tree.size(), with_tally.then_some(summary), list)
        }
        None => (0, None, Vec::new()),
    };
    let witnesses = match &row.letter_id {
        Some(id) if s.cosigning.enabled() => {
            let published = undersigned_service::cosigning::published(s, id).await?;
            Some(WitnessStatus {
                quorum: s.cosigning.quorum(),
                published_size: published.as_ref().map_or(0, |p| p.size),
                lag_secs: s.cosigning.lag_of(&s.ledger.origin(id), s.clock.now()),
                cosigned_by: published
                    .map(|p| s.cosigning.cosigners(&p.note))
                    .unwrap_or_default(),
            })
        }
        _ => None,
    };
    Ok(LetterView {
        witnesses,
        handle: row.handle.clone(),
        letter_id: row.letter_id.clone(),
        state: row.state.as_str().into(),
        opened_at: row.opened_at,
        closed_at: row.closed_at,
        log_size,
        log_key: row
            .letter_id
            .as_deref()
            .map(|id| s.ledger.vkey(id))
            .transpose()?,
        recipients: recipient_status(s, row, &letter).await?,
        body_html: crate::markdown::render_markdown(&letter.body),
        comments,
        letter,
        tally,
    })
}

/// The public clock of a letter's recipients.
pub async fn recipient_status(
    s: &AppState,
    row: &LetterRow,
    letter: &Letter,
) -> AppResult<Vec<RecipientStatus>> {
    let deliveries = match &row.letter_id {
        Some(id) if row.state == LetterState::Closed => s.store.deliveries(id).await?,
        _ => Vec::new(),
    };
    let now = s.clock.now() as i64;
    Ok(letter
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let d = deliveries.iter().find(|d| d.recipient as usize == i);
            let delivered_at = d.and_then(|d| d.delivered_at);
            let answered_at = d.and_then(|d| d.answered_at);
            let due_at = delivered_at.map(|t| t + u64::from(letter.response_days) * 86_400);
            RecipientStatus {
                name: r.name.clone(),
                role: r.role.clone(),
                delivered_at,
                acknowledged_at: d.and_then(|d| d.acknowledged_at),
                answered_at,
                due_at,
                days_left: match (due_at, answered_at) {
                    // Rounded up: "14 days left" right after delivery, "-1" once a day late.
                    (Some(due), None) => Some((due as i64 - now + 86_399).div_euclid(86_400)),
                    _ => None,
                },
                answer: d.and_then(|d| d.response_text.clone()),
            }
        })
        .collect())
}

pub async fn show(
    State(s): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<LetterView>> {
    let row = find_letter(&s, &key).await?;
    if !may_read(&s, &row, &headers).await? {
        return Err(Error::NotFound("letter").into());
    }
    Ok(Json(view(&s, &row, true).await?))
}
