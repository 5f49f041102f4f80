//! Conversions shared by both backends: database integers and blobs to the trait's types.
//!
//! Databases store signed 64-bit integers; the trait speaks `u64`. Every crossing is checked,
//! because a silently wrapped timestamp or log index would corrupt the log's meaning.

use crate::{
    CheckpointRow, DeliveryRow, Hash, IssuedCell, LetterRow, LetterState, PendingEntry, StoreError,
};

pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("value {v} out of range")))
}

pub(crate) fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("negative value {v} in database")))
}

pub(crate) fn to_u32(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("value {v} in database out of range")))
}

/// For range bounds only: a caller asking for "up to u64::MAX" means "to the end".
pub(crate) fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_hash(v: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(v).map_err(|_| StoreError::Backend(format!("hash of {} bytes", v.len())))
}

/// Constant-time comparison (`subtle`), so how long a wrong code takes says nothing about the
/// right one.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("migration: {e}"))
}

/// A unique index refused the write: the caller names what that means (`Conflict`); any other
/// failure is the database's.
pub(crate) fn unique_or(e: sqlx::Error, conflict: &'static str) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(conflict),
        e => backend(e),
    }
}

/// A value bound to a query (`dialect::bound`), in the types both backends bind alike: a
/// query's parameters as data, so one function runs any of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    OptInt(Option<i64>),
    OptText(Option<&'a str>),
    OptBytes(Option<&'a [u8]>),
}

#[derive(sqlx::FromRow)]
pub(crate) struct LetterRecord {
    handle: String,
    letter_id: Option<String>,
    letter_json: String,
    state: String,
    organizer_token_hash: Vec<u8>,
    created_at: i64,
    opened_at: Option<i64>,
    closed_at: Option<i64>,
    deadline: i64,
    publish_interval_secs: i64,
    public: bool,
    reader_token_hash: Option<Vec<u8>>,
}

impl TryFrom<LetterRecord> for LetterRow {
    type Error = StoreError;
    fn try_from(r: LetterRecord) -> Result<Self, StoreError> {
        Ok(LetterRow {
            handle: r.handle,
            letter_id: r.letter_id,
            letter_json: r.letter_json,
            state: LetterState::parse(&r.state)?,
            organizer_token_hash: to_hash(&r.organizer_token_hash)?,
            created_at: to_u64(r.created_at)?,
            opened_at: r.opened_at.map(to_u64).transpose()?,
            closed_at: r.closed_at.map(to_u64).transpose()?,
            deadline: to_u64(r.deadline)?,
            publish_interval_secs: to_u64(r.publish_interval_secs)?,
            public: r.public,
            reader_token_hash: r.reader_token_hash.as_deref().map(to_hash).transpose()?,
        })
    }
}

/// The pseudonyms of a pool row, whose column holds the parts end to end. A row whose length
/// is not a whole number of pseudonyms is one pseudonym as it was stored.
fn pool_pseudonyms(column: Vec<u8>) -> Vec<Vec<u8>> {
    if column.is_empty() || !column.len().is_multiple_of(crate::PSEUDONYM_LEN) {
        return vec![column];
    }
    column
        .chunks(crate::PSEUDONYM_LEN)
        .map(<[u8]>::to_vec)
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct PendingRecord {
    entry_hash: Vec<u8>,
    leaf: Vec<u8>,
    pseudonym: Vec<u8>,
    withdraw: bool,
    include_by: i64,
}

impl TryFrom<PendingRecord> for PendingEntry {
    type Error = StoreError;
    fn try_from(r: PendingRecord) -> Result<Self, StoreError> {
        Ok(PendingEntry {
            entry_hash: to_hash(&r.entry_hash)?,
            leaf: r.leaf,
            pseudonyms: pool_pseudonyms(r.pseudonym),
            withdraw: r.withdraw,
            include_by: to_u64(r.include_by)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CheckpointRecord {
    size: i64,
    root: Vec<u8>,
    note: String,
    created_at: i64,
}

impl TryFrom<CheckpointRecord> for CheckpointRow {
    type Error = StoreError;
    fn try_from(r: CheckpointRecord) -> Result<Self, StoreError> {
        Ok(CheckpointRow {
            size: to_u64(r.size)?,
            root: to_hash(&r.root)?,
            note: r.note,
            created_at: to_u64(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CountRecord {
    org: String,
    role: String,
    age_band: String,
    count: i64,
}

impl TryFrom<CountRecord> for IssuedCell {
    type Error = StoreError;
    fn try_from(r: CountRecord) -> Result<Self, StoreError> {
        Ok(IssuedCell {
            org: r.org,
            role: r.role,
            age_band: r.age_band,
            count: to_u64(r.count)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRecord {
    letter_id: String,
    recipient: i64,
    token_hash: Option<Vec<u8>>,
    revoked: bool,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    delivered_at: Option<i64>,
    smtp_reply: Option<String>,
    acknowledged_at: Option<i64>,
    answered_at: Option<i64>,
    response_text: Option<String>,
    reminders_sent: i64,
}

impl TryFrom<DeliveryRecord> for DeliveryRow {
    type Error = StoreError;
    fn try_from(r: DeliveryRecord) -> Result<Self, StoreError> {
        Ok(DeliveryRow {
            letter_id: r.letter_id,
            recipient: to_u32(r.recipient)?,
            token_hash: r.token_hash.as_deref().map(to_hash).transpose()?,
            revoked: r.revoked,
            attempts: to_u32(r.attempts)?,
            next_attempt_at: to_u64(r.next_attempt_at)?,
            last_error: r.last_error,
            delivered_at: r.delivered_at.map(to_u64).transpose()?,
            smtp_reply: r.smtp_reply,
            acknowledged_at: r.acknowledged_at.map(to_u64).transpose()?,
            answered_at: r.answered_at.map(to_u64).transpose()?,
            response_text: r.response_text,
            reminders_sent: to_u32(r.reminders_sent)?,
        })
    }
}

/// What the state-checked delivery writes check, decided on the locked row so both backends
/// refuse alike. `None` means the row does not exist.
pub(crate) fn may_record_attempt(row: Option<&DeliveryRow>) -> Result<&DeliveryRow, StoreError> {
    let row = row.ok_or(StoreError::NotFound)?;
    if row.delivered_at.is_some() {
        return Err(StoreError::Conflict("already delivered"));
    }
    Ok(row)
}

/// A response needs a delivered, unrevoked row.
pub(crate) fn may_respond(row: Option<&DeliveryRow>) -> Result<&DeliveryRow, StoreError> {
    match row {
        Some(r) if r.delivered_at.is_some() && !r.revoked => Ok(r),
        _ => Err(StoreError::NotFound),
    }
}

pub(crate) fn may_acknowledge(row: Option<&DeliveryRow>) -> Result<(), StoreError> {
    if may_respond(row)?.acknowledged_at.is_some() {
        return Err(StoreError::Conflict("already acknowledged"));
    }
    Ok(())
}

pub(crate) fn may_answer(row: Option<&DeliveryRow>) -> Result<(), StoreError> {
    if may_respond(row)?.answered_at.is_some() {
        return Err(StoreError::Conflict("already answered"));
    }
    Ok(())
}

/// One more failed attempt, refusing to wrap.
pub(crate) fn next_attempts(row: &DeliveryRow) -> Result<i64, StoreError> {
    row.attempts
        .checked_add(1)
        .map(i64::from)
        .ok_or_else(|| StoreError::Backend("attempt counter overflow".into()))
}

/// What a code row says about a code, decided after the attempt was counted, and whether the
/// row is dead (expired, or no attempt left without a match): such a row is deleted at once.
pub(crate) fn judge_code(
    stored: Option<(Vec<u8>, i64, i64)>,
    code_hash: &Hash,
    now: u64,
    max_attempts: u32,
) -> Result<(crate::CodeCheck, bool), StoreError> {
    use crate::CodeCheck;
    let Some((stored_hash, expires_at, attempts)) = stored else {
        return Ok((CodeCheck::Missing, false));
    };
    let attempts = to_u64(attempts)?;
    // Expiry is half-open: a code is good while now < expires_at.
    if to_u64(expires_at)? <= now {
        return Ok((CodeCheck::Expired, true));
    }
    if attempts > u64::from(max_attempts) {
        return Ok((CodeCheck::TooManyAttempts, true));
    }
    Ok(if ct_eq(&stored_hash, code_hash) {
        (CodeCheck::Valid, false)
    } else {
        (CodeCheck::Wrong, attempts >= u64::from(max_attempts))
    })
}

/// The size of a log of `size` leaves after `added` more.
pub(crate) fn grown(size: u64, added: usize) -> Result<u64, StoreError> {
    u64::try_from(added)
        .ok()
        .and_then(|added| size.checked_add(added))
        .ok_or_else(|| StoreError::Backend("log size overflow".into()))
}

/// The checkpoint must describe the log as it will be after the write, or readers would be
/// handed a note that does not match the leaves.
pub(crate) fn check_checkpoint_size(
    checkpoint: &CheckpointRow,
    new_size: u64,
) -> Result<(), StoreError> {
    if checkpoint.size == new_size {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "checkpoint size {} does not match log size {new_size}",
            checkpoint.size
        )))
    }
}
