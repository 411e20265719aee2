//! API tokens (admin only): create, list, revoke.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ApiError, Principal, parse_json};
use crate::AppState;
use crate::access::{CreatedToken, TokenInfo};
use crate::domain::auth::Role;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{id}", delete(revoke))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// "admin", "editor", "viewer" or "enroll" (fleet enrollment).
    role: String,
    /// What it is for.
    #[serde(default)]
    description: String,
}

/// Create a token.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "tokens")]
async fn create(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    principal.require(Role::Admin)?;
    let req: NewToken = parse_json(body)?;
    let created = state
        .access
        .create_token(&req.role, &req.description)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List tokens (agents' credentials are listed as agents).
#[utoipa::path(get, path = "/api/v1/tokens",
    responses((status = 200, body = Vec<TokenInfo>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "tokens")]
async fn list(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.access.tokens().await?))
}

/// Revoke a token (takes effect at once).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "tokens")]
async fn revoke(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    state.access.revoke(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
