//! Letters over HTTP: create and edit drafts, open (freeze), close, list and show.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use undersigned_core::ids::{Epoch, IssuerId, OrgId};
use undersigned_core::letter::{
    AcceptedIssuer, AllowedDisclosures, Letter, Policy, Recipient, Visibility,
};
use undersigned_core::record::{CloseReason, LogEntry};
use undersigned_core::tally::Summary;
use undersigned_store::{LetterRow, LetterState};

use super::{bearer_matches, find_letter, may_read, token_hash, ApiJson};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Accepted organization domains; empty or absent means every organization of the deployment.
    #[serde(default)]
    pub orgs: Vec<String>,
    #[serde(default)]
    pub disclosures: AllowedDisclosures,
    /// At least the deployment's k.
    pub k: Option<u32>,
    /// Unix seconds.
    pub deadline: u64,
    #[serde(default = "public")]
    pub visibility: Visibility,
    pub publish_interval_secs: Option<u64>,
    /// The accepted credential epoch of this deployment's issuer, as a list of exactly one
    /// (a letter accepts exactly one epoch per issuer); default: the current epoch. It must be
    /// issuable: the current epoch or one an open letter already accepts.
    #[serde(default)]
    pub epochs: Vec<String>,
    /// Instead of `epochs`: the accepted issuers, each with exactly one epoch. Only issuers this
    /// deployment knows, and at most one per organization of the letter.
    #[serde(default)]
    pub issuers: Vec<AcceptedIssuer>,
    /// Whether signers may add a comment (default: yes). Decided before opening, like the rest.
    #[serde(default)]
    pub comments: Option<bool>,
}

fn public() -> Visibility {
    Visibility::Public
}

#[derive(Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LetterInput {
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    pub policy: PolicyInput,
    /// Days the recipients have to answer (default 30).
    #[serde(default)]
    pub response_days: Option<u32>,
    /// Days after delivery on which unanswered recipients are reminded.
    #[serde(default)]
    pub reminder_days: Vec<u32>,
}

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
    pub cosigned_by: Vec<crate::cosigning::Cosigner>,
}

/// A signer's published comment with what they disclosed, never finer than the tally shows:
/// a role or age band appears only when its tally cell is at least k.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CommentView {
    pub text: String,
    /// The organization's domain, always disclosed.
    pub org: String,
    /// The organization's name, as this deployment knows it.
    pub org_name: String,
    pub role: Option<String>,
    pub age_band: Option<String>,
    /// A named signature: the address the signer chose to show.
    pub email: Option<String>,
}

/// The comments of a letter's log, each with the disclosed cell the small-cell rule allows.
pub fn comments(
    s: &AppState,
    log: &crate::ledger::LetterLog,
    summary: &Summary,
) -> Vec<CommentView> {
    let counted = |cells: &BTreeMap<String, undersigned_core::tally::Cell>, key: &str| {
        matches!(
            cells.get(key),
            Some(undersigned_core::tally::Cell::Count(_))
        )
    };
    log.comments
        .values()
        .map(|(d, text)| {
            let role = d.role.as_ref().map(ToString::to_string);
            let age = d.age_band.map(|a| a.to_string());
            CommentView {
                text: text.clone(),
                org: d.org.to_string(),
                org_name: s
                    .config
                    .orgs
                    .get(&d.org)
                    .cloned()
                    .unwrap_or_else(|| d.org.to_string()),
                role: role.filter(|r| counted(&summary.by_role, r)),
                age_band: age.filter(|a| counted(&summary.by_age_band, a)),
                email: d.email.as_ref().map(|e| e.expose().to_owned()),
            }
        })
        .collect()
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

/// The organizations each issuer this deployment knows attests: its own issuer, for the
/// deployment's organizations.
fn known_issuers(s: &AppState) -> BTreeMap<IssuerId, BTreeSet<OrgId>> {
    BTreeMap::from([(s.issuer.id(), s.config.orgs.keys().cloned().collect())])
}

async fn build_letter(s: &AppState, input: LetterInput) -> AppResult<Letter> {
    let p = input.policy;
    let k = p.k.unwrap_or(s.config.k);
    if k < s.config.k {
        return Err(AppError::Unprocessable(format!(
            "k must be at least the deployment's k={}",
            s.config.k
        )));
    }
    let mut orgs = Vec::new();
    for o in &p.orgs {
        let org = OrgId::parse(o)
            .map_err(|_| AppError::BadRequest(format!("invalid organization {o:?}")))?;
        if !s.config.orgs.contains_key(&org) {
            return Err(AppError::Unprocessable(format!(
                "{org} is not an organization of this deployment"
            )));
        }
        orgs.push(org);
    }
    let epochs = if p.epochs.is_empty() {
        vec![s.epoch()]
    } else {
        p.epochs
            .iter()
            .map(|e| {
                Epoch::parse(e).map_err(|_| AppError::BadRequest(format!("invalid epoch {e:?}")))
            })
            .collect::<AppResult<_>>()?
    };
    let issuers = match (p.issuers.is_empty(), p.epochs.is_empty()) {
        (true, _) => vec![AcceptedIssuer {
            issuer_id: s.issuer.id(),
            epochs,
        }],
        (false, true) => p.issuers,
        // Both fields are well-formed on their own: a rule between them, so 422.
        (false, false) => {
            return Err(AppError::Unprocessable(
                "give either epochs or issuers, not both".into(),
            ))
        }
    };
    let interval = p
        .publish_interval_secs
        .unwrap_or(s.config.default_publish_interval_secs);
    if !(1..=86_400).contains(&interval) {
        return Err(AppError::Unprocessable(
            "publish interval must be 1 to 86400 seconds".into(),
        ));
    }
    let letter = Letter::new(
        &input.title,
        &input.body,
        input.recipients,
        Policy {
            issuers,
            orgs,
            disclosures: p.disclosures,
            k,
            deadline: p.deadline,
            visibility: p.visibility,
            publish_interval_secs: interval,
            comments: p.comments.unwrap_or(true),
        },
    )
    .and_then(|l| {
        l.with_response(
            input
                .response_days
                .unwrap_or(undersigned_core::letter::DEFAULT_RESPONSE_DAYS),
            input.reminder_days,
        )
    })
    .map_err(|e| AppError::Unprocessable(e.to_string()))
    .and_then(|letter| {
        let known = known_issuers(s);
        letter
            .policy
            .check_issuers_per_org(|id| known.get(id))
            .map_err(|e| AppError::Unprocessable(e.to_string()))?;
        Ok(letter)
    })?;
    check_issuable(s, &letter).await?;
    Ok(letter)
}

/// A letter may accept only an issuable epoch of this deployment's issuer: the current one, or
/// one an open letter already accepts. Any other epoch would make the issuer issue credentials
/// whose epoch points at this one letter.
async fn check_issuable(s: &AppState, letter: &Letter) -> AppResult<()> {
    let Some(epoch) = letter.policy.epoch_of(&s.issuer.id()) else {
        return Ok(());
    };
    let issuable = s.issuable_epochs().await?;
    if issuable.contains(epoch) {
        return Ok(());
    }
    let list: Vec<&str> = issuable.iter().map(Epoch::as_str).collect();
    Err(AppError::Unprocessable(format!(
        "epoch {epoch} is not issuable: a letter accepts the current epoch or one an open letter already accepts ({})",
        list.join(", ")
    )))
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn letter_json(l: &Letter) -> String {
    String::from_utf8(l.canonical_bytes()).unwrap_or_default()
}

pub async fn create(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<LetterInput>,
) -> AppResult<(StatusCode, Json<Created>)> {
    let letter = build_letter(&s, input).await?;
    let handle = random_token(12);
    let token = random_token(32);
    let signer_token =
        (letter.policy.visibility == Visibility::RecipientsOnly).then(|| random_token(32));
    let row = LetterRow {
        handle: handle.clone(),
        letter_id: None,
        letter_json: letter_json(&letter),
        state: LetterState::Draft,
        organizer_token_hash: token_hash(&token),
        created_at: s.clock.now(),
        opened_at: None,
        closed_at: None,
        deadline: letter.policy.deadline,
        publish_interval_secs: letter.policy.publish_interval_secs,
        public: letter.policy.visibility == Visibility::Public,
        reader_token_hash: signer_token.as_deref().map(token_hash),
    };
    s.store.create_letter(&row).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            // The page with the organizer's controls (preview, edit, open, close).
            organizer_url: format!(
                "{}/letters/{}/manage#organizer={}",
                s.config.public_url, handle, token
            ),
            signer_url: signer_token
                .as_ref()
                .map(|t| format!("{}/letters/{}#key={}", s.config.public_url, handle, t)),
            handle,
            organizer_token: token,
            signer_token,
            letter,
        }),
    ))
}

fn authorize(row: &LetterRow, headers: &HeaderMap) -> AppResult<()> {
    if bearer_matches(headers, &row.organizer_token_hash) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
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
    if row.state != LetterState::Draft {
        return Err(AppError::Conflict(
            "the letter is open: its text and policy are frozen; a new text is a new letter".into(),
        ));
    }
    let letter = build_letter(&s, input).await?;
    s.store
        .update_draft(
            &row.handle,
            &letter_json(&letter),
            letter.policy.deadline,
            letter.policy.publish_interval_secs,
            letter.policy.visibility == Visibility::Public,
        )
        .await?;
    Ok(Json(letter))
}

pub fn parse_row(row: &LetterRow) -> AppResult<Letter> {
    serde_json::from_str(&row.letter_json)
        .map_err(|e| AppError::Internal(format!("stored letter: {e}")))
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
    if row.state != LetterState::Draft {
        return Err(AppError::Conflict("the letter is already open".into()));
    }
    let letter = parse_row(&row)?
        .canonicalize()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    check_issuable(&s, &letter).await?;
    let now = s.clock.now();
    if letter.policy.deadline <= now {
        return Err(AppError::Unprocessable(
            "the deadline has passed; set a later one before opening".into(),
        ));
    }
    let id = letter.id().to_hex();
    let leaf = LogEntry::Opened {
        letter: letter.clone(),
        at: now,
    }
    .leaf_bytes();
    let hash = undersigned_core::log::leaf_hash(&leaf);
    let mut tree = undersigned_core::log::MerkleLog::new();
    tree.append_hash(hash);
    let checkpoint = s.ledger.checkpoint(&id, &tree, now)?;
    s.store
        .open_letter(
            &row.handle,
            &id,
            &letter_json(&letter),
            now,
            &leaf,
            &hash,
            &checkpoint,
        )
        .await?;
    Ok(Json(Opened {
        letter_id: id,
        checkpoint: checkpoint.note,
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
        return Err(AppError::Conflict(
            "only an open letter can be closed".into(),
        ));
    }
    let id = super::opened_id(&row)?;
    let size = close_letter(&s, &id, CloseReason::Organizer).await?;
    Ok(Json(Closed {
        letter_id: id,
        log_size: size,
    }))
}

/// Closes a letter: no submission may start once this holds the gate; every pooled entry is
/// published in a last batch followed by the closed entry. Idempotent after a crash: a closed
/// letter whose log lacks its closed entry is finished by the publisher.
pub async fn close_letter(s: &AppState, letter_id: &str, reason: CloseReason) -> AppResult<u64> {
    let gate = s.ledger.gate(letter_id).await;
    let _exclusive = gate.write().await;
    let now = s.clock.now();
    match s.store.close_letter(letter_id, now).await {
        Ok(()) | Err(undersigned_store::StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    let size = finish_close(s, letter_id, reason, now).await?;
    start_delivery(s, letter_id, now).await?;
    Ok(size)
}

pub async fn finish_close(
    s: &AppState,
    letter_id: &str,
    reason: CloseReason,
    now: u64,
) -> AppResult<u64> {
    // Synced: the closed entry may have been appended by another process.
    let log = s.ledger.synced(letter_id).await?;
    {
        let log = log.lock().await;
        if log.closed {
            return Ok(log.tree.size());
        }
    }
    // The closing batch may carry signatures the last scheduled statement does not count yet.
    crate::issuer_log::publish(s, now).await?;
    let leaf = LogEntry::Closed { at: now, reason }.leaf_bytes();
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    s.ledger
        .publish(letter_id, u64::MAX, now, vec![leaf], seed)
        .await
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
            let summary = log.tally.summarize(letter.policy.k);
            let list = comments(s, &log, &summary);
            (log.tree.size(), with_tally.then_some(summary), list)
        }
        None => (0, None, Vec::new()),
    };
    let witnesses = match &row.letter_id {
        Some(id) if s.cosigning.enabled() => {
            let published = crate::cosigning::published(s, id).await?;
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
        body_html: crate::pages::render_markdown(&letter.body),
        comments,
        letter,
        tally,
    })
}

/// Queues one delivery per recipient; idempotent, so recovery may call it again.
pub async fn start_delivery(s: &AppState, letter_id: &str, now: u64) -> AppResult<()> {
    let row = s
        .store
        .letter(letter_id)
        .await?
        .ok_or(AppError::NotFound("letter"))?;
    let n = parse_row(&row)?.recipients.len() as u32;
    if n > 0 {
        s.store.create_deliveries(letter_id, n, now).await?;
    }
    Ok(())
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
        return Err(AppError::NotFound("letter"));
    }
    Ok(Json(view(&s, &row, true).await?))
}
