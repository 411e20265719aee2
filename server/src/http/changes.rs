//! Changes over HTTP: record one (its impact and conflicts come back), read one with its
//! conflicts as of now, list them.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Editor, Viewer};
use super::{ApiError, bad_body, bad_query};
use crate::AppState;
use crate::changes::{ChangeReport, ChangeSummary, NewChange};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/changes", get(list).post(create))
        .route("/api/v1/changes/{id}", get(one))
}

/// Change list query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChangeParams {
    /// 1–1000 (default 100).
    limit: Option<u32>,
}

/// Record a change: its impact is analysed now, stored with it, and the conflicts with other
/// changes in overlapping windows are listed.
#[utoipa::path(post, path = "/api/v1/changes", request_body = NewChange,
    responses((status = 201, body = ChangeReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "changes")]
async fn create(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    body: Result<Json<NewChange>, JsonRejection>,
) -> Result<(StatusCode, Json<ChangeReport>), ApiError> {
    let Json(n) = body.map_err(bad_body)?;
    let report = state.changes.create(n, &principal.token).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

/// One change, with its stored impact and the conflicts as of now (changes recorded later
/// in overlapping windows included).
#[utoipa::path(get, path = "/api/v1/changes/{id}", params(("id" = String, Path, description = "change id")),
    responses((status = 200, body = ChangeReport), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "changes")]
async fn one(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<ChangeReport>, ApiError> {
    Ok(Json(state.changes.get(&id).await?))
}

/// Changes, latest window first.
#[utoipa::path(get, path = "/api/v1/changes", params(ChangeParams),
    responses((status = 200, body = Vec<ChangeSummary>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "changes")]
async fn list(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<ChangeParams>, QueryRejection>,
) -> Result<Json<Vec<ChangeSummary>>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    Ok(Json(state.changes.list(p.limit).await?))
}
