//! CI search and lists (filters, sorting, paging) and the CI page: identification and
//! suspected duplicates, attributes with their source, relationships both ways, history with
//! a difference between two dates, software, and a network device's interfaces and
//! neighbours.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;

use super::{Signed, UiError, render, urlencode};
use crate::AppState;
use crate::inventory::{CiDetail, CiListItem, CiQuery, DEVICE_SECTION, HistoryQuery};
use crate::web::Session;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/cis", get(list))
        .route("/ui/cis/{id}", get(detail))
}

/// Classes offered in the filter when the CMDB has none of them yet.
const BASE_CLASSES: &[&str] = &["host", "network_device", "service", "business_service"];

#[derive(Debug, Default, Deserialize)]
struct ListForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    class: String,
    /// "", "true" or "false".
    #[serde(default)]
    stale: String,
    #[serde(default)]
    duplicates: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    offset: Option<u32>,
}

#[derive(Template)]
#[template(path = "cis.html")]
struct ListPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    can_edit: bool,
    q: String,
    class: String,
    classes: Vec<String>,
    stale: String,
    duplicates: bool,
    sort: String,
    items: Vec<CiListItem>,
    total: u64,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
}

const PAGE: u32 = 50;

async fn list(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    form: Result<Query<ListForm>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, UiError> {
    let Query(f) =
        form.map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))?;
    let stale = match f.stale.as_str() {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        other => {
            return Err(UiError::bad_request(format!(
                "stale: expected true or false, got {other:?}"
            )));
        }
    };
    let duplicates = f.duplicates.as_deref() == Some("true");
    let sort = f.sort.clone().unwrap_or_else(|| "name".into());
    let offset = f.offset.unwrap_or(0);
    let page = state
        .inventory
        .list(CiQuery {
            class: Some(f.class.clone()),
            q: Some(f.q.trim().to_string()),
            stale,
            duplicates,
            sort: Some(sort.clone()),
            limit: Some(PAGE),
            offset: Some(offset),
        })
        .await?;
    let mut classes: Vec<String> = state
        .inventory
        .class_counts()
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    for c in BASE_CLASSES {
        if !classes.iter().any(|x| x == c) {
            classes.push((*c).to_string());
        }
    }
    classes.sort();
    let link = |offset: u32| {
        let mut q = format!(
            "q={}&class={}&stale={}&sort={}&offset={offset}",
            urlencode(&f.q),
            urlencode(&f.class),
            urlencode(&f.stale),
            urlencode(&sort)
        );
        if duplicates {
            q.push_str("&duplicates=true");
        }
        q
    };
    let shown = page.items.len() as u64;
    Ok(render(&ListPage {
        session: Some(&session),
        nav: "cis",
        can_edit: session.can_edit(),
        prev: (offset > 0).then(|| link(offset.saturating_sub(PAGE))),
        next: (u64::from(offset) + shown < page.total).then(|| link(offset + PAGE)),
        first: u64::from(offset) + 1,
        last: u64::from(offset) + shown,
        total: page.total,
        items: page.items,
        q: f.q,
        class: f.class,
        classes,
        stale: f.stale,
        duplicates,
        sort,
    }))
}

/// One relationship as the CI page shows it.
pub struct RelRow {
    pub id: String,
    /// Entered by hand (editors may remove it; discovery owns the others).
    pub manual: bool,
    pub direction: &'static str,
    pub kind: String,
    pub other: String,
    pub other_name: String,
    pub other_class: String,
    pub source: String,
    pub evidence: String,
    pub stale: bool,
}

/// A network device's tables, shortened for the page.
pub struct DeviceView {
    /// (index, name, alias, speed, MAC)
    pub interfaces: Vec<(String, String, String, String, String)>,
    /// (local port, neighbour, its port, protocol)
    pub neighbours: Vec<(String, String, String, String)>,
    pub forwarding: usize,
    pub arp: usize,
}

/// A history record, values shown as text.
pub struct HistoryRow {
    pub at: String,
    pub attribute: String,
    pub old: String,
    pub new: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "ci.html")]
struct CiPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    can_edit: bool,
    csrf: &'a str,
    manual: bool,
    kinds: &'static [&'static str],
    ci: CiDetail,
    keys: Vec<(String, String)>,
    duplicates: Vec<(String, String)>,
    /// (attribute, value, source)
    attributes: Vec<(String, String, String)>,
    relationships: Vec<RelRow>,
    device: Option<DeviceView>,
    history: Vec<HistoryRow>,
    diff_from: String,
    diff_to: String,
    /// (attribute, then, now)
    diff: Option<Vec<(String, String, String)>>,
    /// (name, version, architecture, manager)
    packages: Vec<(String, String, String, String)>,
}

#[derive(Debug, Default, Deserialize)]
struct DiffForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A JSON value as one line of text.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Most attribute rows a page shows (a device's tables have their own sections).
const MAX_ATTRIBUTES: usize = 500;

/// Flattens a section into `path = value` rows.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    if out.len() >= MAX_ATTRIBUTES {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            out.push((
                prefix.to_string(),
                items.iter().map(text).collect::<Vec<_>>().join(", "),
            ));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        other => out.push((prefix.to_string(), text(other))),
    }
}

/// Parts of a network device's section shown in a table of their own, not as attributes.
const DEVICE_TABLES: &[&str] = &["interfaces"];

fn device_view(ci: &CiDetail) -> Option<DeviceView> {
    let d = ci.device.as_ref()?;
    let s = |v: Option<&Value>| v.map(text).unwrap_or_default();
    let interfaces = ci
        .ci
        .sections
        .get(DEVICE_SECTION)
        .and_then(|d| d.get("interfaces"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .take(2000)
                .map(|i| {
                    (
                        s(i.get("index")),
                        s(i.get("name")),
                        s(i.get("alias")),
                        i.get("speed_mbps")
                            .and_then(Value::as_u64)
                            .map(|m| format!("{m} Mb/s"))
                            .unwrap_or_default(),
                        s(i.get("mac")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut neighbours: Vec<(String, String, String, String)> = d
        .lldp_neighbors
        .iter()
        .map(|n| {
            (
                n.local_port
                    .clone()
                    .unwrap_or_else(|| n.local_port_num.to_string()),
                n.system_name
                    .clone()
                    .unwrap_or_else(|| n.chassis_id.clone()),
                n.port_description
                    .clone()
                    .unwrap_or_else(|| n.port_id.clone()),
                "LLDP".into(),
            )
        })
        .collect();
    neighbours.extend(d.cdp_neighbors.iter().map(|n| {
        (
            n.local_port
                .clone()
                .unwrap_or_else(|| n.local_if_index.to_string()),
            n.device_id.clone(),
            n.port.clone().unwrap_or_default(),
            "CDP".into(),
        )
    }));
    Some(DeviceView {
        interfaces,
        neighbours,
        forwarding: d.forwarding.len(),
        arp: d.arp.len(),
    })
}

/// A date from the diff form (`YYYY-MM-DD`, or a full RFC 3339 time) as the service takes it.
fn day(field: &str, v: &str, end_of_day: bool) -> Result<String, UiError> {
    let v = v.trim();
    if v.len() == 10 {
        let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| UiError::bad_request(format!("{field}: expected a date, got {v:?}")))?;
        let t = if end_of_day {
            d.and_hms_opt(23, 59, 59)
        } else {
            d.and_hms_opt(0, 0, 0)
        }
        .unwrap_or_default();
        return Ok(format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")));
    }
    Ok(v.to_string())
}

async fn detail(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    form: Result<Query<DiffForm>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, UiError> {
    let Query(diff_form) =
        form.map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))?;
    let ci = state.inventory.ci(&id).await?;
    let keys = serde_json::to_value(&ci.ci.keys)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
        .map(|(k, v)| (k, text(&v)))
        .collect();
    let source = match &ci.ci.agent {
        Some(a) if ci.ci.class == "network_device" => format!("poll by agent {a}"),
        Some(a) => format!("report of agent {a}"),
        None if ci.ci.identified_by == "manual" => "entered by hand".into(),
        None => "discovery".into(),
    };
    let mut attributes = Vec::new();
    for (name, section) in &ci.ci.sections {
        let mut rows = Vec::new();
        match section {
            Value::Object(parts) if name == DEVICE_SECTION => {
                for (part, v) in parts {
                    if !DEVICE_TABLES.contains(&part.as_str()) {
                        flatten(&format!("{name}.{part}"), v, &mut rows);
                    }
                }
            }
            _ => flatten(name, section, &mut rows),
        }
        attributes.extend(rows.into_iter().map(|(k, v)| (k, v, source.clone())));
        if attributes.len() >= MAX_ATTRIBUTES {
            break;
        }
    }

    let rels = state.relationships.relationships_of(&id).await?;
    let mut others: Vec<String> = rels
        .iter()
        .map(|r| {
            if r.from == id {
                r.to.clone()
            } else {
                r.from.clone()
            }
        })
        .collect();
    others.extend(ci.ci.suspected_duplicates.iter().cloned());
    let names = state.inventory.names(&others).await?;
    let name_of = |k: &str| {
        names
            .get(k)
            .cloned()
            .unwrap_or_else(|| (k.to_string(), String::new()))
    };
    let relationships = rels
        .iter()
        .map(|r| {
            let (direction, other) = if r.from == id {
                ("outgoing", r.to.clone())
            } else {
                ("incoming", r.from.clone())
            };
            let (other_name, other_class) = name_of(&other);
            RelRow {
                id: r.key.clone(),
                manual: r.source == "manual",
                direction,
                kind: r.kind.clone(),
                other,
                other_name,
                other_class,
                source: if r.discovered_by.is_empty() {
                    r.source.clone()
                } else {
                    format!("{} ({})", r.source, r.discovered_by.join(", "))
                },
                evidence: match &r.evidence {
                    Value::Object(m) if m.is_empty() => String::new(),
                    Value::Null => String::new(),
                    v => v.to_string(),
                },
                stale: r.stale,
            }
        })
        .collect();
    let duplicates = ci
        .ci
        .suspected_duplicates
        .iter()
        .map(|k| (k.clone(), name_of(k).0))
        .collect();

    let history = state
        .inventory
        .history(
            &id,
            HistoryQuery {
                limit: Some(200),
                ..Default::default()
            },
        )
        .await?
        .into_iter()
        .rev()
        .map(|h| HistoryRow {
            at: h.at,
            attribute: h.attribute,
            old: text(&h.old),
            new: text(&h.new),
            source: h.source,
        })
        .collect();
    let diff = if diff_form.from.trim().is_empty() {
        None
    } else {
        let from = day("from", &diff_form.from, false)?;
        let to = (!diff_form.to.trim().is_empty())
            .then(|| day("to", &diff_form.to, true))
            .transpose()?;
        let d = state.inventory.diff(&id, from, to).await?;
        Some(
            d.entries
                .into_iter()
                .map(|e| (e.attribute, text(&e.before), text(&e.after)))
                .collect(),
        )
    };
    let packages = if ci.ci.class == "host" {
        state
            .inventory
            .packages(&id)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.name,
                    p.version,
                    p.architecture.unwrap_or_default(),
                    p.manager,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(render(&CiPage {
        session: Some(&session),
        nav: "cis",
        can_edit: session.can_edit(),
        csrf: &session.csrf,
        manual: ci.ci.identified_by == "manual",
        kinds: &[
            "depends_on",
            "runs_on",
            "hosted_on",
            "connected_to",
            "powered_by",
            "member_of",
        ],
        keys,
        duplicates,
        attributes,
        relationships,
        device: device_view(&ci),
        history,
        diff_from: diff_form.from,
        diff_to: diff_form.to,
        diff,
        packages,
        ci,
    }))
}
