//! `GET /api/v1/agents`: the fleet, with version and last contact.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;

use super::{ApiError, Principal};
use crate::AppState;
use crate::access::AgentRecord;
use crate::domain::auth::Role;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/agents", get(list))
}

/// Every enrolled agent with its version, last contact and host CI.
#[utoipa::path(get, path = "/api/v1/agents",
    responses((status = 200, body = Vec<AgentRecord>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])), tag = "agents")]
async fn list(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<AgentRecord>>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(state.access.agents().await?))
}
