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
        let principal = principal(&parts.headers, state).await?;
        state.rate.check(&principal.token).map_err(|secs| {
            ApiError::TooManyRequests(
                format!(
                    "this credential is over http.rate_per_credential ({}/s): retry after {secs} s",
                    state.config.http.rate_per_credential
                ),
                secs,
            )
        })?;
        Ok(principal)
    }
}

/// The principal behind a request's `Authorization: Bearer` header (for handlers that must
/// do something before authenticating).
pub async fn principal(headers: &HeaderMap, state: &AppState) -> Result<Principal, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer header".into()))?;
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header is not \"Bearer <token>\"".into())
        })?;
    Ok(state.access.authenticate(token).await?)
}
