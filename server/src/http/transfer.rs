//! Bulk import and export of manual CIs and relationships over HTTP: JSON bundles, or CSV
//! of one list. The relationships service validates and writes; this module reads the body
//! in the format it came in and renders the export in the one asked for.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::auth::{Editor, Viewer};
use super::render::export_csv;
use super::{ApiError, bad_query};
use crate::AppState;
use crate::relationships::import::{Bundle, ImportReport, parse_csv};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/import", post(import))
        .route("/api/v1/export", get(export))
}

/// Import options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Report what would change; write nothing.
    dry_run: Option<bool>,
    /// For CSV bodies: `cis` or `relationships`.
    what: Option<String>,
}

/// Import CIs and relationships (editors): a JSON bundle, or CSV with `what=cis` or
/// `what=relationships` (Content-Type text/csv). Validated whole first; `dry_run=true` writes
/// nothing.
#[utoipa::path(post, path = "/api/v1/import", params(ImportParams), request_body = Bundle,
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn import(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    params: Result<Query<ImportParams>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let bundle = if is_csv {
        parse_csv(&body, p.what.as_deref().unwrap_or(""))?
    } else {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize::<_, Bundle>(de)
            .map_err(|e| ApiError::BadRequest(format!("body: {}: {}", e.path(), e.inner())))?
    };
    let report = state
        .relationships
        .import(
            &bundle,
            p.dry_run.unwrap_or(false),
            state.config.limits.max_list_items,
            &principal.source(),
        )
        .await?;
    Ok(Json(report))
}

/// Export options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// json (default: both lists) or csv (with `what`).
    format: Option<String>,
    /// cis (manual CIs) or relationships (all, discovered ones marked); both when absent (JSON).
    what: Option<String>,
}

/// Export manual CIs and relationships (JSON bundle, or CSV of one list). The output imports
/// back as it is (rows of discovered relationships are skipped on import).
#[utoipa::path(get, path = "/api/v1/export", params(ExportParams),
    responses((status = 200, body = Bundle), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "relationships")]
async fn export(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let format = p.format.as_deref().unwrap_or("json");
    let what = p.what.as_deref();
    let export = state.relationships.export(what).await?;
    match format {
        "json" => {
            let mut out = BTreeMap::new();
            if what != Some("relationships") {
                out.insert("cis", Value::Array(export.cis));
            }
            if what != Some("cis") {
                out.insert(
                    "relationships",
                    serde_json::to_value(&export.relationships)
                        .map_err(|e| ApiError::Internal(Box::new(e)))?,
                );
            }
            Ok(Json(out).into_response())
        }
        "csv" => export_csv(&export, what),
        other => Err(ApiError::BadRequest(format!(
            "format: expected \"json\" or \"csv\", got {other:?}"
        ))),
    }
}
