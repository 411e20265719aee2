//! Report ingestion: validate → identify → reconcile → write.
//!
//! The hot path is the unchanged report (a heartbeat, or a full inventory identical to what the
//! server holds): it is answered from memory (the agent's CI and section hashes are cached) and
//! only bumps an in-memory "last seen" that a background task writes in batches. Reports that
//! change something are written in one SurrealDB transaction with their history.
//!
//! Network devices polled over SNMP come in as device reports ([`device`]): the same steps,
//! their own identification rules and records.

mod device;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use cmdb_shared::hash::{VOLATILE_FIELDS, section_hash_of, volatile_part};
use cmdb_shared::{Package, Report, ReportAck, ReportKind, SECTIONS};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Limits;
use crate::domain::identify::{HostKeys, Identification, contradicts, identify};
use crate::domain::reconcile::{Change, diff, package_attributes, section_attributes};
use crate::storage::{
    CiRecord, CiWrite, HistoryRecord, LastSeen, NewPackage, StorageError, Store, VolatileWrite,
};

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
    /// The agent's credential outlived the agent record (401).
    #[error("unknown agent")]
    UnknownAgent,
    #[error("storage failure")]
    Storage(#[from] StorageError),
}

/// What the server remembers about an agent between reports.
#[derive(Debug, Clone, Default)]
struct AgentView {
    ci: Option<String>,
    identified_by: String,
    hashes: BTreeMap<String, String>,
}

/// In-memory state of ingestion, shared by all requests.
#[derive(Debug, Default)]
pub struct Ingestor {
    views: Mutex<HashMap<String, AgentView>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    reservations: Reservations,
    package_lock: tokio::sync::Mutex<()>,
    catalog: RwLock<HashMap<String, Package>>,
    heartbeats: Mutex<HashMap<String, LastSeen>>,
    /// Device identifications: `agent|target host` → the CI and the keys it was found by.
    device_targets: Mutex<HashMap<String, device::DeviceTarget>>,
    /// Coalesced "last seen" times of device CIs (they have no agent of their own).
    device_seen: Mutex<HashMap<String, String>>,
}

/// Identification keys (hardware UUID, serial, machine-id, MACs, FQDN) of reports being
/// identified right now. Two reports that share a key are identified one after the other, so
/// they cannot both create a CI for the same machine; reports for different machines proceed
/// together.
#[derive(Debug, Default)]
struct Reservations {
    held: Mutex<BTreeSet<String>>,
    released: tokio::sync::Notify,
}

/// Holds identification keys until dropped.
struct Reservation<'a> {
    owner: &'a Reservations,
    keys: Vec<String>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut held = lock_or_recover(&self.owner.held);
        for k in &self.keys {
            held.remove(k);
        }
        drop(held);
        self.owner.released.notify_waiters();
    }
}

impl Reservations {
    /// Reserves a host's identification keys.
    async fn reserve_host(&self, keys: &HostKeys) -> Reservation<'_> {
        let wanted: Vec<String> = [
            ("uuid", &keys.hardware_uuid),
            ("serial", &keys.vendor_serial),
            ("machine-id", &keys.machine_id),
            ("fqdn", &keys.fqdn),
        ]
        .into_iter()
        .filter_map(|(kind, v)| v.as_ref().map(|v| format!("{kind}:{v}")))
        .chain(keys.macs.iter().map(|m| format!("mac:{m}")))
        .collect();
        self.reserve(wanted).await
    }

    /// Reserves a network device's identification keys (every key it would be stored under,
    /// so two polls of one device through two of its addresses wait for each other too).
    async fn reserve_device(&self, keys: &crate::domain::device::DeviceKeys) -> Reservation<'_> {
        let wanted = keys
            .index_keys()
            .into_iter()
            .chain(keys.lookup_keys())
            .map(|k| format!("device-{k}"))
            .collect();
        self.reserve(wanted).await
    }

    /// Waits until none of `wanted` is held, then holds them all (all at once, so two
    /// reservations never wait on each other).
    async fn reserve(&self, mut wanted: Vec<String>) -> Reservation<'_> {
        wanted.sort();
        wanted.dedup();
        loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut held = lock_or_recover(&self.held);
                if !wanted.iter().any(|k| held.contains(k)) {
                    held.extend(wanted.iter().cloned());
                    return Reservation {
                        owner: self,
                        keys: wanted,
                    };
                }
            }
            released.await;
        }
    }
}

/// The key of a distinct package: SHA-256 over its four fields, 32 hex digits.
pub fn package_key(p: &Package) -> String {
    let mut h = Sha256::new();
    for part in [
        p.manager.as_str(),
        p.name.as_str(),
        p.version.as_str(),
        p.architecture.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Current time as stored: RFC 3339 UTC with milliseconds.
pub fn now_str() -> String {
    time_str(chrono::Utc::now())
}

/// A time as stored.
pub fn time_str(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn lock_or_recover<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ingestor {
    /// Loads the package catalogue from storage.
    pub async fn warm(&self, store: &Store) -> Result<(), StorageError> {
        let all = store.all_packages().await?;
        let mut cat = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        for p in all {
            cat.insert(
                p.key,
                Package {
                    manager: p.manager,
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                },
            );
        }
        Ok(())
    }

    /// Drains the coalesced heartbeats (for the flusher).
    pub fn take_heartbeats(&self) -> Vec<LastSeen> {
        lock_or_recover(&self.heartbeats)
            .drain()
            .map(|(_, v)| v)
            .collect()
    }

    /// Puts heartbeats back after a failed flush, unless newer ones arrived.
    pub fn restore_heartbeats(&self, items: Vec<LastSeen>) {
        let mut hb = lock_or_recover(&self.heartbeats);
        for it in items {
            hb.entry(it.agent_key.clone()).or_insert(it);
        }
    }

    /// Drains the coalesced last-seen times of device CIs (for the flusher): `(ci, time)`.
    pub fn take_device_seen(&self) -> Vec<(String, String)> {
        lock_or_recover(&self.device_seen).drain().collect()
    }

    /// Puts device last-seen times back after a failed flush, unless newer ones arrived.
    pub fn restore_device_seen(&self, items: Vec<(String, String)>) {
        let mut seen = lock_or_recover(&self.device_seen);
        for (ci, at) in items {
            seen.entry(ci).or_insert(at);
        }
    }

    /// The in-memory last-seen time of an agent not yet flushed.
    pub fn pending_last_seen(&self, agent: &str) -> Option<String> {
        lock_or_recover(&self.heartbeats)
            .get(agent)
            .map(|l| l.at.clone())
    }

    /// Forgets cached state of an agent (credential revoked).
    pub fn forget(&self, agent: &str) {
        lock_or_recover(&self.views).remove(agent);
    }

    fn agent_lock(&self, agent: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_or_recover(&self.locks)
            .entry(agent.to_string())
            .or_default()
            .clone()
    }

    async fn view(&self, store: &Store, agent: &str) -> Result<AgentView, IngestError> {
        if let Some(v) = lock_or_recover(&self.views).get(agent) {
            return Ok(v.clone());
        }
        let rec = store.agent(agent).await?.ok_or(IngestError::UnknownAgent)?;
        let mut view = AgentView::default();
        if let Some(ci_key) = rec.ci
            && let Some(ci) = store.ci_for_update(&ci_key, &[], false).await?
            && ci.agent.as_deref() == Some(agent)
        {
            view.ci = Some(ci_key);
            view.identified_by = ci.identified_by;
            view.hashes = ci.section_hashes;
        }
        lock_or_recover(&self.views).insert(agent.to_string(), view.clone());
        Ok(view)
    }

    fn heartbeat(&self, agent: &str, ci: Option<&str>, version: &str, now: &str) {
        lock_or_recover(&self.heartbeats).insert(
            agent.to_string(),
            LastSeen {
                agent_key: agent.to_string(),
                ci_key: ci.map(str::to_string),
                at: now.to_string(),
                agent_version: version.to_string(),
            },
        );
    }

    /// Applies one report from `agent`.
    pub async fn ingest(
        &self,
        store: &Store,
        limits: &Limits,
        agent: &str,
        report: &Report,
    ) -> Result<ReportAck, IngestError> {
        validate(report, limits)?;
        let lock = self.agent_lock(agent);
        let _guard = lock.lock().await;
        let view = self.view(store, agent).await?;
        let now = now_str();
        let ack = |ci: &str, rule: &str, changes: usize| ReportAck {
            report_id: report.report_id.clone(),
            ci_id: ci.to_string(),
            identified_by: rule.to_string(),
            changes: changes as u32,
        };

        let changed: Vec<&'static str> = SECTIONS
            .iter()
            .copied()
            .filter(|s| report.section_hashes.contains_key(*s) && report.inventory.has(s))
            .filter(|s| view.hashes.get(*s) != report.section_hashes.get(*s))
            .collect();

        if report.kind == ReportKind::Delta {
            let Some(ci) = view.ci.clone() else {
                return Err(IngestError::Resync(
                    "the server holds no inventory for this agent: send a full inventory".into(),
                ));
            };
            for (s, h) in &report.section_hashes {
                if !report.inventory.has(s) && view.hashes.get(s) != Some(h) {
                    return Err(IngestError::Resync(format!(
                        "section {s} of the delta's baseline differs from the server's copy: send a full inventory"
                    )));
                }
            }
            if changed.is_empty() {
                self.heartbeat(agent, Some(&ci), &report.agent_version, &now);
                return Ok(ack(&ci, &view.identified_by, 0));
            }
        } else if let Some(ci) = &view.ci
            && changed.is_empty()
        {
            // Nothing stable changed: only the small volatile record is written.
            if let Some(v) = volatile_write(ci, report, &now) {
                store.write_volatile(&v).await?;
            }
            self.heartbeat(agent, Some(ci), &report.agent_version, &now);
            return Ok(ack(ci, &view.identified_by, 0));
        }

        // Only the sections whose stable content changed are read back for diffing (the
        // identity and network together, since identification keys come from both).
        let mut needed: Vec<&str> = changed
            .iter()
            .copied()
            .filter(|s| *s != "packages")
            .collect();
        if needed.iter().any(|s| *s == "identity" || *s == "network") {
            for s in ["identity", "network"] {
                if !needed.contains(&s) {
                    needed.push(s);
                }
            }
        }
        let with_packages = changed.contains(&"packages");

        // Decide which CI this report describes.
        let (ci_record, rule, duplicates, _identify_guard) = match report.kind {
            ReportKind::Delta => {
                let key = view.ci.clone().unwrap_or_default();
                let rec = store
                    .ci_for_update(&key, &needed, with_packages)
                    .await?
                    .ok_or_else(|| {
                        IngestError::Resync(
                            "the agent's CI no longer exists: send a full inventory".into(),
                        )
                    })?;
                (Some(rec), view.identified_by.clone(), Vec::new(), None)
            }
            ReportKind::Full
                if view.ci.is_some()
                    && ["identity", "network"]
                        .iter()
                        .all(|s| view.hashes.get(*s) == report.section_hashes.get(*s)) =>
            {
                // Same agent, same identity and interfaces: the same CI, no lookup needed.
                let key = view.ci.clone().unwrap_or_default();
                let rec = store.ci_for_update(&key, &needed, with_packages).await?;
                (rec, view.identified_by.clone(), Vec::new(), None)
            }
            ReportKind::Full => {
                let identity = report.inventory.identity.as_ref().ok_or_else(|| {
                    IngestError::Unprocessable(
                        "a full report must carry the identity section".into(),
                    )
                })?;
                let keys = HostKeys::from_inventory(identity, report.inventory.network.as_deref());
                let guard = self.reservations.reserve_host(&keys).await;
                let candidates = store.host_candidates(&keys).await?;
                match identify(&keys, &candidates) {
                    Identification::Existing {
                        ci_id,
                        rule,
                        duplicates,
                    } => {
                        let rec = store.ci_for_update(&ci_id, &SECTIONS, true).await?;
                        (rec, rule.as_str().to_string(), duplicates, Some(guard))
                    }
                    Identification::New => {
                        // The agent's own CI, unless its keys contradict the report (a clone
                        // that copied the agent's credential).
                        let own = match &view.ci {
                            Some(k) => store.ci_for_update(k, &SECTIONS, true).await?,
                            None => None,
                        };
                        let own = own.filter(|c| !contradicts(&c.keys, &keys));
                        let rule = if own.is_some() { "agent" } else { "new" };
                        (own, rule.to_string(), Vec::new(), Some(guard))
                    }
                }
            }
        };

        let result = match ci_record {
            Some(rec) => {
                self.update(store, agent, report, rec, &rule, duplicates, &now)
                    .await?
            }
            None => self.create(store, agent, report, &now).await?,
        };
        Ok(ack(&result.0, &result.1, result.2))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        store: &Store,
        agent: &str,
        report: &Report,
        rec: CiRecord,
        rule: &str,
        duplicates: Vec<String>,
        now: &str,
    ) -> Result<(String, String, usize), IngestError> {
        let to_store = sections_to_store(report, |s| {
            rec.section_hashes.get(s) != report.section_hashes.get(s)
        })?;
        let mut changes: Vec<Change> = Vec::new();
        let mut sections: Vec<(String, Value)> = Vec::new();
        let mut hashes = rec.section_hashes.clone();
        let mut package_keys: Option<Vec<String>> = None;
        for (s, new_value) in to_store {
            let Some(new_hash) = report.section_hashes.get(s) else {
                continue;
            };
            hashes.insert(s.to_string(), new_hash.clone());
            if s == "packages" {
                let new_list = report.inventory.packages.as_deref().unwrap_or_default();
                let old_list = self.packages_of(&rec.packages);
                changes.extend(diff(
                    &package_attributes(&old_list),
                    &package_attributes(new_list),
                ));
                let (keys, fresh) = self.package_keys(new_list);
                self.ensure_packages(store, fresh).await?;
                package_keys = Some(keys);
                continue;
            }
            let empty = Value::Null;
            let old_value = rec.sections.get(s).unwrap_or(&empty);
            changes.extend(diff(
                &section_attributes(s, old_value),
                &section_attributes(s, &new_value),
            ));
            sections.push((s.to_string(), new_value));
        }

        let mut doc = json!({
            "last_seen": now,
            "section_hashes": hashes,
            "agent": agent,
            "identified_by": rule,
        });
        // Keys (and the MAC lookup rows) change only when the identity or interfaces do.
        let keys_changed = ["identity", "network"].iter().any(|s| {
            report.inventory.has(s) && rec.section_hashes.get(*s) != report.section_hashes.get(*s)
        });
        if keys_changed {
            let stored_identity: Option<cmdb_shared::Identity> = stored_section(&rec, "identity");
            let stored_network: Option<Vec<cmdb_shared::NetworkInterface>> =
                stored_section(&rec, "network");
            if let Some(identity) = report
                .inventory
                .identity
                .as_ref()
                .or(stored_identity.as_ref())
            {
                let network = report
                    .inventory
                    .network
                    .as_deref()
                    .or(stored_network.as_deref());
                doc["name"] = json!(identity.hostname);
                doc["keys"] = serde_json::to_value(HostKeys::from_inventory(identity, network))
                    .map_err(StorageError::from)?;
            }
        }
        if let Some(os) = &report.inventory.os {
            doc["os"] = json!(os.pretty_name);
        }
        if let Some(net) = &report.inventory.network {
            doc["addresses"] = json!(addresses(net));
        }
        if let Some(keys) = &package_keys {
            doc["package_count"] = json!(keys.len());
        }
        let unbind = rec.agent.clone().filter(|a| a != agent);
        if let Some(previous) = &unbind {
            changes.push(Change {
                attribute: "agent".into(),
                old: Some(json!(previous)),
                new: Some(json!(agent)),
            });
        }
        let history = history_records(&rec.key, agent, now, &changes);
        let n = history.len();
        let bind_agent = rec.agent.as_deref() != Some(agent);
        let macs = doc
            .get("keys")
            .and_then(|k| k.get("macs"))
            .and_then(|m| serde_json::from_value::<Vec<String>>(m.clone()).ok());
        let write = CiWrite {
            ci_key: rec.key.clone(),
            create: false,
            bind_agent,
            macs,
            ci_doc: doc,
            volatile: volatile_write(&rec.key, report, now),
            packages: package_keys,
            sections,
            history,
            agent_key: agent.to_string(),
            agent_version: report.agent_version.clone(),
            unbind_agent: unbind.clone(),
            duplicates,
            now: now.to_string(),
        };
        store.apply(&write).await?;
        if let Some(previous) = unbind {
            self.forget(&previous);
        }
        lock_or_recover(&self.views).insert(
            agent.to_string(),
            AgentView {
                ci: Some(rec.key.clone()),
                identified_by: rule.to_string(),
                hashes,
            },
        );
        if bind_agent {
            lock_or_recover(&self.heartbeats).remove(agent);
        } else {
            self.heartbeat(agent, Some(&rec.key), &report.agent_version, now);
        }
        Ok((rec.key, rule.to_string(), n))
    }

    async fn create(
        &self,
        store: &Store,
        agent: &str,
        report: &Report,
        now: &str,
    ) -> Result<(String, String, usize), IngestError> {
        let inv = &report.inventory;
        let identity = inv.identity.as_ref().ok_or_else(|| {
            IngestError::Unprocessable("a full report must carry the identity section".into())
        })?;
        let inv_json: serde_json::Map<String, Value> = sections_to_store(report, |_| true)?
            .into_iter()
            .filter(|(s, _)| *s != "packages")
            .map(|(s, v)| (s.to_string(), v))
            .collect();
        let key = new_key();
        let packages = inv.packages.as_deref().unwrap_or_default();
        let (package_keys, fresh) = self.package_keys(packages);
        self.ensure_packages(store, fresh).await?;
        let hashes: BTreeMap<String, String> = report
            .section_hashes
            .iter()
            .filter(|(s, _)| inv.has(s))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let doc = json!({
            "class": "host",
            "name": identity.hostname,
            "identified_by": "new",
            "keys": HostKeys::from_inventory(identity, inv.network.as_deref()),
            "first_seen": now,
            "last_seen": now,
            "agent": agent,
            "suspected_duplicates": [],
            "sections": inv_json,
            "section_hashes": hashes,
            "package_count": package_keys.len(),
            "os": inv.os.as_ref().and_then(|o| o.pretty_name.clone()),
            "addresses": inv.network.as_deref().map(addresses).unwrap_or_default(),
        });
        let history = history_records(
            &key,
            agent,
            now,
            &[Change {
                attribute: "ci".into(),
                old: None,
                new: Some(json!("created")),
            }],
        );
        let macs = HostKeys::from_inventory(identity, inv.network.as_deref()).macs;
        let write = CiWrite {
            ci_key: key.clone(),
            create: true,
            bind_agent: true,
            macs: Some(macs),
            ci_doc: doc,
            volatile: None,
            packages: Some(package_keys),
            sections: Vec::new(),
            history,
            agent_key: agent.to_string(),
            agent_version: report.agent_version.clone(),
            unbind_agent: None,
            duplicates: Vec::new(),
            now: now.to_string(),
        };
        store.apply(&write).await?;
        lock_or_recover(&self.views).insert(
            agent.to_string(),
            AgentView {
                ci: Some(key.clone()),
                identified_by: "new".into(),
                hashes,
            },
        );
        lock_or_recover(&self.heartbeats).remove(agent);
        Ok((key, "new".into(), 1))
    }

    /// The packages behind these keys (from the in-memory catalogue).
    pub fn packages_of(&self, keys: &[String]) -> Vec<Package> {
        let cat = self.catalog.read().unwrap_or_else(|e| e.into_inner());
        keys.iter().filter_map(|k| cat.get(k).cloned()).collect()
    }

    /// Keys of `list` (deduplicated), and the packages the catalogue has not seen yet.
    fn package_keys(&self, list: &[Package]) -> (Vec<String>, Vec<NewPackage>) {
        let cat = self.catalog.read().unwrap_or_else(|e| e.into_inner());
        let mut keys = BTreeSet::new();
        let mut fresh = Vec::new();
        for p in list {
            let k = package_key(p);
            if keys.insert(k.clone()) && !cat.contains_key(&k) {
                fresh.push(NewPackage {
                    id: k,
                    manager: p.manager.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                });
            }
        }
        (keys.into_iter().collect(), fresh)
    }

    /// Stores packages the catalogue has not seen, before the CI that lists them. Package
    /// records are shared and never change, so they are written on their own, one writer at a
    /// time (others bringing the same packages wait, then find them catalogued): inside each
    /// host's transaction, hundreds of new hosts bringing the same new packages would fail
    /// each other's commits. If the host's write then fails, the records remain, unreferenced
    /// and harmless. (Per-package claims instead of one writer were measured: no more
    /// throughput, and a worse p99.)
    async fn ensure_packages(
        &self,
        store: &Store,
        fresh: Vec<NewPackage>,
    ) -> Result<(), StorageError> {
        if fresh.is_empty() {
            return Ok(());
        }
        let _one_writer = self.package_lock.lock().await;
        let fresh: Vec<NewPackage> = {
            let cat = self.catalog.read().unwrap_or_else(|e| e.into_inner());
            fresh
                .into_iter()
                .filter(|p| !cat.contains_key(&p.id))
                .collect()
        };
        if fresh.is_empty() {
            return Ok(());
        }
        store.insert_packages(&fresh).await?;
        let mut cat = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        for p in fresh {
            cat.insert(
                p.id.clone(),
                Package {
                    manager: p.manager.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                },
            );
        }
        Ok(())
    }
}

fn stored_section<T: serde::de::DeserializeOwned>(rec: &CiRecord, name: &str) -> Option<T> {
    rec.sections
        .get(name)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
}

fn addresses(net: &[cmdb_shared::NetworkInterface]) -> Vec<String> {
    net.iter()
        .flat_map(|i| i.addresses.iter())
        .map(|a| a.address.clone())
        .filter(|a| a != "127.0.0.1" && a != "::1")
        .collect()
}

fn history_records(ci: &str, agent: &str, now: &str, changes: &[Change]) -> Vec<HistoryRecord> {
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

/// The volatile values a report carries, as written to the CI's volatile record.
fn volatile_write(ci: &str, report: &Report, now: &str) -> Option<VolatileWrite> {
    let sections: Vec<(String, String, Value)> = VOLATILE_FIELDS
        .iter()
        .filter_map(|(s, _)| {
            let hash = report.section_hashes.get(*s)?;
            let value = report.inventory.section_value(s)?;
            Some((s.to_string(), hash.clone(), volatile_part(s, &value)?))
        })
        .collect();
    (!sections.is_empty()).then(|| VolatileWrite {
        ci_key: ci.to_string(),
        at: now.to_string(),
        sections,
    })
}

/// The sections of a report that are to be stored (present, and `keep` says so), each in
/// JSON form, after checking each against the hash the report gives it (the hashes are
/// stored with them and decide what later reports count as changed). Sections whose hash
/// equals the server's are not stored, so they are not hashed again: that is most of a
/// periodic full inventory.
fn sections_to_store(
    report: &Report,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(&'static str, Value)>, IngestError> {
    let mut out = Vec::new();
    for s in SECTIONS {
        if !keep(s) {
            continue;
        }
        let Some(v) = report.inventory.section_value(s) else {
            continue;
        };
        if report.section_hashes.get(s).map(String::as_str)
            != Some(section_hash_of(s, v.clone()).as_str())
        {
            return Err(IngestError::Invalid(format!(
                "section_hashes.{s}: does not match the section's content"
            )));
        }
        out.push((s, v));
    }
    Ok(out)
}

/// Checks the fields every report (host or device) carries.
fn validate_envelope(report_id: &str, agent_version: &str) -> Result<(), IngestError> {
    if report_id.is_empty()
        || report_id.len() > 128
        || !report_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(IngestError::Invalid(
            "report_id: must be 1-128 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if agent_version.is_empty() || agent_version.len() > 64 {
        return Err(IngestError::Invalid(
            "agent_version: must be 1-64 characters".into(),
        ));
    }
    Ok(())
}

/// Checks a report before anything is looked up or written.
pub fn validate(report: &Report, limits: &Limits) -> Result<(), IngestError> {
    let bad = |m: String| Err(IngestError::Invalid(m));
    validate_envelope(&report.report_id, &report.agent_version)?;
    for (s, h) in &report.section_hashes {
        if !SECTIONS.contains(&s.as_str()) {
            return bad(format!("section_hashes: unknown section {s:?}"));
        }
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad(format!("section_hashes.{s}: not a SHA-256 hex digest"));
        }
    }
    let inv = &report.inventory;
    for s in SECTIONS {
        if inv.has(s) && !report.section_hashes.contains_key(s) {
            return bad(format!("section_hashes: missing the hash of section {s}"));
        }
    }
    if let Some(id) = &inv.identity
        && (id.hostname.is_empty() || id.hostname.len() > 253)
    {
        return bad("inventory.identity.hostname: must be 1-253 characters".into());
    }
    if let Some(p) = &inv.packages {
        if p.len() > limits.max_packages {
            return bad(format!(
                "inventory.packages: {} packages, more than the limit of {}",
                p.len(),
                limits.max_packages
            ));
        }
        if let Some((i, _)) = p
            .iter()
            .enumerate()
            .find(|(_, p)| p.name.is_empty() || p.version.is_empty() || p.manager.is_empty())
        {
            return bad(format!(
                "inventory.packages[{i}]: name, version and manager must not be empty"
            ));
        }
    }
    let lists = [
        ("disks", inv.disks.as_ref().map(Vec::len)),
        ("filesystems", inv.filesystems.as_ref().map(Vec::len)),
        ("network", inv.network.as_ref().map(Vec::len)),
        ("services", inv.services.as_ref().map(Vec::len)),
        (
            "sockets.listening",
            inv.sockets.as_ref().map(|s| s.listening.len()),
        ),
        (
            "sockets.connections",
            inv.sockets.as_ref().map(|s| s.connections.len()),
        ),
    ];
    for (name, len) in lists {
        if let Some(n) = len
            && n > limits.max_list_items
        {
            return bad(format!(
                "inventory.{name}: {n} items, more than the limit of {}",
                limits.max_list_items
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Ingestion against the real SurrealDB engine (in-memory), identification table included.
    use super::*;
    use crate::storage::{AgentRecord, TokenRecord};
    use cmdb_shared::hash::inventory_hashes;
    use cmdb_shared::{Identity, Inventory, Memory, NetworkInterface};

    pub(super) const UUID: &str = "4c4c4544-0044-3510-8052-b4c04f4e5331";
    pub(super) const MID: &str = "3d1219c7c4c5404aaa1f6d2a48adfda4";

    pub(super) fn host(uuid: &str, serial: &str, machine_id: &str, mac: &str) -> Inventory {
        Inventory {
            identity: Some(Identity {
                hostname: "db01".into(),
                fqdn: None,
                machine_id: Some(machine_id.into()),
                hardware_uuid: Some(uuid.into()),
                vendor: Some("Dell Inc.".into()),
                model: Some("PowerEdge R640".into()),
                serial: Some(serial.into()),
                chassis_type: None,
            }),
            network: Some(vec![NetworkInterface {
                name: "eno1".into(),
                mac: Some(mac.into()),
                state: "up".into(),
                physical: true,
                ..Default::default()
            }]),
            memory: Some(Memory {
                total_bytes: 1 << 30,
                swap_total_bytes: 0,
            }),
            packages: Some(vec![Package {
                manager: "dpkg".into(),
                name: "openssl".into(),
                version: "3.0.11-1~deb12u2".into(),
                architecture: Some("amd64".into()),
            }]),
            ..Default::default()
        }
    }

    fn report(id: &str, kind: ReportKind, inv: &Inventory, sent: Inventory) -> Report {
        Report {
            schema_version: cmdb_shared::SCHEMA_VERSION,
            report_id: id.into(),
            kind,
            agent_version: "test".into(),
            collected_at: chrono::Utc::now(),
            section_hashes: inventory_hashes(inv),
            inventory: sent,
            errors: vec![],
        }
    }

    pub(super) fn full(id: &str, inv: &Inventory) -> Report {
        report(id, ReportKind::Full, inv, inv.clone())
    }

    pub(super) async fn agent(store: &Store, key: &str) {
        store
            .insert_agent(
                &AgentRecord {
                    key: key.into(),
                    hostname: "h".into(),
                    agent_version: "test".into(),
                    enrolled_at: now_str(),
                    last_seen: None,
                    ci: None,
                },
                &TokenRecord {
                    key: format!("t{key}"),
                    hash: format!("hash-{key}"),
                    role: "agent".into(),
                    description: String::new(),
                    created_at: now_str(),
                    revoked: false,
                    agent: Some(key.into()),
                },
            )
            .await
            .expect("insert agent");
    }

    pub(super) async fn setup(agents: &[&str]) -> (Store, Ingestor, Limits) {
        let store = Store::memory().await.expect("memory store");
        for a in agents {
            agent(&store, a).await;
        }
        (store, Ingestor::default(), Limits::default())
    }

    async fn host_count(store: &Store) -> u64 {
        store.counts().await.expect("counts")["cis"]
    }

    #[tokio::test]
    async fn reimaged_host_with_a_new_machine_id_and_agent_is_the_same_ci() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let first = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
            )
            .await
            .expect("first");
        let reimaged = host(
            UUID,
            "CZ1",
            "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
            "b4:96:91:00:00:01",
        );
        let second = ing
            .ingest(&store, &lim, "a2", &full("r1", &reimaged))
            .await
            .expect("second");
        assert_eq!(second.ci_id, first.ci_id);
        assert_eq!(second.identified_by, "hardware_uuid");
        assert_eq!(host_count(&store).await, 1);
        let history = store
            .history(&first.ci_id, None, None, 100)
            .await
            .expect("history");
        let attrs: Vec<_> = history.iter().map(|h| h.attribute.as_str()).collect();
        assert!(attrs.contains(&"identity.machine_id"), "{attrs:?}");
        assert!(
            attrs.contains(&"agent"),
            "the CI moved to the new agent: {attrs:?}"
        );
    }

    #[tokio::test]
    async fn cloned_vm_with_the_same_machine_id_but_another_uuid_and_macs_is_a_new_ci() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let a = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full("r1", &host(UUID, "VM-1", MID, "00:50:56:00:00:01")),
            )
            .await
            .expect("a");
        let clone = host(
            "4c4c4544-0055-3610-8052-c4c04f4e5332",
            "VM-2",
            MID,
            "00:50:56:00:00:02",
        );
        let b = ing
            .ingest(&store, &lim, "a2", &full("r1", &clone))
            .await
            .expect("b");
        assert_ne!(a.ci_id, b.ci_id);
        assert_eq!(b.identified_by, "new");
        assert_eq!(host_count(&store).await, 2);
    }

    #[tokio::test]
    async fn placeholder_serials_and_bogus_uuids_do_not_merge_hosts() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let bogus = "03000200-0400-0500-0006-000700080009";
        let a = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full(
                    "r1",
                    &host(bogus, "To Be Filled By O.E.M.", MID, "b4:96:91:00:00:01"),
                ),
            )
            .await
            .expect("a");
        let other = host(
            bogus,
            "To Be Filled By O.E.M.",
            "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
            "b4:96:91:00:00:02",
        );
        let b = ing
            .ingest(&store, &lim, "a2", &full("r1", &other))
            .await
            .expect("b");
        assert_ne!(a.ci_id, b.ci_id);
    }

    #[tokio::test]
    async fn a_byte_swapped_uuid_matches_the_same_ci() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let a = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
            )
            .await
            .expect("a");
        let swapped = host(
            "44454c4c-4400-1035-8052-b4c04f4e5331",
            "CZ1",
            MID,
            "b4:96:91:00:00:01",
        );
        let b = ing
            .ingest(&store, &lim, "a2", &full("r1", &swapped))
            .await
            .expect("b");
        assert_eq!(a.ci_id, b.ci_id);
        assert_eq!(b.identified_by, "hardware_uuid");
    }

    #[tokio::test]
    async fn a_shared_permanent_mac_identifies_a_host_without_other_keys() {
        let (store, ing, lim) = setup(&["a1", "a2", "a3"]).await;
        let bare = |mac: &str| {
            let mut inv = host(UUID, "x", MID, mac);
            let id = inv.identity.as_mut().expect("identity");
            id.hardware_uuid = None;
            id.serial = None;
            id.machine_id = None;
            inv
        };
        let a = ing
            .ingest(&store, &lim, "a1", &full("r1", &bare("b4:96:91:00:00:01")))
            .await
            .expect("a");
        let b = ing
            .ingest(&store, &lim, "a2", &full("r1", &bare("b4:96:91:00:00:01")))
            .await
            .expect("b");
        assert_eq!(
            (b.ci_id.as_str(), b.identified_by.as_str()),
            (a.ci_id.as_str(), "mac")
        );
        let c = ing
            .ingest(&store, &lim, "a3", &full("r1", &bare("b4:96:91:00:00:02")))
            .await
            .expect("c");
        assert_ne!(c.ci_id, a.ci_id, "another NIC is another host");
        assert_eq!(host_count(&store).await, 2);
    }

    #[tokio::test]
    async fn volatile_values_are_current_in_the_ci_but_never_history() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let mut inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
        let fs = |used: u64| {
            Some(vec![cmdb_shared::Filesystem {
                mount_point: "/".into(),
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                size_bytes: 100 << 30,
                used_bytes: used,
            }])
        };
        inv.filesystems = fs(10 << 30);
        let first = ing
            .ingest(&store, &lim, "a1", &full("r1", &inv))
            .await
            .expect("first");
        inv.filesystems = fs(12 << 30);
        let again = ing
            .ingest(&store, &lim, "a1", &full("r2", &inv))
            .await
            .expect("again");
        assert_eq!(again.changes, 0);
        let used = |ci: &CiRecord| ci.sections["filesystems"][0]["used_bytes"].as_u64();
        let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
        assert_eq!(used(&ci), Some(12 << 30));
        assert!(ci.measured_at.is_some());
        // A stable change rewrites the section; the values stay the newest ones.
        inv.filesystems = fs(13 << 30);
        inv.filesystems.as_mut().expect("fs")[0].size_bytes = 200 << 30;
        let grown = ing
            .ingest(&store, &lim, "a1", &full("r3", &inv))
            .await
            .expect("grown");
        assert_eq!(grown.changes, 1);
        let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
        assert_eq!(used(&ci), Some(13 << 30));
        let history = store
            .history(&first.ci_id, None, None, 100)
            .await
            .expect("history");
        let attrs: Vec<_> = history.iter().map(|h| h.attribute.as_str()).collect();
        assert_eq!(attrs.len(), 2, "created + the size change: {attrs:?}");
    }

    #[tokio::test]
    async fn two_agents_reporting_the_same_new_machine_at_once_make_one_ci() {
        let (store, ing, lim) = setup(&["a1", "a2", "a3"]).await;
        let same = full("r1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01"));
        let other = full(
            "r1",
            &host(
                "4c4c4544-0055-3610-8052-c4c04f4e5332",
                "CZ2",
                "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
                "b4:96:91:00:00:02",
            ),
        );
        let (a, b, c) = tokio::join!(
            ing.ingest(&store, &lim, "a1", &same),
            ing.ingest(&store, &lim, "a2", &same),
            ing.ingest(&store, &lim, "a3", &other),
        );
        let (a, b, c) = (a.expect("a1"), b.expect("a2"), c.expect("a3"));
        assert_eq!(a.ci_id, b.ci_id);
        assert_ne!(a.ci_id, c.ci_id);
        assert_eq!(host_count(&store).await, 2);
    }

    #[tokio::test]
    async fn a_redelivered_report_is_recognised_and_not_applied_twice() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
        let first = ing
            .ingest(&store, &lim, "a1", &full("r1", &inv))
            .await
            .expect("first");
        let mut changed = inv.clone();
        changed.memory = Some(Memory {
            total_bytes: 2 << 30,
            swap_total_bytes: 0,
        });
        let delta = report(
            "r2",
            ReportKind::Delta,
            &changed,
            Inventory {
                memory: changed.memory.clone(),
                ..Default::default()
            },
        );
        let applied = ing.ingest(&store, &lim, "a1", &delta).await.expect("delta");
        assert_eq!(applied.changes, 1);
        // The acknowledgement was lost; the agent sends r2 again after restarting (cold cache).
        let cold = Ingestor::default();
        let again = cold
            .ingest(&store, &lim, "a1", &delta)
            .await
            .expect("redelivery");
        assert_eq!(again.changes, 0);
        let history = store
            .history(&first.ci_id, None, None, 100)
            .await
            .expect("history");
        assert_eq!(history.len(), 2, "created + one change: {history:?}");
    }

    #[tokio::test]
    async fn a_delta_on_a_baseline_the_server_does_not_hold_asks_for_a_full_inventory() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
        let delta = report("r1", ReportKind::Delta, &inv, Inventory::default());
        assert!(matches!(
            ing.ingest(&store, &lim, "a1", &delta).await,
            Err(IngestError::Resync(_))
        ));
        ing.ingest(&store, &lim, "a1", &full("r2", &inv))
            .await
            .expect("full");
        let mut drifted = inv.clone();
        drifted.packages = Some(vec![]);
        let delta = report("r3", ReportKind::Delta, &drifted, Inventory::default());
        assert!(matches!(
            ing.ingest(&store, &lim, "a1", &delta).await,
            Err(IngestError::Resync(_))
        ));
    }

    #[tokio::test]
    async fn a_section_whose_hash_does_not_match_its_content_is_rejected_and_nothing_written() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let inv = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
        let mut r = full("r1", &inv);
        r.section_hashes.insert("memory".into(), "0".repeat(64));
        assert!(matches!(
            ing.ingest(&store, &lim, "a1", &r).await,
            Err(IngestError::Invalid(_))
        ));
        assert_eq!(host_count(&store).await, 0);

        // On a known host too: a changed section must match its hash.
        let ci = ing
            .ingest(&store, &lim, "a1", &full("r2", &inv))
            .await
            .expect("valid")
            .ci_id;
        let mut changed = inv.clone();
        changed.packages = Some(vec![]);
        let mut r = full("r3", &changed);
        r.section_hashes
            .insert("packages".into(), r.section_hashes["memory"].clone());
        assert!(matches!(
            ing.ingest(&store, &lim, "a1", &r).await,
            Err(IngestError::Invalid(_))
        ));
        let history = store.history(&ci, None, None, 100).await.expect("history");
        assert_eq!(history.len(), 1, "only the creation: {history:?}");
    }

    #[tokio::test]
    async fn packages_are_stored_once_and_upgrades_are_one_history_record() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let a = host(UUID, "CZ1", MID, "b4:96:91:00:00:01");
        let b = host(
            "4c4c4544-0055-3610-8052-c4c04f4e5332",
            "CZ2",
            "9f00d1b2c3e4f5a6b7c8d9e0f1a2b3c4",
            "b4:96:91:00:00:02",
        );
        let ra = ing
            .ingest(&store, &lim, "a1", &full("r1", &a))
            .await
            .expect("a");
        ing.ingest(&store, &lim, "a2", &full("r1", &b))
            .await
            .expect("b");
        assert_eq!(
            store.counts().await.expect("counts")["packages"],
            1,
            "one record for a shared package"
        );
        let mut upgraded = a.clone();
        upgraded.packages = Some(vec![Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: "3.0.13-1~deb12u1".into(),
            architecture: Some("amd64".into()),
        }]);
        let d = report(
            "r2",
            ReportKind::Delta,
            &upgraded,
            Inventory {
                packages: upgraded.packages.clone(),
                ..Default::default()
            },
        );
        assert_eq!(
            ing.ingest(&store, &lim, "a1", &d)
                .await
                .expect("upgrade")
                .changes,
            1
        );
        let h = store
            .history(&ra.ci_id, None, None, 100)
            .await
            .expect("history");
        let last = h.last().expect("a record");
        assert_eq!(last.attribute, "packages.dpkg:openssl:amd64");
        assert_eq!(last.old, serde_json::json!("3.0.11-1~deb12u2"));
        assert_eq!(last.new, serde_json::json!("3.0.13-1~deb12u1"));
        let hosts = store
            .hosts_with_packages(&[package_key(&a.packages.as_ref().expect("p")[0])])
            .await
            .expect("search");
        assert_eq!(
            hosts.len(),
            1,
            "only the host that still has the old version"
        );
    }
}
