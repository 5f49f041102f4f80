//! One error type for every handler: input errors shown plainly, internal ones hidden and logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use undersigned_core::error::{IssueError, PresentError, VerifyError};
use undersigned_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid organizer or recipient link is required")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("the request body is too large")]
    TooLarge,
    #[error("{0}")]
    Unavailable(String),
    /// Never shown to the client; logged once where it is turned into a response.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let AppError::Internal(detail) = &self {
            // Store and crypto messages carry no personal data: none is stored or logged.
            tracing::error!(%detail, "internal error");
        }
        let body = serde_json::json!({ "error": code, "message": self.to_string() });
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RateLimited => AppError::TooManyRequests(e.to_string()),
            StoreError::AlreadyIssued => AppError::Conflict(
                "already issued: this address holds a credential for every issuable epoch; a lost credential is replaced next epoch".into(),
            ),
            StoreError::DoubleSign => AppError::Conflict("this credential already signed this letter".into()),
            StoreError::WithdrawWithoutSign => AppError::Conflict("there is no signature by this credential to withdraw".into()),
            StoreError::DoubleWithdraw => AppError::Conflict("this signature was already withdrawn".into()),
            StoreError::NotFound => AppError::NotFound("letter"),
            // A rule of the letter's record, not a race: the bundle would refuse it too.
            StoreError::TooManySigners(e) => AppError::Unprocessable(format!(
                "signers past the issued count: {e}; a letter accepts no more distinct signers of an organization than credentials its issuer issued to it"
            )),
            StoreError::Conflict(what) => AppError::Conflict(what.into()),
            // The database is down, restarting, or out of disk: the request may succeed if
            // retried, and nothing it asked for was promised. The detail (no personal data:
            // none is stored) goes to the log, the client gets a plain 503.
            StoreError::Backend(detail) => {
                tracing::warn!(%detail, "database unavailable");
                AppError::Unavailable(
                    "the database is unavailable; nothing was recorded, try again shortly".into(),
                )
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<VerifyError> for AppError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::DoubleSign
            | VerifyError::WithdrawWithoutSign
            | VerifyError::DoubleWithdraw => AppError::Conflict(e.to_string()),
            VerifyError::LetterNotOpen => AppError::Conflict(e.to_string()),
            other => AppError::Unprocessable(other.to_string()),
        }
    }
}

impl From<IssueError> for AppError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::AlreadyIssued(_) => AppError::Conflict(e.to_string()),
            IssueError::Signing => AppError::Internal(e.to_string()),
            other => AppError::Unprocessable(other.to_string()),
        }
    }
}

impl From<PresentError> for AppError {
    fn from(e: PresentError) -> Self {
        AppError::Unprocessable(e.to_string())
    }
}

pub type AppResult<T> = Result<T, AppError>;
