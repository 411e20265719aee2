//! The report pages: capacity (ranked forecasts with a sparkline per resource, filters, CSV,
//! and a drill-down chart with thresholds, the fitted trend and the forecast range),
//! availability (business services and CIs against their SLA, an outage timeline with
//! maintenance apart, MTBF/MTRS) and a CI's metric charts over a chosen range. Charts are
//! `web::charts` SVG, inlined; a viewer may see them all.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cmdb_series::Level;
use serde::Deserialize;

use super::{Signed, UiError, render, urlencode};
use crate::AppState;
use crate::availability::{AvailabilityQuery, CiAvailability};
use crate::capacity::{CapacityQuery, CapacityRow, RESOURCES};
use crate::domain::capacity::{Crossing, NoCross};
use crate::web::Session;
use crate::web::charts::{self, LineChart, Threshold, TimelineRow};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/reports/capacity", get(capacity))
        .route("/ui/reports/capacity.csv", get(capacity_csv))
        .route("/ui/reports/capacity/{ci}/{resource}", get(capacity_detail))
        .route("/ui/reports/availability", get(availability))
        .route("/ui/cis/{id}/metrics", get(metrics))
}

const DAY: i64 = 86_400;
/// Rows of the capacity table that get a sparkline (each is one read of daily rollups).
const MAX_SPARKLINES: usize = 100;
/// Rows per page of the capacity report (the CSV has them all).
const CAPACITY_PAGE: usize = 100;
/// Series charted on a CI's metrics page.
const MAX_CHARTS: usize = 40;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A query string, or a 400 page naming what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    q.map(|Query(v)| v)
        .map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))
}

/// A day (UTC) as text.
pub fn day(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.1} %"),
        _ => "—".into(),
    }
}

/// A class filter: empty, or a class name as the CMDB spells them.
fn check_class(class: &str) -> Result<(), UiError> {
    if class.len() <= 64
        && class
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err(UiError::bad_request(format!(
            "class: {class:?} is not a class name (lower-case letters, digits and _)"
        )))
    }
}

/// A capacity series name from the resource filter.
fn check_resource(resource: &str) -> Result<(), UiError> {
    if RESOURCES.iter().any(|r| r.0 == resource) {
        Ok(())
    } else {
        Err(UiError::bad_request(format!(
            "resource: {resource:?} is not a capacity resource; one of {}",
            RESOURCES.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Capacity

#[derive(Debug, Default, Deserialize)]
struct CapacityForm {
    #[serde(default)]
    class: String,
    #[serde(default)]
    resource: String,
    /// 1-based page of [`CAPACITY_PAGE`] rows.
    #[serde(default)]
    page: String,
}

/// A threshold crossing as the table shows it: when, and the forecast range.
fn crossing_text(c: &Crossing, now: i64) -> (String, String) {
    match c {
        Crossing::AlreadyCrossed { since } => (
            match since {
                Some(s) => format!("already crossed (since {})", day(*s)),
                None => "already crossed".into(),
            },
            String::new(),
        ),
        Crossing::Between {
            early,
            expected,
            late,
        } => {
            let days = ((*expected - now) as f64 / DAY as f64).ceil().max(0.0) as i64;
            let when = match days {
                0 => format!("due now ({})", day(*expected)),
                1 => format!("in 1 day ({})", day(*expected)),
                d => format!("in {d} days ({})", day(*expected)),
            };
            let late = late.map_or_else(|| "beyond the horizon".to_string(), day);
            (when, format!("{} – {late}", day(*early)))
        }
        Crossing::WillNotCross { reason } => (
            match reason {
                NoCross::NotRising => "will not cross (not rising)".into(),
                NoCross::BeyondHorizon => "will not cross within the horizon".into(),
            },
            String::new(),
        ),
        Crossing::NotEnoughData { days, needed, .. } => (
            format!("not enough data ({days} of {needed} days)"),
            String::new(),
        ),
    }
}

/// A resource's state in a word (with its badge class): never colour alone.
fn risk(r: &CapacityRow, now: i64) -> (&'static str, &'static str) {
    let f = &r.forecast;
    match (&f.critical, &f.warning) {
        (Crossing::AlreadyCrossed { .. }, _) => ("critical", "bad"),
        (_, Crossing::AlreadyCrossed { .. }) => ("warning", "warn"),
        (_, Crossing::Between { expected, .. }) if *expected - now <= 30 * DAY => ("soon", "warn"),
        (_, Crossing::Between { .. }) => ("growing", "ok"),
        (_, Crossing::NotEnoughData { .. }) => ("unknown", "stale"),
        _ => ("ok", "ok"),
    }
}

/// The fitted (upper-envelope) trend from `from` to `to`, when there is one.
fn trend_line(r: &CapacityRow, from: i64, to: i64) -> Option<((i64, f64), (i64, f64))> {
    let f = &r.forecast;
    let (level, slope) = (f.peak_level?, f.trend_per_day?);
    let at = |t: i64| level + slope * (t - f.as_of) as f64 / DAY as f64;
    let from = f.fit_from.unwrap_or(from).max(from);
    Some(((from, at(from)), (to, at(to))))
}

fn resource_label(r: &CapacityRow) -> String {
    if r.instance.is_empty() {
        r.resource.clone()
    } else {
        format!("{} {}", r.resource, r.instance)
    }
}

fn detail_link(ci: &str, series: &str, instance: &str) -> String {
    format!(
        "/ui/reports/capacity/{}/{}?instance={}",
        urlencode(ci),
        urlencode(series),
        urlencode(instance)
    )
}

/// A line of the capacity table.
pub struct CapacityView {
    pub rank: usize,
    pub ci: String,
    pub ci_name: String,
    pub class: String,
    pub resource: String,
    pub current: String,
    pub thresholds: String,
    pub headroom: String,
    pub warning_when: String,
    pub warning_range: String,
    pub critical_when: String,
    pub critical_range: String,
    pub risk: &'static str,
    pub risk_class: &'static str,
    pub detail: String,
    pub spark: String,
}

/// The table's lines; sparklines from the daily values (the first `sparks` rows).
async fn capacity_views(
    state: &AppState,
    rows: &[CapacityRow],
    first_rank: usize,
    sparks: usize,
    now: i64,
) -> Result<Vec<CapacityView>, UiError> {
    let window = i64::from(state.config.capacity.window_days) * DAY;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let f = &r.forecast;
        let (warning_when, warning_range) = crossing_text(&f.warning, now);
        let (critical_when, critical_range) = crossing_text(&f.critical, now);
        let (risk, risk_class) = risk(r, now);
        let label = resource_label(r);
        let spark = if i < sparks {
            let from = r.values.first().map_or(now - window, |p| p.0);
            charts::sparkline(
                &format!("{} on {}: daily {} and trend", label, r.ci_name, r.daily),
                &r.values,
                trend_line(r, from, now),
            )
        } else {
            String::new()
        };
        out.push(CapacityView {
            rank: first_rank + i,
            ci: r.ci.clone(),
            ci_name: r.ci_name.clone(),
            class: r.class.clone(),
            resource: label,
            current: pct(f.current),
            thresholds: format!("{:.0} % / {:.0} %", r.warning_pct, r.critical_pct),
            headroom: match f.headroom_warning {
                Some(h) if h.is_finite() => format!("{h:.1} points"),
                _ => "—".into(),
            },
            warning_when,
            warning_range,
            critical_when,
            critical_range,
            risk,
            risk_class,
            detail: detail_link(&r.ci, &r.series, &r.instance),
            spark,
        });
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "report_capacity.html")]
struct CapacityPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    class: String,
    resource: String,
    classes: Vec<String>,
    /// (series, label)
    resources: Vec<(String, String)>,
    rows: Vec<CapacityView>,
    /// Rows in the whole report, and the rank of this page's first.
    total: usize,
    first: usize,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    as_of: String,
}

fn capacity_query(f: &CapacityForm) -> Result<CapacityQuery, UiError> {
    let class = f.class.trim();
    let resource = f.resource.trim();
    check_class(class)?;
    if !resource.is_empty() {
        check_resource(resource)?;
    }
    Ok(CapacityQuery {
        ci: None,
        class: (!class.is_empty()).then(|| class.to_string()),
        series: (!resource.is_empty()).then(|| resource.to_string()),
    })
}

async fn capacity(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Query<CapacityForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let f = query(form)?;
    let q = capacity_query(&f)?;
    let now = now();
    let rows = state.capacity.report(&q, now).await?;
    let pages = rows.len().div_ceil(CAPACITY_PAGE).max(1);
    let page = match f.page.trim() {
        "" => 1,
        p => p
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=pages).contains(p))
            .ok_or_else(|| {
                UiError::bad_request(format!(
                    "page: expected a whole number from 1 to {pages}, got {p:?}"
                ))
            })?,
    };
    let first = (page - 1) * CAPACITY_PAGE;
    let shown = &rows[first.min(rows.len())..(first + CAPACITY_PAGE).min(rows.len())];
    let views = capacity_views(&state, shown, first + 1, MAX_SPARKLINES, now).await?;
    let page_link = |p: usize| {
        format!(
            "/ui/reports/capacity?class={}&resource={}&page={p}",
            urlencode(f.class.trim()),
            urlencode(f.resource.trim())
        )
    };
    // Capacity is measured on hosts and network devices only: those are the classes to
    // filter by (no need to count the inventory's classes for it).
    let classes: Vec<String> = vec!["host".into(), "network_device".into()];
    let mut resources: Vec<(String, String)> = Vec::new();
    for (series, _, label) in RESOURCES {
        if !resources.iter().any(|r| r.0 == *series) {
            resources.push(((*series).to_string(), format!("{label} ({series})")));
        }
    }
    Ok(render(&CapacityPage {
        session: Some(&session),
        nav: "capacity",
        csv: format!(
            "/ui/reports/capacity.csv?class={}&resource={}",
            urlencode(f.class.trim()),
            urlencode(f.resource.trim())
        ),
        class: f.class.trim().to_string(),
        resource: f.resource.trim().to_string(),
        classes,
        resources,
        total: rows.len(),
        first: first + 1,
        prev: (page > 1).then(|| page_link(page - 1)),
        next: (page < pages).then(|| page_link(page + 1)),
        rows: views,
        as_of: chrono::DateTime::from_timestamp(now, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default(),
    }))
}

/// The capacity report as CSV, the same file the API gives (a session cannot use the API's
/// bearer authentication, so the page links here).
async fn capacity_csv(
    State(state): State<Arc<AppState>>,
    Signed(_session): Signed,
    form: Result<Query<CapacityForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let f = query(form)?;
    let q = capacity_query(&f)?;
    let rows = state.capacity.report(&q, now()).await?;
    let csv = crate::http::capacity::capacity_csv(&rows).map_err(|e| {
        tracing::error!(error = ?e, "capacity csv failed");
        UiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"capacity.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DetailForm {
    #[serde(default)]
    instance: String,
}

#[derive(Template)]
#[template(path = "report_capacity_detail.html")]
struct CapacityDetailPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    row: CapacityView,
    series: String,
    daily: String,
    trend: String,
    fit: String,
    chart: String,
    metrics: String,
}

async fn capacity_detail(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path((ci, resource)): Path<(String, String)>,
    form: Result<Query<DetailForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let f = query(form)?;
    crate::error::check_id("ci", &ci, "CI")?;
    check_resource(&resource)?;
    let now = now();
    let rows = state
        .capacity
        .report(
            &CapacityQuery {
                ci: Some(vec![ci.clone()]),
                class: None,
                series: Some(resource.clone()),
            },
            now,
        )
        .await?;
    let Some(row) = rows.into_iter().find(|r| r.instance == f.instance) else {
        return Err(UiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "no capacity figures for {resource} {:?} on CI {ci}",
                f.instance
            ),
        ));
    };
    let window = i64::from(state.config.capacity.window_days) * DAY;
    let daily = state
        .metrics
        .read(
            &row.ci,
            &row.series,
            &row.instance,
            now - window,
            now + 1,
            Some(Level::Day),
        )
        .await?;
    let max = row.daily == "max";
    let values: Vec<(i64, f64)> = daily
        .points
        .iter()
        .map(|p| (p.t, (if max { p.max } else { p.p95 }).unwrap_or(p.value)))
        .collect();
    let band: Vec<(i64, f64, f64)> = daily
        .points
        .iter()
        .filter_map(|p| Some((p.t, p.min?, p.max?)))
        .collect();
    let f = &row.forecast;
    let start = values.first().map_or(now - window, |p| p.0);
    // The chart runs to the forecast's far end (at most half a year ahead, two weeks at least).
    let far = [&f.warning, &f.critical]
        .iter()
        .filter_map(|c| match c {
            Crossing::Between { expected, late, .. } => Some(late.unwrap_or(*expected)),
            _ => None,
        })
        .max()
        .unwrap_or(now);
    let end = (far + 3 * DAY).clamp(now + 14 * DAY, now + 183 * DAY);
    let forecast = match (&f.warning, &f.critical) {
        (Crossing::Between { early, late, .. }, _) | (_, Crossing::Between { early, late, .. }) => {
            Some((*early, *late))
        }
        _ => None,
    };
    let label = resource_label(&row);
    let y_hi = values
        .iter()
        .map(|p| p.1)
        .chain(band.iter().map(|b| b.2))
        .fold(100.0_f64, f64::max);
    let chart = charts::line_chart(&LineChart {
        title: format!(
            "{label} on {}: daily {} over {} days, thresholds, trend and forecast",
            row.ci_name, row.daily, state.config.capacity.window_days
        ),
        unit: "%".into(),
        series: values,
        band,
        thresholds: vec![
            Threshold {
                level: charts::Level::Warning,
                value: row.warning_pct,
                label: format!("warning {:.0} %", row.warning_pct),
            },
            Threshold {
                level: charts::Level::Critical,
                value: row.critical_pct,
                label: format!("critical {:.0} %", row.critical_pct),
            },
        ],
        trend: trend_line(&row, start, end),
        forecast,
        x_range: Some((start.min(now - 7 * DAY), end)),
        y_range: Some((0.0, y_hi)),
    });
    let trend = match (f.trend_per_day, f.trend_low_per_day, f.trend_high_per_day) {
        (Some(t), Some(lo), Some(hi)) => {
            format!("{t:+.2} points a day (range {lo:+.2} to {hi:+.2})")
        }
        (Some(t), _, _) => format!("{t:+.2} points a day"),
        _ => "no trend yet".into(),
    };
    let fit = match f.fit_from {
        Some(from) => {
            let mut s = format!("{} days from {}", f.fit_days, day(from));
            if let Some(shift) = f.level_shift {
                s.push_str(&format!(
                    " (restarted after a level shift on {})",
                    day(shift)
                ));
            }
            s
        }
        None => "no daily values yet".into(),
    };
    let series = format!("{} {}", row.series, row.instance);
    let daily = row.daily.clone();
    let metrics = format!("/ui/cis/{}/metrics?range=30d", urlencode(&row.ci));
    let view = capacity_views(&state, std::slice::from_ref(&row), 1, 0, now)
        .await?
        .pop()
        .ok_or_else(|| UiError::new(axum::http::StatusCode::NOT_FOUND, "no such resource"))?;
    Ok(render(&CapacityDetailPage {
        session: Some(&session),
        nav: "capacity",
        row: view,
        series,
        daily,
        trend,
        fit,
        chart,
        metrics,
    }))
}

// ---------------------------------------------------------------------------------------
// Availability

#[derive(Debug, Default, Deserialize)]
struct PeriodForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A window bound from the form: a day (`from` at its start, `to` at the end of it), an
/// RFC 3339 time or unix seconds.
fn bound(field: &str, v: &str, end_of_day: bool) -> Result<i64, UiError> {
    let v = v.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let t = d
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp();
        return Ok(if end_of_day { t + DAY } else { t });
    }
    crate::http::metrics::parse_time(field, v).map_err(|_| {
        UiError::bad_request(format!(
            "{field}: {v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"
        ))
    })
}

/// The report window: the form's, or the last 30 days like the API.
fn period(f: &PeriodForm, now: i64) -> Result<(i64, i64), UiError> {
    let to = if f.to.trim().is_empty() {
        now
    } else {
        bound("to", &f.to, true)?
    };
    let from = if f.from.trim().is_empty() {
        to - 30 * DAY
    } else {
        bound("from", &f.from, false)?
    };
    if from >= to {
        return Err(UiError::bad_request("from: must be before to"));
    }
    if to - from > crate::availability::MAX_PERIOD_SECS {
        return Err(UiError::bad_request(format!(
            "from/to: at most {} days",
            crate::availability::MAX_PERIOD_SECS / DAY
        )));
    }
    Ok((from, to))
}

/// A line of the availability tables.
pub struct AvailabilityView {
    pub ci: String,
    pub name: String,
    pub class: String,
    pub schedule: String,
    pub target: String,
    pub achieved: String,
    pub coverage: String,
    /// `met`, `missed`, `no SLA` or `unknown`.
    pub status: &'static str,
    pub status_class: &'static str,
    pub outages: u32,
    pub down: String,
    pub mtbf: String,
    pub mtrs: String,
    pub budget_left: String,
    pub planned_down: String,
    /// Maintenance windows as text.
    pub maintenance: Vec<String>,
}

fn secs_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => charts::duration(v.round() as i64),
        _ => "—".into(),
    }
}

fn availability_view(a: &CiAvailability) -> AvailabilityView {
    let f = &a.figures;
    let (status, status_class) = match (a.target_pct, f.breached) {
        (None, _) => ("no SLA", "stale"),
        (Some(_), Some(true)) => ("missed", "bad"),
        (Some(_), Some(false)) => ("met", "ok"),
        (Some(_), None) => ("unknown", "stale"),
    };
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    AvailabilityView {
        ci: a.ci.clone(),
        name: a.name.clone(),
        class: a.class.clone(),
        schedule: a.schedule.clone(),
        target: a
            .target_pct
            .map_or_else(|| "none".into(), |t| format!("{t} %")),
        achieved: match f.sli_pct {
            Some(v) if v.is_finite() => format!("{v:.3} %"),
            _ => "unknown".into(),
        },
        coverage: pct(f.coverage_pct),
        status,
        status_class,
        outages: f.outages,
        down: charts::duration(f.unplanned_down_secs),
        mtbf: secs_text(f.mtbf_secs),
        mtrs: secs_text(f.mtrs_secs),
        budget_left: match f.error_budget_left_secs {
            Some(v) if v < 0.0 => format!("overspent by {}", secs_text(Some(-v))),
            v => secs_text(v),
        },
        planned_down: charts::duration(f.planned_down_secs),
        maintenance: a
            .planned
            .iter()
            .map(|(s, e)| format!("{} – {} UTC", when(*s), when(*e)))
            .collect(),
    }
}

fn timeline_row(a: &CiAvailability) -> TimelineRow {
    TimelineRow {
        label: format!("{} ({})", a.name, a.class),
        outages: a
            .outages
            .iter()
            .filter(|o| !o.planned)
            .map(|o| (o.start, o.end))
            .collect(),
        planned_outages: a
            .outages
            .iter()
            .filter(|o| o.planned)
            .map(|o| (o.start, o.end))
            .collect(),
        maintenance: a.planned.clone(),
    }
}

#[derive(Template)]
#[template(path = "report_availability.html")]
struct AvailabilityPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    from: String,
    to: String,
    window: String,
    services: Vec<AvailabilityView>,
    cis: Vec<AvailabilityView>,
    timeline: String,
    shown: usize,
    total: usize,
}

async fn availability(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Query<PeriodForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let f = query(form)?;
    let now = now();
    let (from, to) = period(&f, now)?;
    let report = state
        .availability
        .report(
            &AvailabilityQuery {
                from,
                to,
                ..Default::default()
            },
            now,
        )
        .await?;
    let (services, cis): (Vec<&CiAvailability>, Vec<&CiAvailability>) =
        report.iter().partition(|a| a.class == "business_service");
    let rows: Vec<TimelineRow> = services
        .iter()
        .chain(cis.iter())
        .map(|a| timeline_row(a))
        .collect();
    let timeline = charts::outage_timeline(
        &format!("Outages from {} to {} UTC", day(from), day(to - 1)),
        from,
        to,
        &rows,
    );
    Ok(render(&AvailabilityPage {
        session: Some(&session),
        nav: "availability",
        from: day(from),
        to: day(to - 1),
        window: format!(
            "{} – {} UTC",
            chrono::DateTime::from_timestamp(from, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            chrono::DateTime::from_timestamp(to, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        ),
        shown: rows.len().min(charts::MAX_TIMELINE_ROWS),
        total: rows.len(),
        services: services.into_iter().map(availability_view).collect(),
        cis: cis.into_iter().map(availability_view).collect(),
        timeline,
    }))
}

// ---------------------------------------------------------------------------------------
// A CI's metrics

#[derive(Debug, Default, Deserialize)]
struct RangeForm {
    #[serde(default)]
    range: String,
}

/// The ranges offered, their length and the rollup level charted.
const RANGES: &[(&str, i64, Option<Level>)] = &[
    ("1d", DAY, Some(Level::FiveMin)),
    ("7d", 7 * DAY, Some(Level::Hour)),
    ("30d", 30 * DAY, Some(Level::Hour)),
    ("90d", 90 * DAY, Some(Level::Day)),
];

/// One series' chart.
pub struct MetricChart {
    pub name: String,
    pub instance: String,
    pub svg: String,
    pub points: usize,
}

#[derive(Template)]
#[template(path = "ci_metrics.html")]
struct MetricsPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    ci: String,
    name: String,
    class: String,
    range: String,
    ranges: Vec<&'static str>,
    charts: Vec<MetricChart>,
    more: usize,
    availability: AvailabilityView,
    timeline: String,
}

async fn metrics(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Query<RangeForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let f = query(form)?;
    let range = if f.range.is_empty() {
        "7d"
    } else {
        f.range.as_str()
    };
    let Some(&(range, length, level)) = RANGES.iter().find(|r| r.0 == range) else {
        return Err(UiError::bad_request(format!(
            "range: {range:?} must be 1d, 7d, 30d or 90d"
        )));
    };
    crate::error::check_id("id", &id, "CI")?;
    let ci = state.inventory.ci(&id).await?;
    let now = now();
    let (from, to) = (now - length, now + 1);
    let names = state.metrics.names(&id, now).await?;
    let (warning, critical) = state
        .config
        .capacity
        .thresholds_for(&ci.ci.key, &ci.ci.class);
    let mut charts_out = Vec::new();
    for s in names.iter().take(MAX_CHARTS) {
        let answer = state
            .metrics
            .read(&id, &s.name, &s.instance, from, to, level)
            .await?;
        let capacity = RESOURCES.iter().any(|r| r.0 == s.name);
        let percent = capacity || s.name.ends_with("_pct") || s.name.ends_with("util");
        let label = if s.instance.is_empty() {
            s.name.clone()
        } else {
            format!("{} {}", s.name, s.instance)
        };
        let svg = charts::line_chart(&LineChart {
            title: format!(
                "{label} on {} over {range} ({} windows: mean, min–max band)",
                ci.ci.name, answer.level
            ),
            unit: if percent { "%".into() } else { String::new() },
            series: answer.points.iter().map(|p| (p.t, p.value)).collect(),
            band: answer
                .points
                .iter()
                .filter_map(|p| Some((p.t, p.min?, p.max?)))
                .collect(),
            thresholds: if capacity {
                vec![
                    Threshold {
                        level: charts::Level::Warning,
                        value: warning,
                        label: format!("warning {warning:.0} %"),
                    },
                    Threshold {
                        level: charts::Level::Critical,
                        value: critical,
                        label: format!("critical {critical:.0} %"),
                    },
                ]
            } else {
                Vec::new()
            },
            x_range: Some((from, now)),
            y_range: percent.then_some((0.0, 100.0)),
            ..Default::default()
        });
        charts_out.push(MetricChart {
            name: s.name.clone(),
            instance: s.instance.clone(),
            svg,
            points: answer.points.len(),
        });
    }
    let av = state.availability.of_ci(&id, from, now, now).await?;
    let timeline = charts::outage_timeline(
        &format!("Outages of {} over {range}", ci.ci.name),
        from,
        now,
        &[timeline_row(&av)],
    );
    Ok(render(&MetricsPage {
        session: Some(&session),
        nav: "cis",
        ci: ci.ci.key.clone(),
        name: ci.ci.name.clone(),
        class: ci.ci.class.clone(),
        range: range.to_string(),
        ranges: RANGES.iter().map(|r| r.0).collect(),
        more: names.len().saturating_sub(MAX_CHARTS),
        charts: charts_out,
        availability: availability_view(&av),
        timeline,
    }))
}

// ---------------------------------------------------------------------------------------
// Dashboard cards

/// The top of the capacity ranking, for the dashboard.
pub async fn top_capacity_risks(
    state: &AppState,
    count: usize,
) -> Result<Vec<CapacityView>, UiError> {
    let now = now();
    let rows = state
        .capacity
        .report(&CapacityQuery::default(), now)
        .await?;
    let top: Vec<CapacityRow> = rows.into_iter().take(count).collect();
    capacity_views(state, &top, 1, count, now).await
}

/// Business services (then other CIs) below their SLA over the last 30 days.
pub async fn below_sla(state: &AppState) -> Result<Vec<AvailabilityView>, UiError> {
    let now = now();
    let mut rows: Vec<AvailabilityView> = state
        .availability
        .report(
            &AvailabilityQuery {
                from: now - 30 * DAY,
                to: now,
                ..Default::default()
            },
            now,
        )
        .await?
        .iter()
        .filter(|a| a.figures.breached == Some(true))
        .map(availability_view)
        .collect();
    rows.sort_by_key(|r| r.class != "business_service");
    Ok(rows)
}
