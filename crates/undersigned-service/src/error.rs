//! The domain's one error type: what went wrong, in kinds the HTTP layer maps to statuses at the
//! edge (`undersigned_server::error::AppError`) and the binary turns into messages.

use undersigned_core::error::{IssueError, PresentError, VerifyError};
use undersigned_store::StoreError;

/// A domain error. Input errors carry a message meant for whoever sent the input; `Internal`
/// carries a detail for the log only, never shown to a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not have the shape the interface documents.
    #[error("{0}")]
    Invalid(String),
    /// A valid organizer or recipient link is required.
    #[error("a valid organizer or recipient link is required")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is well formed but the state it meets forbids it (already open, already signed).
    #[error("{0}")]
    Conflict(String),
    /// The input is well formed but a rule refuses it (a bad proof, a policy the deployment
    /// cannot serve).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("the request body is too large")]
    TooLarge,
    /// Something this depends on (the database, the witnesses) does not answer; retrying may help.
    #[error("{0}")]
    Unavailable(String),
    /// Never shown to a client; logged once where it is turned into an answer.
    #[error("internal error")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RateLimited => Error::RateLimited(e.to_string()),
            StoreError::AlreadyIssued => Error::Conflict(
                "already issued: this address holds a credential for every issuable epoch; a lost credential is replaced next epoch".into(),
            ),
            StoreError::DoubleSign => Error::Conflict("this credential already signed this letter".into()),
            StoreError::WithdrawWithoutSign => Error::Conflict("there is no signature by this credential to withdraw".into()),
            StoreError::DoubleWithdraw => Error::Conflict("this signature was already withdrawn".into()),
            StoreError::NotFound => Error::NotFound("letter"),
            // A rule of the letter's record, not a race: the bundle would refuse it too.
            StoreError::TooManySigners(e) => Error::Refused(format!(
                "signers past the issued count: {e}; a letter accepts no more distinct signers of an organization than credentials its issuer issued to it"
            )),
            StoreError::AmbiguousWithdrawal { .. } => Error::Conflict(e.to_string()),
            // Core refuses these before the store sees them; the store checks again.
            StoreError::MalformedEntry(m) => Error::Invalid(format!("malformed entry: {m}")),
            StoreError::Conflict(what) => Error::Conflict(what.into()),
            // The database is down, restarting, or out of disk: the request may succeed if
            // retried, and nothing it asked for was promised. The detail (no personal data:
            // none is stored) goes to the log, the client gets a plain "unavailable".
            StoreError::Backend(detail) => {
                tracing::warn!(%detail, "database unavailable");
                Error::Unavailable(
                    "the database is unavailable; nothing was recorded, try again shortly".into(),
                )
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::DoubleSign
            | VerifyError::WithdrawWithoutSign
            | VerifyError::DoubleWithdraw
            | VerifyError::AmbiguousWithdrawal => Error::Conflict(e.to_string()),
            VerifyError::LetterNotOpen => Error::Conflict(e.to_string()),
            other => Error::Refused(other.to_string()),
        }
    }
}

impl From<IssueError> for Error {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::AlreadyIssued(_) => Error::Conflict(e.to_string()),
            IssueError::Signing => Error::Internal(e.to_string()),
            other => Error::Refused(other.to_string()),
        }
    }
}

impl From<PresentError> for Error {
    fn from(e: PresentError) -> Self {
        Error::Refused(e.to_string())
    }
}
