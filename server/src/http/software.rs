//! Software search: which hosts have package X, optionally older than version Y.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, Principal, bad_query};
use crate::AppState;
use crate::domain::auth::Role;

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

/// A host with matching packages.
#[derive(Debug, Serialize, ToSchema)]
pub struct SoftwareHost {
    ci_id: String,
    name: String,
    last_seen: String,
    /// Matching installed versions, "manager version architecture".
    packages: Vec<cmdb_shared::Package>,
}

/// Hosts with a package.
#[utoipa::path(get, path = "/api/v1/software", params(SoftwareParams),
    responses((status = 200, body = Vec<SoftwareHost>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])), tag = "software")]
async fn search(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Result<Query<SoftwareParams>, QueryRejection>,
) -> Result<Json<Vec<SoftwareHost>>, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    if p.name.is_empty() || p.name.len() > 256 {
        return Err(ApiError::BadRequest(
            "name: must be 1-256 characters".into(),
        ));
    }
    if let Some(v) = &p.version_lt
        && !cmdb_shared::version::is_valid(p.manager.as_deref().unwrap_or("dpkg"), v)
    {
        return Err(ApiError::BadRequest(format!(
            "version_lt: {v:?} is not a version"
        )));
    }
    let candidates: Vec<_> = state
        .store
        .packages_named(&p.name)
        .await?
        .into_iter()
        .filter(|pk| p.manager.as_ref().is_none_or(|m| *m == pk.manager))
        .filter(|pk| {
            p.version_lt.as_ref().is_none_or(|lt| {
                cmdb_shared::version::compare(&pk.manager, &pk.version, lt).is_lt()
            })
        })
        .collect();
    if candidates.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let keys: Vec<String> = candidates.iter().map(|c| c.key.clone()).collect();
    let rows = state.store.hosts_with_packages(&keys).await?;
    let out = rows
        .into_iter()
        .map(|r| SoftwareHost {
            ci_id: r.key,
            name: r.name,
            last_seen: r.last_seen,
            packages: candidates
                .iter()
                .filter(|c| r.matched.contains(&c.key))
                .map(|c| cmdb_shared::Package {
                    manager: c.manager.clone(),
                    name: c.name.clone(),
                    version: c.version.clone(),
                    architecture: c.architecture.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(out))
}
