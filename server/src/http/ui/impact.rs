//! Impact pages: "if these CIs fail, what fails?" with the business services hit first, the
//! affected CIs as a table and their graph laid out server-side (paths to business services
//! highlighted), exports as CSV, DOT and SVG; and the relationship map around a CI, drawn
//! the same way with a table of its edges. The CI picker resolves ids or names when the form
//! is submitted (choices when a name is ambiguous or unknown); with htmx it also suggests
//! CIs as one types. Viewer role suffices.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Signed, UiError, render, urlencode};
use crate::AppState;
use crate::domain::layout::MAX_NODES;
use crate::impact::{ImpactReport, Neighbourhood, Page};
use crate::inventory::CiQuery;
use crate::web::Session;
use crate::web::graph_svg::{self, Mark, SvgEdge, SvgNode};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui/impact", get(page))
        .route("/ui/impact/suggest", get(suggest))
        .route("/ui/impact.csv", get(export_csv))
        .route("/ui/impact.dot", get(export_dot))
        .route("/ui/impact.svg", get(export_svg))
        .route("/ui/cis/{id}/map", get(map))
}

/// Deepest `max_depth` the form takes.
pub const MAX_DEPTH: u32 = 32;
/// Deepest relationship map.
pub const MAX_MAP_DEPTH: u32 = 4;
/// CIs suggested as one types.
const SUGGESTIONS: u32 = 10;
/// Affected CIs listed in the page's table, nearest first; the CSV export has every one.
const TABLE_ROWS: usize = 500;

/// The impact form, as its query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ImpactForm {
    /// CI ids or names, separated by commas.
    #[serde(default)]
    pub cis: String,
    #[serde(default)]
    pub max_depth: String,
    /// Change window (`YYYY-MM-DDTHH:MM`), only to link to a new change.
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
}

impl ImpactForm {
    /// The CI references typed, in order, without blanks.
    fn refs(&self) -> Vec<String> {
        self.cis
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    fn max_depth(&self) -> Result<Option<u32>, UiError> {
        let v = self.max_depth.trim();
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<u32>() {
            Ok(d) if (1..=MAX_DEPTH).contains(&d) => Ok(Some(d)),
            _ => Err(UiError::bad_request(format!(
                "max_depth: expected a whole number from 1 to {MAX_DEPTH}, got {v:?}"
            ))),
        }
    }

    /// The change window, when both ends are given; an error when it is malformed.
    fn window(&self) -> Result<Option<(String, String)>, UiError> {
        let (s, e) = (self.start.trim(), self.end.trim());
        if s.is_empty() && e.is_empty() {
            return Ok(None);
        }
        let parse = |field: &str, v: &str| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
                .map_err(|_| {
                    UiError::bad_request(format!(
                        "{field}: expected a date and time (YYYY-MM-DDTHH:MM), got {v:?}"
                    ))
                })
        };
        let start = parse("start", s)?;
        let end = parse("end", e)?;
        if end <= start {
            return Err(UiError::bad_request(
                "end: the change window must end after it starts",
            ));
        }
        Ok(Some((s.to_string(), e.to_string())))
    }
}

/// A CI offered when a reference did not resolve to one CI.
pub struct Choice {
    pub id: String,
    pub name: String,
    pub class: String,
    /// The impact page with this CI in place of the reference.
    pub href: String,
}

/// A reference that did not resolve, with the CIs it may mean.
pub struct Unresolved {
    pub reference: String,
    pub choices: Vec<Choice>,
}

/// One affected CI as the page shows it.
pub struct Row {
    pub id: String,
    pub name: String,
    pub class: String,
    pub state: String,
    pub cause: String,
    pub depth: u32,
    pub via: Option<(String, String)>,
    /// The path's names, from a failed CI.
    pub path: String,
}

/// An analysis as the page shows it.
pub struct ImpactView {
    /// (id, name, class)
    pub failed: Vec<(String, String, String)>,
    pub services: Vec<Row>,
    pub rows: Vec<Row>,
    /// Affected CIs in the answer (the table shows the nearest [`TABLE_ROWS`]).
    pub rows_total: usize,
    pub down: usize,
    pub degraded: usize,
    pub at_risk: usize,
    /// Business services above at-risk CIs: (id, name, own state, at-risk CIs below).
    pub services_at_risk: Vec<(String, String, String, u32)>,
    pub truncated: bool,
    pub paths_truncated: bool,
    pub retired_left_out: usize,
    /// Inline SVG (built by `graph_svg`, every CMDB string escaped).
    pub svg: Option<String>,
    pub graph_note: Option<String>,
    /// The query string of the exports.
    pub query: String,
    /// Where to create a change for the window given.
    pub change_link: Option<String>,
}

#[derive(Template)]
#[template(path = "impact.html")]
struct ImpactPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    form: ImpactForm,
    error: Option<String>,
    unresolved: Vec<Unresolved>,
    result: Option<ImpactView>,
}

#[derive(Template)]
#[template(path = "impact_suggest.html")]
struct SuggestFragment {
    q: String,
    choices: Vec<Choice>,
}

/// The failed set of a form, or the page's problem: a message and, per reference that did
/// not resolve, the CIs it may mean.
async fn resolve(
    state: &AppState,
    form: &ImpactForm,
) -> Result<Vec<String>, (String, Vec<Unresolved>)> {
    let refs = form.refs();
    match state.impact.resolve(&refs, "cis").await {
        Ok(ids) => Ok(ids),
        Err(e) => {
            let message = UiError::from(e).message;
            let mut unresolved = Vec::new();
            for (i, r) in refs.iter().enumerate() {
                if state
                    .impact
                    .resolve(std::slice::from_ref(r), "cis")
                    .await
                    .is_ok()
                {
                    continue;
                }
                let choices = candidates(state, r, 20)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(id, name, class)| {
                        let mut with = refs.clone();
                        with[i] = id.clone();
                        let mut href = format!("/ui/impact?cis={}", urlencode(&with.join(",")));
                        href.push_str(&extra_query(form));
                        Choice {
                            id,
                            name,
                            class,
                            href,
                        }
                    })
                    .collect();
                unresolved.push(Unresolved {
                    reference: r.clone(),
                    choices,
                });
            }
            Err((message, unresolved))
        }
    }
}

/// `&max_depth=…&start=…&end=…` for the fields given.
fn extra_query(form: &ImpactForm) -> String {
    let mut q = String::new();
    for (k, v) in [
        ("max_depth", &form.max_depth),
        ("start", &form.start),
        ("end", &form.end),
    ] {
        if !v.trim().is_empty() {
            q.push_str(&format!("&{k}={}", urlencode(v.trim())));
        }
    }
    q
}

/// CIs whose name or id matches `q`: (id, name, class).
async fn candidates(
    state: &AppState,
    q: &str,
    limit: u32,
) -> Result<Vec<(String, String, String)>, UiError> {
    let page = state
        .inventory
        .list(CiQuery {
            q: Some(q.to_string()),
            sort: Some("name".into()),
            limit: Some(limit),
            ..Default::default()
        })
        .await?;
    Ok(page
        .items
        .into_iter()
        .map(|i| (i.ci.key, i.ci.name, i.ci.class))
        .collect())
}

/// The SVG node mark of an affected CI.
fn mark_of(state: &str, cause: &str, class: &str) -> Mark {
    match (cause, class, state) {
        ("failed", _, _) => Mark::Failed,
        (_, "business_service", "down") => Mark::ServiceDown,
        (_, "business_service", _) => Mark::ServiceDegraded,
        (_, _, "down") => Mark::Down,
        (_, _, "at_risk") => Mark::AtRisk,
        _ => Mark::Degraded,
    }
}

/// The impact graph of a report: the nearest [`MAX_NODES`] affected CIs, an arrow from each
/// CI to those it takes with it, the paths to business services highlighted. The SVG, and a
/// note when the graph was cut.
pub fn impact_svg(report: &ImpactReport, title: &str) -> (Option<String>, Option<String>) {
    let shown = &report.affected[..report.affected.len().min(MAX_NODES)];
    let index: HashMap<&str, usize> = shown
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let hit: BTreeSet<(&str, &str)> = report
        .business_services
        .iter()
        .flat_map(|s| s.path.windows(2).map(|w| (w[0].as_str(), w[1].as_str())))
        .collect();
    let nodes: Vec<SvgNode> = shown
        .iter()
        .map(|r| SvgNode {
            id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            class: r.class.clone().unwrap_or_default(),
            mark: mark_of(&r.state, &r.cause, r.class.as_deref().unwrap_or("")),
        })
        .collect();
    let edges: Vec<SvgEdge> = shown
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let v = r.via.as_deref()?;
            let from = *index.get(v)?;
            Some(SvgEdge {
                from,
                to: i,
                label: r.cause.clone(),
                highlight: hit.contains(&(v, r.id.as_str())),
                dashed: false,
            })
        })
        .collect();
    let all = report.down + report.degraded + report.at_risk;
    let note = (shown.len() < report.affected.len() || report.truncated).then(|| {
        format!(
            "The graph was cut: it shows the nearest {} of {all} affected CIs; the table lists {}.",
            shown.len(),
            report.affected.len()
        )
    });
    let desc = format!(
        "{} CIs down, {} degraded and {} at risk; {} business services hit. Arrows go from a CI to those its failure takes with it.",
        report.down,
        report.degraded,
        report.at_risk,
        report.business_services.len()
    );
    match graph_svg::render(title, &desc, &nodes, &edges) {
        Ok(svg) => (Some(svg), note),
        Err(e) => (None, Some(format!("The graph is not drawn: {e}."))),
    }
}

fn rows_of(list: &[crate::impact::AffectedCi], names: &HashMap<String, String>) -> Vec<Row> {
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    list.iter()
        .map(|r| Row {
            id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            class: r.class.clone().unwrap_or_default(),
            state: r.state.clone(),
            cause: r.cause.clone(),
            depth: r.depth,
            via: r.via.as_ref().map(|v| (v.clone(), name(v))),
            path: r
                .path
                .iter()
                .map(|p| name(p))
                .collect::<Vec<_>>()
                .join(" → "),
        })
        .collect()
}

/// Runs the analysis of a form whose references resolved: the page lists (and names) only
/// the affected CIs it shows, the nearest [`TABLE_ROWS`] and graph's [`MAX_NODES`]; the
/// exports (`page` none) every one, up to `relationships.max_impact_items`.
async fn analyse(
    state: &AppState,
    form: &ImpactForm,
    failed: &[String],
    page: Option<Page>,
) -> Result<(ImpactReport, ImpactView), UiError> {
    let max_depth = form.max_depth()?;
    let window = form.window()?;
    let paged = page.is_some();
    let report = state.impact.analyse_page(failed, max_depth, page).await?;
    let names: HashMap<String, String> = report
        .affected
        .iter()
        .chain(&report.business_services)
        .map(|r| (r.id.clone(), r.name.clone().unwrap_or_else(|| r.id.clone())))
        .collect();
    let title = format!(
        "Impact of the failure of {}",
        failed
            .iter()
            .map(|f| names.get(f).cloned().unwrap_or_else(|| f.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (svg, graph_note) = impact_svg(&report, &title);
    let ids = failed.join(",");
    let mut query = format!("cis={}", urlencode(&ids));
    if let Some(d) = max_depth {
        query.push_str(&format!("&max_depth={d}"));
    }
    let change_link = window.map(|(s, e)| {
        format!(
            "/ui/changes/new?cis={}&start={}&end={}",
            urlencode(&ids),
            urlencode(&s),
            urlencode(&e)
        )
    });
    let failed_rows = report
        .affected
        .iter()
        .filter(|r| r.depth == 0)
        .map(|r| {
            (
                r.id.clone(),
                r.name.clone().unwrap_or_else(|| r.id.clone()),
                r.class.clone().unwrap_or_default(),
            )
        })
        .collect();
    let view = ImpactView {
        failed: failed_rows,
        services: rows_of(&report.business_services, &names),
        rows: rows_of(
            &report.affected[..report.affected.len().min(TABLE_ROWS)],
            &names,
        ),
        // The whole list's length: every affected CI is down, degraded or at risk.
        rows_total: if paged {
            report.down + report.degraded + report.at_risk
        } else {
            report.affected.len()
        },
        down: report.down,
        degraded: report.degraded,
        at_risk: report.at_risk,
        services_at_risk: report
            .services_at_risk
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.name.clone().unwrap_or_else(|| s.id.clone()),
                    s.state.clone(),
                    s.at_risk_below,
                )
            })
            .collect(),
        // Cut at the server's limit (a page is cut by design): the CSV export is not whole.
        truncated: if paged {
            report.down + report.degraded + report.at_risk
                > state.config.relationships.max_impact_items
        } else {
            report.truncated
        },
        paths_truncated: report.paths_truncated,
        retired_left_out: report.retired_left_out,
        svg,
        graph_note,
        query,
        change_link,
    };
    Ok((report, view))
}

/// The impact page's HTML and status for a form, without a session (the header shows no
/// user): the path a benchmark times, the same work as `GET /ui/impact`.
pub async fn impact_page_html(
    state: &AppState,
    form: ImpactForm,
) -> Result<(StatusCode, String), UiError> {
    let resp = impact_page(state, None, form).await?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| UiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

async fn impact_page(
    state: &AppState,
    session: Option<&Session>,
    form: ImpactForm,
) -> Result<Response, UiError> {
    let mut page = ImpactPage {
        session,
        nav: "impact",
        form,
        error: None,
        unresolved: Vec::new(),
        result: None,
    };
    let problem = |mut page: ImpactPage<'_>, status: StatusCode, message: String| {
        page.error = Some(message);
        let mut resp = render(&page);
        *resp.status_mut() = status;
        resp
    };
    // A blank form: the page to fill in (its own fields still checked).
    if page.form.refs().is_empty() {
        if let Err(e) = page.form.max_depth().and(page.form.window()) {
            return Ok(problem(page, e.status, e.message));
        }
        return Ok(render(&page));
    }
    let failed = match resolve(state, &page.form).await {
        Ok(f) => f,
        Err((message, unresolved)) => {
            page.unresolved = unresolved;
            return Ok(problem(page, StatusCode::BAD_REQUEST, message));
        }
    };
    let shown = Page {
        offset: 0,
        limit: Some(TABLE_ROWS.max(MAX_NODES)),
    };
    match analyse(state, &page.form, &failed, Some(shown)).await {
        Ok((_, view)) => {
            page.result = Some(view);
            Ok(render(&page))
        }
        Err(e) if e.status.is_client_error() => Ok(problem(page, e.status, e.message)),
        Err(e) => Err(e),
    }
}

fn query_of(q: Result<Query<ImpactForm>, QueryRejection>) -> Result<ImpactForm, UiError> {
    q.map(|Query(f)| f)
        .map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))
}

async fn page(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    q: Result<Query<ImpactForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let form = query_of(q)?;
    impact_page(&state, Some(&session), form).await
}

/// An HTML fragment of the CIs matching the last reference typed (for htmx).
async fn suggest(
    State(state): State<Arc<AppState>>,
    Signed(_session): Signed,
    q: Result<Query<ImpactForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let form = query_of(q)?;
    let (before, last) = match form.cis.rsplit_once(',') {
        Some((b, l)) => (Some(b), l.trim()),
        None => (None, form.cis.trim()),
    };
    let choices = if last.is_empty() || last.len() > 255 {
        Vec::new()
    } else {
        candidates(&state, last, SUGGESTIONS)
            .await?
            .into_iter()
            .map(|(id, name, class)| {
                let cis = match before {
                    Some(b) if !b.trim().is_empty() => format!("{},{id}", b.trim()),
                    _ => id.clone(),
                };
                Choice {
                    href: format!("/ui/impact?cis={}{}", urlencode(&cis), extra_query(&form)),
                    id,
                    name,
                    class,
                }
            })
            .collect()
    };
    Ok(render(&SuggestFragment {
        q: last.to_string(),
        choices,
    }))
}

/// The report of an export request; any problem is an error page.
async fn export_report(state: &AppState, form: &ImpactForm) -> Result<ImpactReport, UiError> {
    let failed = resolve(state, form)
        .await
        .map_err(|(m, _)| UiError::bad_request(m))?;
    Ok(analyse(state, form, &failed, None).await?.0)
}

fn attachment(kind: &'static str, name: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response()
}

async fn export_csv(
    State(state): State<Arc<AppState>>,
    Signed(_session): Signed,
    q: Result<Query<ImpactForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let report = export_report(&state, &query_of(q)?).await?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        "attachment; filename=\"impact.csv\"",
        super::super::render::impact_csv(&report.affected),
    ))
}

async fn export_dot(
    State(state): State<Arc<AppState>>,
    Signed(_session): Signed,
    q: Result<Query<ImpactForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let report = export_report(&state, &query_of(q)?).await?;
    Ok(attachment(
        "text/vnd.graphviz; charset=utf-8",
        "attachment; filename=\"impact.dot\"",
        super::super::render::impact_dot("impact", &report.affected),
    ))
}

async fn export_svg(
    State(state): State<Arc<AppState>>,
    Signed(_session): Signed,
    q: Result<Query<ImpactForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let report = export_report(&state, &query_of(q)?).await?;
    let (svg, note) = impact_svg(&report, "Impact analysis");
    let svg = svg.ok_or_else(|| {
        UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            note.unwrap_or_else(|| "the graph is not drawn".into()),
        )
    })?;
    Ok(attachment(
        "image/svg+xml",
        "attachment; filename=\"impact.svg\"",
        svg,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct MapForm {
    #[serde(default)]
    depth: String,
}

/// One relationship in the map's table.
pub struct MapRow {
    pub from: (String, String),
    pub kind: String,
    pub to: (String, String),
    pub stale: bool,
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    id: String,
    name: String,
    class: String,
    depth: u32,
    depths: Vec<u32>,
    cis: usize,
    rows: Vec<MapRow>,
    svg: Option<String>,
    note: Option<String>,
}

/// The map's SVG: the centre marked, stale relationships dashed.
pub fn map_svg(
    n: &Neighbourhood,
    title: &str,
) -> Result<String, crate::domain::layout::LayoutError> {
    let index: HashMap<&str, usize> = n
        .cis
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let nodes: Vec<SvgNode> = n
        .cis
        .iter()
        .map(|c| SvgNode {
            id: c.id.clone(),
            name: c.name.clone(),
            class: c.class.clone(),
            mark: if c.id == n.centre {
                Mark::Focus
            } else {
                Mark::Plain
            },
        })
        .collect();
    let edges: Vec<SvgEdge> = n
        .relationships
        .iter()
        .filter_map(|r| {
            Some(SvgEdge {
                from: *index.get(r.from.as_str())?,
                to: *index.get(r.to.as_str())?,
                label: if r.stale {
                    format!("{} (stale)", r.kind)
                } else {
                    r.kind.clone()
                },
                highlight: false,
                dashed: r.stale,
            })
        })
        .collect();
    let desc = format!(
        "{} CIs and {} relationships around this CI. Arrows go from a CI to what it depends on, runs on, is hosted on, is powered by, is a member of or is connected to.",
        n.cis.len(),
        n.relationships.len()
    );
    graph_svg::render(title, &desc, &nodes, &edges)
}

async fn map(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    q: Result<Query<MapForm>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(f) =
        q.map_err(|e| UiError::bad_request(format!("query string: {}", e.body_text())))?;
    let depth = match f.depth.trim() {
        "" => 2,
        v => match v.parse::<u32>() {
            Ok(d) if (1..=MAX_MAP_DEPTH).contains(&d) => d,
            _ => {
                return Err(UiError::bad_request(format!(
                    "depth: expected a whole number from 1 to {MAX_MAP_DEPTH}, got {v:?}"
                )));
            }
        },
    };
    let n = state.impact.neighbourhood(&id, depth, MAX_NODES).await?;
    let names: HashMap<&str, &str> = n
        .cis
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let named = |k: &str| {
        (
            k.to_string(),
            names.get(k).copied().unwrap_or(k).to_string(),
        )
    };
    let rows = n
        .relationships
        .iter()
        .map(|r| MapRow {
            from: named(&r.from),
            kind: r.kind.clone(),
            to: named(&r.to),
            stale: r.stale,
        })
        .collect();
    let centre = n.cis.first().cloned();
    let (name, class) = centre
        .map(|c| (c.name, c.class))
        .unwrap_or_else(|| (id.clone(), String::new()));
    let title = format!("Relationships within {depth} hops of {name}");
    let (svg, mut note) = match map_svg(&n, &title) {
        Ok(svg) => (Some(svg), None),
        Err(e) => (None, Some(format!("The map is not drawn: {e}."))),
    };
    if n.cut {
        note = Some(format!(
            "The map was cut at {MAX_NODES} CIs: the nearest are shown; choose a smaller depth to see all of them."
        ));
    }
    Ok(render(&MapPage {
        session: Some(&session),
        nav: "impact",
        depths: (1..=MAX_MAP_DEPTH).collect(),
        cis: n.cis.len(),
        id,
        name,
        class,
        depth,
        rows,
        svg,
        note,
    }))
}
