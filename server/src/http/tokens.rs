//! API tokens (admin only): create, list, revoke.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::reports::parse_json;
use super::{ApiError, Principal};
use crate::AppState;
use crate::domain::auth::{Role, hash_token, new_token};
use crate::ingest::now_str;
use crate::storage::{TokenRecord, valid_key};

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

/// A created token; the secret is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    id: String,
    role: String,
    token: String,
}

/// A token as listed (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    id: String,
    role: String,
    description: String,
    created_at: String,
    revoked: bool,
}

/// Creates a credential record; shared by the API and the `token create` command.
pub fn make_token(role: Role, description: &str) -> (TokenRecord, String) {
    let token = new_token(role);
    (
        TokenRecord {
            key: uuid::Uuid::new_v4().simple().to_string(),
            hash: hash_token(&token),
            role: role.as_str().into(),
            description: description.into(),
            created_at: now_str(),
            revoked: false,
            agent: None,
        },
        token,
    )
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
    let role = match Role::parse(&req.role) {
        Some(r @ (Role::Admin | Role::Editor | Role::Viewer | Role::Enroll)) => r,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "role: expected admin, editor, viewer or enroll, got {:?}",
                req.role
            )));
        }
    };
    if req.description.len() > 256 {
        return Err(ApiError::BadRequest(
            "description: at most 256 characters".into(),
        ));
    }
    let (rec, token) = make_token(role, &req.description);
    state.store.insert_token(&rec).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: rec.key,
            role: rec.role,
            token,
        }),
    ))
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
    Ok(Json(
        state
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| TokenInfo {
                id: t.key,
                role: t.role,
                description: t.description,
                created_at: t.created_at,
                revoked: t.revoked,
            })
            .collect(),
    ))
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
    if !valid_key(&id) {
        return Err(ApiError::BadRequest(format!(
            "id: {id:?} is not a token id"
        )));
    }
    let hash = state
        .store
        .revoke_token(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no token with id {id}")))?;
    state.auth_cache_remove(&hash);
    Ok(StatusCode::NO_CONTENT)
}
