//! API tokens (admin only): create, list, revoke.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;

use super::auth::Admin;
use super::{ApiError, parse_json};
use crate::AppState;
use crate::access::{CreatedToken, NewToken, TokenInfo};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{id}", delete(revoke))
}

/// Create a token, optionally expiring (`expires_in_secs` or `expires_at`); an enrollment
/// token may also be limited to `max_uses` enrollments and give the agents enrolled with it
/// expiring credentials (`agent_expires_in_secs`).
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "tokens")]
async fn create(
    State(state): State<Arc<AppState>>,
    Admin(_principal): Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let req: NewToken = parse_json(body)?;
    let created = state.access.create_token(&req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List tokens with their expiry and, for enrollment tokens, uses (agents' credentials are
/// listed as agents).
#[utoipa::path(get, path = "/api/v1/tokens",
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "tokens")]
async fn list(
    State(state): State<Arc<AppState>>,
    Admin(_principal): Admin,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(state.access.tokens().await?))
}

/// Revoke a token (takes effect at once). The last admin token that is neither revoked nor
/// expired cannot be revoked (409).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "tokens")]
async fn revoke(
    State(state): State<Arc<AppState>>,
    Admin(_principal): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.access.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
