//! Letters in the domain: drafts built from an organizer's input under the deployment's rules,
//! opening, reading a stored letter, the comments the small-cell rule lets a reader see,
//! closing (a last batch and the closed entry) and starting delivery.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use undersigned_core::ids::{Epoch, IssuerId, OrgId};
use undersigned_core::issuer::OrgRule;
use undersigned_core::letter::{
    AcceptedIssuer, AllowedDisclosures, Letter, Policy, Recipient, Visibility,
};
use undersigned_core::record::{CloseReason, LogEntry};
use undersigned_core::tally::Summary;
use undersigned_store::{LetterRow, LetterState};

use crate::error::{Error, Result};
use crate::platform::Platform;

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
    s: &Platform,
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

/// The letter a stored row holds.
pub fn parse_row(row: &LetterRow) -> Result<Letter> {
    serde_json::from_str(&row.letter_json)
        .map_err(|e| Error::Internal(format!("stored letter: {e}")))
}

/// Closes a letter: no submission may start once this holds the gate; every pooled entry is
/// published in a last batch followed by the closed entry. Idempotent after a crash: a closed
/// letter whose log lacks its closed entry is finished by the publisher.
pub async fn close_letter(s: &Platform, letter_id: &str, reason: CloseReason) -> Result<u64> {
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
    s: &Platform,
    letter_id: &str,
    reason: CloseReason,
    now: u64,
) -> Result<u64> {
    // Synced: the closed entry may have been appended by another process.
    let log = s.ledger.synced(letter_id).await?;
    {
        let log = log.lock().await;
        if log.is_closed() {
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

/// Queues one delivery per recipient; idempotent, so recovery may call it again.
pub async fn start_delivery(s: &Platform, letter_id: &str, now: u64) -> Result<()> {
    let row = s
        .store
        .letter(letter_id)
        .await?
        .ok_or(Error::NotFound("letter"))?;
    let n = parse_row(&row)?.recipients.len() as u32;
    if n > 0 {
        s.store.create_deliveries(letter_id, n, now).await?;
    }
    Ok(())
}

/// The stored form of a capability token (organizer, signer, recipient link, email code).
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Who a comment comes from, as far as its signer disclosed it and the tally shows it.
pub fn comment_cell(c: &CommentView) -> String {
    let mut out = match &c.email {
        Some(email) => format!("{email}, {}", c.org_name),
        None => format!("a signer at {}", c.org_name),
    };
    let extra: Vec<&str> = [c.role.as_deref(), c.age_band.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !extra.is_empty() {
        out.push_str(" (");
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// What an organizer writes: a letter's text, recipients and policy, before the deployment's
/// defaults and rules make it a `Letter` (`build_letter`).
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
    /// deployment knows, each attesting every organization of the letter under one address rule.
    #[serde(default)]
    pub issuers: Vec<AcceptedIssuer>,
    /// t: how many of the issuers every signature needs, with n/2 < t <= n; default n.
    #[serde(default)]
    pub threshold: Option<u32>,
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

/// The issuers this deployment knows, each with the organizations it attests and each one's
/// address rule (`Policy::check_issuers` compares them).
fn known_issuers(s: &Platform) -> BTreeMap<IssuerId, BTreeMap<OrgId, OrgRule>> {
    s.issuer_orgs()
}

/// The organizations a policy names, each one of this deployment's.
fn policy_orgs(s: &Platform, orgs: &[String]) -> Result<Vec<OrgId>> {
    let mut out = Vec::new();
    for o in orgs {
        let org =
            OrgId::parse(o).map_err(|_| Error::Invalid(format!("invalid organization {o:?}")))?;
        if !s.config.orgs.contains_key(&org) {
            return Err(Error::Refused(format!(
                "{org} is not an organization of this deployment"
            )));
        }
        out.push(org);
    }
    Ok(out)
}

/// The issuers a policy accepts: the deployment's own issuer at the given epochs (default the
/// current one), or the issuers given instead.
fn policy_issuers(s: &Platform, p: &PolicyInput) -> Result<Vec<AcceptedIssuer>> {
    let epochs = if p.epochs.is_empty() {
        vec![s.epoch()]
    } else {
        p.epochs
            .iter()
            .map(|e| Epoch::parse(e).map_err(|_| Error::Invalid(format!("invalid epoch {e:?}"))))
            .collect::<Result<_>>()?
    };
    match (p.issuers.is_empty(), p.epochs.is_empty()) {
        // Every issuer the deployment accepts, each with the epoch (and, by default, a
        // threshold of all of them: no signature without every issuer).
        (true, _) => Ok(s
            .issuer_orgs()
            .into_keys()
            .map(|issuer_id| AcceptedIssuer {
                issuer_id,
                epochs: epochs.clone(),
            })
            .collect()),
        (false, true) => Ok(p.issuers.clone()),
        // Both fields are well-formed on their own: a rule between them, so refused.
        (false, false) => Err(Error::Refused(
            "give either epochs or issuers, not both".into(),
        )),
    }
}

/// The letter an organizer's input makes, with the deployment's defaults, or why it may not be.
pub async fn build_letter(s: &Platform, input: LetterInput) -> Result<Letter> {
    let p = input.policy;
    let k = p.k.unwrap_or(s.config.k);
    if k < s.config.k {
        return Err(Error::Refused(format!(
            "k must be at least the deployment's k={}",
            s.config.k
        )));
    }
    let orgs = policy_orgs(s, &p.orgs)?;
    let issuers = policy_issuers(s, &p)?;
    let interval = p
        .publish_interval_secs
        .unwrap_or(s.config.default_publish_interval_secs);
    if !(1..=86_400).contains(&interval) {
        return Err(Error::Refused(
            "publish interval must be 1 to 86400 seconds".into(),
        ));
    }
    let letter = Letter::new(
        &input.title,
        &input.body,
        input.recipients,
        Policy {
            // Default: every issuer the letter names (no signature without all of them).
            threshold: p
                .threshold
                .unwrap_or_else(|| u32::try_from(issuers.len()).unwrap_or(u32::MAX)),
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
    .map_err(|e| Error::Refused(e.to_string()))?;
    let known = known_issuers(s);
    letter
        .policy
        .check_issuers(|id| known.get(id))
        .map_err(|e| Error::Refused(e.to_string()))?;
    check_issuable(s, &letter).await?;
    Ok(letter)
}

/// A letter may accept only an issuable epoch of this deployment's issuer: the current one, or
/// one an open letter already accepts. Any other epoch would make the issuer issue credentials
/// whose epoch points at this one letter.
async fn check_issuable(s: &Platform, letter: &Letter) -> Result<()> {
    s.check_named_issuers_issue(&letter.policy)?;
    let Some(epoch) = letter.policy.epoch_of(&s.issuer.id()) else {
        return Ok(());
    };
    let issuable = s.issuable_epochs().await?;
    if issuable.contains(epoch) {
        return Ok(());
    }
    let list: Vec<&str> = issuable.iter().map(Epoch::as_str).collect();
    Err(Error::Refused(format!(
        "epoch {epoch} is not issuable: a letter accepts the current epoch or one an open letter already accepts ({})",
        list.join(", ")
    )))
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The stored form of a letter: its canonical JSON.
pub fn letter_json(l: &Letter) -> String {
    String::from_utf8(l.canonical_bytes()).unwrap_or_default()
}

/// A new draft: its handle, and the tokens shown once (the organizer's; a recipients-only
/// letter's signer link).
#[derive(Debug)]
pub struct NewDraft {
    pub handle: String,
    pub organizer_token: String,
    pub signer_token: Option<String>,
    pub letter: Letter,
}

/// Stores a new draft made from the organizer's input.
pub async fn create(s: &Platform, input: LetterInput) -> Result<NewDraft> {
    let letter = build_letter(s, input).await?;
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
    Ok(NewDraft {
        handle,
        organizer_token: token,
        signer_token,
        letter,
    })
}

/// Replaces a draft's text and policy; an opened letter is frozen.
pub async fn update_draft(s: &Platform, row: &LetterRow, input: LetterInput) -> Result<Letter> {
    if row.state != LetterState::Draft {
        return Err(Error::Conflict(
            "the letter is open: its text and policy are frozen; a new text is a new letter".into(),
        ));
    }
    let letter = build_letter(s, input).await?;
    s.store
        .update_draft(
            &row.handle,
            &letter_json(&letter),
            letter.policy.deadline,
            letter.policy.publish_interval_secs,
            letter.policy.visibility == Visibility::Public,
        )
        .await?;
    Ok(letter)
}

/// Opens a draft: freezes its text, logs the opened entry and signs the first checkpoint.
/// Answers the letter id and that checkpoint.
pub async fn open(s: &Platform, row: &LetterRow) -> Result<(String, String)> {
    if row.state != LetterState::Draft {
        return Err(Error::Conflict("the letter is already open".into()));
    }
    let letter = parse_row(row)?
        .canonicalize()
        .map_err(|e| Error::Internal(e.to_string()))?;
    check_issuable(s, &letter).await?;
    let now = s.clock.now();
    if letter.policy.deadline <= now {
        return Err(Error::Refused(
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
    Ok((id, checkpoint.note))
}

// Beside the letters it reads, so that `platform.rs` imports no operation.
impl Platform {
    /// The epochs this deployment's issuer issues credentials for now: the current epoch plus
    /// every epoch an open letter accepts from it, sorted. Letters may only accept these.
    pub async fn issuable_epochs(&self) -> Result<Vec<Epoch>> {
        let mut epochs = std::collections::BTreeSet::from([self.epoch()]);
        let id = self.issuer.id();
        for row in self.store.letters_in_state(LetterState::Open).await? {
            let letter = parse_row(&row)?;
            epochs.extend(letter.policy.epoch_of(&id).cloned());
        }
        Ok(epochs.into_iter().collect())
    }
}

/// Which issuers back each signature of `letter` and what cheating would take, in words
/// (`bundle::trust_statement`), with the names this deployment knows its issuers by.
pub fn trust_statement(s: &Platform, letter: &Letter) -> String {
    let names: Vec<String> = letter
        .policy
        .issuers
        .iter()
        .map(|a| {
            let remote = s
                .remote_issuers
                .list()
                .into_iter()
                .find(|r| r.pins.id == a.issuer_id);
            match remote {
                Some(r) => r.statement.signed.statement.name.clone(),
                None if a.issuer_id == s.issuer.id() => s.config.issuer_name.clone(),
                None => format!(
                    "issuer {}",
                    a.issuer_id.to_hex().get(..16).unwrap_or_default()
                ),
            }
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    undersigned_core::bundle::trust_statement(letter.policy.threshold, &names)
}
