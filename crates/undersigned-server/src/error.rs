//! The HTTP edge of the domain's errors: each kind answers with its status, input errors shown
//! plainly, internal ones hidden and logged once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use undersigned_service::Error;

/// A domain error on its way to a client. Anything that converts into the domain's `Error`
/// (store, verification, issuance errors) converts into this, so handlers use `?` throughout.
#[derive(Debug)]
pub struct AppError(pub Error);

impl<E: Into<Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

// No `source`: the message is the domain error's own, and a chain would print it twice.
impl std::error::Error for AppError {}

impl AppError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match &self.0 {
            Error::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            Error::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            // A kind added to the domain later answers as an internal error until mapped here.
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Error::Internal(detail) = &self.0 {
            // Store and crypto messages carry no personal data: none is stored or logged.
            tracing::error!(%detail, "internal error");
        }
        let body = serde_json::json!({ "error": code, "message": self.0.to_string() });
        (status, Json(body)).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
