//! Typed errors. A bad proof is one opaque error: it never says which check failed.

use thiserror::Error;

/// Malformed values: identifiers, attributes, encodings.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid {0}")]
    InvalidAttribute(&'static str),
    #[error("invalid {0} (expected 64 hex digits)")]
    InvalidId(&'static str),
    #[error("invalid encoding of {0}")]
    Encoding(&'static str),
    #[error("letter: {0}")]
    Letter(&'static str),
    /// Readable text with a bidi control or another invisible formatting character.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
}

/// Why an issuer refused to issue.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueError {
    #[error("a credential was already issued to this address for epoch {0}")]
    AlreadyIssued(String),
    #[error("the organization {0} is not accepted by this issuer")]
    OrgNotAccepted(String),
    #[error("the role is not in this deployment's role list")]
    RoleNotAccepted,
    #[error("that address names no mailbox once normalized (lowercase, no +tag)")]
    InvalidAddress,
    #[error("the issuance request is malformed or its commitment proof is invalid")]
    BadRequest,
    #[error("the issuer's answer does not verify against its public key")]
    BadResponse,
    #[error("internal signing failure")]
    Signing,
}

/// Why a holder could not present (sign or withdraw).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresentError {
    #[error("this letter does not accept credentials from this issuer and epoch")]
    IssuerNotAccepted,
    #[error("this letter does not accept signatures from {0}")]
    OrgNotAccepted(String),
    #[error("this letter does not allow disclosing {0}")]
    DisclosureNotAllowed(&'static str),
    #[error("disclosing {0} would identify you: fewer than {1} credential holders share it")]
    SmallCell(&'static str, u32),
    #[error(
        "your organization has fewer than {0} credential holders; signing needs explicit consent"
    )]
    SmallOrgNeedsConsent(u32),
    #[error("comment too long (at most {0} bytes)")]
    CommentTooLong(usize),
    #[error(transparent)]
    Unreadable(#[from] crate::text::TextError),
    #[error("this letter does not take comments")]
    CommentNotAllowed,
    #[error("an empty comment is no comment: leave the comment out")]
    EmptyComment,
    #[error("proof generation failed")]
    Proof,
    #[error("this letter needs credentials from {0} different issuers it accepts, one of each")]
    Threshold(usize),
    #[error("your credentials from different issuers do not agree on the address, organization, epoch or what you disclose")]
    PartsDisagree,
}

/// Why an entry was refused by a verifier. `BadProof` is deliberately opaque.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("malformed entry: {0}")]
    Malformed(&'static str),
    #[error("the entry is for another letter")]
    WrongLetter,
    #[error("this letter does not accept credentials from this issuer and epoch")]
    IssuerNotAccepted,
    #[error("this letter does not accept signatures from {0}")]
    OrgNotAccepted(String),
    #[error("this letter does not allow disclosing {0}")]
    DisclosureNotAllowed(&'static str),
    #[error("this letter does not take comments")]
    CommentNotAllowed,
    #[error("the disclosed {0} has an anonymity set below k={1}")]
    SmallCell(&'static str, u32),
    #[error("invalid proof")]
    BadProof,
    #[error("this pseudonym already signed this letter")]
    DoubleSign,
    #[error("this pseudonym has no signature to withdraw")]
    WithdrawWithoutSign,
    #[error("this pseudonym already withdrew")]
    DoubleWithdraw,
    #[error("a signature on this letter needs exactly {0} part(s), one from each of {0} different issuers it accepts")]
    Threshold(usize),
    #[error("this withdrawal matches more than one signature; a withdrawal removes exactly one")]
    AmbiguousWithdrawal,
    #[error("the letter is not open")]
    LetterNotOpen,
}

/// Why a bundle failed verification; each variant names what was caught.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    #[error("not a bundle: {0}")]
    Format(String),
    #[error("unsupported bundle format {0:?}")]
    UnsupportedFormat(String),
    #[error("the letter's id does not match its text and policy (the letter was changed)")]
    LetterIdMismatch,
    #[error("issuer {0}: its id does not match its public key")]
    IssuerIdMismatch(String),
    #[error("entry {index}: {error}")]
    Entry { index: usize, error: VerifyError },
    #[error("log: {0}")]
    Log(String),
    #[error("receipt: {0}")]
    Receipt(String),
    /// The signed issuer statement failed (its own message names it).
    #[error("{0}")]
    Statement(#[from] StatementError),
    /// A bundle-level check against the issuer statement failed.
    #[error("issuer statement: {0}")]
    IssuerStatement(String),
    /// The bundle is signed under other keys than the verifier pinned.
    #[error("pinned key: {0}")]
    Pin(String),
    /// A checkpoint lacks its quorum of valid cosignatures from the pinned witnesses.
    #[error("witness cosignatures: {0}")]
    Cosignature(String),
}

/// Why a statement, or a pair of statements, is not acceptable. Every message names the issuer
/// statement, so a verifier's output says which part of a bundle failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementError {
    #[error("issuer statement: unsupported format {0:?}")]
    Format(String),
    #[error("issuer statement: malformed ({0})")]
    Malformed(String),
    #[error("issuer statement: its public key does not match its issuer id")]
    KeyMismatch,
    #[error("issuer statement: signature does not verify")]
    BadSignature,
    #[error("issuer statement: signing failed")]
    Signing,
    #[error("issuer statement: {0}")]
    Log(String),
    #[error("issuer statement: a later statement is by another issuer")]
    OtherIssuer,
    #[error("issuer statement: sequence {later} does not follow {earlier}")]
    Sequence { earlier: u64, later: u64 },
    #[error("issuer statement: a later statement drops the organization {0}")]
    OrgRemoved(String),
    #[error("issuer statement: a later statement drops epoch {0}")]
    EpochRemoved(String),
    #[error("issuer statement: a later statement drops the cell {cell} of epoch {epoch}")]
    CellRemoved { epoch: String, cell: String },
    #[error(
        "issuer statement: a later statement lowers the count of {cell} in epoch {epoch} from {earlier} to {later}"
    )]
    CountLowered {
        epoch: String,
        cell: String,
        earlier: String,
        later: String,
    },
}
