//! `GET /api/v1/software`: which hosts have a package, optionally below a version (compared
//! by the package manager's own rules).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Viewer;
use super::{ApiError, bad_query};
use crate::AppState;
use crate::inventory::{SoftwareHost, SoftwareQuery};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/software", get(search))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SoftwareParams {
    /// Exact package name.
    name: String,
    /// Only versions strictly lower than this, compared by the package manager's rules.
    version_lt: Option<String>,
    /// Only this package manager ("dpkg", "rpm", "apk").
    manager: Option<String>,
}

/// Hosts with a package.
#[utoipa::path(get, path = "/api/v1/software", params(SoftwareParams),
    responses((status = 200, body = Vec<SoftwareHost>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "software")]
async fn search(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<SoftwareParams>, QueryRejection>,
) -> Result<Json<Vec<SoftwareHost>>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let q = SoftwareQuery {
        name: p.name,
        version_lt: p.version_lt,
        manager: p.manager,
    };
    Ok(Json(state.inventory.software(q).await?))
}
