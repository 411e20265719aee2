//! The bearer-token extractor: every handler that takes a [`Principal`] is authenticated
//! before its body is read; the access service checks the token (through its cache).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::{ApiError, Principal};
use crate::AppState;

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        principal(&parts.headers, state).await
    }
}

/// The principal behind a request's `Authorization: Bearer` header (for handlers that must
/// do something before authenticating).
pub async fn principal(headers: &HeaderMap, state: &AppState) -> Result<Principal, ApiError> {
    let header = headers
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
    Ok(state.access.authenticate(token).await?)
}
