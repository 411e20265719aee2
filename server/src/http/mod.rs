//! HTTP: handlers only. Each resource has its own module with a `router()`; this module
//! holds the shared pieces: [`ApiError`], the bearer-token extractor and the app router.

pub mod agents;
pub mod changes;
pub mod cis;
pub mod impact;
pub mod ops;
pub mod relationships;
pub mod reports;
pub mod software;
pub mod tokens;
pub mod transfer;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use cmdb_shared::{ErrorBody, ResyncRequired};
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;
use crate::domain::auth::{Role, hash_token, looks_like_token};
use crate::ingest::IngestError;
use crate::storage::StorageError;

/// Every error an API handler returns. 4xx carry a precise reason; 5xx a generic body, with
/// the cause logged once here.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Resync(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => ApiError::BadRequest(m),
            IngestError::Unprocessable(m) => ApiError::Unprocessable(m),
            IngestError::Resync(m) => ApiError::Resync(m),
            IngestError::UnknownAgent => {
                ApiError::Unauthorized("the agent of this credential no longer exists".into())
            }
            IngestError::Storage(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Resync(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, source = ?cause.source(), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        match self {
            ApiError::Resync(error) => (
                status,
                axum::Json(ResyncRequired {
                    error,
                    resync_required: true,
                }),
            )
                .into_response(),
            ApiError::Unauthorized(error) => (
                status,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(ErrorBody { error }),
            )
                .into_response(),
            other => (
                status,
                axum::Json(ErrorBody {
                    error: other.to_string(),
                }),
            )
                .into_response(),
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Key of the token record.
    pub token: String,
    pub role: Role,
    /// For agent credentials: the agent key.
    pub agent: Option<String>,
}

impl Principal {
    /// Fails with 403 unless this principal's role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this operation needs the {} role; the credential has {}",
                needed.as_str(),
                self.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer header".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header is not \"Bearer <token>\"".into())
            })?;
        if !looks_like_token(token) {
            return Err(ApiError::Unauthorized("invalid credential".into()));
        }
        let hash = hash_token(token);
        if let Some(p) = state.auth_cache_get(&hash) {
            return Ok(p);
        }
        let rec = state
            .store
            .token_by_hash(&hash)
            .await?
            .filter(|t| !t.revoked)
            .ok_or_else(|| ApiError::Unauthorized("invalid credential".into()))?;
        let role = Role::parse(&rec.role)
            .ok_or_else(|| ApiError::Unauthorized("invalid credential".into()))?;
        let p = Principal {
            token: rec.key,
            role,
            agent: rec.agent,
        };
        state.auth_cache_put(hash, p.clone());
        Ok(p)
    }
}

/// Maps a query-string rejection to a 400 naming the parameter.
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("query string: {}", e.body_text()))
}

/// The whole API.
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.config.limits.max_body_bytes;
    Router::new()
        .merge(reports::router())
        .merge(agents::router())
        .merge(cis::router())
        .merge(software::router())
        .merge(tokens::router())
        .merge(ops::router())
        .merge(relationships::router())
        .merge(impact::router())
        .merge(changes::router())
        .merge(transfer::router())
        // The limit applies after decompression, so a small zstd bomb cannot get past it.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestDecompressionLayer::new().zstd(true).gzip(true))
        .with_state(state)
}
