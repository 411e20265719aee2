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
}

async fn page(
    State(state): State<Arc<AppState>>,
    Signed(session): Signed,
) -> Result<Response, UiError> {
    let classes = state.inventory.class_counts().await?;
    let total = classes.iter().map(|(_, n)| n).sum();
    let stale = state
        .inventory
        .list(CiQuery {
            stale: Some(true),
            sort: Some("last_seen".into()),
            limit: Some(10),
            ..Default::default()
        })
        .await?;
    let duplicates = state
        .inventory
        .list(CiQuery {
            duplicates: true,
            limit: Some(10),
            ..Default::default()
        })
        .await?;
    let (count, silent) = state
        .access
        .silent_agents(state.config.lifecycle.stale_after_secs)
        .await?;
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
    let risks = super::reports::top_capacity_risks(&state, 5).await?;
    let below_sla = super::reports::below_sla(&state).await?;
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
    }))
}
