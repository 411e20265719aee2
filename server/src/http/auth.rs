//! The bearer-token extractor: every handler that takes a [`Principal`] is authenticated
//! before its body is read; the access service checks the token (through its cache).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::{ApiError, Principal};
use crate::AppState;
use crate::domain::auth::Role;

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

/// Extractors that authenticate and check the role from the headers alone. Axum runs them
/// before the body extractor, so a caller without the role gets its 401/403 before a byte of
/// the body is read or decompressed.
macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(pub Principal);

        impl FromRequestParts<Arc<AppState>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &Arc<AppState>,
            ) -> Result<Self, Self::Rejection> {
                let principal = Principal::from_request_parts(parts, state).await?;
                principal.require($role)?;
                Ok(Self(principal))
            }
        }
    };
}

role_extractor!(
    Viewer,
    Role::Viewer,
    "A caller with at least the viewer role."
);
role_extractor!(
    Editor,
    Role::Editor,
    "A caller with at least the editor role."
);
role_extractor!(Admin, Role::Admin, "A caller with the admin role.");

/// An agent credential and the agent it is bound to.
pub struct Agent {
    pub principal: Principal,
    pub agent: String,
}

impl FromRequestParts<Arc<AppState>> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.require(Role::Agent)?;
        let agent = principal
            .agent
            .clone()
            .ok_or_else(|| ApiError::Forbidden("credential is not bound to an agent".into()))?;
        Ok(Self { principal, agent })
    }
}

/// An enrollment token, within the `/enroll` rate limit. The limit comes before the
/// credential is looked up, so a flood costs no storage.
pub struct Enroller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Enroller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        state.access.enroll_permit()?;
        let principal = principal(&parts.headers, state).await?;
        principal.require(Role::Enroll)?;
        Ok(Self(principal))
    }
}
