//! Presence: when each agent and each polled device was last heard from.
//!
//! A report that changes nothing costs no write: its "last seen" time is coalesced here, in
//! memory, and written in batches by [`super::Ingestor::flush_last_seen`] every
//! `lifecycle.last_seen_flush_secs` and at shutdown. A failed flush puts the times back for
//! the next attempt, unless newer ones arrived meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;

use super::lock_or_recover;
use crate::storage::LastSeen;

/// Coalesced last-seen times, not yet written.
#[derive(Debug, Default)]
pub(super) struct Presence {
    /// By agent key.
    agents: Mutex<HashMap<String, LastSeen>>,
    /// Device CIs (they have no agent of their own): CI key → time.
    devices: Mutex<HashMap<String, String>>,
    /// Reports each agent's spool has dropped, as it last said (bounded: by agent key).
    dropped: Mutex<HashMap<String, u64>>,
}

impl Presence {
    /// Records that `agent` (bound to `ci`) was heard from at `now`.
    pub(super) fn agent_seen(&self, agent: &str, ci: Option<&str>, version: &str, now: &str) {
        lock_or_recover(&self.agents).insert(
            agent.to_string(),
            LastSeen {
                agent_key: agent.to_string(),
                ci_key: ci.map(str::to_string),
                at: now.to_string(),
                agent_version: version.to_string(),
            },
        );
    }

    /// Records how many reports `agent`'s spool has dropped, ever (written with the next
    /// flush when it changed).
    pub(super) fn spool_dropped(&self, agent: &str, n: u64) {
        lock_or_recover(&self.dropped).insert(agent.to_string(), n);
    }

    /// Drains the dropped counts (for the flusher).
    pub(super) fn take_dropped(&self) -> Vec<(String, u64)> {
        lock_or_recover(&self.dropped).drain().collect()
    }

    /// Drops `agent`'s pending time (its CI write carried a fresher one).
    pub(super) fn agent_written(&self, agent: &str) {
        lock_or_recover(&self.agents).remove(agent);
    }

    /// Records that device CI `ci` was polled at `now`.
    pub(super) fn device_seen(&self, ci: &str, now: &str) {
        lock_or_recover(&self.devices).insert(ci.to_string(), now.to_string());
    }

    /// Drops device `ci`'s pending time (its CI write carried a fresher one).
    pub(super) fn device_written(&self, ci: &str) {
        lock_or_recover(&self.devices).remove(ci);
    }

    /// The pending last-seen time of an agent.
    pub(super) fn pending(&self, agent: &str) -> Option<String> {
        lock_or_recover(&self.agents)
            .get(agent)
            .map(|l| l.at.clone())
    }

    /// Drains the agents' pending times (for the flusher).
    pub(super) fn take_agents(&self) -> Vec<LastSeen> {
        lock_or_recover(&self.agents)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }

    /// Puts agents' times back after a failed flush, unless newer ones arrived.
    pub(super) fn restore_agents(&self, items: Vec<LastSeen>) {
        let mut hb = lock_or_recover(&self.agents);
        for it in items {
            hb.entry(it.agent_key.clone()).or_insert(it);
        }
    }

    /// Drains the devices' pending times (for the flusher): `(ci, time)`.
    pub(super) fn take_devices(&self) -> Vec<(String, String)> {
        lock_or_recover(&self.devices).drain().collect()
    }

    /// Puts device times back after a failed flush, unless newer ones arrived.
    pub(super) fn restore_devices(&self, items: Vec<(String, String)>) {
        let mut seen = lock_or_recover(&self.devices);
        for (ci, at) in items {
            seen.entry(ci).or_insert(at);
        }
    }
}
