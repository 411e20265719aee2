//! Relationships and manual CIs: list, read, create, edit, delete (editors).
//!
//! Manual CIs are what discovery cannot see: business services, applications, redundancy
//! groups (`min_up`), clusters, PDUs… Discovered CIs accept only the manual attributes
//! (`description`, `owner`, `core`, `min_up`, `attributes`); their name is discovery's.
//! Discovered relationships cannot be deleted (discovery would bring them back); they go stale
//! when no longer observed. Every change is history on the CIs concerned.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cmdb_graph::RelKind;
use cmdb_shared::ErrorBody;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, Principal, bad_query};
use crate::AppState;
use crate::domain::auth::Role;
use crate::ingest::now_str;
use crate::relations::{IndexEffects, history_rows, node_attrs};
use crate::storage::{HistoryRecord, RelFilter, RelWrite, RelationshipRecord, valid_key};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/relationships", get(list).post(create))
        .route(
            "/api/v1/relationships/{id}",
            get(one).patch(edit).delete(remove),
        )
        .route("/api/v1/cis/{id}/relationships", get(of_ci))
}

/// Classes only discovery creates.
pub const DISCOVERED_CLASSES: [&str; 3] = ["host", "network_device", "service"];

fn who(p: &Principal) -> String {
    format!("user:{}", p.token)
}

fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if valid_key(id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field}: {id:?} is not an id"
        )))
    }
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

/// A page of relationships.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelPage {
    items: Vec<RelationshipRecord>,
    total: u64,
    limit: u32,
    offset: u32,
}

pub(crate) fn parse_kind(field: &str, k: &str) -> Result<RelKind, ApiError> {
    RelKind::parse(k).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{field}: {k:?} is not a relationship type (depends_on, runs_on, hosted_on, connected_to, powered_by, member_of)"
        ))
    })
}

/// List relationships.
#[utoipa::path(get, path = "/api/v1/relationships", params(RelParams),
    responses((status = 200, body = RelPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn list(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Result<Query<RelParams>, QueryRejection>,
) -> Result<Json<RelPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    if let Some(k) = &p.kind {
        parse_kind("kind", k)?;
    }
    if let Some(s) = &p.source
        && s != "discovered"
        && s != "manual"
    {
        return Err(ApiError::BadRequest(format!(
            "source: expected \"discovered\" or \"manual\", got {s:?}"
        )));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit: must be between 1 and 1000".into(),
        ));
    }
    let f = RelFilter {
        kind: p.kind,
        source: p.source,
        stale: p.stale,
        limit,
        offset: p.offset.unwrap_or(0),
    };
    let (items, total) = state.store.list_relationships(&f).await?;
    Ok(Json(RelPage {
        items,
        total,
        limit,
        offset: f.offset,
    }))
}

/// One relationship.
#[utoipa::path(get, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    responses((status = 200, body = RelationshipRecord), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn one(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RelationshipRecord>, ApiError> {
    principal.require(Role::Viewer)?;
    check_id("id", &id)?;
    state
        .store
        .relationship(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no relationship with id {id}")))
}

/// Every relationship of a CI, both directions, stale ones included.
#[utoipa::path(get, path = "/api/v1/cis/{id}/relationships", params(("id" = String, Path, description = "CI id")),
    responses((status = 200, body = Vec<RelationshipRecord>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn of_ci(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<RelationshipRecord>>, ApiError> {
    principal.require(Role::Viewer)?;
    super::cis::must_exist(&state, &id).await?;
    Ok(Json(state.store.relationships_of(&id).await?))
}

/// A manual relationship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelationship {
    /// Source CI id (the one that depends, runs, is hosted, is a member…).
    pub from: String,
    /// Target CI id.
    pub to: String,
    pub kind: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Free-form evidence (an object).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: Option<Value>,
}

pub(crate) fn check_note(field: &str, note: &Option<String>) -> Result<(), ApiError> {
    if note.as_ref().is_some_and(|n| n.len() > 4096) {
        return Err(ApiError::BadRequest(format!(
            "{field}: at most 4096 characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_evidence(field: &str, e: &Option<Value>) -> Result<(), ApiError> {
    match e {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Err(ApiError::BadRequest(format!("{field}: must be an object"))),
    }
    if e.as_ref().is_some_and(|v| v.to_string().len() > 16_384) {
        return Err(ApiError::BadRequest(format!("{field}: at most 16 KiB")));
    }
    Ok(())
}

/// The record a manual relationship makes (validated by the caller).
pub(crate) fn manual_record(
    from: &str,
    to: &str,
    kind: RelKind,
    note: Option<String>,
    evidence: Option<Value>,
    now: &str,
) -> RelationshipRecord {
    RelationshipRecord {
        key: uuid::Uuid::new_v4().simple().to_string(),
        from: from.into(),
        to: to.into(),
        kind: kind.as_str().into(),
        source: "manual".into(),
        discovered_by: Vec::new(),
        first_seen: now.into(),
        last_seen: now.into(),
        evidence: evidence.unwrap_or_else(|| json!({})),
        stale: false,
        stale_since: None,
        note: note.filter(|n| !n.trim().is_empty()),
    }
}

/// Create a manual relationship (editors). Manual relationships never go stale. There is one
/// manual relationship per (from, kind, to): posting one that exists answers 200 with it.
#[utoipa::path(post, path = "/api/v1/relationships", request_body = NewRelationship,
    responses((status = 201, body = RelationshipRecord), (status = 200, body = RelationshipRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn create(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    body: Result<Json<NewRelationship>, JsonRejection>,
) -> Result<(StatusCode, Json<RelationshipRecord>), ApiError> {
    principal.require(Role::Editor)?;
    let Json(n) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    check_id("from", &n.from)?;
    check_id("to", &n.to)?;
    let kind = parse_kind("kind", &n.kind)?;
    if n.from == n.to {
        return Err(ApiError::BadRequest(
            "to: a CI cannot be related to itself".into(),
        ));
    }
    check_note("note", &n.note)?;
    check_evidence("evidence", &n.evidence)?;
    let exists = state
        .store
        .existing_cis(&[n.from.clone(), n.to.clone()])
        .await?;
    for (field, id) in [("from", &n.from), ("to", &n.to)] {
        if !exists.contains(id) {
            return Err(ApiError::BadRequest(format!("{field}: no CI with id {id}")));
        }
    }
    let store = &state.store;
    let relations = &state.relations;
    relations
        .exclusive(|| async {
            // One manual edge per (from, kind, to): posting it again answers the one there is.
            if let Some(existing) = store
                .manual_relationship(&n.from, &n.to, kind.as_str())
                .await?
            {
                return Ok((StatusCode::OK, Json(existing)));
            }
            let now = now_str();
            let r = manual_record(&n.from, &n.to, kind, n.note, n.evidence, &now);
            store
                .apply_relationships(&RelWrite {
                    upserts: vec![r.clone()],
                    history: history_rows(None, Some(&r), &now, &who(&principal)),
                    ..Default::default()
                })
                .await?;
            relations.apply_effects(IndexEffects {
                add: vec![(r.from.clone(), r.to.clone(), kind)],
                ..Default::default()
            });
            Ok((StatusCode::CREATED, Json(r)))
        })
        .await
}

/// Editable fields of a relationship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipPatch {
    #[serde(default)]
    pub note: Option<String>,
    /// Manual relationships only.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub evidence: Option<Value>,
}

/// Edit a relationship's note (any) or evidence (manual ones).
#[utoipa::path(patch, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    request_body = RelationshipPatch,
    responses((status = 200, body = RelationshipRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn edit(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<RelationshipPatch>, JsonRejection>,
) -> Result<Json<RelationshipRecord>, ApiError> {
    principal.require(Role::Editor)?;
    check_id("id", &id)?;
    let Json(p) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    check_note("note", &p.note)?;
    check_evidence("evidence", &p.evidence)?;
    let store = &state.store;
    state
        .relations
        .exclusive(|| async {
            let before = store
                .relationship(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no relationship with id {id}")))?;
            let mut after = before.clone();
            if let Some(n) = p.note {
                after.note = Some(n).filter(|n| !n.trim().is_empty());
            }
            if let Some(e) = p.evidence {
                if before.source != "manual" {
                    return Err(ApiError::BadRequest(
                        "evidence: a discovered relationship's evidence is discovery's".into(),
                    ));
                }
                after.evidence = e;
            }
            if after != before {
                let now = now_str();
                store
                    .apply_relationships(&RelWrite {
                        upserts: vec![after.clone()],
                        history: history_rows(Some(&before), Some(&after), &now, &who(&principal)),
                        ..Default::default()
                    })
                    .await?;
            }
            Ok(Json(after))
        })
        .await
}

/// Delete a manual relationship. Discovered ones are refused: discovery would recreate them;
/// they go stale when no longer observed.
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", params(("id" = String, Path, description = "relationship id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn remove(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Editor)?;
    check_id("id", &id)?;
    let store = &state.store;
    let relations = &state.relations;
    relations
        .exclusive(|| async {
            let before = store
                .relationship(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no relationship with id {id}")))?;
            if before.source != "manual" {
                return Err(ApiError::BadRequest(format!(
                    "id: relationship {id} was discovered; discovery would bring it back (it goes stale when no longer observed)"
                )));
            }
            let now = now_str();
            store
                .apply_relationships(&RelWrite {
                    deletes: vec![id.clone()],
                    history: history_rows(Some(&before), None, &now, &who(&principal)),
                    ..Default::default()
                })
                .await?;
            if !before.stale
                && let Some(k) = RelKind::parse(&before.kind)
            {
                relations.apply_effects(IndexEffects {
                    remove: vec![(before.from, before.to, k)],
                    ..Default::default()
                });
            }
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

// ---- manual CIs ----------------------------------------------------------------------------

/// A manual CI, or the manual attributes of any CI.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiInput {
    /// business_service, application, redundancy_group, cluster, database, pdu, ups,
    /// storage_array, … (lowercase letters and underscores; not host, network_device or
    /// service, which discovery creates). Required to create; cannot be changed.
    #[serde(default)]
    pub class: Option<String>,
    /// Required to create. Discovered CIs keep discovery's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Redundancy groups: the group fails only when fewer members than this are up.
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub min_up: Option<Option<u32>>,
    /// A core or gateway CI of the network (reachability is measured to these).
    #[serde(default)]
    pub core: Option<bool>,
    /// Free-form attributes (an object of strings, numbers, booleans).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

fn text(field: &str, v: &Option<String>, max: usize, required: bool) -> Result<(), ApiError> {
    match v {
        None if required => Err(ApiError::BadRequest(format!("{field}: required"))),
        Some(s) if s.trim().is_empty() && required => {
            Err(ApiError::BadRequest(format!("{field}: must not be empty")))
        }
        Some(s) if s.len() > max => Err(ApiError::BadRequest(format!(
            "{field}: at most {max} characters"
        ))),
        Some(s) if s.chars().any(char::is_control) => Err(ApiError::BadRequest(format!(
            "{field}: control characters are not allowed"
        ))),
        _ => Ok(()),
    }
}

/// Validates a CI input; `creating` requires class and name. Errors are prefixed by `at`.
pub(crate) fn validate_ci(at: &str, c: &CiInput, creating: bool) -> Result<(), ApiError> {
    let f = |name: &str| {
        if at.is_empty() {
            name.to_string()
        } else {
            format!("{at}.{name}")
        }
    };
    if creating {
        let class = c.class.as_deref().unwrap_or("");
        if class.is_empty()
            || class.len() > 32
            || !class.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(ApiError::BadRequest(format!(
                "{}: expected 1 to 32 lowercase letters or underscores, got {class:?}",
                f("class")
            )));
        }
        if DISCOVERED_CLASSES.contains(&class) {
            return Err(ApiError::BadRequest(format!(
                "{}: {class:?} CIs are created by discovery",
                f("class")
            )));
        }
    }
    text(&f("name"), &c.name, 255, creating)?;
    text(&f("description"), &c.description, 4096, false)?;
    text(&f("owner"), &c.owner, 255, false)?;
    if let Some(Some(0)) = c.min_up {
        return Err(ApiError::BadRequest(format!(
            "{}: must be at least 1",
            f("min_up")
        )));
    }
    match &c.attributes {
        None => {}
        Some(Value::Object(m)) => {
            if m.len() > 100 || Value::Object(m.clone()).to_string().len() > 16_384 {
                return Err(ApiError::BadRequest(format!(
                    "{}: at most 100 attributes and 16 KiB",
                    f("attributes")
                )));
            }
            for (k, v) in m {
                if k.is_empty()
                    || k.len() > 64
                    || !(v.is_string() || v.is_number() || v.is_boolean() || v.is_null())
                {
                    return Err(ApiError::BadRequest(format!(
                        "{}.{k}: names of 1 to 64 characters with string, number or boolean values",
                        f("attributes")
                    )));
                }
            }
        }
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "{}: must be an object",
                f("attributes")
            )));
        }
    }
    Ok(())
}

/// The document of a new manual CI.
pub(crate) fn manual_ci_doc(c: &CiInput, now: &str) -> Value {
    json!({
        "class": c.class,
        "name": c.name.as_deref().map(str::trim),
        "identified_by": "manual",
        "keys": {},
        "first_seen": now,
        "last_seen": now,
        "suspected_duplicates": [],
        "section_hashes": {},
        "package_count": 0,
        "addresses": [],
        "description": c.description,
        "owner": c.owner,
        "min_up": c.min_up.flatten(),
        "core": c.core.unwrap_or(false),
        "attributes": c.attributes.clone().unwrap_or_else(|| json!({})),
    })
}

/// The manual fields a patch changes on `current` (a CI document), with their history.
pub(crate) fn ci_changes(
    current: &Value,
    c: &CiInput,
    discovered: bool,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut set = |field: &str, v: Value| {
        if current.get(field).unwrap_or(&Value::Null) != &v {
            out.insert(field.to_string(), v);
        }
    };
    if let Some(n) = &c.name {
        if discovered {
            if current.get("name").and_then(Value::as_str) != Some(n.trim()) {
                return Err(ApiError::BadRequest(
                    "name: a discovered CI keeps the name discovery gives it".into(),
                ));
            }
        } else {
            set("name", json!(n.trim()));
        }
    }
    if let Some(d) = &c.description {
        set("description", json!(d));
    }
    if let Some(o) = &c.owner {
        set("owner", json!(o));
    }
    if let Some(m) = c.min_up {
        set("min_up", json!(m));
    }
    if let Some(core) = c.core {
        set("core", json!(core));
    }
    if let Some(a) = &c.attributes {
        set("attributes", a.clone());
    }
    Ok(out)
}

pub(crate) fn ci_history(
    ci: &str,
    current: &Value,
    changes: &Map<String, Value>,
    now: &str,
    source: &str,
) -> Vec<HistoryRecord> {
    changes
        .iter()
        .map(|(field, new)| HistoryRecord {
            ci: ci.to_string(),
            at: now.to_string(),
            source: source.to_string(),
            attribute: field.clone(),
            old: current.get(field).cloned().unwrap_or(Value::Null),
            new: new.clone(),
        })
        .collect()
}

/// A manual CI as created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCi {
    pub id: String,
    #[schema(value_type = Object)]
    pub ci: Value,
}

/// Create a manual CI (editors).
#[utoipa::path(post, path = "/api/v1/cis", request_body = CiInput,
    responses((status = 201, body = CreatedCi), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
pub async fn create_ci(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    body: Result<Json<CiInput>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedCi>), ApiError> {
    principal.require(Role::Editor)?;
    let Json(c) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    validate_ci("", &c, true)?;
    let now = now_str();
    let key = uuid::Uuid::new_v4().simple().to_string();
    let doc = manual_ci_doc(&c, &now);
    let w = RelWrite {
        cis: vec![(key.clone(), doc.clone())],
        history: vec![HistoryRecord {
            ci: key.clone(),
            at: now.clone(),
            source: who(&principal),
            attribute: "ci".into(),
            old: Value::Null,
            new: json!("created"),
        }],
        ..Default::default()
    };
    let attrs = node_attrs(
        c.class.as_deref().unwrap_or(""),
        c.min_up.flatten(),
        c.core.unwrap_or(false),
    );
    state
        .relations
        .apply_manual(
            &state.store,
            w,
            IndexEffects {
                nodes: vec![(key.clone(), attrs)],
                ..Default::default()
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedCi { id: key, ci: doc })))
}

/// Change a CI's manual attributes (editors); a manual CI's name too.
#[utoipa::path(patch, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")), request_body = CiInput,
    responses((status = 200, body = CreatedCi), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
pub async fn edit_ci(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Json<CiInput>, JsonRejection>,
) -> Result<Json<CreatedCi>, ApiError> {
    principal.require(Role::Editor)?;
    check_id("id", &id)?;
    let Json(c) = body.map_err(|e| ApiError::BadRequest(format!("body: {}", e.body_text())))?;
    if c.class.is_some() {
        return Err(ApiError::BadRequest("class: cannot be changed".into()));
    }
    validate_ci("", &c, false)?;
    let store = &state.store;
    let relations = &state.relations;
    relations
        .exclusive(|| async {
            let current = store
                .ci_manual_fields(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no CI with id {id}")))?;
            let discovered = current.get("identified_by").and_then(Value::as_str) != Some("manual");
            let changes = ci_changes(&current, &c, discovered)?;
            let mut after = current.clone();
            if let Value::Object(m) = &mut after {
                m.extend(changes.clone());
            }
            if !changes.is_empty() {
                let now = now_str();
                store
                    .apply_relationships(&RelWrite {
                        ci_updates: vec![(id.clone(), Value::Object(changes.clone()))],
                        history: ci_history(&id, &current, &changes, &now, &who(&principal)),
                        ..Default::default()
                    })
                    .await?;
                relations.apply_effects(IndexEffects {
                    nodes: vec![(id.clone(), attrs_of(&after))],
                    ..Default::default()
                });
            }
            Ok(Json(CreatedCi {
                id: id.clone(),
                ci: after,
            }))
        })
        .await
}

/// Index attributes of a CI document.
pub(crate) fn attrs_of(doc: &Value) -> cmdb_graph::NodeAttrs {
    node_attrs(
        doc.get("class").and_then(Value::as_str).unwrap_or(""),
        doc.get("min_up")
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok()),
        doc.get("core").and_then(Value::as_bool).unwrap_or(false),
    )
}

/// Delete a manual CI and its relationships (editors). Discovered CIs are refused: they are
/// marked stale and retired when no longer seen.
#[utoipa::path(delete, path = "/api/v1/cis/{id}", params(("id" = String, Path, description = "CI id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "cis")]
pub async fn delete_ci(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Editor)?;
    check_id("id", &id)?;
    let store = &state.store;
    let relations = &state.relations;
    relations
        .exclusive(|| async {
            let current = store
                .ci_manual_fields(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no CI with id {id}")))?;
            if current.get("identified_by").and_then(Value::as_str) != Some("manual") {
                return Err(ApiError::BadRequest(format!(
                    "id: CI {id} was discovered; it is marked stale when no longer seen"
                )));
            }
            let rels = store.relationships_of(&id).await?;
            let now = now_str();
            let mut w = RelWrite {
                deletes: rels.iter().map(|r| r.key.clone()).collect(),
                ci_deletes: vec![id.clone()],
                ..Default::default()
            };
            let mut effects = IndexEffects {
                drop_nodes: vec![id.clone()],
                ..Default::default()
            };
            for r in &rels {
                // The history of the other end says the edge went away.
                w.history.extend(
                    history_rows(Some(r), None, &now, &who(&principal))
                        .into_iter()
                        .filter(|h| h.ci != id),
                );
                if !r.stale
                    && let Some(k) = RelKind::parse(&r.kind)
                {
                    effects.remove.push((r.from.clone(), r.to.clone(), k));
                }
            }
            store.apply_relationships(&w).await?;
            relations.apply_effects(effects);
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}
