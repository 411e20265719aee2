//! The ingest service: agent reports become CIs. validate → identify → reconcile → write →
//! discover.
//!
//! The hot path is the unchanged report (a heartbeat, or a full inventory identical to what the
//! server holds): it is answered from memory (the agent's CI and section hashes are cached) and
//! only bumps an in-memory "last seen" (`presence`) that a background task writes in batches.
//! Reports that change something are written in one SurrealDB transaction with their history.
//! Then relationship discovery runs on what the report says ([`crate::relationships`]); its
//! failure is logged and counted, never the agent's problem: the next report derives the same
//! edges again.
//!
//! - `host`: host reports (full inventories and deltas);
//! - `device`: network devices polled over SNMP: the same steps, their own identification
//!   rules and records;
//! - `validate`: what a report must satisfy before anything is looked up;
//! - `catalog`: the normalised package catalogue;
//! - `presence`: coalesced last-seen times;
//! - `reservations`: identification keys held while a report is identified.

mod bind;
mod catalog;
mod device;
mod host;
mod presence;
mod reservations;
mod validate;

pub use bind::Binding;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use cmdb_shared::device::DeviceReport;
use cmdb_shared::{Package, Report, ReportAck};
use serde_json::Value;

pub use catalog::package_key;
pub use validate::{validate_device, validate_host};

use crate::config::Limits;
use crate::domain::reconcile::AttributeChange;
use crate::relationships::Relationships;
use crate::storage::{HistoryRecord, StorageError, Store};
use crate::telemetry::Telemetry;

/// Why a report was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The report is malformed or inconsistent (400).
    #[error("{0}")]
    Invalid(String),
    /// A valid report that cannot be applied: an identification key or section is missing (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The delta's baseline is not what the server holds: send a full inventory (409).
    #[error("{0}")]
    Resync(String),
    /// The agent may not write this (a device assigned to other pollers) (403).
    #[error("{0}")]
    Forbidden(String),
    /// The agent's credential outlived the agent record (401).
    #[error("unknown agent")]
    UnknownAgent,
    #[error("storage failure")]
    Storage(StorageError),
    /// The database is away: retry later (503).
    #[error("{0}")]
    Unavailable(String),
}

impl From<StorageError> for IngestError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => IngestError::Unavailable(format!("{e}: retry shortly")),
            e if e.is_conflict() => {
                IngestError::Unavailable("concurrent writes kept conflicting: retry shortly".into())
            }
            other => IngestError::Storage(other),
        }
    }
}

/// What the server remembers about an agent between reports.
#[derive(Debug, Clone, Default)]
struct AgentView {
    ci: Option<String>,
    identified_by: String,
    hashes: BTreeMap<String, String>,
    /// The id of the last host report applied: a redelivery of it (its acknowledgement was
    /// lost) is acknowledged again without being applied twice.
    last_report: Option<String>,
}

impl AgentView {
    /// Whether this view has a CI and the hashes of every section `report` (a delta) leaves
    /// out as unchanged.
    fn holds_baseline_of(&self, report: &cmdb_shared::Report) -> bool {
        self.ci.is_some()
            && report
                .section_hashes
                .iter()
                .all(|(s, h)| report.inventory.has(s) || self.hashes.get(s) == Some(h))
    }
}

/// The ingest service: its storage, limits and in-memory state, shared by all requests.
#[derive(Debug)]
pub struct Ingestor {
    store: Store,
    limits: Limits,
    relationships: Arc<Relationships>,
    telemetry: Arc<Telemetry>,
    views: Mutex<HashMap<String, AgentView>>,
    /// Per agent and per device CI (bounded: idle locks are dropped past 100,000).
    locks: crate::locks::KeyedLocks,
    reservations: reservations::Reservations,
    catalog: catalog::Catalog,
    presence: presence::Presence,
    /// Device identifications: `agent|target host` → the CI and the keys it was found by.
    device_targets: Mutex<HashMap<String, device::DeviceTarget>>,
    /// Turns to write a report (`limits.max_concurrent_report_writes`), handed out in
    /// arrival order.
    writers: tokio::sync::Semaphore,
    /// `lifecycle.last_seen_write_secs` (0 here, so every flush writes, until
    /// [`Ingestor::with_last_seen_write_secs`]).
    last_seen_write_secs: u64,
}

fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn lock_or_recover<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// History records of `changes` made by `agent`'s report.
fn history_records(
    ci: &str,
    agent: &str,
    now: &str,
    changes: &[AttributeChange],
) -> Vec<HistoryRecord> {
    changes
        .iter()
        .map(|c| HistoryRecord {
            ci: ci.to_string(),
            at: now.to_string(),
            source: format!("agent:{agent}"),
            attribute: c.attribute.clone(),
            old: c.old.clone().unwrap_or(Value::Null),
            new: c.new.clone().unwrap_or(Value::Null),
        })
        .collect()
}

impl Ingestor {
    /// The service over `store`; loads the package catalogue.
    pub async fn new(
        store: Store,
        limits: Limits,
        relationships: Arc<Relationships>,
        telemetry: Arc<Telemetry>,
    ) -> Result<Self, StorageError> {
        let catalog = catalog::Catalog::default();
        catalog.warm(&store).await?;
        let reservations = reservations::Reservations::new(&store);
        let writers = tokio::sync::Semaphore::new(limits.report_writers());
        Ok(Self {
            store,
            limits,
            relationships,
            telemetry,
            views: Mutex::default(),
            locks: crate::locks::KeyedLocks::new(100_000),
            reservations,
            catalog,
            presence: presence::Presence::default(),
            device_targets: Mutex::default(),
            writers,
            last_seen_write_secs: 0,
        })
    }

    /// How far an agent's last-seen time moves before its record and its CI's are written
    /// again (`lifecycle.last_seen_write_secs`; see `presence`).
    pub fn with_last_seen_write_secs(mut self, secs: u64) -> Self {
        self.last_seen_write_secs = secs;
        self
    }

    /// Waits for a turn to write a report. The semaphore is never closed, so the error
    /// branch cannot happen; it would only mean no limit.
    async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.writers.acquire().await.ok()
    }

    /// Applies one host report from `agent`, then derives the relationships it shows.
    pub async fn ingest(&self, agent: &str, report: &Report) -> Result<ReportAck, IngestError> {
        // A delta without sections (a heartbeat) is answered from memory: it does not queue.
        let writes = report.kind == cmdb_shared::ReportKind::Full
            || cmdb_shared::SECTIONS
                .iter()
                .any(|s| report.inventory.has(s));
        let _turn = if writes { self.turn().await } else { None };
        let ack = self.apply_host(agent, report).await?;
        self.relationships
            .discover_host(&ack.ci_id, Some(agent), &report.inventory, ack.changes > 0)
            .await;
        Ok(ack)
    }

    /// Applies one device poll reported by `agent`, then derives the relationships it shows.
    pub async fn ingest_device(
        &self,
        agent: &str,
        report: &DeviceReport,
    ) -> Result<ReportAck, IngestError> {
        let _turn = self.turn().await;
        let ack = self.apply_device(agent, report).await?;
        self.relationships
            .discover_device(&ack.ci_id, &report.inventory)
            .await;
        Ok(ack)
    }

    /// The packages behind these keys (from the in-memory catalogue).
    /// The host CI `agent` reports for, once its inventory has been identified.
    pub async fn host_ci(&self, agent: &str) -> Result<Option<String>, IngestError> {
        Ok(self.view(agent).await?.ci)
    }

    /// The device CI `agent` polls at `target` (as in its device reports), if identified.
    pub async fn device_ci(
        &self,
        agent: &str,
        target: &str,
    ) -> Result<Option<String>, IngestError> {
        let address = crate::domain::device_report::target_address(target);
        let cached = lock_or_recover(&self.device_targets)
            .get(&format!("{agent}|{address}"))
            .map(|t| t.ci().to_string());
        match cached {
            Some(ci) => Ok(Some(ci)),
            None => Ok(self.store.device_ci_for_target(agent, target).await?),
        }
    }

    /// A metric batch is a sign of life of its agent's host and of the devices that
    /// answered its polls: their "last seen" moves (coalesced, like unchanged reports).
    pub fn heard(&self, agent: &str, host: &str, version: &str, devices: &[String]) {
        let now = crate::storage::now_str();
        self.presence.agent_seen(agent, Some(host), version, &now);
        for d in devices {
            self.presence.device_seen(d, &now);
        }
    }

    pub fn packages_of(&self, keys: &[String]) -> Vec<Package> {
        self.catalog.packages_of(keys)
    }

    /// The in-memory last-seen time of an agent not written yet.
    pub fn pending_last_seen(&self, agent: &str) -> Option<String> {
        self.presence.latest(agent)
    }

    /// Forgets cached state of an agent (credential revoked).
    pub fn forget(&self, agent: &str) {
        lock_or_recover(&self.views).remove(agent);
    }

    /// Forgets what is cached about these CIs (another instance changed them): the views of
    /// the agents reporting for them, and device identifications that lead to them.
    pub fn forget_cis(&self, keys: &[String]) {
        let keys: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        lock_or_recover(&self.views)
            .retain(|_, v| !v.ci.as_deref().is_some_and(|c| keys.contains(c)));
        lock_or_recover(&self.device_targets).retain(|_, t| !keys.contains(t.ci()));
    }

    /// Adds packages another instance stored to the catalogue.
    pub async fn follow_packages(&self, keys: &[String]) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        let found = self.store.packages_by_keys(keys).await?;
        self.catalog.add(found);
        Ok(())
    }

    /// Records how many reports `agent`'s spool has dropped, ever (as it says with each
    /// delivery); written with the last-seen times.
    pub fn spool_dropped(&self, agent: &str, n: u64) {
        self.presence.spool_dropped(agent, n);
    }

    /// Writes coalesced last-seen times; on failure they are kept for the next attempt.
    pub async fn flush_last_seen(&self) {
        self.flush_presence(false).await;
    }

    /// [`Ingestor::flush_last_seen`] that also writes every time held back (when the
    /// server stops).
    pub async fn flush_all_last_seen(&self) {
        self.flush_presence(true).await;
    }

    async fn flush_presence(&self, all: bool) {
        let dropped = self.presence.take_dropped();
        if !dropped.is_empty()
            && let Err(e) = self.store.set_spool_dropped(&dropped).await
        {
            tracing::warn!(error = %e, "cannot write agents' spool drop counts; will retry");
            for (a, n) in dropped {
                self.presence.spool_dropped(&a, n);
            }
        }
        let mut items = self.presence.take_agents();
        self.presence
            .plan_writes(&mut items, self.last_seen_write_secs, all);
        if !items.is_empty() {
            match self.store.flush_last_seen(&items).await {
                Ok(()) => self.presence.flushed(&items),
                Err(e) => {
                    self.telemetry.last_seen_flush_failures.inc();
                    tracing::warn!(error = %e, count = items.len(), "cannot write last-seen times; will retry");
                    self.presence.restore_agents(items);
                }
            }
        }
        let devices = self.presence.take_devices();
        if devices.is_empty() {
            return;
        }
        if let Err(e) = self.store.flush_ci_seen(&devices).await {
            self.telemetry.last_seen_flush_failures.inc();
            tracing::warn!(error = %e, count = devices.len(), "cannot write device last-seen times; will retry");
            self.presence.restore_devices(devices);
        }
    }

    fn agent_lock(&self, agent: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.of(agent)
    }
}
