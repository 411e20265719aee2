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
//! The poller is recorded with the device but never bound to it: an agent's own CI is its
//! host, and any poller may report any device.

use chrono::{DateTime, Utc};
use cmdb_shared::ReportAck;
use cmdb_shared::device::{DeviceInventory, DeviceReport};
use cmdb_shared::hash::section_hash_of;
use serde_json::{Map, Value, json};

use super::{
    IngestError, Ingestor, history_records, lock_or_recover, new_key, time_str, validate_envelope,
};
use crate::config::Limits;
use crate::domain::device::{self, CLASS, DeviceKeys, Identification, SECTION};
use crate::domain::reconcile::{Change, device_attributes, diff};
use crate::storage::{DeviceForUpdate, DeviceWrite, StorageError, Store};

/// Most bytes of any text field of a device report. SNMP DisplayStrings have at most 255
/// octets, but decoded from GBK or Latin-1 they grow, and some agents ignore the limit.
const MAX_TEXT_BYTES: usize = 1024;

/// Most bytes of a target (`host`, `host:port` or `[v6]:port`; a DNS name has at most 253).
const MAX_TARGET_BYTES: usize = 300;

/// Most target addresses remembered per device (the oldest is forgotten first).
const MAX_TARGETS: usize = 16;

/// What identification of a device polled by one agent at one target found last time.
#[derive(Debug, Clone)]
pub(super) struct DeviceTarget {
    ci: String,
    rule: String,
    keys: DeviceKeys,
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
        let mut chassis_ids: Vec<String> = inv
            .base_bridge_mac
            .iter()
            .cloned()
            .chain(
                inv.lldp_local
                    .iter()
                    .map(|l| l.chassis_id.trim().to_lowercase()),
            )
            .filter(|c| !c.is_empty())
            .collect();
        chassis_ids.sort();
        chassis_ids.dedup();
        let mut m = Map::new();
        m.insert("name".into(), json!(device::device_name(inv)));
        m.insert("vendor".into(), json!(trimmed(&inv.vendor)));
        m.insert("model".into(), json!(trimmed(&inv.model)));
        m.insert("serial".into(), json!(trimmed(&inv.serial)));
        m.insert("chassis_ids".into(), json!(chassis_ids));
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

    /// Applies one device report polled by `agent`.
    pub async fn ingest_device(
        &self,
        store: &Store,
        limits: &Limits,
        agent: &str,
        report: &DeviceReport,
    ) -> Result<ReportAck, IngestError> {
        if report.schema_version != cmdb_shared::SCHEMA_VERSION {
            return Err(IngestError::Unprocessable(format!(
                "unsupported schema_version {}: this server reads version {}",
                report.schema_version,
                cmdb_shared::SCHEMA_VERSION
            )));
        }
        validate_device(report, limits)?;
        let now_t = Utc::now();
        let now = time_str(now_t);
        let poll = Poll::new(report, now_t);

        // Held to the end: polls of one device are identified and written one at a time, so
        // two pollers (or two addresses of one device) cannot both create it.
        let _reserved = self.reservations.reserve_device(&poll.keys).await;
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
            if let Identification::Existing {
                ci_id,
                rule,
                duplicates,
            } = device::identify(&poll.keys, &candidates)
            {
                let guard = self.device_lock(&ci_id).await;
                if let Some(rec) = store.device_for_update(&ci_id).await? {
                    found = Some((rec, rule.as_str().to_string(), duplicates, guard));
                }
            }
        }
        let (ci, rule, changes) = match found {
            Some((rec, rule, duplicates, _guard)) => {
                self.update_device(store, agent, report, &poll, rec, rule, duplicates, &now)
                    .await?
            }
            None => {
                self.create_device(store, agent, report, &poll, &now)
                    .await?
            }
        };
        lock_or_recover(&self.device_targets).insert(
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
        store: &Store,
        agent: &str,
        report: &DeviceReport,
        poll: &Poll,
        now: &str,
    ) -> Result<(String, String, u32), IngestError> {
        let key = new_key();
        let targets = vec![poll.address.clone()];
        let keys = DeviceKeys::from_inventory(&poll.inv, &targets).stored();
        let Value::Object(mut doc) = json!({
            "class": CLASS,
            "identified_by": "new",
            // Host keys stay empty: host identification never matches a device.
            "keys": {},
            "device_keys": keys,
            "first_seen": now,
            "last_seen": now,
            "poller": agent,
            "suspected_duplicates": [],
            "sections": { SECTION: poll.split.stable },
            "section_hashes": { SECTION: poll.stable_hash },
            "package_count": 0,
        }) else {
            unreachable!("a JSON object literal");
        };
        doc.extend(poll.denormalised(&targets));
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
        let write = DeviceWrite {
            ci_key: key.clone(),
            create: true,
            ci_doc: doc,
            keys: Some(keys.index_keys()),
            history,
            duplicates: Vec::new(),
            state: poll.state(&key, agent, report, now),
            topology: Some(poll.topology(&key, now)),
        };
        store.apply_device(&write).await?;
        Ok((key, "new".into(), 1))
    }

    #[allow(clippy::too_many_arguments)]
    async fn update_device(
        &self,
        store: &Store,
        agent: &str,
        report: &DeviceReport,
        poll: &Poll,
        rec: DeviceForUpdate,
        rule: String,
        duplicates: Vec<String>,
        now: &str,
    ) -> Result<(String, String, u32), IngestError> {
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
        let mut changes: Vec<Change> = Vec::new();
        let mut doc = Map::new();
        let stable_changed = rec.stable_hash.as_deref() != Some(poll.stable_hash.as_str());
        if stable_changed {
            let old = store.device_stable(&rec.key).await?.unwrap_or(Value::Null);
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
            changes.push(Change {
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
            create: false,
            ci_doc: doc,
            keys: key_rows,
            history,
            duplicates,
            state: poll.state(&rec.key, agent, report, now),
            topology,
        };
        store.apply_device(&write).await?;
        let mut seen = lock_or_recover(&self.device_seen);
        if ci_written {
            seen.remove(&rec.key);
        } else {
            seen.insert(rec.key.clone(), now.to_string());
        }
        Ok((rec.key, rule, n))
    }
}

/// A bad field: `path: reason`.
fn field(r: Result<(), String>, path: impl FnOnce() -> String) -> Result<(), IngestError> {
    r.map_err(|reason| IngestError::Invalid(format!("{}: {reason}", path())))
}

/// A value as shown in an error: quoted, cut to a readable length.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

fn text(s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT_BYTES {
        Err(format!("longer than {MAX_TEXT_BYTES} bytes"))
    } else {
        Ok(())
    }
}

fn opt_text(s: &Option<String>) -> Result<(), String> {
    s.as_deref().map_or(Ok(()), text)
}

fn mac(s: &str) -> Result<(), String> {
    match device::canonical_mac(s) {
        Some(_) => Ok(()),
        None => Err(format!("{} is not a MAC address", shown(s))),
    }
}

fn ip(s: &str) -> Result<(), String> {
    match s.parse::<std::net::IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{} is not an IP address", shown(s))),
    }
}

fn opt_ip(s: &Option<String>) -> Result<(), String> {
    s.as_deref().map_or(Ok(()), ip)
}

fn count(len: usize, max: usize) -> Result<(), String> {
    if len > max {
        Err(format!("{len} items, more than the limit of {max}"))
    } else {
        Ok(())
    }
}

fn target(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_TARGET_BYTES {
        return Err(format!("must be 1-{MAX_TARGET_BYTES} bytes"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) || device::target_host(s).is_empty() {
        return Err(format!(
            "{} is not \"host\", \"host:port\" or \"[ipv6]:port\"",
            shown(s)
        ));
    }
    Ok(())
}

fn object_id(s: &Option<String>) -> Result<(), String> {
    match s.as_deref() {
        Some(o)
            if o.len() > MAX_TEXT_BYTES
                || o.is_empty()
                || !o
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Err(format!("{} is not a dotted OID", shown(o)))
        }
        _ => Ok(()),
    }
}

/// Checks a device report before anything is looked up or written: every string bounded,
/// every list within the limits, MACs and IP addresses well-formed. The error names the field.
pub fn validate_device(report: &DeviceReport, limits: &Limits) -> Result<(), IngestError> {
    validate_envelope(&report.report_id, &report.agent_version)?;
    let inv = &report.inventory;
    let list = limits.max_list_items;
    let table = limits.max_device_table_items;
    field(target(&inv.target), || "inventory.target".into())?;
    let sys = &inv.system;
    field(object_id(&sys.object_id), || {
        "inventory.system.object_id".into()
    })?;
    for (name, v) in [
        ("descr", &sys.descr),
        ("name", &sys.name),
        ("contact", &sys.contact),
        ("location", &sys.location),
    ] {
        field(opt_text(v), || format!("inventory.system.{name}"))?;
    }
    for (name, v) in [
        ("vendor", &inv.vendor),
        ("model", &inv.model),
        ("firmware", &inv.firmware),
        ("serial", &inv.serial),
    ] {
        field(opt_text(v), || format!("inventory.{name}"))?;
    }
    if let Some(m) = &inv.base_bridge_mac {
        field(mac(m), || "inventory.base_bridge_mac".into())?;
    }

    field(count(inv.components.len(), list), || {
        "inventory.components".into()
    })?;
    for (i, c) in inv.components.iter().enumerate() {
        field(text(&c.class), || {
            format!("inventory.components[{i}].class")
        })?;
        for (name, v) in [
            ("name", &c.name),
            ("description", &c.description),
            ("model", &c.model),
            ("serial", &c.serial),
            ("hardware_rev", &c.hardware_rev),
            ("firmware_rev", &c.firmware_rev),
            ("software_rev", &c.software_rev),
        ] {
            field(opt_text(v), || format!("inventory.components[{i}].{name}"))?;
        }
    }

    field(count(inv.interfaces.len(), list), || {
        "inventory.interfaces".into()
    })?;
    for (i, it) in inv.interfaces.iter().enumerate() {
        field(text(&it.name), || format!("inventory.interfaces[{i}].name"))?;
        for (name, v) in [
            ("alias", &it.alias),
            ("description", &it.description),
            ("admin_status", &it.admin_status),
            ("oper_status", &it.oper_status),
        ] {
            field(opt_text(v), || format!("inventory.interfaces[{i}].{name}"))?;
        }
        if let Some(m) = &it.mac {
            field(mac(m), || format!("inventory.interfaces[{i}].mac"))?;
        }
    }

    field(count(inv.addresses.len(), list), || {
        "inventory.addresses".into()
    })?;
    for (i, a) in inv.addresses.iter().enumerate() {
        field(ip(&a.address), || {
            format!("inventory.addresses[{i}].address")
        })?;
        let max_prefix = if a.address.contains(':') { 128 } else { 32 };
        if let Some(p) = a.prefix_len {
            field(
                if p > max_prefix {
                    Err(format!("{p} is more than {max_prefix}"))
                } else {
                    Ok(())
                },
                || format!("inventory.addresses[{i}].prefix_len"),
            )?;
        }
    }

    if let Some(l) = &inv.lldp_local {
        field(text(&l.chassis_id_subtype), || {
            "inventory.lldp_local.chassis_id_subtype".into()
        })?;
        field(text(&l.chassis_id), || {
            "inventory.lldp_local.chassis_id".into()
        })?;
        field(opt_text(&l.system_name), || {
            "inventory.lldp_local.system_name".into()
        })?;
    }

    field(count(inv.lldp_neighbors.len(), list), || {
        "inventory.lldp_neighbors".into()
    })?;
    for (i, n) in inv.lldp_neighbors.iter().enumerate() {
        for (name, v) in [
            ("chassis_id_subtype", &n.chassis_id_subtype),
            ("chassis_id", &n.chassis_id),
            ("port_id_subtype", &n.port_id_subtype),
            ("port_id", &n.port_id),
        ] {
            field(text(v), || format!("inventory.lldp_neighbors[{i}].{name}"))?;
        }
        for (name, v) in [
            ("local_port", &n.local_port),
            ("port_description", &n.port_description),
            ("system_name", &n.system_name),
            ("system_description", &n.system_description),
        ] {
            field(opt_text(v), || {
                format!("inventory.lldp_neighbors[{i}].{name}")
            })?;
        }
        field(opt_ip(&n.management_address), || {
            format!("inventory.lldp_neighbors[{i}].management_address")
        })?;
    }

    field(count(inv.cdp_neighbors.len(), list), || {
        "inventory.cdp_neighbors".into()
    })?;
    for (i, n) in inv.cdp_neighbors.iter().enumerate() {
        field(text(&n.device_id), || {
            format!("inventory.cdp_neighbors[{i}].device_id")
        })?;
        for (name, v) in [
            ("local_port", &n.local_port),
            ("port", &n.port),
            ("platform", &n.platform),
        ] {
            field(opt_text(v), || {
                format!("inventory.cdp_neighbors[{i}].{name}")
            })?;
        }
        field(opt_ip(&n.address), || {
            format!("inventory.cdp_neighbors[{i}].address")
        })?;
    }

    field(count(inv.forwarding.len(), table), || {
        "inventory.forwarding".into()
    })?;
    for (i, f) in inv.forwarding.iter().enumerate() {
        field(mac(&f.mac), || format!("inventory.forwarding[{i}].mac"))?;
        field(opt_text(&f.status), || {
            format!("inventory.forwarding[{i}].status")
        })?;
    }

    field(count(inv.arp.len(), table), || "inventory.arp".into())?;
    for (i, a) in inv.arp.iter().enumerate() {
        field(ip(&a.ip), || format!("inventory.arp[{i}].ip"))?;
        field(mac(&a.mac), || format!("inventory.arp[{i}].mac"))?;
    }

    field(count(inv.storage.len(), list), || {
        "inventory.storage".into()
    })?;
    for (i, s) in inv.storage.iter().enumerate() {
        field(text(&s.description), || {
            format!("inventory.storage[{i}].description")
        })?;
        field(text(&s.kind), || format!("inventory.storage[{i}].kind"))?;
    }
    field(count(inv.processors.len(), list), || {
        "inventory.processors".into()
    })?;
    field(count(report.metrics.interfaces.len(), list), || {
        "metrics.interfaces".into()
    })?;
    for (i, c) in report.metrics.interfaces.iter().enumerate() {
        for (name, v) in [
            ("in_octets", c.in_octets),
            ("out_octets", c.out_octets),
            ("in_errors", c.in_errors),
            ("out_errors", c.out_errors),
            ("in_discards", c.in_discards),
            ("out_discards", c.out_discards),
        ] {
            field(storable(v), || format!("metrics.interfaces[{i}].{name}"))?;
        }
    }
    for (i, s) in inv.storage.iter().enumerate() {
        field(storable(Some(s.size_bytes)), || {
            format!("inventory.storage[{i}].size_bytes")
        })?;
        field(storable(Some(s.used_bytes)), || {
            format!("inventory.storage[{i}].used_bytes")
        })?;
    }
    for (i, f) in inv.interfaces.iter().enumerate() {
        field(storable(f.speed_mbps), || {
            format!("inventory.interfaces[{i}].speed_mbps")
        })?;
    }
    for (i, p) in inv.processors.iter().enumerate() {
        field(
            if p.load_percent > 100 {
                Err(format!("{} is more than 100", p.load_percent))
            } else {
                Ok(())
            },
            || format!("inventory.processors[{i}].load_percent"),
        )?;
    }
    // Volatile values are matched to their rows by index: an index twice is ambiguous.
    unique(
        inv.interfaces.iter().map(|f| f.index),
        "inventory.interfaces",
    )?;
    unique(inv.storage.iter().map(|s| s.index), "inventory.storage")?;
    unique(
        inv.processors.iter().map(|p| p.index),
        "inventory.processors",
    )?;
    unique(
        report.metrics.interfaces.iter().map(|c| c.index),
        "metrics.interfaces",
    )?;
    // A clock before 2000 is a poller whose clock was never set; such times would also
    // break the arithmetic of uptime resets.
    let floor = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
    for (name, at) in [
        ("collected_at", Some(report.collected_at)),
        ("metrics.at", report.metrics.at),
    ] {
        field(
            match at {
                Some(t) if t < floor => Err(format!(
                    "{} is before 2000-01-01: the poller's clock is wrong",
                    time_str(t)
                )),
                _ => Ok(()),
            },
            || name.into(),
        )?;
    }
    Ok(())
}

/// SurrealDB stores signed 64-bit integers; a larger value would come back as a float.
fn storable(v: Option<u64>) -> Result<(), String> {
    match v {
        Some(n) if i64::try_from(n).is_err() => Err(format!(
            "{n} is larger than {}, the largest integer stored",
            i64::MAX
        )),
        _ => Ok(()),
    }
}

/// Each row's `index` at most once.
fn unique(indexes: impl Iterator<Item = u32>, path: &str) -> Result<(), IngestError> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, index) in indexes.enumerate() {
        if !seen.insert(index) {
            return Err(IngestError::Invalid(format!(
                "{path}[{i}].index: {index} appears twice"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Device ingestion against the real SurrealDB engine (in-memory).
    use super::*;
    use crate::ingest::tests::{MID, UUID, full, host, setup};
    use crate::storage::CiFilter;
    use cmdb_shared::device::{
        ArpEntry, DeviceAddress, DeviceInterface, DeviceMetrics, ForwardingEntry, LldpLocal,
        SystemGroup, TargetSource,
    };

    const SERIAL: &str = "FOC1234X0AB";
    const BASE_MAC: &str = "00:1a:2b:3c:4d:5e";

    /// A Cisco switch at `target` (one address, 10.0.0.1), with an FDB and ARP entry.
    fn switch(target: &str, serial: Option<&str>, base_mac: Option<&str>) -> DeviceInventory {
        DeviceInventory {
            target: target.into(),
            system: SystemGroup {
                descr: Some("Cisco IOS Software, C2960X".into()),
                object_id: Some("1.3.6.1.4.1.9.1.1208".into()),
                name: Some("core-sw1".into()),
                location: Some("DC1 R12".into()),
                ..Default::default()
            },
            enterprise: Some(9),
            vendor: Some("Cisco".into()),
            model: Some("WS-C2960X-48TS-L".into()),
            firmware: Some("15.2(4)E".into()),
            serial: serial.map(str::to_string),
            base_bridge_mac: base_mac.map(str::to_string),
            interfaces: vec![
                DeviceInterface {
                    index: 10101,
                    name: "Gi1/0/1".into(),
                    mac: Some("00:1a:2b:3c:4d:01".into()),
                    admin_status: Some("up".into()),
                    oper_status: Some("up".into()),
                    speed_mbps: Some(1000),
                    mtu: Some(1500),
                    ..Default::default()
                },
                DeviceInterface {
                    index: 10102,
                    name: "Gi1/0/2".into(),
                    mac: Some("00:1a:2b:3c:4d:02".into()),
                    admin_status: Some("up".into()),
                    oper_status: Some("down".into()),
                    ..Default::default()
                },
            ],
            addresses: vec![DeviceAddress {
                address: "10.0.0.1".into(),
                prefix_len: Some(24),
                if_index: Some(10101),
            }],
            forwarding: vec![ForwardingEntry {
                vlan: Some(10),
                mac: "b4:96:91:00:00:01".into(),
                bridge_port: 1,
                if_index: Some(10101),
                status: Some("learned".into()),
            }],
            arp: vec![ArpEntry {
                if_index: 10101,
                ip: "10.0.0.20".into(),
                mac: "b4:96:91:00:00:01".into(),
            }],
            ..Default::default()
        }
    }

    fn poll_at(id: &str, inv: &DeviceInventory, at: DateTime<Utc>, uptime: u32) -> DeviceReport {
        DeviceReport {
            schema_version: cmdb_shared::SCHEMA_VERSION,
            report_id: id.into(),
            agent_version: "test".into(),
            collected_at: at,
            source: TargetSource::Config,
            inventory: inv.clone(),
            metrics: DeviceMetrics {
                at: Some(at),
                uptime_ticks: Some(uptime),
                interfaces: vec![],
            },
        }
    }

    fn poll(id: &str, inv: &DeviceInventory) -> DeviceReport {
        poll_at(id, inv, Utc::now(), 8_640_000)
    }

    async fn cis(store: &Store) -> u64 {
        store.counts().await.expect("counts")["cis"]
    }

    async fn history(store: &Store, ci: &str) -> Vec<crate::storage::HistoryRecord> {
        store.history(ci, None, None, 1000).await.expect("history")
    }

    #[tokio::test]
    async fn two_captures_of_one_unit_by_two_pollers_at_two_addresses_are_one_ci() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let a = ing
            .ingest_device(
                &store,
                &lim,
                "a1",
                &poll("r1", &switch("10.0.0.1", Some(SERIAL), None)),
            )
            .await
            .expect("first");
        assert_eq!(a.identified_by, "new");
        let other = switch("192.0.2.7:1161", Some(SERIAL), None);
        let b = ing
            .ingest_device(&store, &lim, "a2", &poll("r1", &other))
            .await
            .expect("second");
        assert_eq!(
            (b.ci_id.as_str(), b.identified_by.as_str()),
            (a.ci_id.as_str(), "chassis_serial")
        );
        assert_eq!(cis(&store).await, 1);
        let ci = store.ci(&a.ci_id).await.expect("read").expect("ci");
        assert_eq!(ci.class, "network_device");
        assert_eq!(ci.name, "core-sw1");
        assert_eq!(ci.agent, None, "a device is not bound to its poller");
        assert_eq!(
            ci.poller.as_deref(),
            Some("a2"),
            "its new target was recorded"
        );
        assert_eq!(ci.targets, vec!["10.0.0.1", "192.0.2.7:1161"]);
        assert!(
            ci.addresses.contains(&"192.0.2.7".to_string()),
            "{:?}",
            ci.addresses
        );
        for agent in ["a1", "a2"] {
            let rec = store.agent(agent).await.expect("agent").expect("exists");
            assert_eq!(rec.ci, None, "{agent}'s own CI is its host");
        }
        // Both pollers go on polling through their own targets: nothing changes, nothing is
        // rewritten.
        for (agent, inv) in [
            ("a1", switch("10.0.0.1", Some(SERIAL), None)),
            ("a2", other),
        ] {
            let again = ing
                .ingest_device(&store, &lim, agent, &poll("r2", &inv))
                .await
                .expect("again");
            assert_eq!(again.changes, 0);
        }
        let after = store.ci(&a.ci_id).await.expect("read").expect("ci");
        assert_eq!(
            after.last_seen, ci.last_seen,
            "the CI document was not rewritten"
        );
        assert_eq!(
            history(&store, &a.ci_id).await.len(),
            1,
            "only the creation"
        );
    }

    #[tokio::test]
    async fn a_poller_keeps_its_own_host_ci_apart_from_the_devices_it_polls() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let own = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full("h1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
            )
            .await
            .expect("host");
        let dev = ing
            .ingest_device(
                &store,
                &lim,
                "a1",
                &poll("d1", &switch("10.0.0.1", Some(SERIAL), None)),
            )
            .await
            .expect("device");
        assert_ne!(own.ci_id, dev.ci_id);
        let rec = store.agent("a1").await.expect("agent").expect("exists");
        assert_eq!(rec.ci.as_deref(), Some(own.ci_id.as_str()));
        let again = ing
            .ingest(
                &store,
                &lim,
                "a1",
                &full("h2", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
            )
            .await
            .expect("host again");
        assert_eq!((again.ci_id, again.changes), (own.ci_id, 0));
    }

    #[tokio::test]
    async fn a_serial_less_device_is_found_by_base_mac_and_by_an_lldp_chassis_id_equal_to_it() {
        let (store, ing, lim) = setup(&["a1", "a2", "a3"]).await;
        let a = ing
            .ingest_device(
                &store,
                &lim,
                "a1",
                &poll("r1", &switch("10.0.0.1", None, Some(BASE_MAC))),
            )
            .await
            .expect("a");
        // Another address and name, the same base bridge MAC (upper case, dashes).
        let mut b = switch("10.0.9.1", None, Some("00-1A-2B-3C-4D-5E"));
        b.system.name = Some("renamed".into());
        b.addresses[0].address = "10.0.9.1".into();
        let b = ing
            .ingest_device(&store, &lim, "a2", &poll("r1", &b))
            .await
            .expect("b");
        assert_eq!(
            (b.ci_id.as_str(), b.identified_by.as_str()),
            (a.ci_id.as_str(), "chassis_id")
        );
        // No base MAC at all, but LLDP announces the same MAC as chassis id.
        let mut c = switch("10.0.8.1", None, None);
        c.system.name = Some("other-name".into());
        c.addresses[0].address = "10.0.8.1".into();
        c.lldp_local = Some(LldpLocal {
            chassis_id_subtype: "macAddress".into(),
            chassis_id: BASE_MAC.into(),
            system_name: None,
        });
        let c = ing
            .ingest_device(&store, &lim, "a3", &poll("r1", &c))
            .await
            .expect("c");
        assert_eq!(
            (c.ci_id.as_str(), c.identified_by.as_str()),
            (a.ci_id.as_str(), "chassis_id")
        );
        assert_eq!(cis(&store).await, 1);
    }

    #[tokio::test]
    async fn sysname_and_polled_address_identify_a_device_without_hardware_keys() {
        let (store, ing, lim) = setup(&["a1", "a2"]).await;
        let a = ing
            .ingest_device(
                &store,
                &lim,
                "a1",
                &poll("r1", &switch("10.0.0.1", None, None)),
            )
            .await
            .expect("a");
        // Another poller, the same address (the device's own 10.0.0.1) on the default port.
        let b = ing
            .ingest_device(
                &store,
                &lim,
                "a2",
                &poll("r1", &switch("10.0.0.1:161", None, None)),
            )
            .await
            .expect("b");
        assert_eq!(
            (b.ci_id.as_str(), b.identified_by.as_str()),
            (a.ci_id.as_str(), "sysname_address")
        );
        // The same name at another address that is not the device's: another device.
        let mut elsewhere = switch("10.5.0.1", None, None);
        elsewhere.addresses[0].address = "10.5.0.1".into();
        let c = ing
            .ingest_device(&store, &lim, "a2", &poll("r2", &elsewhere))
            .await
            .expect("c");
        assert_ne!(c.ci_id, a.ci_id);
        assert_eq!(cis(&store).await, 2);
    }

    #[tokio::test]
    async fn a_firmware_change_is_one_history_record_and_an_unchanged_poll_writes_none() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let mut inv = switch("10.0.0.1", Some(SERIAL), Some(BASE_MAC));
        let first = ing
            .ingest_device(&store, &lim, "a1", &poll("r1", &inv))
            .await
            .expect("first");
        assert_eq!(first.changes, 1, "created");
        let written = store.ci(&first.ci_id).await.expect("read").expect("ci");

        // Unchanged but for volatile state, metrics and topology: no history, CI untouched.
        inv.interfaces[1].oper_status = Some("up".into());
        inv.forwarding[0].bridge_port = 2;
        let same = ing
            .ingest_device(&store, &lim, "a1", &poll("r2", &inv))
            .await
            .expect("same");
        assert_eq!(
            (same.ci_id.as_str(), same.changes),
            (first.ci_id.as_str(), 0)
        );
        assert_eq!(history(&store, &first.ci_id).await.len(), 1);
        let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
        assert_eq!(
            ci.last_seen, written.last_seen,
            "the CI document was not rewritten"
        );
        assert_eq!(ci.section_hashes, written.section_hashes);
        assert_eq!(
            ing.take_device_seen().len(),
            1,
            "last seen goes through heartbeats"
        );
        let seen = store.device_observations(&first.ci_id).await.expect("read");
        let state = seen.state.expect("state");
        assert_eq!(state.volatile["interfaces"][1]["oper_status"], "up");
        assert_eq!(
            seen.topology.expect("topology").forwarding[0].bridge_port,
            2
        );

        inv.firmware = Some("15.2(7)E3".into());
        let upgraded = ing
            .ingest_device(&store, &lim, "a1", &poll("r3", &inv))
            .await
            .expect("upgrade");
        assert_eq!(
            (upgraded.ci_id.as_str(), upgraded.changes),
            (first.ci_id.as_str(), 1)
        );
        let h = history(&store, &first.ci_id).await;
        let last = h.last().expect("a record");
        assert_eq!(last.attribute, "device.firmware");
        assert_eq!(last.old, json!("15.2(4)E"));
        assert_eq!(last.new, json!("15.2(7)E3"));
        assert_eq!(last.source, "agent:a1");
        let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
        assert_eq!(ci.sections["device"]["firmware"], "15.2(7)E3");
    }

    #[tokio::test]
    async fn forwarding_and_arp_entries_are_stored_with_the_device_and_replaced_when_changed() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let mut inv = switch("10.0.0.1", Some(SERIAL), None);
        let ack = ing
            .ingest_device(&store, &lim, "a1", &poll("r1", &inv))
            .await
            .expect("first");
        let t = store
            .device_observations(&ack.ci_id)
            .await
            .expect("read")
            .topology
            .expect("topology");
        assert_eq!(t.forwarding, inv.forwarding);
        assert_eq!(t.arp, inv.arp);
        inv.arp.push(ArpEntry {
            if_index: 10101,
            ip: "10.0.0.21".into(),
            mac: "B4:96:91:00:00:02".into(),
        });
        ing.ingest_device(&store, &lim, "a1", &poll("r2", &inv))
            .await
            .expect("second");
        let t = store
            .device_observations(&ack.ci_id)
            .await
            .expect("read")
            .topology
            .expect("topology");
        assert_eq!(t.arp.len(), 2);
        assert_eq!(
            t.arp[1].mac, "b4:96:91:00:00:02",
            "MACs are stored canonical"
        );
        assert_eq!(
            history(&store, &ack.ci_id).await.len(),
            1,
            "no history for topology"
        );
    }

    #[tokio::test]
    async fn bad_input_is_rejected_naming_the_field_and_nothing_is_stored() {
        let (store, ing, mut lim) = setup(&["a1"]).await;
        let reason = |r: Result<ReportAck, IngestError>| match r {
            Err(IngestError::Invalid(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        };
        let mut bad_mac = switch("10.0.0.1", Some(SERIAL), None);
        bad_mac.interfaces[1].mac = Some("00:1a:2b:3c:4d".into());
        let m = reason(
            ing.ingest_device(&store, &lim, "a1", &poll("r1", &bad_mac))
                .await,
        );
        assert!(m.starts_with("inventory.interfaces[1].mac: "), "{m}");

        let mut bad_ip = switch("10.0.0.1", Some(SERIAL), None);
        bad_ip.arp[0].ip = "10.0.0.300".into();
        let m = reason(
            ing.ingest_device(&store, &lim, "a1", &poll("r1", &bad_ip))
                .await,
        );
        assert!(m.starts_with("inventory.arp[0].ip: "), "{m}");

        let mut long = switch("10.0.0.1", Some(SERIAL), None);
        long.system.location = Some("x".repeat(5000));
        let m = reason(
            ing.ingest_device(&store, &lim, "a1", &poll("r1", &long))
                .await,
        );
        assert!(m.starts_with("inventory.system.location: "), "{m}");

        lim.max_device_table_items = 1;
        let mut big = switch("10.0.0.1", Some(SERIAL), None);
        big.forwarding.push(big.forwarding[0].clone());
        let m = reason(
            ing.ingest_device(&store, &lim, "a1", &poll("r1", &big))
                .await,
        );
        assert!(m.starts_with("inventory.forwarding: 2 items"), "{m}");

        let mut bad_id = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
        bad_id.report_id = "../etc".into();
        let m = reason(ing.ingest_device(&store, &lim, "a1", &bad_id).await);
        assert!(m.starts_with("report_id: "), "{m}");

        // A counter SurrealDB cannot store as an integer (2^64 - 1, sent by some devices
        // for counters they do not keep).
        let mut huge = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
        huge.metrics.interfaces = vec![cmdb_shared::device::InterfaceCounters {
            index: 10101,
            in_octets: Some(u64::MAX),
            ..Default::default()
        }];
        let m = reason(ing.ingest_device(&store, &lim, "a1", &huge).await);
        assert!(m.starts_with("metrics.interfaces[0].in_octets: "), "{m}");

        let mut twice = switch("10.0.0.1", Some(SERIAL), None);
        twice.interfaces[1].index = twice.interfaces[0].index;
        let m = reason(
            ing.ingest_device(&store, &lim, "a1", &poll("r1", &twice))
                .await,
        );
        assert!(m.starts_with("inventory.interfaces[1].index: "), "{m}");

        // A clock that was never set (and a date chrono can hold but not subtract from).
        let mut ancient = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
        ancient.collected_at = "-262143-01-02T00:00:00Z".parse().expect("time");
        ancient.metrics.at = Some(ancient.collected_at);
        let m = reason(ing.ingest_device(&store, &lim, "a1", &ancient).await);
        assert!(m.starts_with("collected_at: "), "{m}");

        let mut newer = poll("r1", &switch("10.0.0.1", Some(SERIAL), None));
        newer.schema_version += 1;
        assert!(matches!(
            ing.ingest_device(&store, &lim, "a1", &newer).await,
            Err(IngestError::Unprocessable(_))
        ));
        assert_eq!(cis(&store).await, 0);
        assert_eq!(store.counts().await.expect("counts")["history_records"], 0);
    }

    #[tokio::test]
    async fn a_redelivered_poll_is_harmless_and_an_older_one_is_not_applied() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let t0 = Utc::now() - chrono::Duration::minutes(10);
        let mut inv = switch("10.0.0.1", Some(SERIAL), None);
        let r1 = poll_at("r1", &inv, t0, 1_000_000);
        let first = ing
            .ingest_device(&store, &lim, "a1", &r1)
            .await
            .expect("first");
        // The acknowledgement was lost; the agent sends r1 again, to a restarted server.
        let cold = Ingestor::default();
        let again = cold
            .ingest_device(&store, &lim, "a1", &r1)
            .await
            .expect("again");
        assert_eq!(
            (again.ci_id.as_str(), again.changes),
            (first.ci_id.as_str(), 0)
        );
        assert_eq!(again.identified_by, "chassis_serial");

        inv.firmware = Some("15.2(7)E3".into());
        let r2 = poll_at("r2", &inv, t0 + chrono::Duration::minutes(5), 1_030_000);
        assert_eq!(
            ing.ingest_device(&store, &lim, "a1", &r2)
                .await
                .expect("r2")
                .changes,
            1
        );
        // r1 arrives late, after r2: it neither reverts the firmware nor looks like a reboot.
        let late = ing
            .ingest_device(&store, &lim, "a1", &r1)
            .await
            .expect("late");
        assert_eq!(late.changes, 0);
        let ci = store.ci(&first.ci_id).await.expect("read").expect("ci");
        assert_eq!(ci.sections["device"]["firmware"], "15.2(7)E3");
        assert_eq!(
            history(&store, &first.ci_id).await.len(),
            2,
            "created + firmware"
        );
        assert_eq!(cis(&store).await, 1);
    }

    #[tokio::test]
    async fn uptime_going_backwards_is_recorded_as_a_restart() {
        let (store, ing, lim) = setup(&["a1"]).await;
        let t0 = Utc::now() - chrono::Duration::minutes(10);
        let inv = switch("10.0.0.1", Some(SERIAL), None);
        let first = ing
            .ingest_device(&store, &lim, "a1", &poll_at("r1", &inv, t0, 90_000_000))
            .await
            .expect("first");
        let t1 = t0 + chrono::Duration::minutes(5);
        let after = ing
            .ingest_device(&store, &lim, "a1", &poll_at("r2", &inv, t1, 12_000))
            .await
            .expect("after the reboot");
        assert_eq!(after.changes, 1);
        let h = history(&store, &first.ci_id).await;
        let last = h.last().expect("a record");
        assert_eq!(last.attribute, "uptime_reset");
        assert_eq!(last.old["uptime_ticks"], 90_000_000);
        assert_eq!(last.new["uptime_ticks"], 12_000);
        assert_eq!(
            last.new["booted_at"],
            json!(time_str(t1 - chrono::Duration::seconds(120)))
        );
    }

    #[tokio::test]
    async fn two_pollers_reporting_a_new_device_at_once_make_one_ci() {
        let (store, ing, lim) = setup(&["a1", "a2", "a3"]).await;
        // One device reached at two of its addresses, and another device.
        let mut second_address = switch("10.0.0.2", None, None);
        second_address.addresses.push(DeviceAddress {
            address: "10.0.0.2".into(),
            prefix_len: Some(24),
            if_index: Some(10102),
        });
        let mut first_address = second_address.clone();
        first_address.target = "10.0.0.1".into();
        let mut other = switch("10.7.0.1", Some("FOC9999ZZZ"), None);
        other.addresses[0].address = "10.7.0.1".into();
        let (ra, rb, rc) = (
            poll("r1", &first_address),
            poll("r1", &second_address),
            poll("r1", &other),
        );
        let (a, b, c) = tokio::join!(
            ing.ingest_device(&store, &lim, "a1", &ra),
            ing.ingest_device(&store, &lim, "a2", &rb),
            ing.ingest_device(&store, &lim, "a3", &rc),
        );
        let (a, b, c) = (a.expect("a1"), b.expect("a2"), c.expect("a3"));
        assert_eq!(a.ci_id, b.ci_id);
        assert_ne!(a.ci_id, c.ci_id);
        assert_eq!(cis(&store).await, 2);
    }

    #[tokio::test]
    async fn devices_are_listed_by_class_and_found_by_serial_chassis_mac_and_address() {
        let (store, ing, lim) = setup(&["a1"]).await;
        ing.ingest(
            &store,
            &lim,
            "a1",
            &full("h1", &host(UUID, "CZ1", MID, "b4:96:91:00:00:01")),
        )
        .await
        .expect("host");
        let dev = ing
            .ingest_device(
                &store,
                &lim,
                "a1",
                &poll(
                    "d1",
                    &switch("sw1.example.com", Some(SERIAL), Some(BASE_MAC)),
                ),
            )
            .await
            .expect("device");
        let find = |class: Option<&str>, q: Option<&str>| CiFilter {
            class: class.map(str::to_string),
            q: q.map(str::to_string),
            limit: 10,
            ..Default::default()
        };
        let (all, total) = store
            .list_cis(&find(Some("network_device"), None))
            .await
            .expect("list");
        assert_eq!(total, 1);
        assert_eq!(all[0].vendor.as_deref(), Some("Cisco"));
        assert_eq!(all[0].model.as_deref(), Some("WS-C2960X-48TS-L"));
        for q in [
            "foc1234x",
            "00-1A-2B-3C-4D-5E",
            "001a.2b3c.4d5e",
            "10.0.0.1",
            "sw1.example.com",
        ] {
            let (found, _) = store.list_cis(&find(None, Some(q))).await.expect("search");
            let keys: Vec<&str> = found.iter().map(|c| c.key.as_str()).collect();
            assert_eq!(keys, vec![dev.ci_id.as_str()], "{q}");
        }
    }
}
