//! `/api/v1/agents`: the fleet, with version, last contact and credential; revoking an
//! agent's credential.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;

use super::ApiError;
use super::auth::{Admin, Viewer};
use crate::AppState;
use crate::access::AgentInfo;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/agents", get(list))
        .route("/api/v1/agents/{id}", delete(revoke))
}

/// Every enrolled agent with its version, last contact, host CI and credential (token id,
/// created, revoked, expiry, last use).
#[utoipa::path(get, path = "/api/v1/agents",
    responses((status = 200, body = Vec<AgentInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "agents")]
async fn list(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
) -> Result<Json<Vec<AgentInfo>>, ApiError> {
    Ok(Json(state.access.agents().await?))
}

/// Revoke an agent's credential (admin): its next report gets 401. The agent stays listed.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", params(("id" = String, Path, description = "agent id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "agents")]
async fn revoke(
    State(state): State<Arc<AppState>>,
    Admin(_principal): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.access.revoke_agent(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
