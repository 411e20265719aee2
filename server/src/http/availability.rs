//! Availability over HTTP: a CI's timeline and figures, the report, SLA targets and
//! maintenance windows.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Editor, Viewer};
use super::metrics::parse_time;
use super::{ApiError, bad_body, bad_query};
use crate::AppState;
use crate::availability::{
    AvailabilityQuery, CiAvailability, MaintenanceRecord, ManualStateRecord, NewMaintenance,
    NewManualState, NewSla, SlaRecord,
};
use crate::error::check_id;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/cis/{id}/availability", get(of_ci))
        .route("/api/v1/reports/availability", get(report))
        .route(
            "/api/v1/cis/{id}/sla",
            get(sla).put(set_sla).delete(delete_sla),
        )
        .route(
            "/api/v1/maintenance",
            get(list_maintenance).post(add_maintenance),
        )
        .route("/api/v1/maintenance/{id}", delete(delete_maintenance))
        .route("/api/v1/cis/{id}/availability/manual", post(add_manual))
        .route("/api/v1/availability/manual/{id}", delete(delete_manual))
}

/// `json` (default) or `csv`.
pub fn want_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "format: {other:?} must be json or csv"
        ))),
    }
}

/// `[from, to)` from the query, defaulting to the last `days` days.
fn period(from: Option<&str>, to: Option<&str>, days: i64) -> Result<(i64, i64, i64), ApiError> {
    let now = chrono::Utc::now().timestamp();
    let to = to.map(|t| parse_time("to", t)).transpose()?.unwrap_or(now);
    let from = from
        .map(|t| parse_time("from", t))
        .transpose()?
        .unwrap_or(to - days * 86_400);
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    Ok((from, to, now))
}

/// Period query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    /// Start, RFC 3339 or unix seconds (default: 30 days before `to`).
    from: Option<String>,
    /// End, exclusive (default: now).
    to: Option<String>,
}

/// One CI's availability: its state timeline (up / degraded / down / unknown, each span with
/// its source), outages (planned apart), and SLA figures against its target and agreed hours.
#[utoipa::path(get, path = "/api/v1/cis/{id}/availability", params(("id" = String, Path, description = "CI id"), PeriodParams),
    responses((status = 200, body = CiAvailability), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn of_ci(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<PeriodParams>, QueryRejection>,
) -> Result<Json<CiAvailability>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let (from, to, now) = period(p.from.as_deref(), p.to.as_deref(), 30)?;
    Ok(Json(state.availability.of_ci(&id, from, to, now).await?))
}

/// Availability report query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Start, RFC 3339 or unix seconds (default: 30 days before `to`).
    from: Option<String>,
    /// End, exclusive (default: now).
    to: Option<String>,
    /// Only these CIs (ids, comma-separated).
    ci: Option<String>,
    /// Only CIs of this class.
    class: Option<String>,
    /// A business service (id): it and every CI it depends on.
    service: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Availability of every monitored CI and every CI with an SLA over a period, worst first:
/// SLI, coverage, up/degraded/down time, outages, MTBF, MTRS, error budget, breach. Business
/// services are derived through the relationship graph.
#[utoipa::path(get, path = "/api/v1/reports/availability", params(ReportParams),
    responses((status = 200, body = Vec<CiAvailability>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "reports")]
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let csv = want_csv(p.format.as_deref())?;
    let (from, to, now) = period(p.from.as_deref(), p.to.as_deref(), 30)?;
    let ci =
        p.ci.map(|c| {
            c.split(',')
                .map(|s| {
                    let s = s.trim().to_string();
                    check_id("ci", &s, "CI").map(|_| s)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if let Some(s) = &p.service {
        check_id("service", s, "CI")?;
    }
    let q = AvailabilityQuery {
        from,
        to,
        ci,
        class: p.class,
        service: p.service,
    };
    let rows = state.availability.report(&q, now).await?;
    if csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            availability_csv(&rows)?,
        )
            .into_response())
    } else {
        Ok(Json(rows).into_response())
    }
}

/// One line per CI; durations in seconds.
pub fn availability_csv(rows: &[CiAvailability]) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(Box::new(e));
    w.write_record([
        "ci",
        "name",
        "class",
        "derived",
        "schedule",
        "target_pct",
        "sli_pct",
        "coverage_pct",
        "agreed_secs",
        "up_secs",
        "degraded_secs",
        "unplanned_down_secs",
        "planned_down_secs",
        "unknown_secs",
        "outages",
        "mtbf_secs",
        "mtrs_secs",
        "error_budget_left_secs",
        "breached",
    ])
    .map_err(internal)?;
    let num = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    for r in rows {
        let f = &r.figures;
        w.write_record([
            r.ci.as_str(),
            &super::render::csv_safe(&r.name),
            &r.class,
            if r.derived { "true" } else { "false" },
            &r.schedule,
            &num(r.target_pct),
            &num(f.sli_pct),
            &num(f.coverage_pct),
            &f.agreed_secs.to_string(),
            &f.up_secs.to_string(),
            &f.degraded_secs.to_string(),
            &f.unplanned_down_secs.to_string(),
            &f.planned_down_secs.to_string(),
            &f.unknown_secs.to_string(),
            &f.outages.to_string(),
            &num(f.mtbf_secs),
            &num(f.mtrs_secs),
            &num(f.error_budget_left_secs),
            &f.breached.map(|b| b.to_string()).unwrap_or_default(),
        ])
        .map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The SLA of a CI or business service.
#[utoipa::path(get, path = "/api/v1/cis/{id}/sla", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = SlaRecord), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn sla(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    Path(id): Path<String>,
) -> Result<Json<SlaRecord>, ApiError> {
    Ok(Json(state.availability.sla(&id).await?))
}

/// Set the SLA target (percent) and agreed service hours (`24x7`, or e.g.
/// `Mon-Fri 08:00-18:00 Europe/Paris`) of a CI or business service.
#[utoipa::path(put, path = "/api/v1/cis/{id}/sla", params(("id" = String, Path, description = "CI id")), request_body = NewSla,
    responses((status = 200, body = SlaRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn set_sla(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
    body: Result<Json<NewSla>, JsonRejection>,
) -> Result<Json<SlaRecord>, ApiError> {
    let Json(s) = body.map_err(bad_body)?;
    Ok(Json(
        state
            .availability
            .set_sla(&id, s, &principal.source())
            .await?,
    ))
}

/// Remove the SLA of a CI.
#[utoipa::path(delete, path = "/api/v1/cis/{id}/sla", params(("id" = String, Path, description = "CI id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn delete_sla(
    State(state): State<Arc<AppState>>,
    Editor(_principal): Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.availability.delete_sla(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Maintenance list query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceParams {
    /// Only this CI's windows.
    ci: Option<String>,
    /// Windows overlapping [from, to) (default: the last 30 days and the future year).
    from: Option<String>,
    to: Option<String>,
}

/// Maintenance windows (planned downtime, excluded from SLA figures). Change records'
/// windows count as planned too, without being listed here.
#[utoipa::path(get, path = "/api/v1/maintenance", params(MaintenanceParams),
    responses((status = 200, body = Vec<MaintenanceRecord>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn list_maintenance(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<MaintenanceParams>, QueryRejection>,
) -> Result<Json<Vec<MaintenanceRecord>>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let now = chrono::Utc::now().timestamp();
    let from = p
        .from
        .as_deref()
        .map(|t| parse_time("from", t))
        .transpose()?
        .unwrap_or(now - 30 * 86_400);
    let to =
        p.to.as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?
            .unwrap_or(now + 365 * 86_400);
    Ok(Json(
        state
            .availability
            .maintenance(p.ci.as_deref(), from, to)
            .await?,
    ))
}

/// Record a maintenance window on a CI.
#[utoipa::path(post, path = "/api/v1/maintenance", request_body = NewMaintenance,
    responses((status = 201, body = MaintenanceRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn add_maintenance(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    body: Result<Json<NewMaintenance>, JsonRejection>,
) -> Result<(StatusCode, Json<MaintenanceRecord>), ApiError> {
    let Json(m) = body.map_err(bad_body)?;
    let rec = state
        .availability
        .add_maintenance(m, &principal.source())
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

/// Remove a maintenance window.
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", params(("id" = String, Path, description = "maintenance window id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn delete_maintenance(
    State(state): State<Arc<AppState>>,
    Editor(_principal): Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.availability.delete_maintenance(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enter a CI's state by hand over a period (an outage no monitor saw, or a false alarm): it
/// replaces what the signals said there, with source `manual`.
#[utoipa::path(post, path = "/api/v1/cis/{id}/availability/manual", params(("id" = String, Path, description = "CI id")), request_body = NewManualState,
    responses((status = 201, body = ManualStateRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn add_manual(
    State(state): State<Arc<AppState>>,
    Editor(principal): Editor,
    Path(id): Path<String>,
    body: Result<Json<NewManualState>, JsonRejection>,
) -> Result<(StatusCode, Json<ManualStateRecord>), ApiError> {
    let Json(m) = body.map_err(bad_body)?;
    let rec = state
        .availability
        .add_manual(&id, m, &principal.source())
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

/// Remove a state entered by hand.
#[utoipa::path(delete, path = "/api/v1/availability/manual/{id}", params(("id" = String, Path, description = "manual entry id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "availability")]
pub(super) async fn delete_manual(
    State(state): State<Arc<AppState>>,
    Editor(_principal): Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.availability.delete_manual(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
