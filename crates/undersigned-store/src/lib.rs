//! Storage for the undersigned server: one trait, SQLite (embedded default) and PostgreSQL.
//!
//! What is stored is chosen so that a copy of the database identifies nobody: no email
//! addresses (only HMAC tags of them, and only to enforce one credential per address per epoch
//! and to rate-limit codes), no IP addresses, no link between an issuance and any signature.
//! Secrets handed to us (organizer and recipient capability tokens, email codes) are stored as
//! SHA-256 hashes only.
//!
//! Every method that changes more than one row does so in one transaction: a crash leaves
//! either the whole change or none of it, which is what the receipt promise relies on.

use async_trait::async_trait;

mod dialect;
mod group_commit;
mod lease;
mod postgres;
mod queries;
mod sqlite;
mod util;

pub use group_commit::CommitGroups;
pub use lease::lock_path;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type Hash = [u8; 32];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// This address tag already has as many live codes as allowed.
    #[error("too many codes requested; try again later")]
    RateLimited,
    /// A credential was already recorded for this tag and epoch.
    #[error("already issued")]
    AlreadyIssued,
    /// A pseudonym of the signature was already used by a signature on this letter (live or
    /// withdrawn, pending or logged), or the entry itself was accepted already.
    #[error("double signature")]
    DoubleSign,
    /// No signature on this letter has any of the withdrawal's pseudonyms.
    #[error("withdrawal without signature")]
    WithdrawWithoutSign,
    /// The one signature the withdrawal's pseudonyms belong to was already withdrawn.
    #[error("double withdrawal")]
    DoubleWithdraw,
    /// The withdrawal's pseudonyms belong to `signatures` (two or more) different signatures:
    /// a withdrawal removes exactly one, so it is refused and nothing is withdrawn.
    #[error(
        "ambiguous withdrawal: its pseudonyms belong to {signatures} different signatures, \
         and a withdrawal removes exactly one"
    )]
    AmbiguousWithdrawal { signatures: usize },
    /// The entry's pseudonyms are not a list the store can record (see `MalformedEntry`).
    #[error("malformed entry: {0}")]
    MalformedEntry(#[from] MalformedEntry),
    /// The signature would make its organization's distinct signers outnumber the credentials
    /// the issuer issued to it (`anonymity::check_signers`).
    #[error("{0}")]
    TooManySigners(#[from] undersigned_core::anonymity::TooManySigners),
    /// The row the caller expected is not there, or not in the expected state.
    #[error("not found")]
    NotFound,
    /// A concurrent writer changed what this call depended on (e.g. the log size moved).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database failed. The message is for logs; it never contains personal data because
    /// no personal data is stored.
    #[error("database: {0}")]
    Backend(String),
    /// Another process serves this SQLite database: SQLite is for one server process.
    #[error("{} is in use by another undersigned process{}; SQLite serves one process only: stop that one, or use PostgreSQL (--database postgres://...) to run several", database.display(), holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse {
        database: std::path::PathBuf,
        holder: Option<u32>,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of checking an email code. Callers answer every failure alike (no oracle on
/// the state of someone's code); the variants are for tests and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Valid,
    Wrong,
    Expired,
    TooManyAttempts,
    /// No code under this request for this address (never asked, used, or deleted).
    Missing,
}

/// A letter's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterState {
    Draft,
    Open,
    Closed,
}

impl LetterState {
    pub fn as_str(self) -> &'static str {
        match self {
            LetterState::Draft => "draft",
            LetterState::Open => "open",
            LetterState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "draft" => Ok(Self::Draft),
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            _ => Err(StoreError::Backend(format!("unknown letter state {s:?}"))),
        }
    }
}

/// One letter as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterRow {
    /// Random, URL-safe handle, stable from draft to close.
    pub handle: String,
    /// SHA-256 of the canonical letter, hex; set when the letter opens.
    pub letter_id: Option<String>,
    /// The letter as JSON (canonical once open; frozen from then on).
    pub letter_json: String,
    pub state: LetterState,
    /// SHA-256 of the organizer's capability token.
    pub organizer_token_hash: Hash,
    pub created_at: u64,
    pub opened_at: Option<u64>,
    pub closed_at: Option<u64>,
    /// Copied out of the policy so the scheduler can query them.
    pub deadline: u64,
    pub publish_interval_secs: u64,
    pub public: bool,
    /// SHA-256 of the signer link's token of a recipients-only letter: its holders may read the
    /// letter and its tally. `None` for public letters.
    pub reader_token_hash: Option<Hash>,
}

/// Delivery of a closed letter to one recipient, and the recipient's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub letter_id: String,
    /// Index of the recipient in the letter's recipient list.
    pub recipient: u32,
    /// SHA-256 of the current response link's token; `None` before the first attempt.
    pub token_hash: Option<Hash>,
    /// The organizer revoked the response link; it opens nothing any more.
    pub revoked: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: u64,
    /// Why the last attempt failed, for the organizer (never contains an address: callers scrub).
    pub last_error: Option<String>,
    pub delivered_at: Option<u64>,
    /// The SMTP server's acceptance reply.
    pub smtp_reply: Option<String>,
    pub acknowledged_at: Option<u64>,
    pub answered_at: Option<u64>,
    pub response_text: Option<String>,
    pub reminders_sent: u32,
}

/// Length in bytes of one pseudonym (a compressed G1 point): the conflict key of signatures.
pub const PSEUDONYM_LEN: usize = undersigned_core::bbs::PSEUDONYM_LEN;

/// Why `accept_entry` refuses an entry's pseudonyms before looking at the letter's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedEntry {
    /// The entry has no pseudonym at all.
    #[error("an entry needs at least one pseudonym")]
    NoPseudonym,
    /// The pseudonym at position `part` (from 0) has `len` bytes instead of `PSEUDONYM_LEN`.
    #[error("pseudonym {part} has {len} bytes, not {PSEUDONYM_LEN}")]
    PseudonymLength { part: usize, len: usize },
    /// The pseudonym at position `part` repeats an earlier one of the same entry: one
    /// credential cannot stand for two parts.
    #[error("pseudonym {part} repeats an earlier part of the same entry")]
    RepeatedPseudonym { part: usize },
}

/// An accepted submission waiting in the pool for its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// RFC 6962 leaf hash of `leaf`.
    pub entry_hash: Hash,
    pub leaf: Vec<u8>,
    /// One pseudonym per part, in the entry's order (t parts for a letter with t issuers;
    /// one is the single-issuer entry). At least one, each `PSEUDONYM_LEN` bytes, none twice:
    /// `accept_entry` refuses anything else with `MalformedEntry`. A signature is known by
    /// its first pseudonym.
    pub pseudonyms: Vec<Vec<u8>>,
    /// `true` for a withdrawal, `false` for a signature.
    pub withdraw: bool,
    /// The receipt's inclusion deadline: a batch boundary, shared by the whole batch. The
    /// arrival time is not stored: it would undo the batching for whoever gets the files.
    pub include_by: u64,
}

impl PendingEntry {
    /// The pseudonyms, checked: at least one, each `PSEUDONYM_LEN` bytes, none twice.
    pub fn checked_pseudonyms(&self) -> Result<&[Vec<u8>], MalformedEntry> {
        if self.pseudonyms.is_empty() {
            return Err(MalformedEntry::NoPseudonym);
        }
        for (part, p) in self.pseudonyms.iter().enumerate() {
            if p.len() != PSEUDONYM_LEN {
                return Err(MalformedEntry::PseudonymLength { part, len: p.len() });
            }
            if self
                .pseudonyms
                .iter()
                .take(part)
                .any(|earlier| earlier == p)
            {
                return Err(MalformedEntry::RepeatedPseudonym { part });
            }
        }
        Ok(&self.pseudonyms)
    }
}

/// Where a submission's signer counts, and how many signers that cell may have: the issuer's
/// `PublishedSets::issued_at_most` for the org, from its counts as its next statement will
/// carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCell {
    /// Hex issuer id.
    pub issuer_id: String,
    pub epoch: undersigned_core::ids::Epoch,
    pub org: undersigned_core::ids::OrgId,
    pub allowed: u64,
}

/// A signed checkpoint of a letter's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: Hash,
    /// The C2SP signed note text.
    pub note: String,
    pub created_at: u64,
}

/// One cell of issued counts: (org, role, age band) and how many credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCell {
    pub org: String,
    pub role: String,
    pub age_band: String,
    pub count: u64,
}

/// See `Store::schema_versions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersions {
    /// Newest successfully applied migration; 0 when none is.
    pub applied: i64,
    /// Newest migration compiled into this build.
    pub expected: i64,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Which backend, for logs and test names: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    /// The durability settings in force, as (name, value) pairs read from the database through
    /// the store's own connections: what "a receipt is sent only after the entry is durable"
    /// rests on. SQLite: `synchronous` (`full` expected) and `journal_mode` (`wal`); PostgreSQL:
    /// `fsync` and `synchronous_commit` (both `on`).
    async fn durability(&self) -> StoreResult<Vec<(String, String)>>;

    /// The newest schema migration applied to the database and the newest this build knows,
    /// read with a real query (readiness: a database another version migrated, or one whose
    /// migration failed halfway, shows here).
    async fn schema_versions(&self) -> StoreResult<SchemaVersions>;

    /// Whether this process runs the deployment's background work (publishing batches,
    /// closing letters at their deadline, deliveries, cosigning, the issuer log) now: takes
    /// the leadership when it is free, keeps it while held, and answers `false` once it is
    /// lost. Called about once a second by the publisher. SQLite: always, since one process
    /// holds the file. PostgreSQL: a session advisory lock on a connection of its own, freed
    /// when the holder's session ends, so a dead leader is replaced at the next call.
    async fn lead(&self) -> StoreResult<bool>;

    /// Gives up the leadership (at a clean shutdown).
    async fn resign(&self);

    // ---- issuance ----

    /// Stores a fresh code (as a hash) for an address tag under the hash of the requester's
    /// request token. Earlier codes stay valid until they expire: a code asked for by someone
    /// else never replaces the one the owner holds. Expired codes are deleted first; refuses
    /// with `RateLimited` when `max_live` unexpired codes exist for this tag.
    async fn put_code(
        &self,
        tag: &Hash,
        request_hash: &Hash,
        code_hash: &Hash,
        now: u64,
        expires_at: u64,
        max_live: u32,
    ) -> StoreResult<()>;

    /// Checks the code of one request (by its token's hash) for a tag, counting the attempt
    /// first (so guessing is bounded even under concurrency). Attempts belong to that request
    /// alone: guesses under another request, or with no valid request, touch no one else's
    /// code. A code out of attempts or expired is deleted; a valid one stays until
    /// `record_issuance` consumes it.
    async fn check_code(
        &self,
        request_hash: &Hash,
        tag: &Hash,
        code_hash: &Hash,
        now: u64,
        max_attempts: u32,
    ) -> StoreResult<CodeCheck>;

    /// In one transaction: for each `(epoch, tag)`, record that the address got its credential
    /// for (issuer, epoch), skipping the epochs it already holds, and add one to the (org, role,
    /// age band) count of each epoch newly recorded; then delete every code row under
    /// `code_tag`. Returns the epochs newly recorded, in request order. When every epoch was
    /// held already, refuses with `AlreadyIssued` and changes nothing. The count rows never
    /// reference a tag.
    async fn record_issuance(
        &self,
        issuer_id: &str,
        code_tag: &Hash,
        epochs: &[(&str, Hash)],
        cell: (&str, &str, &str),
    ) -> StoreResult<Vec<String>>;

    /// Deletes every code that expired at or before `now`; returns how many.
    async fn sweep_codes(&self, now: u64) -> StoreResult<u64>;

    /// Makes rows deleted to protect a person (pool rows, code rows) physically gone where the
    /// backend allows: on SQLite (secure_delete on) a WAL checkpoint that truncates the WAL; on
    /// PostgreSQL a VACUUM of those tables. Does nothing when nothing was deleted since the
    /// last call; a checkpoint that readers kept from finishing is retried at the next call.
    async fn scrub(&self) -> StoreResult<()>;

    /// All (org, role, age band) counts for an issuer and epoch.
    async fn issued_counts(&self, issuer_id: &str, epoch: &str) -> StoreResult<Vec<IssuedCell>>;

    // ---- letters ----

    async fn create_letter(&self, row: &LetterRow) -> StoreResult<()>;

    /// Replaces a draft's JSON (and the scheduling copies). `NotFound` unless it is a draft.
    async fn update_draft(
        &self,
        handle: &str,
        letter_json: &str,
        deadline: u64,
        publish_interval_secs: u64,
        public: bool,
    ) -> StoreResult<()>;

    /// By handle or, for opened letters, by letter id (hex).
    async fn letter(&self, handle_or_id: &str) -> StoreResult<Option<LetterRow>>;

    /// Letters in a state, newest first.
    async fn letters_in_state(&self, state: LetterState) -> StoreResult<Vec<LetterRow>>;

    /// In one transaction: a draft becomes open with its final id and canonical JSON, and its
    /// first log leaf (the opened entry) is appended at index 0 with its checkpoint.
    #[allow(clippy::too_many_arguments)]
    async fn open_letter(
        &self,
        handle: &str,
        letter_id: &str,
        canonical_json: &str,
        now: u64,
        opened_leaf: &[u8],
        opened_hash: &Hash,
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()>;

    /// Marks an open letter closed. `NotFound` unless it was open.
    async fn close_letter(&self, letter_id: &str, now: u64) -> StoreResult<()>;

    // ---- submissions and the log ----

    /// In one transaction: enforce the pseudonym rules and the issued-count rule, and put the
    /// entry in the pool. Durable when this returns: the receipt is sent only after.
    ///
    /// Two entries conflict when they share a pseudonym (the bytes alone, whatever the
    /// issuer), counting pending entries and withdrawn signatures:
    /// - the pseudonyms must be well formed (`MalformedEntry`);
    /// - a sign conflicts with no earlier signature (`DoubleSign`): nobody signs again, even
    ///   after withdrawing;
    /// - a withdrawal conflicts with exactly one signature (`WithdrawWithoutSign` with none,
    ///   `AmbiguousWithdrawal` with several), which must be live (`DoubleWithdraw`); that whole
    ///   signature, every part of it, is then withdrawn. Its pseudonyms that match no
    ///   signature are not recorded;
    /// - a sign is one more distinct signer of `cell`, whatever its number of parts, and makes
    ///   at most `cell.allowed` of them, withdrawn ones too (`TooManySigners` otherwise); a
    ///   withdrawal ignores `cell`.
    async fn accept_entry(
        &self,
        letter_id: &str,
        entry: &PendingEntry,
        cell: &SignerCell,
    ) -> StoreResult<()>;

    /// Pool entries of a letter whose `include_by` is at or before `due_by`.
    async fn pending(&self, letter_id: &str, due_by: u64) -> StoreResult<Vec<PendingEntry>>;

    /// Letter ids with pool entries due at or before `due_by`.
    async fn letters_with_due_entries(&self, due_by: u64) -> StoreResult<Vec<String>>;

    /// In one transaction: append `leaves` (hash, bytes) at positions `expected_size..`,
    /// remove those of them that were pool entries from the pool, and store the checkpoint.
    /// `Conflict` if the log is no longer `expected_size` long.
    async fn append_batch(
        &self,
        letter_id: &str,
        expected_size: u64,
        leaves: &[(Hash, Vec<u8>)],
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()>;

    /// Number of leaves in a letter's log.
    async fn log_size(&self, letter_id: &str) -> StoreResult<u64>;

    /// Leaf hashes of a letter's log in order (for rebuilding the tree).
    async fn leaf_hashes(&self, letter_id: &str) -> StoreResult<Vec<Hash>>;

    /// Leaf bytes at positions `from..to` (clamped to the log size).
    async fn leaves(&self, letter_id: &str, from: u64, to: u64) -> StoreResult<Vec<Vec<u8>>>;

    /// Position of a leaf by its hash, if it is in the log.
    async fn leaf_index(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<Option<u64>>;

    /// Whether an entry hash is still waiting in the pool.
    async fn is_pending(&self, letter_id: &str, entry_hash: &Hash) -> StoreResult<bool>;

    async fn latest_checkpoint(&self, letter_id: &str) -> StoreResult<Option<CheckpointRow>>;

    /// The checkpoint stored for exactly this size, if any.
    async fn checkpoint_at(&self, letter_id: &str, size: u64)
        -> StoreResult<Option<CheckpointRow>>;

    /// The letter's newest checkpoints, at most `limit`, newest first (the letter's feed).
    async fn recent_checkpoints(
        &self,
        letter_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<CheckpointRow>>;

    // ---- delivery and responses ----
    //
    // A delivery row is addressed by (letter id, recipient index). Rows are never deleted, a
    // delivered row never becomes undelivered, and a revoked one is never unrevoked. Every
    // method that checks a row's state before changing it does both in one transaction with
    // the row locked, so of two racing callers exactly one succeeds.

    /// In one transaction: one row per recipient `0..recipients` of a closed letter, each
    /// with no token, no attempts, `next_attempt_at = now` and nothing delivered. Rows that
    /// exist already are left as they are, so calling this again (e.g. on recovery) is
    /// harmless. `NotFound` unless the letter exists and is closed.
    async fn create_deliveries(
        &self,
        letter_id: &str,
        recipients: u32,
        now: u64,
    ) -> StoreResult<()>;

    /// All delivery rows of a letter, by recipient index. Empty for an unknown letter.
    async fn deliveries(&self, letter_id: &str) -> StoreResult<Vec<DeliveryRow>>;

    /// The unrevoked row whose current response link has this token hash. `None` for an
    /// unknown token, a token replaced by a newer one, and a revoked row.
    async fn delivery_by_token(&self, token_hash: &Hash) -> StoreResult<Option<DeliveryRow>>;

    /// Rows not yet delivered whose `next_attempt_at` is at or before `now` (revoked ones
    /// included), ordered by (next_attempt_at, letter id, recipient).
    async fn due_deliveries(&self, now: u64) -> StoreResult<Vec<DeliveryRow>>;

    /// Replaces the row's response token hash (the earlier link stops working). Does not
    /// touch `revoked`: a revoked row stays revoked. `NotFound` without the row; `Conflict` if
    /// another row already has this hash.
    async fn set_delivery_token(
        &self,
        letter_id: &str,
        recipient: u32,
        token_hash: &Hash,
    ) -> StoreResult<()>;

    /// Records the accepted mail: `delivered_at = now` and the SMTP reply; other columns
    /// (attempts, last error) stay. `NotFound` without the row; `Conflict` if it was delivered
    /// already (the first record stays), so concurrent callers get exactly one `Ok`.
    async fn delivery_done(
        &self,
        letter_id: &str,
        recipient: u32,
        now: u64,
        smtp_reply: &str,
    ) -> StoreResult<()>;

    /// Records a failed attempt: `attempts + 1`, the next attempt time and the (scrubbed)
    /// reason. `NotFound` without the row; `Conflict` if it was delivered already (nothing
    /// changes).
    async fn delivery_failed(
        &self,
        letter_id: &str,
        recipient: u32,
        next_attempt_at: u64,
        error: &str,
    ) -> StoreResult<()>;

    /// The recipient acknowledged: `acknowledged_at = now`. `NotFound` without the row, or
    /// if it is not delivered or revoked; `Conflict` if it was acknowledged already (an
    /// answer counts as an acknowledgement).
    async fn acknowledge(&self, letter_id: &str, recipient: u32, now: u64) -> StoreResult<()>;

    /// The recipient answered: `answered_at = now`, the text, and `acknowledged_at = now` if
    /// it was not set. `NotFound` without the row, or if it is not delivered or revoked;
    /// `Conflict` if it was answered already (the first answer stays).
    async fn answer(
        &self,
        letter_id: &str,
        recipient: u32,
        now: u64,
        text: &str,
    ) -> StoreResult<()>;

    /// Revokes the row's response link for good: no token of it opens anything any more.
    /// Idempotent. `NotFound` without the row.
    async fn revoke_delivery(&self, letter_id: &str, recipient: u32) -> StoreResult<()>;

    /// Sets how many reminders were sent for the row. `NotFound` without the row.
    async fn reminders_sent(&self, letter_id: &str, recipient: u32, count: u32) -> StoreResult<()>;

    // ---- the issuer log ----
    //
    // Each signed issuer statement is one leaf of its issuer's transparency log. Leaves are
    // only ever appended; the statements hold published counts, never tags or times of issue.

    /// Epochs in which an issuer issued anything, ascending.
    async fn issued_epochs(&self, issuer_id: &str) -> StoreResult<Vec<String>>;

    /// In one transaction: append `leaf` at position `expected_size` of the issuer's log and
    /// store the checkpoint of the new size. `Conflict` if the log is no longer
    /// `expected_size` long.
    async fn append_issuer_statement(
        &self,
        issuer_id: &str,
        expected_size: u64,
        leaf_hash: &Hash,
        leaf: &[u8],
        checkpoint: &CheckpointRow,
    ) -> StoreResult<()>;

    /// Leaf hashes of an issuer's log in order.
    async fn issuer_log_hashes(&self, issuer_id: &str) -> StoreResult<Vec<Hash>>;

    /// Leaf bytes of an issuer's log at positions `from..to` (clamped to its size).
    async fn issuer_log_leaves(
        &self,
        issuer_id: &str,
        from: u64,
        to: u64,
    ) -> StoreResult<Vec<Vec<u8>>>;

    /// The issuer log's checkpoint at `size`, or its latest with `None`.
    async fn issuer_checkpoint(
        &self,
        issuer_id: &str,
        size: Option<u64>,
    ) -> StoreResult<Option<CheckpointRow>>;

    /// Records a checkpoint that carries its witnesses' quorum, for the log named `origin`
    /// (`note` with the cosignature lines, `created_at` the time the quorum was reached).
    /// Storing the same size again replaces the row: a later request may carry more
    /// cosignatures.
    async fn put_cosigned(&self, origin: &str, checkpoint: &CheckpointRow) -> StoreResult<()>;

    /// The newest cosigned checkpoint of the log named `origin`, if any.
    async fn latest_cosigned(&self, origin: &str) -> StoreResult<Option<CheckpointRow>>;
}
