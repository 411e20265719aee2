//! Relationships over HTTP: list, read, and (editors) create, edit and delete manual ones.
//! The relationships service does the work; discovered relationships are its own.

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
use crate::relationships::RelationshipRecord;
use crate::relationships::manual::{
    NewRelationship, RelationshipPage, RelationshipPatch, RelationshipQuery,
};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/relationships", get(list).post(create))
        .route(
            "/api/v1/relationships/{id}",
            get(one).patch(edit).delete(remove),
        )
        .route("/api/v1/cis/{id}/relationships", get(of_ci))
}

/// Relationship list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RelParams {
    /// depends_on, runs_on, hosted_on, connected_to, powered_by, member_of.
    kind: Option<String>,
    /// discovered or manual.
    source: Option<String>,
    /// true: only stale edges; false: only live ones.
    stale: Option<bool>,
    /// 1–1000 (default 100).
    limit: Option<u32>,
    offset: Option<u32>,
}

/// List relationships.
#[utoipa::path(get, path = "/api/v1/relationships", params(RelParams),
    responses((status = 200, body = RelationshipPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn list(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<RelParams>, QueryRejection>,
) -> Result<Json<RelationshipPage>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let q = RelationshipQuery {
        kind: p.kind,
        source: p.source,
        stale: p.stale,
        limit: p.limit,
        offset: p.offset,
    };
    Ok(Json(state.relationships.list_relationships(q).await?))
}

/// One relationship.
#[utoipa::path(get, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    responses((status = 200, body = RelationshipRecord), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn one(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<RelationshipRecord>, ApiError> {
    Ok(Json(state.relationships.relationship(&id).await?))
}

/// Every relationship of a CI, both directions, stale ones included.
#[utoipa::path(get, path = "/api/v1/cis/{id}/relationships", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = Vec<RelationshipRecord>), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn of_ci(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<RelationshipRecord>>, ApiError> {
    Ok(Json(state.relationships.relationships_of(&id).await?))
}

/// Create a manual relationship (editors). Manual relationships never go stale. There is one
/// manual relationship per (from, kind, to): posting one that exists answers 200 with it.
#[utoipa::path(post, path = "/api/v1/relationships", request_body = NewRelationship,
    responses((status = 201, body = RelationshipRecord), (status = 200, body = RelationshipRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn create(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    body: Result<Json<NewRelationship>, JsonRejection>,
) -> Result<(StatusCode, Json<RelationshipRecord>), ApiError> {
    let Json(n) = body.map_err(bad_body)?;
    let done = state
        .relationships
        .create_relationship(n, &principal.source())
        .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done.relationship)))
}

/// Edit a relationship's note (any) or evidence (manual ones).
#[utoipa::path(patch, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    request_body = RelationshipPatch,
    responses((status = 200, body = RelationshipRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn edit(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
    body: Result<Json<RelationshipPatch>, JsonRejection>,
) -> Result<Json<RelationshipRecord>, ApiError> {
    let Json(p) = body.map_err(bad_body)?;
    Ok(Json(
        state
            .relationships
            .edit_relationship(&id, p, &principal.source())
            .await?,
    ))
}

/// Delete a manual relationship. Discovered ones are refused: discovery would recreate them;
/// they go stale when no longer observed.
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn remove(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .relationships
        .delete_relationship(&id, &principal.source())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
