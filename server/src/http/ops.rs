//! Operations endpoints: `/healthz`, `/metrics` (Prometheus text), the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
}

/// Liveness and storage reachability, this instance's name and the background jobs whose
/// lease it holds; no credential needed.
async fn healthz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.inventory.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": "ok",
                "instance": state.cluster.instance(),
                "leases": state.cluster.leases(),
            })),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "storage unavailable"})),
            )
        }
    }
}

/// Prometheus text exposition of the server's own metrics: behind a viewer credential
/// unless `http.metrics_open`; record counts at most a minute old.
async fn metrics(
    State(state): State<Arc<AppState>>,
    principal: Result<super::Principal, super::ApiError>,
) -> Result<impl IntoResponse, super::ApiError> {
    if !state.config.http.metrics_open {
        principal?.require(crate::domain::auth::Role::Viewer)?;
    }
    match state.inventory.counts_cached().await {
        Ok(counts) => state.telemetry.set_counts(&counts),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count records"),
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.telemetry.render(),
    ))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "cmdb-server API", description = "CMDB: configuration items (hosts, network devices, services, manual CIs), relationships, impact analysis, changes, agents, software, history, metrics, availability and capacity."),
    paths(
        super::reports::enroll, super::reports::report, super::reports::device_report,
        super::agents::list, super::agents::revoke,
        super::cis::list, super::cis::detail, super::cis::packages, super::cis::history, super::cis::diff,
        super::cis::create, super::cis::edit, super::cis::remove, super::cis::bind, super::cis::dismiss,
        super::relationships::list, super::relationships::one, super::relationships::of_ci,
        super::relationships::create, super::relationships::edit, super::relationships::remove,
        super::impact::impact, super::impact::ci_impact, super::impact::dependencies,
        super::impact::check, super::impact::summary,
        super::changes::create, super::changes::one, super::changes::list,
        super::transfer::import, super::transfer::export,
        super::software::search,
        super::tokens::create, super::tokens::list, super::tokens::revoke,
        super::metrics::push, super::metrics::series, super::metrics::storage,
        super::availability::of_ci, super::availability::report,
        super::availability::sla, super::availability::set_sla, super::availability::delete_sla,
        super::availability::list_maintenance, super::availability::add_maintenance,
        super::availability::delete_maintenance,
        super::availability::add_manual, super::availability::delete_manual,
        super::capacity::report,
    ),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, generated from the handlers and types.
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi() -> impl IntoResponse {
    Json(openapi_doc())
}
