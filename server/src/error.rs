//! The error every service returns to its callers (the HTTP handlers, the CLI).
//!
//! Services speak in terms of what went wrong with a request — invalid, not found, not
//! allowed — never in HTTP status codes; `http/` maps each variant to its status. 4xx variants
//! carry a precise reason for the caller; storage failures carry their cause, which the
//! handler logs once and answers with a generic 500.

use crate::storage::{StorageError, valid_key};

/// Why a service refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or inconsistent; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The caller's credential is not (or no longer) valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The credential is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Well-formed, but cannot be applied (an unsupported version, a missing section).
    #[error("{0}")]
    Unprocessable(String),
    /// Cannot be done yet, may be later (a metric batch from an agent whose host is not
    /// identified yet): the caller retries.
    #[error("{0}")]
    NotYet(String),
    /// Refused because of the state of what it names (the last admin token): the message
    /// says why.
    #[error("{0}")]
    Conflict(String),
    /// Too many requests of this kind just now: try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("storage failure")]
    Storage(StorageError),
    /// The database is away (a remote one that did not answer in time): retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => {
                ServiceError::Unavailable(format!("{e}: retry shortly"))
            }
            e if e.is_conflict() => ServiceError::Unavailable(
                "concurrent writes kept conflicting: retry shortly".into(),
            ),
            other => ServiceError::Storage(other),
        }
    }
}

/// Checks an id a caller gave before it reaches a query: `field: "x" is not a CI id` (`what`
/// names the kind of record: CI, token, relationship).
pub fn check_id(field: &str, id: &str, what: &str) -> Result<(), ServiceError> {
    if valid_key(id) {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{field}: {id:?} is not a {what} id"
        )))
    }
}
