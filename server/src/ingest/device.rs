//! Device report ingestion: validate → identify → reconcile → write, for network devices an
//! agent polls over SNMP.
//!
//! A device report is one complete poll. It is split ([`device::split`]) three ways: the
//! stable inventory is a CI section (its hash decides whether anything changed; history per
//! changed attribute), the volatile values and the latest metrics sample go to the device's
//! `device_state` record (written every poll, no history), and neighbours, forwarding and
//! ARP entries go to its `device_topology` record (replaced when their hash changes, no
//! history). An unchanged poll therefore writes one small record and never the CI; the CI's
//! last-seen time goes through coalesced heartbeats.
//!
//! A device is written only by the agents assigned to poll it: the first poller, then whom
//! an admin assigns (`PUT /api/v1/cis/{id}/agent`); a poll from any other agent is refused
//! (403) and changes nothing. The last poller is recorded with the device (`poller`); an
//! agent's own CI stays its host.

use chrono::{DateTime, Utc};
use cmdb_shared::ReportAck;
use cmdb_shared::device::{DeviceInventory, DeviceReport};
use cmdb_shared::hash::section_hash_of;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{IngestError, Ingestor, history_records, lock_or_recover, new_key, validate_device};
use crate::domain::device_report::{self as device, SECTION};
use crate::domain::identify::{DeviceIdentification, DeviceKeys, identify_device};
use crate::domain::reconcile::{AttributeChange, device_attributes, diff};
use crate::storage::{CiDoc, DeviceForUpdate, DeviceWrite, NewCi, StorageError, time_str};

/// Most target addresses remembered per device (the oldest is forgotten first).
const MAX_TARGETS: usize = 16;

/// Most (poller, target) identifications cached (keys come from reports: bounded).
const MAX_CACHED_TARGETS: usize = 200_000;

/// What identification of a device polled by one agent at one target found last time.
#[derive(Debug, Clone)]
pub(super) struct DeviceTarget {
    ci: String,
    rule: String,
    keys: DeviceKeys,
}

impl DeviceTarget {
    pub(super) fn ci(&self) -> &str {
        &self.ci
    }
}

/// One poll, prepared once: canonical, split, hashed and keyed.
struct Poll {
    inv: DeviceInventory,
    split: device::Split,
    stable_hash: String,
    topology_hash: String,
    /// Keys of this poll alone (no remembered targets).
    keys: DeviceKeys,
    /// The target's management address (see [`device::target_address`]).
    address: String,
    /// When the sample was taken, never later than now.
    sample_at: DateTime<Utc>,
}

impl Poll {
    fn new(report: &DeviceReport, now: DateTime<Utc>) -> Self {
        let mut inv = report.inventory.clone();
        device::canonicalise(&mut inv);
        let split = device::split(&inv);
        Self {
            stable_hash: section_hash_of(SECTION, split.stable.clone()),
            topology_hash: section_hash_of("topology", split.topology.clone()),
            keys: DeviceKeys::from_inventory(&inv, &[]),
            address: device::target_address(&inv.target),
            // A poller whose clock runs ahead must not make the next polls look old.
            sample_at: report.metrics.at.unwrap_or(report.collected_at).min(now),
            split,
            inv,
        }
    }

    /// The `device_state` record.
    fn state(&self, ci: &str, agent: &str, report: &DeviceReport, now: &str) -> Value {
        json!({
            "ci": ci,
            "at": now,
            "sample_at": time_str(self.sample_at),
            "collected_at": time_str(report.collected_at),
            "poller": agent,
            "target": self.inv.target,
            "source": report.source,
            "agent_version": report.agent_version,
            "volatile": self.split.volatile,
            "metrics": report.metrics,
        })
    }

    /// The `device_topology` record.
    fn topology(&self, ci: &str, now: &str) -> Value {
        let mut t = self.split.topology.clone();
        if let Value::Object(m) = &mut t {
            m.insert("ci".into(), json!(ci));
            m.insert("hash".into(), json!(self.topology_hash));
            m.insert("at".into(), json!(now));
        }
        t
    }

    /// The CI fields derived from the inventory for lists and search.
    fn denormalised(&self, targets: &[String]) -> Map<String, Value> {
        let inv = &self.inv;
        let trimmed = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut m = Map::new();
        m.insert("name".into(), json!(device::device_name(inv)));
        m.insert("vendor".into(), json!(trimmed(&inv.vendor)));
        m.insert("model".into(), json!(trimmed(&inv.model)));
        m.insert("serial".into(), json!(trimmed(&inv.serial)));
        m.insert("chassis_ids".into(), json!(device::chassis_ids(inv)));
        m.insert(
            "addresses".into(),
            json!(device::device_addresses(inv, targets)),
        );
        m.insert("targets".into(), json!(targets));
        m
    }
}

impl Ingestor {
    /// Holds a device CI for writing.
    async fn device_lock(&self, ci: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.agent_lock(&format!("device-ci:{ci}"))
            .lock_owned()
            .await
    }

    /// Validates, identifies and writes one device poll reported by `agent`.
    pub(super) async fn apply_device(
        &self,
        agent: &str,
        report: &DeviceReport,
    ) -> Result<ReportAck, IngestError> {
        let store = &self.store;
        if report.schema_version != cmdb_shared::SCHEMA_VERSION {
            return Err(IngestError::Unprocessable(format!(
                "unsupported schema_version {}: this server reads version {}",
                report.schema_version,
                cmdb_shared::SCHEMA_VERSION
            )));
        }
        validate_device(report, &self.limits)?;
        let now_t = Utc::now();
        let now = time_str(now_t);
        let poll = Poll::new(report, now_t);

        // Held to the end: polls of one device are identified and written one at a time, so
        // two pollers (or two addresses of one device) cannot both create it.
        let _reserved = self.reservations.reserve_device(&poll.keys).await?;
        let target_key = format!("{agent}|{}", poll.address);
        let cached = lock_or_recover(&self.device_targets)
            .get(&target_key)
            .filter(|t| t.keys == poll.keys)
            .cloned();
        // The CI is locked before it is read: one writer per device CI, even for polls that
        // share no key with each other.
        let mut found = None;
        if let Some(t) = cached {
            let guard = self.device_lock(&t.ci).await;
            if let Some(rec) = store.device_for_update(&t.ci).await? {
                // Same poller, same target, same keys as last time: the same device.
                found = Some((rec, t.rule, Vec::new(), guard));
            }
        }
        if found.is_none() {
            let candidates = store.device_candidates(&poll.keys.lookup_keys()).await?;
            if let DeviceIdentification::Existing {
                ci_id,
                rule,
                duplicates,
            } = identify_device(&poll.keys, &candidates)
            {
                let guard = self.device_lock(&ci_id).await;
                if let Some(rec) = store.device_for_update(&ci_id).await? {
                    found = Some((rec, rule.as_str().to_string(), duplicates, guard));
                }
            }
        }
        let (ci, rule, changes) = match found {
            Some((rec, rule, duplicates, _guard)) => {
                self.update_device(agent, report, &poll, rec, rule, duplicates, &now)
                    .await?
            }
            None => self.create_device(agent, report, &poll, &now).await?,
        };
        let mut targets = lock_or_recover(&self.device_targets);
        if targets.len() >= MAX_CACHED_TARGETS {
            // A cache: identification rebuilds what it forgets.
            targets.clear();
        }
        targets.insert(
            target_key,
            DeviceTarget {
                ci: ci.clone(),
                rule: rule.clone(),
                keys: poll.keys.clone(),
            },
        );
        Ok(ReportAck {
            report_id: report.report_id.clone(),
            ci_id: ci,
            identified_by: rule,
            changes,
        })
    }

    async fn create_device(
        &self,
        agent: &str,
        report: &DeviceReport,
        poll: &Poll,
        now: &str,
    ) -> Result<(String, String, u32), IngestError> {
        let (_, devices) = self.store.created_by(agent).await?;
        if devices >= self.limits.max_devices_per_agent {
            return Err(IngestError::Forbidden(format!(
                "this agent has created {devices} network-device CIs, its quota (limits.max_devices_per_agent): polls of devices it already writes go on, new ones are refused"
            )));
        }
        let key = new_key();
        let targets = vec![poll.address.clone()];
        let keys = DeviceKeys::from_inventory(&poll.inv, &targets).stored();
        let doc = NewCi::network_device(
            keys.clone(),
            agent,
            now,
            Map::from_iter([(SECTION.to_string(), poll.split.stable.clone())]),
            BTreeMap::from([(SECTION.to_string(), poll.stable_hash.clone())]),
            poll.denormalised(&targets),
        );
        let history = history_records(&key, agent, now, &[AttributeChange::created()]);
        let write = DeviceWrite {
            ci_key: key.clone(),
            doc: CiDoc::New(Box::new(doc)),
            keys: Some(keys.index_keys()),
            history,
            duplicates: Vec::new(),
            state: poll.state(&key, agent, report, now),
            topology: Some(poll.topology(&key, now)),
            agent: agent.to_string(),
        };
        self.store.apply_device(&write).await?;
        Ok((key, "new".into(), 1))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_device(
        &self,
        agent: &str,
        report: &DeviceReport,
        poll: &Poll,
        rec: DeviceForUpdate,
        rule: String,
        duplicates: Vec<String>,
        now: &str,
    ) -> Result<(String, String, u32), IngestError> {
        if !rec.pollers.is_empty() && !rec.pollers.iter().any(|p| p == agent) {
            return Err(IngestError::Forbidden(format!(
                "device {} is assigned to poller(s) {}, not to this agent; an admin assigns it with PUT /api/v1/cis/{}/agent",
                rec.key,
                rec.pollers.join(", "),
                rec.key
            )));
        }
        let sample_at = time_str(poll.sample_at);
        if rec
            .sample_at
            .as_deref()
            .is_some_and(|prev| sample_at.as_str() < prev)
        {
            // Older than the poll already applied (a late redelivery, or another poller's
            // sample that crossed a newer one): acknowledged, not applied.
            return Ok((rec.key, rule, 0));
        }

        let mut targets = rec.targets.clone();
        if !targets.contains(&poll.address) {
            targets.push(poll.address.clone());
            if targets.len() > MAX_TARGETS {
                targets.remove(0);
            }
        }
        let mut changes: Vec<AttributeChange> = Vec::new();
        let mut doc = Map::new();
        let stable_changed = rec.stable_hash.as_deref() != Some(poll.stable_hash.as_str());
        if stable_changed {
            let old = self
                .store
                .device_stable(&rec.key)
                .await?
                .unwrap_or(Value::Null);
            changes = diff(
                &device_attributes(&old),
                &device_attributes(&poll.split.stable),
            );
            doc.insert("sections".into(), json!({ SECTION: poll.split.stable }));
            doc.insert(
                "section_hashes".into(),
                json!({ SECTION: poll.stable_hash }),
            );
        }
        if stable_changed || targets != rec.targets {
            doc.extend(poll.denormalised(&targets));
        }
        let keys = DeviceKeys::from_inventory(&poll.inv, &targets).stored();
        let key_rows = (keys != rec.device_keys).then(|| keys.index_keys());
        if key_rows.is_some() {
            doc.insert(
                "device_keys".into(),
                serde_json::to_value(&keys).map_err(StorageError::from)?,
            );
        }
        if rec.pollers.is_empty() {
            // Polled before assignment existed: its next poller is bound.
            doc.insert("pollers".into(), json!([agent]));
        }
        if !doc.is_empty() {
            doc.insert("identified_by".into(), json!(rule));
            doc.insert("poller".into(), json!(agent));
            doc.insert("last_seen".into(), json!(now));
        }
        if let (Some(prev), Some(ticks), Some(prev_at)) = (
            rec.uptime_ticks,
            report.metrics.uptime_ticks,
            rec.sample_at
                .as_deref()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
        ) && device::uptime_reset(prev, prev_at, ticks, poll.sample_at)
        {
            let booted_at = poll
                .sample_at
                .checked_sub_signed(chrono::Duration::milliseconds(i64::from(ticks) * 10))
                .unwrap_or(poll.sample_at);
            changes.push(AttributeChange {
                attribute: "uptime_reset".into(),
                old: Some(json!({ "uptime_ticks": prev, "sampled_at": rec.sample_at })),
                new: Some(json!({
                    "uptime_ticks": ticks,
                    "sampled_at": sample_at,
                    "booted_at": time_str(booted_at),
                })),
            });
        }
        let topology = (rec.topology_hash.as_deref() != Some(poll.topology_hash.as_str()))
            .then(|| poll.topology(&rec.key, now));
        let history = history_records(&rec.key, agent, now, &changes);
        let n = u32::try_from(history.len()).unwrap_or(u32::MAX);
        let ci_written = !doc.is_empty();
        let write = DeviceWrite {
            ci_key: rec.key.clone(),
            doc: CiDoc::Update(doc),
            keys: key_rows,
            history,
            duplicates,
            state: poll.state(&rec.key, agent, report, now),
            topology,
            agent: agent.to_string(),
        };
        self.store.apply_device(&write).await?;
        if ci_written {
            self.presence.device_written(&rec.key);
        } else {
            self.presence.device_seen(&rec.key, now);
        }
        Ok((rec.key, rule, n))
    }
}

#[cfg(test)]
mod tests;
