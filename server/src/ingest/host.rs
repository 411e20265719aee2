//! Host reports: a full inventory or a delta of the sections that changed, from the agent on
//! the host. Identified by the host rules, reconciled section by section into history, written
//! in one transaction with the package keys and the volatile values.

use std::collections::BTreeMap;

use cmdb_shared::hash::{VOLATILE_FIELDS, section_hash_of, volatile_part};
use cmdb_shared::{Report, ReportAck, ReportKind, SECTIONS};
use serde_json::{Value, json};

use super::{
    AgentView, IngestError, Ingestor, history_records, lock_or_recover, new_key, validate_host,
};
use crate::domain::discovery::host_addresses;
use crate::domain::identify::{HostIdentification, HostKeys, host_contradicts, identify_host_for};
use crate::domain::reconcile::{AttributeChange, diff, section_attributes};
use crate::storage::{CiDoc, CiRecord, CiWrite, NewCi, StorageError, VolatileWrite, now_str};

impl Ingestor {
    pub(super) async fn view(&self, agent: &str) -> Result<AgentView, IngestError> {
        let store = &self.store;
        if let Some(v) = lock_or_recover(&self.views).get(agent) {
            return Ok(v.clone());
        }
        let rec = store.agent(agent).await?.ok_or(IngestError::UnknownAgent)?;
        let mut view = AgentView {
            last_report: store.last_report(agent).await?,
            ..AgentView::default()
        };
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

    /// Remembers that `report` of `agent` is applied (its redelivery is acknowledged again).
    fn applied(&self, agent: &str, report: &str) {
        if let Some(v) = lock_or_recover(&self.views).get_mut(agent) {
            v.last_report = Some(report.to_string());
        }
    }

    /// Validates, identifies and writes one host report from `agent`.
    pub(super) async fn apply_host(
        &self,
        agent: &str,
        report: &Report,
    ) -> Result<ReportAck, IngestError> {
        validate_host(report, &self.limits)?;
        let store = &self.store;
        let lock = self.agent_lock(agent);
        let _guard = lock.lock().await;
        let mut view = self.view(agent).await?;
        // A view is a cache. On a database shared by several instances, another instance may
        // have applied this agent's last full inventory a moment ago, its event not yet
        // followed here: before a delta is refused for a baseline the view does not hold, the
        // view is read again from storage.
        if report.kind == ReportKind::Delta && !view.holds_baseline_of(report) {
            self.forget(agent);
            view = self.view(agent).await?;
        }
        let now = now_str();
        let ack = |ci: &str, rule: &str, changes: usize| ReportAck {
            report_id: report.report_id.clone(),
            ci_id: ci.to_string(),
            identified_by: rule.to_string(),
            changes: changes as u32,
        };

        // The same report again (its acknowledgement was lost on the way): already applied.
        if let Some(ci) = &view.ci
            && view.last_report.as_deref() == Some(report.report_id.as_str())
        {
            return Ok(ack(ci, &view.identified_by, 0));
        }

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
                self.presence
                    .agent_seen(agent, Some(&ci), &report.agent_version, &now);
                self.applied(agent, &report.report_id);
                return Ok(ack(&ci, &view.identified_by, 0));
            }
        } else if let Some(ci) = &view.ci
            && changed.is_empty()
        {
            // Nothing stable changed: only the small volatile record is written.
            if let Some(v) = volatile_write(ci, report, &now) {
                store.write_volatile(&v).await?;
            }
            self.presence
                .agent_seen(agent, Some(ci), &report.agent_version, &now);
            self.applied(agent, &report.report_id);
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
        let (ci_record, rule, duplicates, suspects, _identify_guard) = match report.kind {
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
                (
                    Some(rec),
                    view.identified_by.clone(),
                    Vec::new(),
                    Vec::new(),
                    None,
                )
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
                (
                    rec,
                    view.identified_by.clone(),
                    Vec::new(),
                    Vec::new(),
                    None,
                )
            }
            ReportKind::Full => {
                let identity = report.inventory.identity.as_ref().ok_or_else(|| {
                    IngestError::Unprocessable(
                        "a full report must carry the identity section".into(),
                    )
                })?;
                let keys = HostKeys::from_inventory(identity, report.inventory.network.as_deref());
                let guard = self.reservations.reserve_host(&keys).await?;
                let candidates = store.host_candidates(&keys).await?;
                // Only a strong key moves another agent's CI; weak ones only flag it.
                let (found, suspects) = identify_host_for(agent, &keys, &candidates);
                if !suspects.is_empty() {
                    tracing::warn!(
                        agent,
                        cis = ?suspects,
                        "report names a weak key (machine-id, MAC or FQDN) of another agent's CI: not moved, flagged as a suspected duplicate"
                    );
                }
                match found {
                    HostIdentification::Existing {
                        ci_id,
                        rule,
                        duplicates,
                    } => {
                        let rec = store.ci_for_update(&ci_id, &SECTIONS, true).await?;
                        (
                            rec,
                            rule.as_str().to_string(),
                            duplicates,
                            suspects,
                            Some(guard),
                        )
                    }
                    HostIdentification::New => {
                        // The agent's own CI, unless its keys contradict the report (a clone
                        // that copied the agent's credential).
                        let own = match &view.ci {
                            Some(k) => store.ci_for_update(k, &SECTIONS, true).await?,
                            None => None,
                        };
                        let own = own.filter(|c| !host_contradicts(&c.keys, &keys));
                        let rule = if own.is_some() { "agent" } else { "new" };
                        (own, rule.to_string(), Vec::new(), suspects, Some(guard))
                    }
                }
            }
        };

        let result = match ci_record {
            Some(rec) => {
                self.update(agent, report, rec, &rule, (duplicates, suspects), &now)
                    .await?
            }
            None => self.create(agent, report, suspects, &now).await?,
        };
        Ok(ack(&result.0, &result.1, result.2))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        agent: &str,
        report: &Report,
        rec: CiRecord,
        rule: &str,
        (duplicates, suspects): (Vec<String>, Vec<String>),
        now: &str,
    ) -> Result<(String, String, usize), IngestError> {
        let to_store = sections_to_store(report, |s| {
            rec.section_hashes.get(s) != report.section_hashes.get(s)
        })?;
        let mut changes: Vec<AttributeChange> = Vec::new();
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
                let (keys, fresh, package_changes) =
                    self.catalog.changes_from(&rec.packages, new_list);
                changes.extend(package_changes);
                self.catalog.ensure(&self.store, fresh).await?;
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
            doc["addresses"] = json!(host_addresses(net));
        }
        if let Some(keys) = &package_keys {
            doc["package_count"] = json!(keys.len());
        }
        let unbind = rec.agent.clone().filter(|a| a != agent);
        if let Some(previous) = &unbind {
            changes.push(AttributeChange {
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
        let fields = match doc {
            Value::Object(fields) => fields,
            _ => serde_json::Map::new(),
        };
        let write = CiWrite {
            ci_key: rec.key.clone(),
            doc: CiDoc::Update(fields),
            bind_agent,
            macs,
            volatile: volatile_write(&rec.key, report, now),
            packages: package_keys,
            sections,
            history,
            agent_key: agent.to_string(),
            agent_version: report.agent_version.clone(),
            unbind_agent: unbind.clone(),
            duplicates,
            suspects,
            report_id: report.report_id.clone(),
            now: now.to_string(),
        };
        self.store.apply(&write).await?;
        self.presence.report_written(agent, now);
        if let Some(previous) = unbind {
            self.forget(&previous);
        }
        lock_or_recover(&self.views).insert(
            agent.to_string(),
            AgentView {
                ci: Some(rec.key.clone()),
                identified_by: rule.to_string(),
                hashes,
                last_report: Some(report.report_id.clone()),
            },
        );
        if bind_agent {
            self.presence.agent_written(agent);
        } else {
            self.presence
                .agent_seen(agent, Some(&rec.key), &report.agent_version, now);
        }
        Ok((rec.key, rule.to_string(), n))
    }

    async fn create(
        &self,
        agent: &str,
        report: &Report,
        suspects: Vec<String>,
        now: &str,
    ) -> Result<(String, String, usize), IngestError> {
        let (hosts, _) = self.store.created_by(agent).await?;
        if hosts >= self.limits.max_hosts_per_agent {
            return Err(IngestError::Forbidden(format!(
                "this agent has created {hosts} host CIs, its quota (limits.max_hosts_per_agent); an agent reports for one host, so its identity keys keep contradicting its CI: an admin checks it (PUT /api/v1/cis/{{id}}/agent binds it to a CI)"
            )));
        }
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
        let (package_keys, fresh) = self.catalog.keys_of(packages);
        self.catalog.ensure(&self.store, fresh).await?;
        let hashes: BTreeMap<String, String> = report
            .section_hashes
            .iter()
            .filter(|(s, _)| inv.has(s))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let keys = HostKeys::from_inventory(identity, inv.network.as_deref());
        let macs = keys.macs.clone();
        let doc = NewCi::host(
            identity.hostname.clone(),
            keys,
            agent,
            now,
            inv_json,
            hashes.clone(),
            package_keys.len(),
            inv.os.as_ref().and_then(|o| o.pretty_name.clone()),
            inv.network
                .as_deref()
                .map(host_addresses)
                .unwrap_or_default(),
        );
        let history = history_records(&key, agent, now, &[AttributeChange::created()]);
        let write = CiWrite {
            ci_key: key.clone(),
            doc: CiDoc::New(Box::new(doc)),
            bind_agent: true,
            macs: Some(macs),
            volatile: None,
            packages: Some(package_keys),
            sections: Vec::new(),
            history,
            agent_key: agent.to_string(),
            agent_version: report.agent_version.clone(),
            unbind_agent: None,
            duplicates: Vec::new(),
            suspects,
            report_id: report.report_id.clone(),
            now: now.to_string(),
        };
        self.store.apply(&write).await?;
        lock_or_recover(&self.views).insert(
            agent.to_string(),
            AgentView {
                ci: Some(key.clone()),
                identified_by: "new".into(),
                hashes,
                last_report: Some(report.report_id.clone()),
            },
        );
        self.presence.agent_written(agent);
        self.presence.report_written(agent, now);
        Ok((key, "new".into(), 1))
    }
}

fn stored_section<T: serde::de::DeserializeOwned>(rec: &CiRecord, name: &str) -> Option<T> {
    rec.sections
        .get(name)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
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
