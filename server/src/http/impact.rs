//! Impact analysis over HTTP: what fails and what degrades if these CIs fail, what a CI
//! depends on, and the graph index's size and consistency with storage.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Editor, Viewer};
use super::render::{Format, render};
use super::{ApiError, bad_body, bad_query};
use crate::AppState;
use crate::impact::{Dependencies, GraphSummary, ImpactReport, Page};
use crate::relationships::CheckReport;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/impact", post(impact))
        .route("/api/v1/cis/{id}/impact", get(ci_impact))
        .route("/api/v1/cis/{id}/dependencies", get(dependencies))
        .route("/api/v1/graph/check", get(check))
        .route("/api/v1/graph", get(summary))
}

/// An impact question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    /// CIs assumed down: ids, or exact names when unambiguous.
    pub cis: Vec<String>,
    /// Stop propagating this many hops from a failed CI.
    #[serde(default)]
    pub max_depth: Option<u32>,
    /// json (default), csv or dot.
    #[serde(default)]
    pub format: Format,
    /// Affected CIs to skip (paging, in (depth, id) order).
    #[serde(default)]
    pub offset: Option<usize>,
    /// Affected CIs to list, at most `relationships.max_impact_items`: JSON lists 1,000
    /// unless asked, CSV and DOT every one. Counts and business services are always whole.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Query of `GET /cis/{id}/impact`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImpactParams {
    /// Stop this many hops away.
    max_depth: Option<u32>,
    /// json (default), csv or dot.
    format: Option<Format>,
    /// Affected CIs to skip (paging, in (depth, id) order).
    offset: Option<usize>,
    /// Affected CIs to list, at most `relationships.max_impact_items`: JSON lists 1,000
    /// unless asked, CSV and DOT every one. Counts and business services are always whole.
    limit: Option<usize>,
}

/// Affected CIs a JSON answer lists unless asked for more: the first page of a large impact
/// (every business service and the counts come with it whatever its size).
const JSON_PAGE: usize = 1_000;

/// The page asked for; none means every affected CI (CSV and DOT, up to the maximum).
fn page_of(format: Format, offset: Option<usize>, limit: Option<usize>) -> Option<Page> {
    let limit = match (limit, format) {
        (None, Format::Json) => Some(JSON_PAGE),
        (None, _) if offset.is_none() => return None,
        (l, _) => l,
    };
    Some(Page {
        offset: offset.unwrap_or(0),
        limit,
    })
}

/// Query of the per-CI graph endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GraphParams {
    /// Stop this many hops away.
    max_depth: Option<u32>,
    /// json (default), csv or dot.
    format: Option<Format>,
}

/// If these CIs fail: every affected CI with its state, cause and path, and the business
/// services hit. Redundancy groups are honoured (a group fails only when fewer than `min_up`
/// members are up); over `connected_to`, a CI is cut off only when no path to a core CI
/// survives.
#[utoipa::path(post, path = "/api/v1/impact", request_body = ImpactRequest,
    responses((status = 200, body = ImpactReport, description = "JSON; text/csv or text/vnd.graphviz with format csv or dot"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "impact")]
async fn impact(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    body: Result<Json<ImpactRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(bad_body)?;
    let failed = state.impact.resolve(&req.cis, "cis").await?;
    let page = page_of(req.format, req.offset, req.limit);
    let report = state
        .impact
        .analyse_page(&failed, req.max_depth, page)
        .await?;
    Ok(render(&report, &report.affected, req.format, "impact"))
}

/// What depends on this CI: the impact of its failure.
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", params(("id" = String, Path, description = "CI id"), ImpactParams),
    responses((status = 200, body = ImpactReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "impact")]
async fn ci_impact(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<ImpactParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let format = p.format.unwrap_or_default();
    let page = page_of(format, p.offset, p.limit);
    let report = state.impact.of_ci(&id, p.max_depth, page).await?;
    Ok(render(&report, &report.affected, format, &id))
}

/// What this CI depends on: everything whose failure could affect it (its services' hosts,
/// hypervisors, power, the members of groups it relies on, and the network path to the
/// core). `state` is "dependency"; `path` runs from this CI to the dependency.
#[utoipa::path(get, path = "/api/v1/cis/{id}/dependencies", params(("id" = String, Path, description = "CI id"), GraphParams),
    responses((status = 200, body = Dependencies), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "impact")]
async fn dependencies(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<GraphParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let deps = state.impact.dependencies(&id, p.max_depth).await?;
    Ok(render(
        &deps,
        &deps.dependencies,
        p.format.unwrap_or_default(),
        &id,
    ))
}

/// Compare the in-memory graph index with storage.
#[utoipa::path(get, path = "/api/v1/graph/check",
    responses((status = 200, body = CheckReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "impact")]
async fn check(
    State(state): State<Arc<AppState>>,
    Editor(_principal): Editor,
) -> Result<Json<CheckReport>, ApiError> {
    Ok(Json(state.impact.check().await?))
}

/// The graph index: size and core CIs.
#[utoipa::path(get, path = "/api/v1/graph",
    responses((status = 200, body = GraphSummary), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "impact")]
async fn summary(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
) -> Result<Json<GraphSummary>, ApiError> {
    Ok(Json(state.impact.summary()))
}
