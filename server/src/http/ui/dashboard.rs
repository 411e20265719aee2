//! The dashboard: CIs by class, agents not reporting, stale CIs, suspected duplicates,
//! recent changes, the top capacity risks and the services below their SLA, each linking to
//! where it is dealt with.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::reports::{AvailabilityView, CapacityView};
use super::{Signed, UiError, render};
use crate::AppState;
use crate::changes::ChangeSummary;
use crate::inventory::{CiListItem, CiQuery};
use crate::web::Session;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/ui/", get(page))
}

/// An agent that has not reported within `lifecycle.stale_after_secs`.
pub struct SilentAgent {
    pub id: String,
    pub hostname: String,
    pub last_seen: String,
    pub ci: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    session: Option<&'a Session>,
    nav: &'static str,
    classes: Vec<(String, u64)>,
    total: u64,
    agents: usize,
    silent: Vec<SilentAgent>,
    stale: Vec<CiListItem>,
    stale_total: u64,
    duplicates: Vec<CiListItem>,
    duplicates_total: u64,
    changes: Vec<ChangeSummary>,
    risks: Vec<CapacityView>,
    below_sla: Vec<AvailabilityView>,
    /// Why a report's section is empty when it could not be made; the rest of the page stands.
    risks_error: Option<String>,
    sla_error: Option<String>,
}

/// A section task's result; a task that panicked is an error of the page.
async fn joined<T>(t: tokio::task::JoinHandle<T>) -> Result<T, UiError> {
    t.await.map_err(|e| {
        tracing::error!(error = %e, "dashboard section task failed");
        UiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "a dashboard section failed",
        )
    })
}

/// A report section's rows, or why there are none: a report that fails (a bad series, a
/// storage timeout on a large fleet) leaves the rest of the dashboard readable.
fn or_note<T>(what: &str, r: Result<Vec<T>, UiError>) -> (Vec<T>, Option<String>) {
    match r {
        Ok(rows) => (rows, None),
        Err(e) => {
            tracing::warn!(
                section = what,
                error = e.message(),
                "dashboard section failed"
            );
            (
                Vec::new(),
                Some(format!("The {what} could not be made: {}", e.message())),
            )
        }
    }
}

async fn page(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
) -> Result<Response, UiError> {
    // The sections are independent reads, several of them table scans: the slow ones run as
    // tasks of their own, so on a multi-core server the page takes about as long as the
    // slowest.
    let list = |q: CiQuery| {
        let s = state.clone();
        tokio::spawn(async move { s.inventory.list(q).await })
    };
    let stale = list(CiQuery {
        stale: Some(true),
        sort: Some("last_seen".into()),
        limit: Some(10),
        ..Default::default()
    });
    let duplicates = list(CiQuery {
        duplicates: true,
        limit: Some(10),
        ..Default::default()
    });
    let s = state.clone();
    let risks = tokio::spawn(async move { super::reports::top_capacity_risks(&s, 5).await });
    let s = state.clone();
    let below_sla = tokio::spawn(async move { super::reports::below_sla(&s).await });
    let s = state.clone();
    let classes = tokio::spawn(async move { s.inventory.class_counts().await });
    let (count, silent) = state
        .access
        .silent_agents(state.config.lifecycle.stale_after_secs)
        .await?;
    let classes = joined(classes).await??;
    let total = classes.iter().map(|(_, n)| n).sum();
    let silent: Vec<SilentAgent> = silent
        .into_iter()
        .take(20)
        .map(|a| SilentAgent {
            id: a.agent.key,
            hostname: a.agent.hostname,
            last_seen: a.agent.last_seen.unwrap_or_else(|| "never".into()),
            ci: a.agent.ci,
        })
        .collect();
    let changes = state.changes.list(Some(10)).await?;
    let stale = joined(stale).await??;
    let duplicates = joined(duplicates).await??;
    let risks = joined(risks).await?;
    let below_sla = joined(below_sla).await?;
    let (risks, risks_error) = or_note("capacity report", risks);
    let (below_sla, sla_error) = or_note("availability report", below_sla);
    Ok(render(&Dashboard {
        session: Some(&session),
        nav: "dashboard",
        classes,
        total,
        agents: count,
        silent,
        stale_total: stale.total,
        stale: stale.items,
        duplicates_total: duplicates.total,
        duplicates: duplicates.items,
        changes,
        risks,
        below_sla,
        risks_error,
        sla_error,
    }))
}
