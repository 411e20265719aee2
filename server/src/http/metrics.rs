//! Metrics over HTTP: agents push batches; readers get a CI's series, raw or rolled up.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cmdb_series::Level;
use cmdb_shared::ErrorBody;
use cmdb_shared::metrics::{MetricAck, MetricBatch};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Admin, Viewer};
use super::{ApiError, bad_query, read_body};
use crate::AppState;
use crate::error::check_id;
use crate::metrics::{SeriesAnswer, SeriesName, StorageFigures};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/metrics", post(push))
        .route("/api/v1/cis/{id}/metrics", get(series))
        .route("/api/v1/metrics/storage", get(storage))
}

/// Push one metric batch (samples, heartbeats, probe results, device polls). Bodies may be
/// zstd- or gzip-compressed. 409 means the agent's host has not been identified yet (its
/// inventory must arrive first): keep the batch and retry.
#[utoipa::path(post, path = "/api/v1/metrics", request_body = MetricBatch,
    responses((status = 200, body = MetricAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "metrics")]
pub(super) async fn push(
    State(state): State<Arc<AppState>>,
    super::auth::Agent { agent, .. }: super::auth::Agent,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MetricAck>, ApiError> {
    super::reports::note_spool_dropped(&state, &agent, &headers)?;
    let batch: MetricBatch =
        super::reports::parse_report(read_body(body)?, |b: &MetricBatch| b.schema_version)?;
    Ok(Json(state.metrics.ingest(&agent, &batch).await?))
}

/// What the compacted time series take in storage, all levels: raw blocks, 5-minute and
/// hourly rollups, daily rollups, and bytes per compacted sample. Reads every daily block:
/// an operator's diagnostic (admin).
#[utoipa::path(get, path = "/api/v1/metrics/storage",
    responses((status = 200, body = StorageFigures), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "metrics")]
pub(super) async fn storage(
    State(state): State<Arc<AppState>>,
    Admin(_principal): Admin,
) -> Result<Json<StorageFigures>, ApiError> {
    Ok(Json(state.metrics.storage().await?))
}

/// Series query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    /// The series (`cpu.util`, `fs.used_pct`); without it, the list of the CI's series.
    name: Option<String>,
    /// Its instance (mount point, interface); empty when the series has none.
    instance: Option<String>,
    /// Start, RFC 3339 or unix seconds (default: 24 hours before `to`).
    from: Option<String>,
    /// End, exclusive, RFC 3339 or unix seconds (default: now).
    to: Option<String>,
    /// Seconds between points wanted, or `raw`, `5m`, `1h`, `1d`: picks the coarsest level
    /// whose windows fit in a step (default: at most about 1,500 points).
    step: Option<String>,
}

/// Answer of `GET /cis/{id}/metrics`: one series, or the list of them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SeriesOrList {
    Series(SeriesAnswer),
    List(Vec<SeriesName>),
}

/// A CI's metric series over a range, raw or as rollups (count, min, max, mean, p95 per
/// window); without `name`, the series the CI has.
#[utoipa::path(get, path = "/api/v1/cis/{id}/metrics", params(("id" = String, Path, description = "CI id"), SeriesParams),
    responses((status = 200, body = SeriesOrList), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "metrics")]
pub(super) async fn series(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<SeriesParams>, QueryRejection>,
) -> Result<Json<SeriesOrList>, ApiError> {
    check_id("id", &id, "CI")?;
    let Query(p) = params.map_err(bad_query)?;
    let now = chrono::Utc::now().timestamp();
    let Some(name) = p.name else {
        return Ok(Json(SeriesOrList::List(
            state.metrics.names(&id, now).await?,
        )));
    };
    let instance = p.instance.unwrap_or_default();
    cmdb_shared::metrics::check_series_key(&name, &instance)
        .map_err(|e| ApiError::BadRequest(format!("name/instance: {e}")))?;
    let to =
        p.to.as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?
            .unwrap_or(now + 1);
    let from = p
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?
        .unwrap_or(to - 86_400);
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to - from > 20 * 365 * 86_400 {
        return Err(ApiError::BadRequest("from/to: at most 20 years".into()));
    }
    let level = match p.step.as_deref() {
        None => cmdb_series::level_for_step((to - from) / 1_500),
        Some(s) => parse_step(s)?,
    };
    // Raw samples over a long range would be a very large answer: at most 100 days of them.
    if level.is_none() && to - from > 100 * 86_400 {
        return Err(ApiError::BadRequest(
            "step: raw samples are served for ranges of at most 100 days; ask for 5m, 1h or 1d"
                .into(),
        ));
    }
    Ok(Json(SeriesOrList::Series(
        state
            .metrics
            .read(&id, &name, &instance, from, to, level)
            .await?,
    )))
}

/// A time parameter: RFC 3339, or unix seconds.
pub fn parse_time(field: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = v.parse::<i64>() {
        if (0..=253_402_300_799).contains(&secs) {
            return Ok(secs);
        }
        return Err(ApiError::BadRequest(format!(
            "{field}: {secs} is not a unix time between 1970 and 9999"
        )));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{field}: {v:?} is neither RFC 3339 nor unix seconds ({e})"
            ))
        })
}

/// `raw`, a level name, or seconds.
fn parse_step(s: &str) -> Result<Option<Level>, ApiError> {
    if s == "raw" {
        return Ok(None);
    }
    if let Some(l) = Level::from_name(s) {
        return Ok(Some(l));
    }
    match s.parse::<i64>() {
        Ok(n) if n > 0 => Ok(cmdb_series::level_for_step(n)),
        _ => Err(ApiError::BadRequest(format!(
            "step: {s:?} must be raw, 5m, 1h, 1d or a number of seconds"
        ))),
    }
}
