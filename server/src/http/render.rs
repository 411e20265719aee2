//! Answers in the formats people paste elsewhere: impact rows as CSV and Graphviz DOT, the
//! export lists as CSV. JSON is axum's.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ApiError;
use crate::impact::AffectedCi;
use crate::relationships::import::Export;

/// Output format.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
    Dot,
}

/// CSV of affected CIs.
pub fn impact_csv(rows: &[AffectedCi]) -> String {
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
/// reaches, labelled with the cause; down in red, degraded in orange, at risk in yellow,
/// business services boxed.
pub fn impact_dot(title: &str, rows: &[AffectedCi]) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [style=filled, fontname=\"sans-serif\"];\n",
        dot_id(title)
    );
    for r in rows {
        let color = match r.state.as_str() {
            "down" => "#f4a6a6",
            "at_risk" => "#fdf6b2",
            _ => "#f9d49b",
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
pub fn render(json: impl Serialize, rows: &[AffectedCi], format: Format, title: &str) -> Response {
    match format {
        Format::Json => Json(json).into_response(),
        Format::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            impact_csv(rows),
        )
            .into_response(),
        Format::Dot => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            impact_dot(title, rows),
        )
            .into_response(),
    }
}

/// CSV of one export list: `cis` or `relationships`.
pub fn export_csv(export: &Export, what: Option<&str>) -> Result<Response, ApiError> {
    let cis = &export.cis;
    let rels = &export.relationships;
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
            for c in cis {
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
            for r in rels {
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

/// A cell safe to open in a spreadsheet: text from agents (host names, mount points) that
/// starts like a formula gets a leading apostrophe, so `=HYPERLINK(…)` stays text.
pub fn csv_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}
