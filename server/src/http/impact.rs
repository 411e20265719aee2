//! Impact analysis: what fails and what degrades if these CIs fail, what a CI depends on, and
//! the graph index's consistency with storage. Answers come from the in-memory index; names
//! and classes are read from storage for the CIs listed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cmdb_graph::{ImpactOptions, NodeId, State as CiState};
use cmdb_shared::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cis::must_exist;
use super::{ApiError, Principal, bad_query};
use crate::AppState;
use crate::domain::auth::Role;
use crate::relations::CheckReport;
use crate::storage::valid_key;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/impact", post(impact))
        .route("/api/v1/cis/{id}/impact", get(ci_impact))
        .route("/api/v1/cis/{id}/dependencies", get(dependencies))
        .route("/api/v1/graph/check", get(check))
        .route("/api/v1/graph", get(summary))
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
    Dot,
}

/// An impact question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    /// CIs assumed down: ids, or exact names when unambiguous.
    pub cis: Vec<String>,
    /// Stop propagating this many hops from a failed CI.
    #[serde(default)]
    pub max_depth: Option<u32>,
    /// json (default), csv or dot.
    #[serde(default)]
    pub format: Format,
}

/// One affected CI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AffectedCi {
    pub id: String,
    pub name: Option<String>,
    pub class: Option<String>,
    /// down or degraded.
    pub state: String,
    /// failed, depends_on, runs_on, hosted_on, powered_by, member_of, redundancy, cut_off, lost_link.
    pub cause: String,
    /// The CI it inherits its state from.
    pub via: Option<String>,
    /// Hops from a failed CI.
    pub depth: u32,
    /// Ids from a failed CI to this one.
    pub path: Vec<String>,
}

/// An impact analysis.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImpactReport {
    /// The CIs assumed down, as ids.
    pub failed: Vec<String>,
    pub down: usize,
    pub degraded: usize,
    /// Affected business services (down or degraded).
    pub business_services: Vec<AffectedCi>,
    /// Every affected CI (the failed ones included), by depth.
    pub affected: Vec<AffectedCi>,
    /// True when `affected` was cut at `relationships.max_impact_items` (counts stay exact).
    pub truncated: bool,
    /// Time the index took, in milliseconds.
    pub elapsed_ms: f64,
}

/// Resolves CI references (ids or unique names) to keys.
pub(crate) async fn resolve(
    state: &AppState,
    refs: &[String],
    field: &str,
) -> Result<Vec<String>, ApiError> {
    if refs.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{field}: name at least one CI"
        )));
    }
    if refs.len() > 10_000 {
        return Err(ApiError::BadRequest(format!("{field}: at most 10000 CIs")));
    }
    if let Some(i) = refs
        .iter()
        .position(|r| r.trim().is_empty() || r.trim().len() > 255)
    {
        return Err(ApiError::BadRequest(format!(
            "{field}[{i}]: expected a CI id or name of 1 to 255 characters"
        )));
    }
    // Ids in one lookup; the rest are names.
    let ids: Vec<String> = refs
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| valid_key(r))
        .collect();
    let known: std::collections::HashSet<String> =
        state.store.existing_cis(&ids).await?.into_iter().collect();
    let mut out = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let r = r.trim();
        if known.contains(r) {
            out.push(r.to_string());
            continue;
        }
        let found = state.store.ci_keys_named(r, None, false, Some(20)).await?;
        match found.as_slice() {
            [one] => out.push(one.clone()),
            [] => {
                return Err(ApiError::BadRequest(format!(
                    "{field}[{i}]: no CI with id or name {r:?}"
                )));
            }
            many => {
                return Err(ApiError::BadRequest(format!(
                    "{field}[{i}]: {} CIs are named {r:?}; give an id ({})",
                    many.len(),
                    many.join(", ")
                )));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Runs an impact analysis on the index and names the result.
pub(crate) async fn analyse(
    state: &AppState,
    failed: &[String],
    max_depth: Option<u32>,
) -> Result<ImpactReport, ApiError> {
    let started = std::time::Instant::now();
    let limit = state.relations.config().max_impact_items;
    let (mut rows, down, degraded, truncated, elapsed_ms, alone) = {
        let g = state.relations.graph();
        let ids: Vec<NodeId> = failed.iter().filter_map(|k| g.node_id(k)).collect();
        // CIs without any relationship are not in the index: they are down, alone.
        let alone: Vec<&String> = failed.iter().filter(|k| g.node_id(k).is_none()).collect();
        let result = g.impact(&ids, &ImpactOptions { max_depth });
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let all = result.affected();
        let rows: Vec<AffectedCi> = all
            .iter()
            .take(limit)
            .map(|a| AffectedCi {
                id: g.key(a.node).to_string(),
                name: None,
                class: None,
                state: a.state.as_str().into(),
                cause: a.cause.as_str().into(),
                via: a.via.map(|v| g.key(v).to_string()),
                depth: a.depth,
                path: result
                    .path(a.node)
                    .into_iter()
                    .map(|n| g.key(n).to_string())
                    .collect(),
            })
            .collect();
        (
            rows,
            result.count(CiState::Down),
            result.count(CiState::Degraded),
            all.len() > limit,
            elapsed_ms,
            alone,
        )
    };
    rows.extend(alone.iter().map(|k| AffectedCi {
        id: k.to_string(),
        name: None,
        class: None,
        state: "down".into(),
        cause: "failed".into(),
        via: None,
        depth: 0,
        path: vec![k.to_string()],
    }));
    // Within a depth, by id: the same answer whatever the index's internal order.
    rows.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    name_rows(state, &mut rows).await?;
    let business_services = rows
        .iter()
        .filter(|r| r.class.as_deref() == Some("business_service"))
        .cloned()
        .collect();
    state.metrics.impact_queries.inc();
    Ok(ImpactReport {
        failed: failed.to_vec(),
        down: down + alone.len(),
        degraded,
        business_services,
        affected: rows,
        truncated,
        elapsed_ms,
    })
}

async fn name_rows(state: &AppState, rows: &mut [AffectedCi]) -> Result<(), ApiError> {
    let keys: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let names: HashMap<String, (String, String)> = state
        .store
        .names_of(&keys)
        .await?
        .into_iter()
        .map(|(k, n, c)| (k, (n, c)))
        .collect();
    for r in rows {
        if let Some((n, c)) = names.get(&r.id) {
            r.name = Some(n.clone());
            r.class = Some(c.clone());
        }
    }
    Ok(())
}

/// CSV of affected CIs.
pub fn to_csv(rows: &[AffectedCi]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "id", "name", "class", "state", "cause", "depth", "via", "path",
    ]);
    for r in rows {
        let depth = r.depth.to_string();
        let path = r.path.join(" > ");
        let _ = w.write_record([
            r.id.as_str(),
            r.name.as_deref().unwrap_or(""),
            r.class.as_deref().unwrap_or(""),
            r.state.as_str(),
            r.cause.as_str(),
            depth.as_str(),
            r.via.as_deref().unwrap_or(""),
            path.as_str(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT of affected CIs: an arrow from the CI whose failure propagates to the one it
/// reaches, labelled with the cause; down in red, degraded in orange, business services boxed.
pub fn to_dot(title: &str, rows: &[AffectedCi]) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [style=filled, fontname=\"sans-serif\"];\n",
        dot_id(title)
    );
    for r in rows {
        let color = if r.state == "down" {
            "#f4a6a6"
        } else {
            "#f9d49b"
        };
        let shape = if r.class.as_deref() == Some("business_service") {
            "box"
        } else {
            "ellipse"
        };
        let label = format!(
            "{}\\n{} ({})",
            r.name.as_deref().unwrap_or(&r.id).replace('"', "'"),
            r.class.as_deref().unwrap_or("?"),
            r.state
        );
        out.push_str(&format!(
            "  {} [label=\"{}\", fillcolor=\"{color}\", shape={shape}];\n",
            dot_id(&r.id),
            label
        ));
    }
    for r in rows {
        if let Some(v) = &r.via {
            out.push_str(&format!(
                "  {} -> {} [label={}];\n",
                dot_id(v),
                dot_id(&r.id),
                dot_id(&r.cause)
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// `json` as it is, or its rows as CSV or DOT.
fn render(json: impl Serialize, rows: &[AffectedCi], format: Format, title: &str) -> Response {
    match format {
        Format::Json => Json(json).into_response(),
        Format::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(rows),
        )
            .into_response(),
        Format::Dot => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            to_dot(title, rows),
        )
            .into_response(),
    }
}

/// If these CIs fail: every affected CI with its state, cause and path, and the business
/// services hit. Redundancy groups are honoured (a group fails only when fewer than `min_up`
/// members are up); over `connected_to`, a CI is cut off only when no path to a core CI
/// survives.
#[utoipa::path(post, path = "/api/v1/impact", request_body = ImpactRequest,
    responses((status = 200, body = ImpactReport, description = "JSON; text/csv or text/vnd.graphviz with format csv or dot"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])), tag = "impact")]
async fn impact(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    body: Result<Json<ImpactRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    let failed = resolve(&state, &req.cis, "cis").await?;
    let report = analyse(&state, &failed, req.max_depth).await?;
    Ok(render(&report, &report.affected, req.format, "impact"))
}

/// Query of the per-CI graph endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GraphParams {
    /// Stop this many hops away.
    max_depth: Option<u32>,
    /// json (default), csv or dot.
    format: Option<Format>,
}

/// What depends on this CI: the impact of its failure.
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", params(("id" = String, Path, description = "CI id"), GraphParams),
    responses((status = 200, body = ImpactReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "impact")]
async fn ci_impact(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    params: Result<Query<GraphParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    must_exist(&state, &id).await?;
    let report = analyse(&state, std::slice::from_ref(&id), p.max_depth).await?;
    Ok(render(
        &report,
        &report.affected,
        p.format.unwrap_or_default(),
        &id,
    ))
}

/// What a CI depends on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dependencies {
    pub id: String,
    /// Every CI whose failure could affect this one, nearest first.
    pub dependencies: Vec<AffectedCi>,
}

/// What this CI depends on: everything whose failure could affect it (its services' hosts,
/// hypervisors, power, the members of groups it relies on, and the network path to the
/// core). `state` is "dependency"; `path` runs from this CI to the dependency.
#[utoipa::path(get, path = "/api/v1/cis/{id}/dependencies", params(("id" = String, Path, description = "CI id"), GraphParams),
    responses((status = 200, body = Dependencies), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "impact")]
async fn dependencies(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    params: Result<Query<GraphParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    must_exist(&state, &id).await?;
    let limit = state.relations.config().max_impact_items;
    let mut rows: Vec<AffectedCi> = {
        let g = state.relations.graph();
        match g.node_id(&id) {
            None => Vec::new(),
            Some(n) => {
                let reached = g.dependencies(n, p.max_depth);
                let via: HashMap<NodeId, NodeId> =
                    reached.iter().map(|r| (r.node, r.via)).collect();
                reached
                    .iter()
                    .take(limit)
                    .map(|r| {
                        let mut path = vec![r.node];
                        let mut at = r.node;
                        while let Some(v) = via.get(&at) {
                            path.push(*v);
                            at = *v;
                            if at == n || path.len() > 100_000 {
                                break;
                            }
                        }
                        path.reverse();
                        AffectedCi {
                            id: g.key(r.node).to_string(),
                            name: None,
                            class: None,
                            state: "dependency".into(),
                            cause: r.kind.as_str().into(),
                            via: Some(g.key(r.via).to_string()),
                            depth: r.depth,
                            path: path.into_iter().map(|x| g.key(x).to_string()).collect(),
                        }
                    })
                    .collect()
            }
        }
    };
    name_rows(&state, &mut rows).await?;
    let format = p.format.unwrap_or_default();
    // The shape of `Dependencies`, borrowing the rows.
    let json = serde_json::json!({ "id": id, "dependencies": &rows });
    Ok(render(json, &rows, format, &id))
}

/// Compare the in-memory graph index with storage.
#[utoipa::path(get, path = "/api/v1/graph/check",
    responses((status = 200, body = CheckReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "impact")]
async fn check(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<CheckReport>, ApiError> {
    principal.require(Role::Editor)?;
    Ok(Json(state.relations.check(&state.store).await?))
}

/// Size of the graph index and its effective core set.
#[derive(Debug, Serialize, ToSchema)]
pub struct GraphSummary {
    pub nodes: usize,
    pub edges: usize,
    pub memory_bytes: usize,
    /// CIs reachability is measured against: declared core/gateway CIs, else each network's
    /// centre.
    pub core: Vec<String>,
}

/// The graph index: size and core CIs.
#[utoipa::path(get, path = "/api/v1/graph",
    responses((status = 200, body = GraphSummary), (status = 401, body = ErrorBody)),
    security(("bearer" = [])), tag = "impact")]
async fn summary(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<GraphSummary>, ApiError> {
    principal.require(Role::Viewer)?;
    let g = state.relations.graph();
    let mut core: Vec<String> = g
        .core_nodes()
        .into_iter()
        .map(|n| g.key(n).to_string())
        .collect();
    core.sort();
    Ok(Json(GraphSummary {
        nodes: g.node_count(),
        edges: g.edge_count(),
        memory_bytes: g.memory_bytes(),
        core,
    }))
}
