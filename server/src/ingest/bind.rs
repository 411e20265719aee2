//! An admin's decisions on who writes a CI: which agent a host CI belongs to, which agents
//! poll a network device, and that two CIs flagged as suspected duplicates are distinct. A
//! weak identification key (machine-id, MAC, FQDN) never moves a host CI from one agent to
//! another, and a device is written only by its assigned pollers; this is how that changes
//! when a person decides it should (a host re-installed with a new agent, a new poller).

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Ingestor, lock_or_recover};
use crate::error::{ServiceError, check_id};
use crate::storage::{HistoryRecord, Rebind, now_str};

/// The outcome of binding a CI to an agent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Binding {
    pub ci: String,
    pub agent: String,
    /// Network devices: the agents now assigned to poll it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pollers: Vec<String>,
    /// The agent the CI was bound to before, now bound to none (its next full report is
    /// identified afresh).
    pub previous_agent: Option<String>,
    /// The CI the agent was bound to before, now bound to no agent: it goes stale and retires.
    pub previous_ci: Option<String>,
}

impl Ingestor {
    /// Binds CI `ci` to `agent` (an admin's decision). A host: the agent's next reports update
    /// it. A network device: the agent is assigned to poll it, instead of the pollers it had
    /// or (`add`) beside them.
    pub async fn bind(
        &self,
        ci: &str,
        agent: &str,
        add: bool,
        source: &str,
    ) -> Result<Binding, ServiceError> {
        check_id("id", ci, "CI")?;
        check_id("agent", agent, "agent")?;
        let Some(rec) = self.store.agent(agent).await? else {
            return Err(ServiceError::NotFound(format!(
                "agent: no agent with id {agent}"
            )));
        };
        let Some(found) = self.store.ci_owner(ci).await? else {
            return Err(ServiceError::NotFound(format!("no CI with id {ci}")));
        };
        if found.class == crate::domain::device_report::CLASS {
            return self
                .assign_poller(ci, agent, add, found.pollers, source)
                .await;
        }
        if found.class != "host" {
            return Err(ServiceError::Invalid(format!(
                "CI {ci} is a {}: only hosts and network devices are written by agents",
                found.class
            )));
        }
        if add {
            return Err(ServiceError::Invalid(
                "add: a host belongs to one agent; leave add out to move it".into(),
            ));
        }
        let owner = found.agent;
        // Both agents' reports wait while the binding changes.
        let mine = self.agent_lock(agent);
        let _mine = mine.lock().await;
        let theirs = owner
            .as_ref()
            .filter(|o| o.as_str() != agent)
            .map(|o| self.agent_lock(o));
        let _theirs = match &theirs {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let previous_ci = rec.ci.filter(|c| c != ci);
        let previous_agent = owner.filter(|o| o != agent);
        let now = now_str();
        let history = vec![HistoryRecord {
            ci: ci.to_string(),
            at: now.clone(),
            source: source.to_string(),
            attribute: "agent".into(),
            old: json!(previous_agent),
            new: json!(agent),
        }];
        self.store
            .rebind(&Rebind {
                ci: ci.to_string(),
                agent: agent.to_string(),
                previous_agent: previous_agent.clone(),
                previous_ci: previous_ci.clone(),
                history,
            })
            .await?;
        {
            let mut views = lock_or_recover(&self.views);
            views.remove(agent);
            if let Some(p) = &previous_agent {
                views.remove(p);
            }
        }
        tracing::info!(ci, agent, previous = ?previous_agent, source, "host CI bound to an agent by an admin");
        Ok(Binding {
            ci: ci.to_string(),
            agent: agent.to_string(),
            pollers: Vec::new(),
            previous_agent,
            previous_ci,
        })
    }

    async fn assign_poller(
        &self,
        ci: &str,
        agent: &str,
        add: bool,
        before: Vec<String>,
        source: &str,
    ) -> Result<Binding, ServiceError> {
        let mut pollers = if add { before.clone() } else { Vec::new() };
        if !pollers.iter().any(|p| p == agent) {
            pollers.push(agent.to_string());
        }
        if pollers.len() > 16 {
            return Err(ServiceError::Invalid(
                "add: at most 16 pollers per device".into(),
            ));
        }
        let history = vec![HistoryRecord {
            ci: ci.to_string(),
            at: now_str(),
            source: source.to_string(),
            attribute: "pollers".into(),
            old: json!(before),
            new: json!(pollers),
        }];
        self.store.assign_pollers(ci, &pollers, &history).await?;
        tracing::info!(ci, pollers = ?pollers, source, "device pollers assigned by an admin");
        Ok(Binding {
            ci: ci.to_string(),
            agent: agent.to_string(),
            pollers,
            previous_agent: None,
            previous_ci: None,
        })
    }

    /// Clears the suspected-duplicate flag between `ci` and `other` (both ways): an admin
    /// decided they are distinct.
    pub async fn dismiss_duplicate(
        &self,
        ci: &str,
        other: &str,
        source: &str,
    ) -> Result<(), ServiceError> {
        check_id("id", ci, "CI")?;
        check_id("other", other, "CI")?;
        if !self.store.dismiss_duplicate(ci, other, source).await? {
            return Err(ServiceError::NotFound(format!(
                "CI {ci} is not flagged as a suspected duplicate of {other} (nor the other way)"
            )));
        }
        Ok(())
    }
}
