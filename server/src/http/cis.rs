//! Configuration items: list with filters, detail, packages, history. Hosts and network
//! devices alike; a device's detail adds what its last poll saw.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cmdb_shared::device::{
    ArpEntry, CdpNeighbor, DeviceMetrics, ForwardingEntry, LldpNeighbor, TargetSource,
};
use cmdb_shared::{ErrorBody, Package};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, Principal, bad_query};
use crate::AppState;
use crate::domain::auth::Role;
use crate::domain::device;
use crate::ingest::time_str;
use crate::storage::{CiFilter, CiRecord, CiSummary, HistoryRecord, valid_key};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/v1/cis",
            get(list).post(super::relationships::create_ci),
        )
        .route(
            "/api/v1/cis/{id}",
            get(detail)
                .patch(super::relationships::edit_ci)
                .delete(super::relationships::delete_ci),
        )
        .route("/api/v1/cis/{id}/diff", get(diff))
        .route("/api/v1/cis/{id}/packages", get(packages))
        .route("/api/v1/cis/{id}/history", get(history))
}

/// CI list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// CI class ("host", "network_device").
    class: Option<String>,
    /// Case-insensitive text: name, FQDN or serial contains it; UUID, machine-id, an IP
    /// address (or a device's polled host) or a device's chassis MAC / LLDP chassis id
    /// equals it (MACs in any usual notation).
    q: Option<String>,
    /// true: only CIs not seen within `lifecycle.stale_after_secs`; false: only fresh ones.
    stale: Option<bool>,
    /// Page size, 1–1000 (default 50).
    limit: Option<u32>,
    /// Items to skip.
    offset: Option<u32>,
}

/// A page of CIs.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiPage {
    items: Vec<CiListItem>,
    total: u64,
    limit: u32,
    offset: u32,
}

/// One CI in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiListItem {
    #[serde(flatten)]
    ci: CiSummary,
    stale: bool,
}

fn stale_cutoff(state: &AppState) -> String {
    let secs = i64::try_from(state.config.lifecycle.stale_after_secs).unwrap_or(i64::MAX / 2);
    time_str(chrono::Utc::now() - chrono::Duration::seconds(secs.min(100 * 365 * 86400)))
}

/// List CIs.
#[utoipa::path(get, path = "/api/v1/cis", params(ListParams),
    responses((status = 200, body = CiPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
async fn list(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CiPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit: must be between 1 and 1000".into(),
        ));
    }
    if p.q.as_ref().is_some_and(|q| q.len() > 256) {
        return Err(ApiError::BadRequest("q: at most 256 characters".into()));
    }
    let cutoff = stale_cutoff(&state);
    let filter = CiFilter {
        class: p.class,
        q: p.q.filter(|q| !q.is_empty()),
        stale: p.stale,
        stale_cutoff: cutoff.clone(),
        limit,
        offset: p.offset.unwrap_or(0),
    };
    let (items, total) = state.store.list_cis(&filter).await?;
    Ok(Json(CiPage {
        items: items
            .into_iter()
            .map(|ci| CiListItem {
                stale: ci.last_seen < cutoff,
                ci,
            })
            .collect(),
        total,
        limit,
        offset: filter.offset,
    }))
}

pub(crate) fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_key(id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("id: {id:?} is not a CI id")))
    }
}

/// A 400 for a malformed id, a 404 for an unknown CI; reads nothing but the key.
pub(crate) async fn must_exist(state: &AppState, id: &str) -> Result<(), ApiError> {
    check_id(id)?;
    if state
        .store
        .existing_cis(std::slice::from_ref(&id.to_string()))
        .await?
        .is_empty()
    {
        return Err(ApiError::NotFound(format!("no CI with id {id}")));
    }
    Ok(())
}

async fn load(state: &AppState, id: &str) -> Result<CiRecord, ApiError> {
    check_id(id)?;
    state
        .store
        .ci(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no CI with id {id}")))
}

/// One CI with all its sections. Packages are listed by `/api/v1/cis/{id}/packages`.
/// For a network device, `sections.device` is its stable inventory with the latest volatile
/// values (interface oper_status, storage used_bytes, processor load_percent) overlaid,
/// `measured_at` when they were sampled, and `device` what the last polls saw.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiDetail {
    #[serde(flatten)]
    ci: CiRecord,
    stale: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<DeviceDetail>,
}

/// What the pollers of a network device saw: the latest poll and metrics sample, and the
/// topology observations (neighbours, forwarding and ARP entries) as last changed.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeviceDetail {
    /// The agent that polled the device last.
    poller: Option<String>,
    /// The target it polled (`host`, `host:port`).
    target: Option<String>,
    /// Why it polled it: listed in its configuration, or found by a discovery sweep.
    source: Option<TargetSource>,
    /// When the server received the last poll.
    polled_at: Option<String>,
    /// The latest metrics sample: sysUpTime and per-interface counters, with their time.
    metrics: Option<DeviceMetrics>,
    /// When the topology observations below were last different from the poll before.
    topology_changed_at: Option<String>,
    lldp_neighbors: Vec<LldpNeighbor>,
    cdp_neighbors: Vec<CdpNeighbor>,
    /// MAC address → port (BRIDGE-MIB / Q-BRIDGE-MIB).
    forwarding: Vec<ForwardingEntry>,
    /// IP → MAC.
    arp: Vec<ArpEntry>,
}

/// CI detail.
#[utoipa::path(get, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = CiDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
async fn detail(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<CiDetail>, ApiError> {
    principal.require(Role::Viewer)?;
    let mut ci = load(&state, &id).await?;
    let stale = ci.last_seen < stale_cutoff(&state);
    let device = if ci.class == device::CLASS {
        let seen = state.store.device_observations(&id).await?;
        let mut out = DeviceDetail::default();
        if let Some(st) = seen.state {
            if let Some(section) = ci.sections.get_mut(device::SECTION) {
                device::overlay_volatile(section, &st.volatile);
            }
            ci.measured_at = Some(st.sample_at);
            out.poller = Some(st.poller);
            out.target = Some(st.target);
            out.source = Some(st.source);
            out.polled_at = Some(st.at);
            out.metrics = Some(st.metrics);
        }
        if let Some(t) = seen.topology {
            out.topology_changed_at = Some(t.at);
            out.lldp_neighbors = t.lldp_neighbors;
            out.cdp_neighbors = t.cdp_neighbors;
            out.forwarding = t.forwarding;
            out.arp = t.arp;
        }
        Some(out)
    } else {
        None
    };
    Ok(Json(CiDetail { ci, stale, device }))
}

/// Installed packages of a CI.
#[utoipa::path(get, path = "/api/v1/cis/{id}/packages", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = Vec<Package>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
async fn packages(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<Package>>, ApiError> {
    principal.require(Role::Viewer)?;
    load(&state, &id).await?;
    let keys = state.store.ci_package_keys(&id).await?;
    let mut list = state.ingestor.packages_of(&keys);
    list.sort();
    Ok(Json(list))
}

/// History window.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// RFC 3339 start (inclusive).
    from: Option<String>,
    /// RFC 3339 end (inclusive).
    to: Option<String>,
    /// At most this many records, 1–10000 (default 1000).
    limit: Option<u32>,
}

fn parse_time(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    v.map(|s| {
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| time_str(t.with_timezone(&chrono::Utc)))
            .map_err(|e| ApiError::BadRequest(format!("{field}: not an RFC 3339 time ({e})")))
    })
    .transpose()
}

/// Attribute changes of a CI, oldest first.
#[utoipa::path(get, path = "/api/v1/cis/{id}/history", params(("id" = String, Path, description = "CI id"), HistoryParams),
    responses((status = 200, body = Vec<HistoryRecord>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
async fn history(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Vec<HistoryRecord>>, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    let from = parse_time("from", p.from)?;
    let to = parse_time("to", p.to)?;
    let limit = p.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit: must be between 1 and 10000".into(),
        ));
    }
    load(&state, &id).await?;
    Ok(Json(
        state
            .store
            .history(&id, from.as_deref(), to.as_deref(), limit)
            .await?,
    ))
}

/// Diff window.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    /// RFC 3339: the state before changes after this time.
    from: String,
    /// RFC 3339: the state after changes up to this time (default now).
    to: Option<String>,
}

/// One attribute (or relationship) that differs between two times.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DiffEntry {
    /// The attribute, or `relationship:<id>` for an edge.
    pub attribute: String,
    /// Value at `from` (null: absent).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// Value at `to` (null: absent).
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// How many changes happened in between.
    pub changes: usize,
    /// When it last changed.
    pub last_changed_at: String,
}

/// A CI between two times.
#[derive(Debug, Serialize, ToSchema)]
pub struct CiDiff {
    pub id: String,
    pub from: String,
    pub to: String,
    pub entries: Vec<DiffEntry>,
}

/// Folds history (oldest first) into the net difference per attribute: the first `old` and
/// the last `new`; attributes that came back to where they were are left out.
pub fn fold_history(records: &[HistoryRecord]) -> Vec<DiffEntry> {
    let mut by: std::collections::BTreeMap<String, DiffEntry> = std::collections::BTreeMap::new();
    for r in records {
        let attribute = if r.attribute == "relationship" {
            let rel = r
                .new
                .get("rel")
                .or_else(|| r.old.get("rel"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            format!("relationship:{rel}")
        } else {
            r.attribute.clone()
        };
        by.entry(attribute.clone())
            .and_modify(|e| {
                e.after = r.new.clone();
                e.changes += 1;
                e.last_changed_at = r.at.clone();
            })
            .or_insert(DiffEntry {
                attribute,
                before: r.old.clone(),
                after: r.new.clone(),
                changes: 1,
                last_changed_at: r.at.clone(),
            });
    }
    by.into_values().filter(|e| e.before != e.after).collect()
}

/// What changed on a CI between two times, relationships included: per attribute, the value
/// before and after (built from history, which keeps changes, not snapshots).
#[utoipa::path(get, path = "/api/v1/cis/{id}/diff", params(("id" = String, Path, description = "CI id"), DiffParams),
    responses((status = 200, body = CiDiff), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
async fn diff(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    params: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Json<CiDiff>, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    let from = parse_time("from", Some(p.from))?.unwrap_or_default();
    let to = parse_time("to", p.to)?.unwrap_or_else(crate::ingest::now_str);
    if to < from {
        return Err(ApiError::BadRequest("to: must not be before from".into()));
    }
    load(&state, &id).await?;
    // Changes strictly after `from`, up to `to`.
    let records: Vec<HistoryRecord> = state
        .store
        .history(&id, Some(&from), Some(&to), 100_000)
        .await?
        .into_iter()
        .filter(|r| r.at > from)
        .collect();
    Ok(Json(CiDiff {
        id,
        from,
        to,
        entries: fold_history(&records),
    }))
}

#[cfg(test)]
mod diff_tests {
    use super::*;
    use serde_json::json;

    fn rec(
        at: &str,
        attribute: &str,
        old: serde_json::Value,
        new: serde_json::Value,
    ) -> HistoryRecord {
        HistoryRecord {
            ci: "c".into(),
            at: at.into(),
            source: "t".into(),
            attribute: attribute.into(),
            old,
            new,
        }
    }

    #[test]
    fn a_diff_keeps_the_first_old_and_last_new_value_and_drops_round_trips() {
        let h = vec![
            rec("1", "os", json!("12"), json!("13")),
            rec("2", "os", json!("13"), json!("14")),
            rec("3", "owner", json!("a"), json!("b")),
            rec("4", "owner", json!("b"), json!("a")),
            rec(
                "5",
                "relationship",
                serde_json::Value::Null,
                json!({"rel": "r1", "kind": "depends_on"}),
            ),
            rec(
                "6",
                "relationship",
                json!({"rel": "r2"}),
                json!({"rel": "r2", "stale": true}),
            ),
        ];
        let d = fold_history(&h);
        let attrs: Vec<&str> = d.iter().map(|e| e.attribute.as_str()).collect();
        assert_eq!(attrs, vec!["os", "relationship:r1", "relationship:r2"]);
        assert_eq!(
            (d[0].before.clone(), d[0].after.clone(), d[0].changes),
            (json!("12"), json!("14"), 2)
        );
        assert_eq!(d[1].before, serde_json::Value::Null);
    }
}
