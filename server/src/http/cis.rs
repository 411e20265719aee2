//! Configuration items: list with filters, detail, packages, history, diff (the inventory
//! service); create, edit and delete manual CIs (the relationships service, which owns every
//! write of a CI people make). Hosts and network devices alike; a device's detail adds what
//! its last poll saw.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::{ErrorBody, Package};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Admin, Editor, Viewer};
use super::{ApiError, bad_body, bad_query};
use crate::AppState;
use crate::ingest::Binding;
use crate::inventory::{CiDetail, CiDiff, CiPage, CiQuery, HistoryQuery, HistoryRecord};
use crate::relationships::manual::{CiInput, CreatedCi};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/cis", get(list).post(create))
        .route("/api/v1/cis/{id}", get(detail).patch(edit).delete(remove))
        .route("/api/v1/cis/{id}/diff", get(diff))
        .route("/api/v1/cis/{id}/packages", get(packages))
        .route("/api/v1/cis/{id}/history", get(history))
        .route("/api/v1/cis/{id}/agent", axum::routing::put(bind))
        .route(
            "/api/v1/cis/{id}/suspected_duplicates/{other}",
            axum::routing::delete(dismiss),
        )
}

/// CI list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// CI class ("host", "network_device").
    class: Option<String>,
    /// Case-insensitive text: name, FQDN or serial contains it; UUID, machine-id, an IP
    /// address (or a device's polled host) or a device's chassis MAC / LLDP chassis id
    /// equals it (MACs in any usual notation).
    q: Option<String>,
    /// true: only CIs not seen within `lifecycle.stale_after_secs`; false: only fresh ones.
    stale: Option<bool>,
    /// true: only CIs flagged as suspected duplicates of others.
    duplicates: Option<bool>,
    /// Order: `name` (default), `class` or `last_seen` (most recent first).
    sort: Option<String>,
    /// Page size, 1–1000 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u32>,
}

/// List CIs.
#[utoipa::path(get, path = "/api/v1/cis", params(ListParams),
    responses((status = 200, body = CiPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn list(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CiPage>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let q = CiQuery {
        class: p.class,
        q: p.q,
        stale: p.stale,
        duplicates: p.duplicates.unwrap_or(false),
        sort: p.sort,
        limit: p.limit,
        offset: p.offset,
    };
    Ok(Json(state.inventory.list(q).await?))
}

/// CI detail.
#[utoipa::path(get, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = CiDetail), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn detail(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<CiDetail>, ApiError> {
    Ok(Json(state.inventory.ci(&id).await?))
}

/// Installed packages of a CI.
#[utoipa::path(get, path = "/api/v1/cis/{id}/packages", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = Vec<Package>), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn packages(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<Package>>, ApiError> {
    Ok(Json(state.inventory.packages(&id).await?))
}

/// History window.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// RFC 3339 start (inclusive).
    from: Option<String>,
    /// RFC 3339 end (inclusive).
    to: Option<String>,
    /// At most this many records, 1–10000 (default 1000).
    limit: Option<u32>,
}

/// Attribute changes of a CI, oldest first.
#[utoipa::path(get, path = "/api/v1/cis/{id}/history", params(("id" = String, Path, description = "CI id"), HistoryParams),
    responses((status = 200, body = Vec<HistoryRecord>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn history(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Vec<HistoryRecord>>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let q = HistoryQuery {
        from: p.from,
        to: p.to,
        limit: p.limit,
    };
    Ok(Json(state.inventory.history(&id, q).await?))
}

/// Diff window.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// RFC 3339: the state before changes after this time.
    from: String,
    /// RFC 3339: the state after changes up to this time (default now).
    to: Option<String>,
}

/// What changed on a CI between two times, relationships included: per attribute, the value
/// before and after (built from history, which keeps changes, not snapshots).
#[utoipa::path(get, path = "/api/v1/cis/{id}/diff", params(("id" = String, Path, description = "CI id"), DiffParams),
    responses((status = 200, body = CiDiff), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn diff(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Json<CiDiff>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    Ok(Json(state.inventory.diff(&id, p.from, p.to).await?))
}

/// Create a manual CI (editors).
#[utoipa::path(post, path = "/api/v1/cis", request_body = CiInput,
    responses((status = 201, body = CreatedCi), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn create(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    body: Result<Json<CiInput>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedCi>), ApiError> {
    let Json(c) = body.map_err(bad_body)?;
    let created = state
        .relationships
        .create_ci(c, &principal.source())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Change a CI's manual attributes (editors); a manual CI's name too.
#[utoipa::path(patch, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")), request_body = CiInput,
    responses((status = 200, body = CreatedCi), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn edit(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
    body: Result<Json<CiInput>, JsonRejection>,
) -> Result<Json<CreatedCi>, ApiError> {
    let Json(c) = body.map_err(bad_body)?;
    Ok(Json(
        state
            .relationships
            .edit_ci(&id, c, &principal.source())
            .await?,
    ))
}

/// Delete a manual CI and its relationships (editors). Discovered CIs are refused: they are
/// marked stale and retired when no longer seen.
#[utoipa::path(delete, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn remove(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .relationships
        .delete_ci(&id, &principal.source())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The agent a host CI is to belong to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindInput {
    /// Agent id (see `GET /api/v1/agents`).
    pub agent: String,
    /// Network devices: assign this agent beside the pollers it has (default: instead).
    #[serde(default)]
    pub add: bool,
}

/// Bind a CI to an agent (admins). A host: a weak identification key (machine-id, MAC, FQDN)
/// never moves it from one agent to another (a report naming another agent's CI that way
/// gets a CI of its own flagged as a suspected duplicate); this is the admin's decision that
/// settles it: the agent's next reports update this CI; the CI's previous agent and the
/// agent's previous CI are left unbound (that CI goes stale and retires). A network device:
/// only its assigned pollers write it (the first poller, until an admin assigns another, or
/// `add`s one beside it).
#[utoipa::path(put, path = "/api/v1/cis/{id}/agent", params(("id" = String, Path, description = "host CI id")), request_body = BindInput,
    responses((status = 200, body = Binding), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn bind(
    State(state): State<Arc<AppState>>,
    Admin(principal): Admin,
    Path(id): Path<String>,
    body: Result<Json<BindInput>, JsonRejection>,
) -> Result<Json<Binding>, ApiError> {
    let Json(b) = body.map_err(bad_body)?;
    Ok(Json(
        state
            .ingest
            .bind(&id, &b.agent, b.add, &principal.source())
            .await?,
    ))
}

/// Clear a suspected-duplicate flag between two CIs, both ways (admins): they are distinct.
#[utoipa::path(delete, path = "/api/v1/cis/{id}/suspected_duplicates/{other}",
    params(("id" = String, Path, description = "CI id"), ("other" = String, Path, description = "the CI it is flagged against")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "cis")]
async fn dismiss(
    State(state): State<Arc<AppState>>,
    Admin(principal): Admin,
    Path((id, other)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .ingest
        .dismiss_duplicate(&id, &other, &principal.source())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
