//! Agent endpoints: enrollment and report ingestion (host reports, and device reports from
//! the SNMP poller).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use cmdb_shared::device::DeviceReport;
use cmdb_shared::{
    EnrollRequest, EnrollResponse, ErrorBody, Report, ReportAck, ResyncRequired, SCHEMA_VERSION,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::{Agent, Enroller};
use super::{ApiError, parse_json, read_body};
use crate::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/enroll", post(enroll))
        .route("/api/v1/reports", post(report))
        .route("/api/v1/device-reports", post(device_report))
}

/// Exchange a fleet enrollment token for a per-agent credential, taking one of the token's
/// uses. An expired, revoked or used-up token gets 401 saying which; the endpoint is rate
/// limited (`auth.enroll_per_minute`), 429 with `Retry-After` beyond it.
#[utoipa::path(post, path = "/api/v1/enroll", request_body = EnrollRequest,
    responses((status = 200, body = EnrollResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds"))),
              (status = 413, body = ErrorBody)),
    security(("bearer" = [])), tag = "agents")]
async fn enroll(
    State(state): State<Arc<AppState>>,
    Enroller(principal): Enroller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let req: EnrollRequest = parse_json(body)?;
    Ok(Json(state.access.enroll(&principal, req).await?))
}

#[derive(Deserialize)]
struct VersionProbe {
    schema_version: Option<serde_json::Value>,
}

/// Push one report (full or delta). Bodies may be zstd- or gzip-compressed.
#[utoipa::path(post, path = "/api/v1/reports", request_body = Report,
    responses((status = 200, body = ReportAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ResyncRequired), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "agents")]
async fn report(
    State(state): State<Arc<AppState>>,
    Agent { agent, .. }: Agent,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReportAck>, ApiError> {
    note_spool_dropped(&state, &agent, &headers)?;
    let started = std::time::Instant::now();
    let result = async {
        let report: Report = parse_report(read_body(body)?, |r: &Report| r.schema_version)?;
        Ok(state.ingest.ingest(&agent, &report).await?)
    }
    .await;
    state
        .telemetry
        .observe_report(outcome(&result), started.elapsed().as_secs_f64());
    result.map(Json)
}

/// Push one poll of a network device (the agent's SNMP poller). Bodies may be zstd- or
/// gzip-compressed. The device is identified by chassis serial, then chassis id (LLDP or base
/// bridge MAC), then sysName + the polled address; the answer names the CI and the rule.
#[utoipa::path(post, path = "/api/v1/device-reports", request_body = DeviceReport,
    responses((status = 200, body = ReportAck), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds")))),
    security(("bearer" = [])), tag = "agents")]
async fn device_report(
    State(state): State<Arc<AppState>>,
    Agent { agent, .. }: Agent,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReportAck>, ApiError> {
    note_spool_dropped(&state, &agent, &headers)?;
    let started = std::time::Instant::now();
    let result = async {
        let report: DeviceReport =
            parse_report(read_body(body)?, |r: &DeviceReport| r.schema_version)?;
        Ok(state.ingest.ingest_device(&agent, &report).await?)
    }
    .await;
    state
        .telemetry
        .observe_device_report(outcome(&result), started.elapsed().as_secs_f64());
    result.map(Json)
}

/// The metrics label of a report's outcome.
fn outcome(result: &Result<ReportAck, ApiError>) -> &'static str {
    match result {
        Ok(ack) if ack.changes > 0 => "changed",
        Ok(_) => "unchanged",
        Err(ApiError::Resync(_)) => "resync",
        Err(ApiError::Internal(_)) => "error",
        Err(_) => "rejected",
    }
}

/// Parses a report body of any kind. The common case, a well-formed report of this version,
/// is parsed once; anything else is parsed again, slowly, for a precise error.
pub(super) fn parse_report<T: DeserializeOwned>(
    bytes: Bytes,
    schema_version: impl Fn(&T) -> u32,
) -> Result<T, ApiError> {
    if let Ok(report) = serde_json::from_slice::<T>(&bytes)
        && schema_version(&report) == SCHEMA_VERSION
    {
        return Ok(report);
    }
    // The version first: a report from a newer agent must get 422, not a confusing 400 about
    // a field this server does not know.
    let probe: VersionProbe = parse_json(Ok(bytes.clone()))?;
    match probe.schema_version {
        None => return Err(ApiError::BadRequest("schema_version: missing field".into())),
        Some(v) if v.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
        Some(v) => {
            return Err(ApiError::Unprocessable(format!(
                "unsupported schema_version {v}: this server reads version {SCHEMA_VERSION}"
            )));
        }
    }
    parse_json(Ok(bytes))
}

/// The header in which an agent says how many reports its spool has dropped, ever.
pub const SPOOL_DROPPED: &str = "x-cmdb-spool-dropped";

/// Records what an agent's `x-cmdb-spool-dropped` header says (shown per agent); a value that
/// is not a count is refused.
pub(super) fn note_spool_dropped(
    state: &AppState,
    agent: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(v) = headers.get(SPOOL_DROPPED) else {
        return Ok(());
    };
    let n: u64 = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!("{SPOOL_DROPPED}: expected a count of reports"))
        })?;
    state.ingest.spool_dropped(agent, n);
    Ok(())
}
