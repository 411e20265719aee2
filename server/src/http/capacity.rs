//! The capacity report over HTTP: ranked forecasts, JSON or CSV.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::ErrorBody;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Viewer;
use super::{ApiError, bad_query};
use crate::AppState;
use crate::capacity::{CapacityQuery, CapacityRow};

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/reports/capacity", get(report))
}

/// Capacity report query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CapacityParams {
    /// Only these CIs (ids, comma-separated).
    ci: Option<String>,
    /// Only CIs of this class (`host`, `network_device`).
    class: Option<String>,
    /// Only this series (`fs.used_pct`).
    series: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Every resource's forecast, most urgent first: current value, headroom, daily-peak trend,
/// and the early–expected–late dates the warning and critical thresholds will be crossed
/// ("already crossed", "will not cross" and "not enough data" where that is the truth).
#[utoipa::path(get, path = "/api/v1/reports/capacity", params(CapacityParams),
    responses((status = 200, body = Vec<CapacityRow>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "reports")]
pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    Viewer(_principal): Viewer,
    params: Result<Query<CapacityParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let csv = super::availability::want_csv(p.format.as_deref())?;
    let ci =
        p.ci.map(|c| {
            c.split(',')
                .map(|s| {
                    let s = s.trim().to_string();
                    crate::error::check_id("ci", &s, "CI").map(|_| s)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let q = CapacityQuery {
        ci,
        class: p.class,
        series: p.series,
    };
    let rows = state
        .capacity
        .report(&q, chrono::Utc::now().timestamp())
        .await?;
    if csv {
        Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            capacity_csv(&rows)?,
        )
            .into_response())
    } else {
        Ok(Json(rows).into_response())
    }
}

fn day(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn crossing(c: &crate::domain::capacity::Crossing) -> [String; 4] {
    use crate::domain::capacity::Crossing;
    match c {
        Crossing::AlreadyCrossed { since } => [
            "already_crossed".into(),
            day(*since),
            String::new(),
            String::new(),
        ],
        Crossing::Between {
            early,
            expected,
            late,
        } => [
            "between".into(),
            day(Some(*early)),
            day(Some(*expected)),
            day(*late),
        ],
        Crossing::WillNotCross { .. } => [
            "will_not_cross".into(),
            String::new(),
            String::new(),
            String::new(),
        ],
        Crossing::NotEnoughData { since, .. } => [
            "not_enough_data".into(),
            day(*since),
            String::new(),
            String::new(),
        ],
    }
}

/// One line per resource, the dates as days (UTC).
pub fn capacity_csv(rows: &[CapacityRow]) -> Result<String, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(Box::new(e));
    w.write_record([
        "ci",
        "ci_name",
        "class",
        "resource",
        "series",
        "instance",
        "daily",
        "current",
        "warning_pct",
        "critical_pct",
        "headroom_warning",
        "headroom_critical",
        "trend_per_day",
        "warning_status",
        "warning_early_or_since",
        "warning_expected",
        "warning_late",
        "critical_status",
        "critical_early_or_since",
        "critical_expected",
        "critical_late",
    ])
    .map_err(internal)?;
    let num = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_default();
    for r in rows {
        let f = &r.forecast;
        let [ws, we, wx, wl] = crossing(&f.warning);
        let [cs, ce, cx, cl] = crossing(&f.critical);
        w.write_record([
            r.ci.as_str(),
            &super::render::csv_safe(&r.ci_name),
            &r.class,
            &r.resource,
            &r.series,
            &super::render::csv_safe(&r.instance),
            &r.daily,
            &num(f.current),
            &format!("{:.2}", r.warning_pct),
            &format!("{:.2}", r.critical_pct),
            &num(f.headroom_warning),
            &num(f.headroom_critical),
            &num(f.trend_per_day),
            &ws,
            &we,
            &wx,
            &wl,
            &cs,
            &ce,
            &cx,
            &cl,
        ])
        .map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(Box::new(e)))
}
