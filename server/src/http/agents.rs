//! `GET /api/v1/agents`: the fleet, with version and last contact.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;

use super::{ApiError, Principal};
use crate::AppState;
use crate::domain::auth::Role;
use crate::storage::AgentRecord;

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
    let mut agents = state.store.list_agents().await?;
    for a in &mut agents {
        // Heartbeats are coalesced in memory between flushes; show the freshest.
        if let Some(t) = state.ingestor.pending_last_seen(&a.key) {
            a.last_seen = Some(t);
        }
    }
    Ok(Json(agents))
}
