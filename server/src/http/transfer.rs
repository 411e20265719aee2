//! Bulk import and export of manual CIs and relationships, as JSON or CSV.
//!
//! Import upserts by a stable key: a CI by its `key` when given (any CI; only its manual
//! attributes change), else by class + name among manual CIs; a relationship by (from, kind,
//! to) among manual relationships. CIs are referenced by id or as `class/name`, including CIs
//! created by the same import. Everything is validated first: one error and nothing is
//! written (the answer lists up to 100 errors). `dry_run=true` reports what would change and
//! writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cmdb_graph::RelKind;
use cmdb_shared::ErrorBody;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::relationships::{
    CiInput, attrs_of, check_note, ci_changes, ci_history, manual_ci_doc, manual_record,
    parse_kind, validate_ci,
};
use super::{ApiError, Principal, bad_query};
use crate::AppState;
use crate::domain::auth::Role;
use crate::ingest::now_str;
use crate::relations::{IndexEffects, history_rows, node_attrs};
use crate::storage::{HistoryRecord, RelWrite, RelationshipRecord, valid_key};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/import", post(import))
        .route("/api/v1/export", get(export))
}

/// A relationship to import.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelInput {
    /// CI id or `class/name`.
    pub from: String,
    pub kind: String,
    /// CI id or `class/name`.
    pub to: String,
    #[serde(default)]
    pub note: Option<String>,
    /// Exported rows carry it: rows of discovered relationships are skipped.
    #[serde(default)]
    pub source: Option<String>,
    /// Export fields, accepted and ignored so that an export imports back as it is.
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub key: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub discovered_by: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub first_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub last_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub stale: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<Object>)]
    pub stale_since: Option<Value>,
}

/// A CI to import: the manual CI fields plus an optional key.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiImport {
    /// An existing CI's id: its manual attributes are updated.
    #[serde(default)]
    pub key: Option<String>,
    /// Export fields, accepted and ignored so that an export imports back as it is.
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub first_seen: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Value>,
    #[serde(flatten)]
    pub ci: CiInput,
}

/// A JSON import (or export).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub cis: Vec<CiImport>,
    #[serde(default)]
    pub relationships: Vec<RelInput>,
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

/// What an import did (or would do).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub cis_created: Vec<String>,
    pub cis_updated: Vec<String>,
    pub cis_unchanged: usize,
    pub relationships_created: Vec<String>,
    pub relationships_updated: Vec<String>,
    pub relationships_unchanged: usize,
    /// Rows of discovered relationships (discovery owns them).
    pub relationships_skipped: usize,
}

fn csv_field<'a>(
    headers: &'a csv::StringRecord,
    row: &'a csv::StringRecord,
    name: &str,
) -> Option<&'a str> {
    headers
        .iter()
        .position(|h| h.trim() == name)
        .and_then(|i| row.get(i))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Parses a CSV body into a bundle; columns by header name.
pub fn parse_csv(body: &[u8], what: &str) -> Result<Bundle, ApiError> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(body);
    let headers = r
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("csv: {e}")))?
        .clone();
    let known: &[&str] = match what {
        "cis" => &[
            "key",
            "class",
            "name",
            "description",
            "owner",
            "min_up",
            "core",
        ],
        "relationships" => &[
            "key",
            "from",
            "kind",
            "to",
            "note",
            "source",
            "stale",
            "first_seen",
            "last_seen",
        ],
        other => {
            return Err(ApiError::BadRequest(format!(
                "what: expected \"cis\" or \"relationships\" for a CSV body, got {other:?}"
            )));
        }
    };
    if let Some(h) = headers.iter().find(|h| !known.contains(&h.trim())) {
        return Err(ApiError::BadRequest(format!(
            "csv: unknown column {h:?} (expected some of {})",
            known.join(", ")
        )));
    }
    let mut b = Bundle::default();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| ApiError::BadRequest(format!("csv line {line}: {e}")))?;
        let f = |n: &str| csv_field(&headers, &row, n).map(str::to_string);
        if what == "cis" {
            let min_up = match f("min_up") {
                None => None,
                Some(v) => Some(Some(v.parse::<u32>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "csv line {line}: min_up: {v:?} is not a whole number"
                    ))
                })?)),
            };
            let core = match f("core").as_deref() {
                None => None,
                Some("true") | Some("yes") | Some("1") => Some(true),
                Some("false") | Some("no") | Some("0") => Some(false),
                Some(v) => {
                    return Err(ApiError::BadRequest(format!(
                        "csv line {line}: core: {v:?} is not true or false"
                    )));
                }
            };
            b.cis.push(CiImport {
                key: f("key"),
                first_seen: None,
                last_seen: None,
                ci: CiInput {
                    class: f("class"),
                    name: f("name"),
                    description: f("description"),
                    owner: f("owner"),
                    min_up,
                    core,
                    attributes: None,
                },
            });
        } else {
            b.relationships.push(RelInput {
                from: f("from").unwrap_or_default(),
                kind: f("kind").unwrap_or_default(),
                to: f("to").unwrap_or_default(),
                note: f("note"),
                source: f("source"),
                ..Default::default()
            });
        }
    }
    Ok(b)
}

/// Import CIs and relationships (editors): a JSON bundle, or CSV with `what=cis` or
/// `what=relationships` (Content-Type text/csv). Validated whole first; `dry_run=true` writes
/// nothing.
#[utoipa::path(post, path = "/api/v1/import", params(ImportParams), request_body = Bundle,
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn import(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Result<Query<ImportParams>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    principal.require(Role::Editor)?;
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
    let max = state.config.limits.max_list_items;
    if bundle.cis.len() + bundle.relationships.len() > max {
        return Err(ApiError::BadRequest(format!(
            "body: at most {max} CIs and relationships per import (limits.max_list_items)"
        )));
    }
    let dry_run = p.dry_run.unwrap_or(false);
    let who = format!("user:{}", principal.token);
    let store = &state.store;
    let relations = &state.relations;
    relations
        .exclusive(|| async {
            let (report, write, effects) = plan(&state, &bundle, dry_run, &who).await?;
            if !dry_run && !write.is_empty() {
                store.apply_relationships(&write).await?;
                relations.apply_effects(effects);
            }
            Ok(Json(report))
        })
        .await
}

async fn plan(
    state: &AppState,
    b: &Bundle,
    dry_run: bool,
    who: &str,
) -> Result<(ImportReport, RelWrite, IndexEffects), ApiError> {
    let store = &state.store;
    let now = now_str();
    let mut errors: Vec<String> = Vec::new();
    let mut report = ImportReport {
        dry_run,
        ..Default::default()
    };
    let mut w = RelWrite::default();
    let mut fx = IndexEffects::default();
    // class/name → key, for references (existing manual CIs and those created here).
    let mut planned: HashMap<(String, String), String> = HashMap::new();
    for (i, item) in b.cis.iter().enumerate() {
        let at = format!("cis[{i}]");
        let creating = item.key.is_none();
        if let Err(ApiError::BadRequest(e)) = validate_ci(&at, &item.ci, false) {
            errors.push(e);
            continue;
        }
        let existing_key = match &item.key {
            Some(k) if !valid_key(k) => {
                errors.push(format!("{at}.key: {k:?} is not a CI id"));
                continue;
            }
            Some(k) => Some(k.clone()),
            None => {
                let (Some(class), Some(name)) = (item.ci.class.as_deref(), item.ci.name.as_deref())
                else {
                    errors.push(format!("{at}: give a key, or a class and a name"));
                    continue;
                };
                if let Some(k) = planned.get(&(class.to_string(), name.trim().to_string())) {
                    errors.push(format!("{at}: {class}/{name} appears twice (first as {k})"));
                    continue;
                }
                let found = store
                    .ci_keys_named(name.trim(), Some(class), true, None)
                    .await?;
                match found.as_slice() {
                    [] => None,
                    [one] => Some(one.clone()),
                    many => {
                        errors.push(format!(
                            "{at}: {} manual CIs are {class}/{name}; give a key",
                            many.len()
                        ));
                        continue;
                    }
                }
            }
        };
        match existing_key {
            None => {
                if creating && let Err(ApiError::BadRequest(e)) = validate_ci(&at, &item.ci, true) {
                    errors.push(e);
                    continue;
                }
                let key = uuid::Uuid::new_v4().simple().to_string();
                let class = item.ci.class.clone().unwrap_or_default();
                let name = item.ci.name.clone().unwrap_or_default().trim().to_string();
                planned.insert((class.clone(), name.clone()), key.clone());
                report.cis_created.push(format!("{class}/{name}"));
                w.cis.push((key.clone(), manual_ci_doc(&item.ci, &now)));
                w.history.push(HistoryRecord {
                    ci: key.clone(),
                    at: now.clone(),
                    source: who.to_string(),
                    attribute: "ci".into(),
                    old: Value::Null,
                    new: json!("created"),
                });
                fx.nodes.push((
                    key,
                    node_attrs(
                        &class,
                        item.ci.min_up.flatten(),
                        item.ci.core.unwrap_or(false),
                    ),
                ));
            }
            Some(key) => {
                let Some(current) = store.ci_manual_fields(&key).await? else {
                    errors.push(format!("{at}.key: no CI with id {key}"));
                    continue;
                };
                if let Some(class) = &item.ci.class
                    && current.get("class").and_then(Value::as_str) != Some(class.as_str())
                {
                    errors.push(format!("{at}.class: CI {key} is not a {class}"));
                    continue;
                }
                let discovered =
                    current.get("identified_by").and_then(Value::as_str) != Some("manual");
                let mut input = item.ci.clone();
                input.class = None;
                let changes = match ci_changes(&current, &input, discovered) {
                    Ok(c) => c,
                    Err(ApiError::BadRequest(e)) => {
                        errors.push(format!("{at}.{e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if let (Some(c), Some(n)) = (
                    current.get("class").and_then(Value::as_str),
                    current.get("name").and_then(Value::as_str),
                ) {
                    planned.insert((c.to_string(), n.to_string()), key.clone());
                }
                if changes.is_empty() {
                    report.cis_unchanged += 1;
                    continue;
                }
                report.cis_updated.push(key.clone());
                let mut after = current.clone();
                if let Value::Object(m) = &mut after {
                    m.extend(changes.clone());
                }
                w.history
                    .extend(ci_history(&key, &current, &changes, &now, who));
                w.ci_updates.push((key.clone(), Value::Object(changes)));
                fx.nodes.push((key, attrs_of(&after)));
            }
        }
    }
    let mut seen_triples: HashMap<(String, String, RelKind), usize> = HashMap::new();
    for (i, r) in b.relationships.iter().enumerate() {
        let at = format!("relationships[{i}]");
        if r.source.as_deref() == Some("discovered") {
            report.relationships_skipped += 1;
            continue;
        }
        let kind = match parse_kind(&format!("{at}.kind"), &r.kind) {
            Ok(k) => k,
            Err(ApiError::BadRequest(e)) => {
                errors.push(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(ApiError::BadRequest(e)) = check_note(&format!("{at}.note"), &r.note) {
            errors.push(e);
            continue;
        }
        let mut ends = Vec::new();
        for (field, reference) in [("from", &r.from), ("to", &r.to)] {
            match reference_key(state, &planned, reference).await? {
                Ok(k) => ends.push(k),
                Err(e) => errors.push(format!("{at}.{field}: {e}")),
            }
        }
        let [from, to] = ends.as_slice() else {
            continue;
        };
        if from == to {
            errors.push(format!("{at}.to: a CI cannot be related to itself"));
            continue;
        }
        if let Some(first) = seen_triples.insert((from.clone(), to.clone(), kind), i) {
            errors.push(format!("{at}: same relationship as relationships[{first}]"));
            continue;
        }
        let label = format!("{from} -{}-> {to}", kind.as_str());
        let existing = store.manual_relationship(from, to, kind.as_str()).await?;
        match existing {
            None => {
                let rec = manual_record(from, to, kind, r.note.clone(), None, &now);
                w.history.extend(history_rows(None, Some(&rec), &now, who));
                fx.add.push((from.clone(), to.clone(), kind));
                w.upserts.push(rec);
                report.relationships_created.push(label);
            }
            Some(e) => {
                let note = r.note.clone().filter(|n| !n.trim().is_empty());
                if note == e.note || r.note.is_none() {
                    report.relationships_unchanged += 1;
                } else {
                    let mut after: RelationshipRecord = e.clone();
                    after.note = note;
                    w.history
                        .extend(history_rows(Some(&e), Some(&after), &now, who));
                    w.upserts.push(after);
                    report.relationships_updated.push(label);
                }
            }
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(100);
        return Err(ApiError::BadRequest(format!(
            "{n} error{} (nothing imported): {}",
            if n == 1 { "" } else { "s" },
            errors.join("; ")
        )));
    }
    Ok((report, w, fx))
}

/// A CI reference: an id, or `class/name` (a manual CI, one created by this import, or any
/// CI of that class with that unique name).
async fn reference_key(
    state: &AppState,
    planned: &HashMap<(String, String), String>,
    r: &str,
) -> Result<Result<String, String>, ApiError> {
    let r = r.trim();
    if r.is_empty() || r.len() > 300 {
        return Ok(Err("expected a CI id or class/name".into()));
    }
    if let Some((class, name)) = r.split_once('/') {
        if let Some(k) = planned.get(&(class.to_string(), name.to_string())) {
            return Ok(Ok(k.clone()));
        }
        let found = state
            .store
            .ci_keys_named(name, Some(class), false, None)
            .await?;
        return Ok(match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("no CI {class}/{name}")),
            many => Err(format!("{} CIs are {class}/{name}; use an id", many.len())),
        });
    }
    if valid_key(r) && !state.store.existing_cis(&[r.to_string()]).await?.is_empty() {
        return Ok(Ok(r.to_string()));
    }
    Ok(Err(format!(
        "no CI with id {r:?} (use an id or class/name)"
    )))
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
    responses((status = 200, body = Bundle), (status = 400, body = ErrorBody)),
    security(("bearer" = [])), tag = "relationships")]
async fn export(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let Query(p) = params.map_err(bad_query)?;
    let format = p.format.as_deref().unwrap_or("json");
    let what = p.what.as_deref();
    if !matches!(what, None | Some("cis") | Some("relationships")) {
        return Err(ApiError::BadRequest(
            "what: expected \"cis\" or \"relationships\"".into(),
        ));
    }
    let cis = if what != Some("relationships") {
        state.store.manual_cis().await?
    } else {
        Vec::new()
    };
    let rels = if what != Some("cis") {
        state.store.all_relationships().await?
    } else {
        Vec::new()
    };
    match format {
        "json" => {
            let mut out = BTreeMap::new();
            if what != Some("relationships") {
                out.insert("cis", Value::Array(cis));
            }
            if what != Some("cis") {
                out.insert(
                    "relationships",
                    serde_json::to_value(&rels).map_err(|e| ApiError::Internal(Box::new(e)))?,
                );
            }
            Ok(Json(out).into_response())
        }
        "csv" => {
            let mut wtr = csv::Writer::from_writer(Vec::new());
            let mut put = |rec: &[String]| {
                wtr.write_record(rec)
                    .map_err(|e| ApiError::Internal(Box::new(e)))
            };
            match what {
                Some("cis") => {
                    put(&[
                        "key",
                        "class",
                        "name",
                        "description",
                        "owner",
                        "min_up",
                        "core",
                    ]
                    .map(String::from))?;
                    for c in &cis {
                        let s = |f: &str| match c.get(f) {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Null) | None => String::new(),
                            Some(v) => v.to_string(),
                        };
                        put(&[
                            s("key"),
                            s("class"),
                            s("name"),
                            s("description"),
                            s("owner"),
                            s("min_up"),
                            s("core"),
                        ])?;
                    }
                }
                Some("relationships") => {
                    put(&[
                        "key",
                        "from",
                        "kind",
                        "to",
                        "source",
                        "stale",
                        "first_seen",
                        "last_seen",
                        "note",
                    ]
                    .map(String::from))?;
                    for r in &rels {
                        put(&[
                            r.key.clone(),
                            r.from.clone(),
                            r.kind.clone(),
                            r.to.clone(),
                            r.source.clone(),
                            r.stale.to_string(),
                            r.first_seen.clone(),
                            r.last_seen.clone(),
                            r.note.clone().unwrap_or_default(),
                        ])?;
                    }
                }
                _ => {
                    return Err(ApiError::BadRequest(
                        "what: CSV exports one list: cis or relationships".into(),
                    ));
                }
            }
            let bytes = wtr
                .into_inner()
                .map_err(|e| ApiError::Internal(Box::new(e.into_error())))?;
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
        }
        other => Err(ApiError::BadRequest(format!(
            "format: expected \"json\" or \"csv\", got {other:?}"
        ))),
    }
}
